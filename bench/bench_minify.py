"""Benchmark: how much meaning `briefmin minify` keeps, and how fast, against the summarizers
people already use, on documents it was never tuned on, under judges it never optimizes.

Genres, their fixed held-out splits, the three judges (multilingual-e5-small, MiniLM over
180-word chunks, top-20 TF-IDF terms kept) and the baselines (lead, random, sumy's LexRank and
TextRank, summa, and the simple ones: the first words up to the budget, every paragraph's
first sentences, sentences ranked by the bundled model's cosine to the brief) are described
in bench/minify_eval.py. Every method gets the same word
budget: `ratio` x the original's words, at ratios 0.3, 0.5 and 0.7.

`briefmin-ctx` is briefmin with `contextual=True` (unit vectors from a model pass instead of
the token table), so what the faster default costs or gains is seen in the same run;
`briefmin-clauses` / `briefmin-sentences` is briefmin with the other unit size than the
default's (`clauses`, briefmin/units.py), likewise; `briefmin-nopriors` is the default without
its selection priors (`PRIORS`, briefmin/minify.py), only when it has some.

Speed, on the kernel docs' held-out split: the whole `minify_many` path at ratio 0.5 (both
ways) beside encoding the same briefs alone (the archive's `add` work), in the same run; and
one ~2,000-word brief minified in-process (model loaded) and by a cold `python -m briefmin
minify`; wall and CPU seconds (on shared cores the wall clock is mostly the wait for one).

    .venv/bin/python bench/bench_minify.py [--quick] [--data bench/data]   # held-out splits
    .venv/bin/python bench/bench_minify.py --train [--n 40]                # kernel training split

The full run (54-150 held-out documents per genre) takes hours on 2 shared cores, most of it
in the e5 judge (about 3 chunks/s of 200 words on 2 idle cores); with `--methods lexrank
textrank` (no random, summa or other unit size) and `--e5-methods briefmin lead` the first
three genres took 36 minutes, the kernel docs' e5 chunks already cached (bench/RESULTS.md,
"the held-out sets at full size"); all five with e5 on all four methods, most chunks cached,
32 minutes (session 12). `--quick` (the first 20 of each held-out split) is what RESULTS.md reports
unless it says otherwise. Each genre's table is followed by briefmin's margins over lead,
LexRank and TextRank with 95% paired-bootstrap intervals; `--save FILE` keeps every
per-document score. e5 vectors are cached in bench/out/e5-cache.npz between runs."""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

from minify_eval import (  # noqa: E402
    E5_CHUNK_WORDS,
    GENRES,
    HELD_OUT_QUICK,
    MINILM_CHUNK_WORDS,
    SUMMARIZERS,
    VARIANT_GENRES,
    E5Cache,
    MiniLmCache,
    TfIdf,
    offset_cosines,
    paired_bootstrap,
    pooled,
    split,
)

from briefmin.encoder import BUNDLED_MODEL, load_encoder  # noqa: E402
from briefmin.minify import (  # noqa: E402
    CLAUSES,
    PRIORS,
    brief_vectors,
    count_words,
    minify,
    minify_many,
    parse,
    render,
    select_in_order,
    word_budget,
)
from briefmin.selection import Priors  # noqa: E402

RATIOS = (0.3, 0.5, 0.7)
TRAIN_SEED = 11
# truncate, firsts and centroid (session 13): what a user writes in a few lines
BASELINES = ("lead", "random", "lexrank", "textrank", "summa", "truncate", "firsts",
             "centroid")
