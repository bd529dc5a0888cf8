"""The twentieth round's rule (bench/RESULTS.md): Debian changelogs minified with and
without `lead_ins`, at 0.3 / 0.5 / 0.7, on the first 60 documents of the `changelog` training
split (`--held-out`: of the held-out split, with the baselines). Per method and ratio: of
those in Debian's format, the share of the change lines kept (lines that occur once in
their changelog) that sit under another release's header, or under none, in the output;
and over all of them the judges' means, with candidate minus default per document averaged
over the ratios.

    PYTHONPATH=$PWD .venv/bin/python bench/rule_b20.py [--held-out] [--n 60]"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from minify_eval import MiniLmCache, TfIdf, paired_bootstrap, split  # noqa: E402
from minify_train import baseline_output, judged  # noqa: E402

from briefmin.encoder import BUNDLED_MODEL, load_encoder  # noqa: E402
from briefmin.minify import minify_many  # noqa: E402

RATIOS = (0.3, 0.5, 0.7)
HEADER = re.compile(r"^\S+ \([^)]+\) [^;]+; urgency=")  # a Debian changelog's release line


def _key(line: str) -> str:
    return " ".join(line.split())


def misattributed(original: str, output: str) -> tuple[int, int]:
    """(change lines of `output` counted, those under another release's header or none):
    lines that occur once in `original`, not headers, sign-offs (` -- `) or blank."""
    owner: dict[str, str | None] = {}
    seen: Counter[str] = Counter()
    current: str | None = None
    for line in original.splitlines():
        if HEADER.match(line):
            current = _key(line)
        elif line.strip() and not line.startswith(" -- "):
            owner.setdefault(_key(line), current)
            seen[_key(line)] += 1
    counted = wrong = 0
    current = None
    for line in output.splitlines():
        if HEADER.match(line):
            current = _key(line)
            continue
        key = _key(line)
        if not key or line.startswith(" -- ") or seen[key] != 1:
            continue
        counted += 1
        wrong += current is None or current != owner[key]
    return counted, wrong


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--held-out", action="store_true")
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=1,
                        help="LEAD_INS of the candidate: 1 the twentieth round's, 3 the "
                             "twenty-first's")
    args = parser.parse_args()
    held_out, training = split("changelog", BENCH / "data")
    docs = (held_out if args.held_out else training)[:args.n]
    texts = [t for _, t in docs]
    debian = [k for k, t in enumerate(texts) if HEADER.match(t)]  # the measure reads these
    print(f"{'held-out' if args.held_out else 'training'}: the first {len(texts)} "
          f"changelogs, {len(debian)} in Debian's format (the misattribution measure's)",
          flush=True)
    encoder = load_encoder(BUNDLED_MODEL)
    minilm = MiniLmCache(encoder)
    tfidf = TfIdf([t for _, t in training])
    methods = ["leadins", "default"] + (["lead", "truncate", "lexrank", "textrank"]
                                        if args.held_out else [])
    diffs = {j: np.zeros(len(texts)) for j in ("minilm180", "minilm180x", "tfidf")}
    per_ratio: dict[tuple[float, str], np.ndarray] = {}
    scores_by: dict[tuple[str, str], np.ndarray] = {}
    for ratio in RATIOS:
        outs: dict[str, list[str]] = {
            "leadins": [r.text for r in minify_many(encoder, texts, ratio=ratio,
                                                    lead_ins=args.repeats)],
            "default": [r.text for r in minify_many(encoder, texts, ratio=ratio,
                                                    lead_ins=0)]}
        for name in methods[2:]:
            outs[name] = [baseline_output(name, t, ratio) for t in texts]
        for name in methods:
            counted = wrong = 0
            for k in debian:
                c, w = misattributed(texts[k], outs[name][k])
                counted, wrong = counted + c, wrong + w
            scores = {j: judged(j, texts, outs[name], None, minilm, tfidf)
                      for j in ("minilm180", "minilm180x", "tfidf")}
            for j, v in scores.items():
                scores_by[name, j] = v
            print(f"{ratio} {name:9s} change lines kept {counted:5d}, misattributed "
                  f"{wrong:4d} ({wrong / max(counted, 1):.1%}); "
                  + ", ".join(f"{j} {v.mean():.4f}" for j, v in scores.items()), flush=True)
            sign = {"leadins": 1, "default": -1}.get(name, 0)
            for j, v in scores.items():
                diffs[j] += sign * v / len(RATIOS)
                per_ratio.setdefault((ratio, j), np.zeros(len(texts)))
                per_ratio[ratio, j] += sign * v
        for j in ("minilm180", "minilm180x", "tfidf"):
            m, lo, hi = paired_bootstrap(per_ratio[ratio, j])
            print(f"   {ratio} leadins - default, {j}: {m:+.4f} [{lo:+.4f}, {hi:+.4f}]")
            for name in methods[2:]:
                print(f"   {ratio} leadins - {name}, {j}: "
                      f"{scores_by[name, j].mean() * -1 + scores_by['leadins', j].mean():+.4f}")
    for j, d in diffs.items():
        m, lo, hi = paired_bootstrap(d)
        print(f"leadins - default per document over the ratios, {j}: {m:+.4f} "
              f"[{lo:+.4f}, {hi:+.4f}]")


if __name__ == "__main__":
    main()
