"""Does a `similar` pair of two long briefs say the same thing, chunk by chunk?

A long brief's vector is the normalized mean of its chunks' vectors, and means of many chunks
of one genre converge: two different pydoc pages, two licences or two man pages reach a cosine
of 0.85 while saying different things (the trust audit: enum/re 0.867, Apache-2.0/MPL-1.1
0.862). So a pair whose briefs both have several chunks is `similar` only when their chunks
match too: each chunk's best match among the other brief's chunks, averaged over the chunks
(its *coverage* of the other), from the side that is covered worse, must reach the similar
threshold less MARGIN. A paraphrase or an edited copy keeps each passage somewhere in the
other; two pages of one genre share their boilerplate passages, not their content.

Pairs with a one-chunk brief are left as they are (its brief vector is its chunk vector), so
archives whose briefs are one chunk each (short briefs, the `hashing` encoder) cost nothing
more. Pure numpy over unit chunk vectors; the caller reads them (stored codes, or the encoder
for new briefs)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import numpy.typing as npt

from .nearpairs import Pairs
from .quantize import Floats

Ints = npt.NDArray[np.int64]

# Chosen on the training half of the long-document labelled set (bench/labelled.py
# `choose_margin`; README, "similar on long documents"): the smallest margin (steps of 0.01)
# that keeps 98% of the planted near copies and paraphrases that reach the similar threshold.
MARGIN = 0.08
# pairs confirmed per read of chunk vectors: bounds the vectors held at once
BATCH = 4096


def coverage(a: Floats, b: Floats) -> float:
    """The worse of the two sides' coverage: the mean, over one brief's chunks, of each
    chunk's best cosine among the other brief's chunks (unit rows)."""
    sims = np.asarray(a, np.float32) @ np.asarray(b, np.float32).T
    return float(min(sims.max(axis=1).mean(), sims.max(axis=0).mean()))


def confirmed(pairs: Pairs, long: npt.NDArray[np.bool_],
              chunks: Callable[[Ints], Mapping[int, Floats]], threshold: float,
              margin: float = MARGIN) -> Pairs:
    """The pairs that stay `similar`: those with a brief of one chunk (`long[row]` false),
    and those of two long briefs whose coverage reaches threshold - margin. `chunks(rows)`
    gives the unit chunk vectors of some rows."""
    both = np.flatnonzero(long[pairs.i] & long[pairs.j]) if len(pairs) else pairs.i
    if not len(both):
        return pairs  # one-chunk briefs only: no read, no copy
    keep = np.ones(len(pairs), bool)
    held: dict[int, Floats] = {}
    for start in range(0, len(both), BATCH):
        part = both[start:start + BATCH]
        rows = np.unique(np.r_[pairs.i[part], pairs.j[part]]).tolist()
        # the last batch's vectors that this one needs are kept, not read again: briefs of
        # one template have most of their pairs in common rows, batch after batch
        missing = [r for r in rows if r not in held]
        got = chunks(np.array(missing, np.int64)) if missing else {}
        held = {r: v for r in rows if (v := held.get(r, got.get(r))) is not None}
        keep[part] = covered(pairs.i[part], pairs.j[part], held, threshold - margin)
    return pairs.where(keep)


def covered(i: Ints, j: Ints, vectors: Mapping[int, Floats], cut: float
            ) -> npt.NDArray[np.bool_]:
    """Per pair (i, j), whether its coverage (`coverage`) reaches `cut`; true where a row's
    chunks are missing (lost to damage: the brief vectors decide). A row's pairs are
    scored together, one product with all its partners' chunks: pairs of briefs of one
    template were ~60 µs each one at a time."""
    out = np.ones(len(i), bool)
    if not len(i):
        return out
    order = np.argsort(i, kind="stable")
    starts = np.flatnonzero(np.r_[True, i[order][1:] != i[order][:-1]])
    for group in np.split(order, starts[1:]):
        a = int(i[group[0]])
        group = group[[int(b) in vectors for b in j[group].tolist()]]
        if a not in vectors or not len(group):
            continue
        if len(group) == 1:
            out[group[0]] = coverage(vectors[a], vectors[int(j[group[0]])]) >= cut
            continue
        others = [np.asarray(vectors[int(b)], np.float32) for b in j[group].tolist()]
        sizes = np.array([len(b) for b in others])
        at = np.r_[0, np.cumsum(sizes)[:-1]]
        sims = np.asarray(vectors[a], np.float32) @ np.vstack(others).T
        mine = np.maximum.reduceat(sims, at, axis=1).mean(axis=0)  # a's chunks covered
        theirs = np.add.reduceat(sims.max(axis=0), at) / sizes  # each partner's covered
        out[group] = np.minimum(mine, theirs) >= cut
    return out


def long_rows(stored_long: npt.NDArray[np.bool_], new_chunks: Sequence[Floats]
              ) -> npt.NDArray[np.bool_]:
    """Which rows have several chunks: the stored ones (`stored_long`), then the new briefs."""
    out: npt.NDArray[np.bool_] = np.r_[stored_long,
                                       np.array([len(c) > 1 for c in new_chunks], bool)]
    return out


def reader(content_ids: Ints, read: Callable[[list[int]], Mapping[int, Floats]],
           new_chunks: Sequence[Floats]) -> Callable[[Ints], Mapping[int, Floats]]:
    """`chunks` for `confirmed`: stored rows (`content_ids[row]`) through `read` (the
    archive's stored chunk codes), new briefs' rows (after them) from `new_chunks`."""
    n = len(content_ids)

    def chunks(rows: Ints) -> dict[int, Floats]:
        stored = rows[rows < n]
        got = read(content_ids[stored].tolist())
        out = {r: got[c] for r, c in zip(stored.tolist(), content_ids[stored].tolist(),
                                         strict=True) if c in got}
        out.update((r, new_chunks[r - n]) for r in rows[rows >= n].tolist())
        return out

    return chunks