# briefmin-ctx: the same selection over contextual token embeddings from a model pass (the
# method before the token table), for the cost of the faster default in the same run
# the unit size the default does not use (clause units or sentence units), in the same run
OTHER_UNITS = "briefmin-sentences" if CLAUSES else "briefmin-clauses"
# the selection without the default's priors (the fourth round's default), when it has some
NO_PRIORS = ("briefmin-nopriors",) if Priors() != PRIORS else ()
METHODS = ("briefmin", OTHER_UNITS, *NO_PRIORS, "briefmin-ctx", *BASELINES)
JUDGES = ("e5", "e5x", "minilm180", "minilm180x", "tfidf")
# what the slow e5 judge scores (see `judge`): the methods the goal names, at every ratio;
# --e5-all adds random and summa
E5_METHODS = ("briefmin", "lead", "lexrank", "textrank")
EPS = 1e-4  # cosines of identical texts differ by float noise only


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def outputs_for(encoder: object, texts: list[str], ratio: float,
                timings: dict[str, float]) -> dict[str, list[str]]:
    """Every method's output for every text at this ratio (briefmin's timed)."""
    out: dict[str, list[str]] = {m: [] for m in METHODS}
    for method, contextual, clauses, priors in (
            ("briefmin", False, CLAUSES, PRIORS), (OTHER_UNITS, False, not CLAUSES, PRIORS),
            ("briefmin-nopriors", False, CLAUSES, Priors()),
            ("briefmin-ctx", True, CLAUSES, PRIORS)):
        if method not in METHODS:
            continue
        start, cpu = time.perf_counter(), time.process_time()
        ours = minify_many(encoder, texts, ratio=ratio,  # type: ignore[arg-type]
                           contextual=contextual, clauses=clauses, priors=priors)
        timings[f"{method} {ratio}"] = time.perf_counter() - start
        timings[f"{method} {ratio} cpu"] = time.process_time() - cpu
        out[method] = [r.text for r in ours]
    for index, text in enumerate(texts):
        budget = word_budget(count_words(text), ratio)
        doc = parse(text, budget)
        out["lead"].append(render(doc, select_in_order(doc, budget), budget))
        order = list(range(len(doc.units)))
        random.Random(index).shuffle(order)
        if "random" in out:
            out["random"].append(render(doc, select_in_order(doc, budget, order), budget))
        for name, summarize in SUMMARIZERS.items():
            if name in out:
                out[name].append(summarize(text, budget))
    for method, texts_out in out.items():
        over = [count_words(o) - word_budget(count_words(t), ratio)
                for o, t in zip(texts_out, texts, strict=True)]
        assert max(over) <= 0, f"{method} exceeds the budget at {ratio}"
    return out


def cosines(originals: list[str], outputs: dict[tuple[str, float], list[str]],
            embed: Callable[[list[str]], np.ndarray], chunk_words: int
            ) -> dict[tuple[str, float], np.ndarray]:
    """Per (method, ratio): cosine of each output's pooled vector to its original's (an
    empty output scores 0)."""
    keys = list(outputs)
    every = [*originals, *(o for k in keys for o in outputs[k])]
    vecs = pooled(every, chunk_words, embed)
    n = len(originals)
    out = {}
    for k, key in enumerate(keys):
        rows = vecs[n * (k + 1):n * (k + 2)]
        empty = np.array([not o.split() for o in outputs[key]])
        out[key] = np.where(empty, 0.0, (rows * vecs[:n]).sum(axis=1))
    return out


def judge(minilm_cache: MiniLmCache, e5: E5Cache | None, tfidf: TfIdf, originals: list[str],
          outputs: dict[tuple[str, float], list[str]]) -> dict[tuple[str, str, float], np.ndarray]:
    """Per (judge, method, ratio): one score per document. The e5 judge (about 1 chunk/s on
    the shared cores) only scores E5_METHODS."""
    minilm = minilm_cache.embed
    scores = {("minilm180", *k): v for k, v in cosines(
        originals, outputs, minilm, MINILM_CHUNK_WORDS).items()}
    for key, outs in outputs.items():
        scores[("minilm180x", *key)] = offset_cosines(originals, outs, minilm,
                                                       MINILM_CHUNK_WORDS)
    log("minilm180 judges done")
    if e5 is not None:
        chosen = {k: v for k, v in outputs.items() if k[0] in E5_METHODS}
        scores.update({("e5", *k): v for k, v in cosines(
            originals, chosen, e5.embed, E5_CHUNK_WORDS).items()})
        for key in chosen:
            if key[0] in ("briefmin", "lead"):
                scores[("e5x", *key)] = offset_cosines(originals, outputs[key], e5.embed,
                                                        E5_CHUNK_WORDS, both_ways=False)
        log("e5 judge done")
    for (method, ratio), outs in outputs.items():
        scores["tfidf", method, ratio] = np.array(
            [tfidf.kept(t, o) for t, o in zip(originals, outs, strict=True)])
    return scores


