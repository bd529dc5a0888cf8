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
    for start in range(0, len(both), BATCH):
        part = both[start:start + BATCH]
        vectors = chunks(np.unique(np.r_[pairs.i[part], pairs.j[part]]))
        for k, a, b in zip(part.tolist(), pairs.i[part].tolist(), pairs.j[part].tolist(),
                           strict=True):
            if a in vectors and b in vectors:  # chunk rows lost to damage: the brief decides
                keep[k] = coverage(vectors[a], vectors[b]) >= threshold - margin
    return pairs.where(keep)


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
