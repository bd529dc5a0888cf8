"""The near-identical kind's small-edit caps (dedupe.small_edit: MAX_EDIT_SHINGLES on the side
that changed less, MAX_EDIT_TOTAL on both together) on pairs they were not
tuned on: how many pairs reach the Jaccard threshold, and how many of those stay
near-identical under the cap, per label of the labelled set (bench/labelled.py, both halves;
the caps were read off the training half's copies) and for licence versions of one family from
/usr/share/common-licenses (distinct texts that a prune must keep). Text only, no model.

    .venv/bin/python bench/bench_edits.py [--data bench/data]
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import labelled
from bench.common import log, parse_args, section, table
from briefmin.dedupe import DEFAULT_JACCARD, MAX_EDIT_SHINGLES, MAX_EDIT_TOTAL, small_edit
from briefmin.shingles import shingle

LICENCES = Path("/usr/share/common-licenses")
FAMILIES = [("GPL-1", "GPL-2"), ("GPL-2", "GPL-3"), ("LGPL-2", "LGPL-2.1"),
            ("LGPL-2.1", "LGPL-3"), ("GFDL-1.2", "GFDL-1.3"), ("MPL-1.1", "MPL-2.0")]


def counts(texts: dict[str, str], pairs: list[tuple[str, str, str]]
           ) -> dict[str, list[int]]:
    """label -> [pairs, at the Jaccard threshold, of those within the edit cap]."""
    names = sorted(texts)
    at = {n: k for k, n in enumerate(names)}
    found = shingle(texts[n] for n in names)
    i = np.array([at[a] for a, _, _ in pairs], np.int64)
    j = np.array([at[b] for _, b, _ in pairs], np.int64)
    jac = found.jaccards(i, j)
    small = small_edit(*found.own(i, j))
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for (_, _, label), over, cap in zip(pairs, jac >= np.float32(DEFAULT_JACCARD), small,
                                        strict=True):
        row = out[label]
        row[0] += 1
        row[1] += int(over)
        row[2] += int(over and cap)
    return out


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    rows = []
    for split in ("train", "heldout"):
        log(f"building the {split} half of the labelled set")
        data = labelled.build(args.data, split)
        pairs = [(p.a, p.b, f"{p.label} ({p.how})") for p in data.pairs]
        for label, (n, over, cap) in sorted(counts(data.docs, pairs).items()):
            rows.append([split, label, n, over, cap])
    if LICENCES.is_dir():
        texts = {p.name: p.read_text(encoding="utf-8", errors="replace")
                 for p in LICENCES.iterdir() if p.is_file() and not p.is_symlink()}
        family = [(a, b, f"{a} / {b}") for a, b in FAMILIES if a in texts and b in texts]
        for label, (n, over, cap) in counts(texts, family).items():
            rows.append(["common-licenses", label, n, over, cap])
    print(section("Near-identical: Jaccard alone against Jaccard and the small-edit cap", [
        table(["set", "label", "pairs", f"Jaccard >= {DEFAULT_JACCARD}",
               f"... and <= {MAX_EDIT_SHINGLES} on one side, {MAX_EDIT_TOTAL} in all, of their own "
               "(near-identical now)"],
              rows)]))


if __name__ == "__main__":
    main()
