"""Size of a briefmin archive against what people use today, and single-brief restore latency.

Baselines, measured in the same run on the same folder: `tar c | zstd -19`, `tar c | xz -9`,
per-file `zstd -19`, and a naive store (raw text + float32 vectors in SQLite, as common
embedding CLIs keep them). Every size is given as a ratio to `tar c | zstd -19`.

The text part of an archive does not depend on the model, so by default the archive is built
with the instant `hashing:384` encoder and its vector part is counted exactly: the real
model's tokenizer chunks every brief as `briefmin add` would, and each vector row costs what
the archive's own rows cost. `--real-model` builds the archive with the real model instead."""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import time
from pathlib import Path
from typing import Any

import zstandard
from common import (
    BRIEFMIN,
    briefmin,
    ensure_corpora,
    log,
    mb,
    parse_args,
    percentile,
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

from briefmin import Archive

RESTORE_GOAL_MS = 5.0
FLOAT32_DIM = 384  # the naive store keeps float32 vectors of the bundled model
INT8_BYTES = 384  # the archive's rescoring code per row (the scan's binary code is 48 B)
# smaller rescoring codes than `--profile small`'s 4-bit ones, whose recall the search
# benchmark measures (bench_search.py CODE_BYTES): the archive's size with them is
# projected, the rest of each row unchanged
RESCORING_CODES = {"pq48 (48 B)": 48, "none, binary only (0 B)": 0}


def main() -> None:
    def extra(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--real-model", action="store_true",
                            help="build the archive with the bundled model (slow, exact)")
    args = parse_args(__doc__.splitlines()[0], extra)
    ensure_corpora(args.data)
    kernel = args.data / "linux-doc"
    debian = args.data / "debian-descriptions" / "docs"
    n_kernel, n_debian = (600, 3000) if args.quick else (None, 20_000)
    corpora = []
    work = scratch("size")
    kernel_files = text_files(kernel)
    if n_kernel is None:
        corpora.append(("Linux kernel docs", kernel, kernel_files))
    else:
        picked = kernel_files[:n_kernel]  # whole folders, as a user's archive would have
        corpora.append((f"Linux kernel docs (first {n_kernel} files)",
                        stage(picked, kernel, work / "kernel" / "linux-doc"), None))
    debian_files = sample(text_files(debian), n_debian)
    corpora.append((f"Debian descriptions ({len(debian_files):,} sampled)",
                    stage(debian_files, debian, work / "debian" / "docs"), None))

    counter = VectorCounter()
    body: list[str] = []
    summary: list[list[Any]] = []
    for name, folder, files in corpora:
        files = files or text_files(folder)
        log(f"{name}: {len(files)} files")
        result = measure(name, folder, files, work, counter, args.real_model)
        body += result[0]
        summary.append(result[1])
    body.insert(0, table(["corpus", "archive / tar\\|zstd -19",
                          "`--profile small` / tar\\|zstd -19", "text / tar\\|zstd -19",
                          "vector share", "restore p50 / p99 (goal < 5 ms)"], summary))
    how = ("real model" if args.real_model else
           "`hashing:384` for the bytes, vector rows counted with the real model's tokenizer "
           "and charged the archive's own per-row bytes")
    body.append(f"Archive built with {how}. Goal: whole archive ≤ 1.000x `tar c | zstd -19`, "
                f"single-brief restore < {RESTORE_GOAL_MS:g} ms.")
    print(section("Size and restore", body))


def measure(name: str, folder: Path, files: list[Path], work: Path, counter: VectorCounter,
            real_model: bool) -> tuple[list[str], list[Any]]:
    raw = sum(p.stat().st_size for p in files)
    slug = "kernel" if "kernel" in name.lower() else "debian"
    parent, base = folder.parent, folder.name
    tzst, txz = work / f"{slug}.tar.zst", work / f"{slug}.tar.xz"
    log("tar | zstd -19")
    tar_zstd = run([f"tar c -C {parent} {base} | zstd -19 -q -c > {tzst}"], shell=True)
    log("tar | xz -9")
    run([f"tar c -C {parent} {base} | xz -9 -c > {txz}"], shell=True)
    log("per-file zstd -19")
    cctx = zstandard.ZstdCompressor(level=19, write_checksum=True)  # what `zstd -19 f` writes
    per_file = sum(len(cctx.compress(p.read_bytes())) for p in files)

    log("counting the real model's vector rows")
    rows_per_file = counter.rows(files)
    real_rows = sum(rows_per_file)
    naive = naive_store(files, rows_per_file, work / f"{slug}-naive.sqlite")

    archive = work / f"{slug}.bmin"
    log(f"briefmin add ({'real model' if real_model else 'hashing:384'})")
    run([*BRIEFMIN, "add", str(archive), base, "-q", "--json",
               *([] if real_model else ["--model", "hashing:384"])], cwd=parent)
    info = json.loads(briefmin("info", str(archive), "--json").stdout)
    per_row = info["vector_bytes"] / info["vectors"] if info["vectors"] else 0.0
    vectors = info["vector_bytes"] if real_model else round(per_row * real_rows)
    other = info["other_bytes"]
    text = info["text_bytes"]
    whole = text + vectors + other
    tar_size = tzst.stat().st_size

    log("briefmin add --profile small (4-bit rescoring codes)")
    small = work / f"{slug}-small.bmin"
    run([*BRIEFMIN, "add", str(small), base, "-q", "--json", "--profile", "small",
         *([] if real_model else ["--model", "hashing:384"])], cwd=parent)
    small_info = json.loads(briefmin("info", str(small), "--json").stdout)
    small_row = small_info["vector_bytes"] / max(1, small_info["vectors"])
    small_vectors = small_info["vector_bytes"] if real_model else round(small_row * real_rows)
    small_whole = small_info["text_bytes"] + small_info["other_bytes"] + small_vectors

    latencies = restore_latencies(archive)
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    log("restore everything: briefmin restore vs zstd -d | tar x")
    out_b, out_t = work / f"{slug}-restored-b", work / f"{slug}-restored-t"
    restore_all = briefmin("restore", str(archive), "--to", str(out_b), "-q")
    out_t.mkdir()
    untar = run([f"zstd -d -q -c {tzst} | tar x -C {out_t}"], shell=True)

    sizes = table(["store", "bytes", "x tar\\|zstd -19", "note"], [
        ["raw files", raw, ratio(raw, tar_size), f"{len(files):,} files"],
        ["`tar c \\| zstd -19`", tar_size, "1.000x",
         f"{tar_zstd.seconds:.1f} s; the baseline"],
        ["`tar c \\| xz -9`", txz.stat().st_size, ratio(txz.stat().st_size, tar_size), ""],
        ["per-file `zstd -19`", per_file, ratio(per_file, tar_size), "no search"],
        ["naive SQLite (text + float32)", naive, ratio(naive, tar_size),
         f"{real_rows:,} vectors x {FLOAT32_DIM * 4} B"],
        ["**briefmin archive**", whole, ratio(whole, tar_size),
         f"{info['blocks']:,} blocks, {info['dictionaries']} dictionary"],
        ["  text (blocks + dictionary)", text, ratio(text, tar_size), ""],
        ["  vectors", vectors, ratio(vectors, tar_size),
         f"{real_rows:,} rows x {per_row:.0f} B; {vectors / whole:.0%} of the archive"],
        ["  other (SQLite pages, catalogue)", other, ratio(other, tar_size), ""],
        ["**briefmin archive, `--profile small`**", small_whole,
         ratio(small_whole, tar_size),
         f"4-bit rescoring codes: {real_rows:,} rows x {small_row:.0f} B"],
        *[[f"projected: rescoring codes {code} instead of int8", size, ratio(size, tar_size),
           f"{real_rows:,} rows x {per_row - INT8_BYTES + code_bytes:.0f} B; recall in the "
           "search section"]
          for code, code_bytes in RESCORING_CODES.items()
          for size in [text + other + round((per_row - INT8_BYTES + code_bytes) * real_rows)]],
    ])
    speed = table(["restore", "briefmin", "baseline", "ratio"], [
        ["one brief, median (random, in-process)", f"{p50:.2f} ms",
         f"goal {RESTORE_GOAL_MS:g} ms", f"{p50 / RESTORE_GOAL_MS:.2f}x goal"],
        ["one brief, p99", f"{p99:.2f} ms", f"goal {RESTORE_GOAL_MS:g} ms",
         f"{p99 / RESTORE_GOAL_MS:.2f}x goal"],
        ["everything to a folder (`restore --to` vs `zstd -d \\| tar x`)",
         f"{raw / restore_all.seconds / 1e6:.1f} MB/s", f"{raw / untar.seconds / 1e6:.1f} MB/s",
         ratio(raw / restore_all.seconds, raw / untar.seconds)],
    ])
    summary = [name, ratio(whole, tar_size), ratio(small_whole, tar_size),
               ratio(text, tar_size), f"{vectors / whole:.0%}", f"{p50:.2f} / {p99:.2f} ms"]
    return [f"### {name}: {mb(raw)} in {len(files):,} files", sizes, speed], summary


def restore_latencies(path: Path, n: int = 500) -> list[float]:
    """Milliseconds of `Archive.read` for n random briefs, after opening (in-process)."""
    with Archive.open(path) as archive:
        records = archive.records()
        rng = random.Random(3)
        picks = [rng.choice(records) for _ in range(n)]
        archive.read(picks[0])  # first touch of the file's pages is not a brief's cost
        times = []
        for record in picks:
            start = time.perf_counter()
            archive.read(record)
            times.append((time.perf_counter() - start) * 1000)
    return times


def naive_store(files: list[Path], rows: list[int], path: Path) -> int:
    """Raw text plus float32 vectors in SQLite, one row per brief (what many embedding tools
    keep). Vector bytes are random: float32 embeddings do not compress in SQLite anyway."""
    path.unlink(missing_ok=True)
    rng = random.Random(0)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE embeddings (id INTEGER PRIMARY KEY, path TEXT UNIQUE, "
                     "content TEXT, embedding BLOB)")
        conn.executemany("INSERT INTO embeddings(path, content, embedding) VALUES (?, ?, ?)", (
            (str(p), p.read_bytes().decode("utf-8", "replace"),
             rng.randbytes(n * FLOAT32_DIM * 4)) for p, n in zip(files, rows, strict=True)))
    conn.close()
    return path.stat().st_size


class VectorCounter:
    """Vector rows per brief as `briefmin add` makes them with the bundled model: one for a
    brief that fits one chunk, else one per chunk plus the brief's own."""

    def rows(self, files: list[Path]) -> list[int]:
        return [1 if chunks == 1 else chunks + 1 for chunks in windows_per_file(files)]


if __name__ == "__main__":
    main()