def quality_table(genre: str, n: int, scores: dict[tuple[str, str, float], np.ndarray],
                  judges: tuple[str, ...], outputs: dict[tuple[str, float], list[str]]) -> str:
    head = ["ratio", "method"]
    for j in judges:
        head += [f"{j} mean", f"{j} briefmin - it", f"{j} briefmin > it"]
    head.append("output = lead's")
    lines = [f"### {genre} ({n} held-out documents)\n",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for ratio in RATIOS:
        for method in METHODS:
            cells = [str(ratio), method]
            for j in judges:
                if (j, method, ratio) not in scores:
                    cells += ["", "", ""]
                    continue
                s, ours = scores[j, method, ratio], scores[j, "briefmin", ratio]
                cells.append(f"{s.mean():.4f}")
                if method == "briefmin":
                    cells += ["", ""]
                else:
                    cells += [f"{ours.mean() - s.mean():+.4f}",
                              f"{np.mean(ours > s + EPS):.0%}"]
            if (method, ratio) in outputs:
                same = np.mean([a == b for a, b in zip(outputs[method, ratio],
                                                       outputs["lead", ratio], strict=True)])
                cells.append(f"{same:.0%}")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def margins_table(scores: dict[tuple[str, str, float], np.ndarray],
                  judges: tuple[str, ...]) -> str:
    """briefmin minus each baseline the goal names (and the simple ones, when run), per judge
    and ratio: the mean per-document difference with its 95% paired-bootstrap interval
    (10,000 resamples of the documents), so a margin can be told from the noise."""
    lines = ["| ratio | briefmin minus | " + " | ".join(judges) + " |",
             "|---|---|" + "---|" * len(judges)]
    for ratio in RATIOS:
        for method in ("lead", "lexrank", "textrank", "truncate", "firsts", "centroid"):
            if all((j, method, ratio) not in scores for j in judges):
                continue  # not in this run
            cells = []
            for j in judges:
                if (j, method, ratio) not in scores or (j, "briefmin", ratio) not in scores:
                    cells.append("")
                    continue
                mean, low, high = paired_bootstrap(scores[j, "briefmin", ratio]
                                                   - scores[j, method, ratio])
                cells.append(f"{mean:+.4f} [{low:+.4f}, {high:+.4f}]")
            lines.append(f"| {ratio} | {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def save_scores(path: Path, genre: str, names: list[str],
                scores: dict[tuple[str, str, float], np.ndarray]) -> None:
    """Append every per-document score, one JSON line per (judge, method, ratio), in the
    format `minify_train.py --compare` reads (a method is its `variant`)."""
    with path.open("a", encoding="utf-8") as out:
        for (j, method, ratio), values in scores.items():
            out.write(json.dumps({"genre": genre, "judge": j, "variant": method,
                                  "ratio": ratio, "docs": names,
                                  "scores": [float(v) for v in values]}) + "\n")


def speed(encoder: object, texts: list[str], timings: dict[str, float]) -> str:
    """Throughput and latency, wall and CPU seconds: on cores shared with other work the
    wall clock mostly measures the wait for a core, CPU seconds what the work costs."""
    start, cpu = time.perf_counter(), time.process_time()
    brief_vectors(encoder, texts)  # type: ignore[arg-type]
    encode_s, encode_cpu = time.perf_counter() - start, time.process_time() - cpu
    n = len(texts)

    def rates(wall: float, cpu: float) -> str:
        return f"{n / wall:.2f} briefs/s wall ({n / cpu:.2f} per CPU second)"

    # one brief of about 2,000 words
    long_text = min(texts, key=lambda t: abs(count_words(t) - 2000))
    start, cpu = time.perf_counter(), time.process_time()
    minify(encoder, long_text, ratio=0.5)  # type: ignore[arg-type]
    warm_s, warm_cpu = time.perf_counter() - start, time.process_time() - cpu
    path = BENCH / "out" / "latency-brief.rst"
    path.parent.mkdir(exist_ok=True)
    path.write_text(long_text)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "briefmin", "minify", str(path), "-q"], cwd=ROOT,
                   check=True, stdout=subprocess.DEVNULL)
    cold_s = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cold_cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    fast = rates(timings["briefmin 0.5"], timings["briefmin 0.5 cpu"])
    ctx_row = "" if "briefmin-ctx 0.5" not in timings else (
        "| `minify_many` at 0.5, contextual pass (`briefmin-ctx`) | "
        f"{rates(timings['briefmin-ctx 0.5'], timings['briefmin-ctx 0.5 cpu'])} | "
        f"{encode_s / timings['briefmin-ctx 0.5']:.2f}x |\n")
    return (f"Speed on the kernel docs' held-out split ({n} docs, "
            f"{sum(map(count_words, texts))} words), 2 shared cores (load average "
            f"{os.getloadavg()[0]:.1f} at the end), backend {type(encoder).__name__}:\n\n"
            f"| path | throughput | x encode-only (wall) |\n|---|---|---|\n"
            f"| encoding the briefs alone (brief vectors, as `add` does): the baseline | "
            f"{rates(encode_s, encode_cpu)} | 1.00x |\n"
            f"| `minify_many` at 0.5, token table (the default) | **{fast}** | "
            f"**{encode_s / timings['briefmin 0.5']:.2f}x** |\n{ctx_row}\n"
            f"One brief of {count_words(long_text)} words: `minify` in-process (model loaded) "
            f"**{warm_s:.2f} s** wall ({warm_cpu:.2f} s CPU); cold `python -m briefmin "
            f"minify FILE` **{cold_s:.2f} s** wall ({cold_cpu:.2f} s CPU).")


