"""Binary-vs-binary cosines (issue 16's gap): what two binary-tier rows read against their
int8 cosine, with the sign law alone (decoders written before the calibration) and with the
calibration `tier --codes binary` now fits, and what that does to `dedupe`.

On an archive made beforehand with the real model (`--archive`, the 64k Debian descriptions),
copied first (the given file is only read). Its brief rows are split by a seeded permutation of
their content ids into a FIT half and a JUDGE half. The decoder (means, weights, calibration) is
fitted on the fit half's int8 rows only; everything reported is on the judge half:

1. cosine error by true (int8) cosine, over every judge pair at or above 0.5 (exact all-pairs)
   and 20,000 random judge pairs: sign law alone against calibrated; and, per threshold, the
   pairs read at or above it though below it (wrong) or read below it though at or above it
   (missed);
2. `dedupe` of the archive as it is (all int8) against the same archive with the judge half
   tiered to binary (`Archive.tier(only=...)`, the fit-half decoder written first so `tier`
   keeps it), read once with the sign law alone and once calibrated: `similar` members of a
   binary representative whose int8 cosine to it is below the threshold (wrongly grouped), and
   untiered `similar` pairs between judge briefs that the tiered archive no longer groups
   (missed). The lexical kinds read the same texts in every arm.

The reference is the archive's own int8 rows (its float32 vectors are not stored). `--quick`
judges pair errors only (no dedupe runs)."""

from __future__ import annotations

import dataclasses
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_search import copy_archive
from bench.common import OUT, log, parse_args, section, table
from briefmin import Archive
from briefmin.dedupe import find_duplicates
from briefmin.nearpairs import all_pairs, decoded
from briefmin.quantize import BinaryDecoder
from briefmin.store import BRIEF_KINDS, schema
from briefmin.store.segments import DECODER_KEY

BINS = ((-1.0, 0.5), (0.5, 0.7), (0.7, 0.725), (0.725, 0.775), (0.775, 0.825),
        (0.825, 0.875), (0.875, 0.925), (0.925, 0.975), (0.975, 1.01))


def _options(parser: Any) -> None:
    parser.add_argument("--archive", type=Path, default=Path("/work/bench-shared/debian64k.bmin"),
                        help="an archive made beforehand with the real model (read only)")
    parser.add_argument("--thresholds", default="0.75,0.85,0.95",
                        help="`similar` thresholds judged (comma-separated)")
    parser.add_argument("--dedupe-thresholds", default="0.85,0.75",
                        help="thresholds `dedupe` is run at (each: three whole runs)")


