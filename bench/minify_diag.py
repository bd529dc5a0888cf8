"""What lead keeps that briefmin drops, on the TRAINING splits only (the fifth round's
diagnosis, bench/RESULTS.md): per genre and ratio, the words only one of them keeps by unit
kind, how many runs of consecutive units each output is made of, where the kept words sit,
whether the brief's first unit is kept, the share of kept words spent on headings, and the
words of boilerplate-looking units (badges, images, licence and copyright lines, links). No
judge is called.

    .venv/bin/python bench/minify_diag.py [--genres pypi usrdeep kernel debian] [--n 20]"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from bench_minify import RATIOS  # noqa: E402
from minify_train import training_docs  # noqa: E402

from briefmin.encoder import BUNDLED_MODEL, load_encoder  # noqa: E402
from briefmin.minify import count_words, parse, word_budget  # noqa: E402
from briefmin.selection import candidates, choose, select_in_order, unit_vectors  # noqa: E402

BOILERPLATE = re.compile(r"\[!\[|badge|shields\.io|^\s*\.\. image::|^\s*:target:|licen[cs]e|"
                         r"copyright|https?://", re.I | re.M)


def runs(mask: np.ndarray, order: np.ndarray) -> int:
    """Runs of consecutive kept units among the units that may be chosen."""
    kept = mask[order]
    return int(kept[:1].sum() + (kept[1:] & ~kept[:-1]).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genres", nargs="+", default=["pypi", "usrdeep", "kernel", "debian"])
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--data", type=Path, default=BENCH / "data")
    args = parser.parse_args()
    encoder = load_encoder(BUNDLED_MODEL)
    print("| genre | ratio | words only lead keeps (top kinds) | words only briefmin keeps | "
          "runs b / l | mean position of kept words b / l | first unit kept by b | "
          "heading share of kept words b / l | boilerplate words b / l (of all) |\n"
          "|---|---|---|---|---|---|---|---|---|")
    for genre in args.genres:
        texts = [t for _, t in training_docs(genre, args.n, args.data)]
        for ratio in RATIOS:
            only_lead: Counter[str] = Counter()
            only_ours: Counter[str] = Counter()
            stats: dict[str, list[float]] = {}
            boiler = np.zeros(3)
            for text in texts:
                budget = word_budget(count_words(text), ratio)
                doc = parse(text, budget)
                ours = choose(doc, unit_vectors(encoder, [doc])[0], budget)
                lead = select_in_order(doc, budget)
                words = np.array([u.words for u in doc.units], float)
                start = (np.cumsum(words) - words) / max(words.sum(), 1)
                heading = np.array([u.kind == "heading" for u in doc.units])
                looks = np.array([bool(BOILERPLATE.search(u.text)) for u in doc.units])
                boiler += [words[looks & ours].sum(), words[looks & lead].sum(),
                           words[looks].sum()]
                for i, unit in enumerate(doc.units):
                    if lead[i] and not ours[i]:
                        only_lead[unit.kind] += unit.words
                    elif ours[i] and not lead[i]:
                        only_ours[unit.kind] += unit.words
                order = np.flatnonzero(candidates(doc))
                for name, value in (
                        ("runs b", runs(ours, order)), ("runs l", runs(lead, order)),
                        ("pos b", (start * words)[ours].sum() / max(words[ours].sum(), 1)),
                        ("pos l", (start * words)[lead].sum() / max(words[lead].sum(), 1)),
                        ("first b", float(ours[order[0]]) if len(order) else 1.0),
                        ("head b", words[heading & ours].sum() / max(words[ours].sum(), 1)),
                        ("head l", words[heading & lead].sum() / max(words[lead].sum(), 1))):
                    stats.setdefault(name, []).append(value)
            mean = {k: float(np.mean(v)) for k, v in stats.items()}

            def top(counts: Counter[str]) -> str:
                return f"{sum(counts.values())} (" + ", ".join(
                    f"{k} {v}" for k, v in counts.most_common(3)) + ")"
            print(f"| {genre} | {ratio} | {top(only_lead)} | {top(only_ours)} | "
                  f"{mean['runs b']:.1f} / {mean['runs l']:.1f} | "
                  f"{mean['pos b']:.2f} / {mean['pos l']:.2f} | {mean['first b']:.0%} | "
                  f"{mean['head b']:.3f} / {mean['head l']:.3f} | "
                  f"{boiler[0]:.0f} / {boiler[1]:.0f} ({boiler[2]:.0f}) |", flush=True)


if __name__ == "__main__":
    main()