def main() -> None:
    global E5_METHODS, METHODS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"the first {HELD_OUT_QUICK} of each held-out split")
    parser.add_argument("--train", action="store_true",
                        help="the kernel docs' training split instead (for tuning)")
    parser.add_argument("--n", type=int, default=40, help="training documents (--train)")
    parser.add_argument("--genres", nargs="+", default=list(GENRES),
                        choices=[*GENRES, *VARIANT_GENRES])
    parser.add_argument("--no-e5", action="store_true", help="skip the e5 judge")
    parser.add_argument("--e5-all", action="store_true",
                        help="the e5 judge on random and summa too (slow)")
    parser.add_argument("--e5-methods", nargs="+", choices=METHODS,
                        help=f"what the e5 judge scores (default: {' '.join(E5_METHODS)})")
    parser.add_argument("--no-ctx", action="store_true",
                        help="leave out briefmin-ctx (the contextual pass: slow)")
    parser.add_argument("--data", type=Path, default=BENCH / "data")
    parser.add_argument("--save", type=Path,
                        help="append every per-document score to this JSON-lines file")
    parser.add_argument("--methods", nargs="+", choices=METHODS,
                        help="compare only these (briefmin and lead always; default: all)")
    parser.add_argument("--no-speed", action="store_true",
                        help="leave out the speed rows (e.g. when the cores are shared)")
    args = parser.parse_args()
    if args.no_ctx:
        METHODS = tuple(m for m in METHODS if m != "briefmin-ctx")
    if args.methods:
        METHODS = tuple(m for m in METHODS if m in {"briefmin", "lead", *args.methods})
    if args.e5_all:
        E5_METHODS = METHODS
    elif args.e5_methods:
        E5_METHODS = tuple(args.e5_methods)
    encoder = load_encoder(BUNDLED_MODEL)
    encoder.encode(["warm up"])
    e5 = None if args.no_e5 else E5Cache()
    # the MiniLM judges' vectors are kept between runs like e5's: originals and baselines do
    # not change, and a stopped run keeps what it embedded
    minilm = MiniLmCache(encoder)
    judges = tuple(j for j in JUDGES if not j.startswith("e5") or e5 is not None)
    genres = ["kernel"] if args.train else args.genres
    # each genre's section is printed as soon as it is judged: a stopped run keeps them
    print("## minify: meaning kept on held-out documents, and speed\n")
    print(f"`{' '.join(sys.argv)}`. Columns per judge: the method's mean score, briefmin's "
          "mean minus it (the margin), and the share of documents where briefmin scores "
          "strictly higher. Genres, splits and judges: bench/minify_eval.py.\n", flush=True)
    for genre in genres:
        held_out, train = split(genre, args.data)
        if args.train:
            docs = random.Random(TRAIN_SEED).sample(train, min(args.n, len(train)))
        else:
            docs = held_out[:HELD_OUT_QUICK] if args.quick else held_out
        texts = [t for _, t in docs]
        log(f"{genre}: {len(texts)} docs, {sum(map(count_words, texts))} words")
        timings: dict[str, float] = {}
        outputs = {}
        for ratio in RATIOS:
            for method, outs in outputs_for(encoder, texts, ratio, timings).items():
                outputs[method, ratio] = outs
            log(f"{genre}: outputs at {ratio} ({timings[f'briefmin {ratio}']:.1f} s briefmin)")
        tfidf = TfIdf([t for _, t in held_out])
        scores = judge(minilm, e5, tfidf, texts, outputs)
        title = f"{genre} (training split, seed {TRAIN_SEED})" if args.train else genre
        print(quality_table(title, len(texts), scores, judges, outputs) + "\n", flush=True)
        print(f"Margins on {genre}, briefmin minus each baseline [95% paired bootstrap]:\n\n"
              + margins_table(scores, judges) + "\n", flush=True)
        if args.save is not None:
            save_scores(args.save, genre, [name for name, _ in docs], scores)
        if genre == "kernel" and not args.train and not args.no_speed:
            print(speed(encoder, texts, timings) + "\n", flush=True)


if __name__ == "__main__":
    main()