def split(content_ids: np.ndarray[Any, Any], seed: int = 12) -> np.ndarray[Any, Any]:
    """True for the judge half: a seeded permutation of the distinct content ids."""
    distinct = np.unique(content_ids)
    judge = set(np.random.default_rng(seed).permutation(distinct)[len(distinct) // 2:].tolist())
    return np.array([int(c) in judge for c in content_ids.tolist()])


def held_out_pairs(vectors: np.ndarray[Any, Any], seed: int = 5
                   ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    found = all_pairs(vectors, 0.5)
    rng = np.random.default_rng(seed)
    i = np.concatenate([found.i, rng.integers(0, len(vectors), 20_000)])
    j = np.concatenate([found.j, rng.integers(0, len(vectors), 20_000)])
    keep = i != j
    return i[keep], j[keep]


def _err(values: np.ndarray[Any, Any]) -> str:
    return f"{np.mean(values):+.3f} ± {np.std(values):.3f}"


def pair_tables(true: np.ndarray[Any, Any], law: np.ndarray[Any, Any],
                calibrated: np.ndarray[Any, Any], thresholds: list[float]) -> list[str]:
    rows = []
    for lo, hi in BINS:
        m = (true >= lo) & (true < hi)
        if m.any():
            rows.append([f"[{lo:.3f}, {min(hi, 1.0):.3f})", int(m.sum()),
                         _err(law[m] - true[m]), _err(calibrated[m] - true[m]),
                         round(float(np.mean(np.abs(law[m] - true[m]))), 4),
                         round(float(np.mean(np.abs(calibrated[m] - true[m]))), 4)])
    by_true = table(["true cosine", "pairs", "sign law - true (mean ± sd)",
                     "calibrated - true", "mean abs error, law", "calibrated"], rows)
    rows = []
    for t in thresholds:
        above = true >= t
        rows.append([t, int(above.sum())]
                    + [f"{int((read >= t)[~above].sum()):,} / {int((read < t)[above].sum()):,}"
                       for read in (law, calibrated)])
    by_threshold = table(["threshold", "pairs at or above (true)",
                          "sign law: read above though below / read below though above",
                          "calibrated: same"], rows)
    return [by_true, by_threshold]


def similar_pairs(path: Path, threshold: float, content_of: dict[str, int]
                  ) -> tuple[set[tuple[int, int]], set[frozenset[int]], int]:
    """(representative, member) content pairs of `similar` groups; every pair of contents
    that share any group; the number of `similar` groups."""
    with Archive.open(path) as archive:
        report = find_duplicates(archive, threshold=threshold)
    similar: set[tuple[int, int]] = set()
    together: set[frozenset[int]] = set()
    count = 0
    for group in report.groups:
        ids = [content_of[m.path] for m in group.members]
        together.update(frozenset((ids[0], c)) for c in ids[1:])
        if group.kind == "similar":
            count += 1
            similar.update((ids[0], c) for c in ids[1:])
    return similar, together, count


def set_decoder(path: Path, decoder: BinaryDecoder) -> None:
    with Archive.open(path, write=True) as archive, archive._db.transaction() as db:
        schema.write_meta(db, {DECODER_KEY: decoder.to_json()})  # bench only: swap it


def main() -> None:
    args = parse_args(__doc__ or "", _options)
    thresholds = [float(t) for t in args.thresholds.split(",")]
    source = copy_archive(args.archive, folder="binary-pairs")
    with Archive.open(source) as archive:
        stored = archive.vectors(BRIEF_KINDS)
        codes = archive.all_int8(BRIEF_KINDS)
        content_of = {r.path: r.content_id for r in archive.records()}
    vectors = decoded(codes, np.maximum(np.linalg.norm(codes.astype(np.float32), axis=1),
                                        1e-12))
    judge = split(stored.content_ids)
    fit, held = np.flatnonzero(~judge), np.flatnonzero(judge)
    log(f"{len(stored):,} brief rows: fit on {len(fit):,}, judge {len(held):,}")
    decoder = BinaryDecoder.fit(vectors[fit], stored.bits[fit])
    law = dataclasses.replace(decoder, calibration=None)
    assert decoder.calibration is not None
    knots = ", ".join(f"({x:.3f}, {y:.3f})" for x, y in zip(decoder.calibration.x,
                                                            decoder.calibration.y, strict=True))
    i, j = held_out_pairs(vectors[held])
    a, b = held[i], held[j]
    true = np.einsum("ij,ij->i", vectors[a], vectors[b])
    before = law.sign_cosines(stored.bits[a], stored.bits[b])
    after = decoder.sign_cosines(stored.bits[a], stored.bits[b])
    body = pair_tables(true, before, after, thresholds)
    body.append(f"{len(stored):,} brief rows of `{args.archive.name}`; the decoder was fitted "
                f"on {len(fit):,} rows (the fit half); {len(true):,} judge-half pairs: every "
                "pair at or above int8 cosine 0.5 and 20,000 random ones. Fitted knots "
                f"(sign law, int8 cosine): {knots}.")
    if not args.quick:
        body += dedupe_arms(source, decoder, law, set(stored.content_ids[held].tolist()),
                            content_of, stored.content_ids, vectors,
                            [float(t) for t in args.dedupe_thresholds.split(",")])
    print(section(f"Binary-vs-binary cosines, calibrated (issue 16's gap; "
                  f"{len(stored):,} Debian descriptions)", body))


def dedupe_arms(source: Path, decoder: BinaryDecoder, law: BinaryDecoder, judged: set[int],
                content_of: dict[str, int], content_ids: np.ndarray[Any, Any],
                vectors: np.ndarray[Any, Any], thresholds: list[float]) -> list[str]:
    row = {int(c): r for r, c in enumerate(content_ids.tolist())}
    tiered = OUT / "binary-pairs" / "tiered.bmin"
    shutil.copyfile(source, tiered)
    set_decoder(tiered, decoder)  # `tier` keeps a decoder it finds: the fit half's
    log("tiering the judge half to binary")
    with Archive.open(tiered, write=True) as archive:
        archive.tier("binary", datetime.now(UTC), only=judged)

    def cosine(pair: tuple[int, int]) -> float:
        return float(vectors[row[pair[0]]] @ vectors[row[pair[1]]])

    rows = []
    for t in thresholds:
        log(f"dedupe at {t}: untiered")
        base, _, base_groups = similar_pairs(source, t, content_of)
        base_judged = {p for p in base if p[0] in judged and p[1] in judged}
        for name, which in (("sign law alone (before)", law), ("calibrated (after)", decoder)):
            set_decoder(tiered, which)
            log(f"dedupe at {t}: {name}")
            pairs, together, groups = similar_pairs(tiered, t, content_of)
            both = [p for p in pairs if p[0] in judged and p[1] in judged]
            wrong = [p for p in both if cosine(p) < t]
            missed = [p for p in base_judged if frozenset(p) not in together]
            rows.append([t, name, groups, len(both), len(wrong),
                         f"{min((cosine(p) for p in wrong), default=float('nan')):.3f}",
                         len(missed), len(base_judged), base_groups])
    return [table(["threshold", "tiered archive read with", "similar groups",
                   "binary-binary member pairs", "wrongly grouped (int8 cosine below)",
                   "lowest wrong cosine", "missed (untiered pair no longer together)",
                   "untiered binary-binary member pairs", "untiered similar groups"], rows),
            "The tiered archive is a copy with the judge half's contents tiered to binary "
            "(`Archive.tier(only=...)`), its decoder fitted on the fit half and written "
            "before `tier` (which keeps a decoder it finds); the two rows of each threshold "
            "are the same file read with the sign law alone and with the calibration. "
            "Member pairs: (representative, member) of `similar` groups, both judge-half "
            "(both binary in the tiered archive)."]


if __name__ == "__main__":
    main()
