"""Tier benchmark (issue 16): the bytes `briefmin tier` saves and what it costs search.

On the Debian descriptions of bench_search.py (each package's synopsis is a query answered by
its own description; the same sample and queries, its cached archive), in one run: the
archive as added (every row int8), then a random half of its contents (seeded: "the old half")
tiered to 4-bit codes, and the same half tiered to binary only; and, as bounds, every content
tiered each way. For each: the archive file's size and its vector bytes, semantic recall@10
and MRR@10 of `search` (two-stage, default m) over every query, over the queries whose answer
was tiered and over the others, and how far the rescoring scores of the true top-10 rows
(float32 exact) sit from their float32 cosines. float32 exact search over the same rows is
the reference row. No tuning reads these queries: the decoder is fitted on the archive's own
stored codes.

`--archive PATH` runs the same arms on a copy of an archive of all the Debian descriptions
made beforehand (only the queries are encoded), over bench_search.py's held-out synopsis
queries of such an archive (`held_out_synopses`); its float32 rows are not stored, so the
reference there is exact cosine over the archive's int8 rows as added (the float32 columns
read "int8 as added"), and the binary pair-error table (an all-pairs matrix) is left out."""

from __future__ import annotations

import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_search import build_corpus, copy_archive, held_out_synopses
from bench.common import OUT, ensure_corpora, log, parse_args, section, table
from briefmin import Archive
from briefmin.encoder import load_encoder
from briefmin.modelid import BUNDLED_MODEL
from briefmin.nearpairs import decoded
from briefmin.search import Searcher
from briefmin.store import SEARCH_KINDS

# (name, codes, share tiered); the first arm tiers nothing but splits queries by the same half
ARMS = [("all int8 (as added)", None, 0.5), ("old half -> small", "small", 0.5),
        ("old half -> binary", "binary", 0.5), ("all -> small", "small", 1.0),
        ("all -> binary", "binary", 1.0)]


def tiered_copy(source: Path, codes: str | None, share: float, seed: int = 16,
                folder: str = "tiers") -> tuple[Path, set[int], float]:
    """A copy of the archive with `share` of its contents (seeded) tiered to `codes` (None:
    not tiered); those contents and the seconds `tier` took."""
    target = OUT / folder / f"{codes}-{share}.bmin"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    with Archive.open(target) as archive:
        contents = np.unique(archive.vectors(SEARCH_KINDS).content_ids)
    rng = np.random.default_rng(seed)
    chosen = set(rng.permutation(contents)[:round(len(contents) * share)].tolist())
    if codes is None:
        return target, chosen, 0.0
    started = time.perf_counter()
    with Archive.open(target, write=True) as archive:
        archive.tier(codes, datetime.now(UTC), only=chosen)
    return target, chosen, time.perf_counter() - started


def row_keys(path: Path) -> list[tuple[int, int, int]]:
    """(content id, chunk span) of each search row, in the archive's row order (tiering
    moves rows between segments; the float rows are in the order of the archive as added)."""
    with Archive.open(path) as archive:
        stored = archive.vectors(SEARCH_KINDS)
    return [(int(c), int(a), int(b)) for c, (a, b) in zip(stored.content_ids, stored.spans,
                                                          strict=True)]


def measure(path: Path, chosen: set[int], added: np.ndarray[Any, Any],
            order: dict[tuple[int, int, int], int], queries: list[tuple[str, str]],
            vectors: np.ndarray[Any, Any]) -> dict[str, Any]:
    rows = added[[order[key] for key in row_keys(path)]]  # float rows in this copy's order
    with Archive.open(path) as archive:
        info = archive.info()
        searcher = Searcher(archive)
        stored = searcher.vectors
        content_of = {r.path: r.content_id for r in archive.records()}
        codes = archive.all_int8(SEARCH_KINDS)
        lengths = stored.lengths(codes)
        hits, answered_tiered = [], []
        errors: list[float] = []
        for (_, expected), q in zip(queries, vectors, strict=True):
            found = [h.path for h in searcher.search(q, 10)]
            hits.append(found.index(expected) + 1 if expected in found else 0)
            answered_tiered.append(content_of[expected] in chosen)
            top = np.argsort(-(rows @ q))[:10]  # the true top-10 rows
            estimate = codes[top].astype(np.float32) @ q / lengths[top]
            errors.extend((estimate - rows[top] @ q).tolist())
    ranks = np.asarray(hits)
    tiered = np.asarray(answered_tiered)

    def recall(mask: np.ndarray[Any, Any]) -> tuple[float, float]:
        if not mask.any():
            return float("nan"), float("nan")
        r = ranks[mask]
        return float(np.mean(r > 0)), float(np.mean(np.where(r > 0, 1 / np.maximum(r, 1), 0)))

    every = np.ones(len(ranks), bool)
    return {"file": path.stat().st_size, "vector_bytes": info["vector_bytes"],
            "all": recall(every), "tiered": recall(tiered), "untiered": recall(~tiered),
            "bias": float(np.mean(errors)), "spread": float(np.std(errors))}


def float_exact(rows: np.ndarray[Any, Any], archive_path: Path,
                queries: list[tuple[str, str]], vectors: np.ndarray[Any, Any]
                ) -> tuple[float, float]:
    with Archive.open(archive_path) as archive:
        stored = archive.vectors(SEARCH_KINDS)
        paths: dict[int, list[str]] = {}
        # every latest record (records_of_contents is quadratic in the contents asked for)
        for record in archive.records():
            paths.setdefault(record.content_id, []).append(record.path)
    ranks = []
    for (_, expected), q in zip(queries, vectors, strict=True):
        out: list[str] = []
        seen: set[int] = set()
        for i in np.argsort(-(rows @ q), kind="stable"):
            content = int(stored.content_ids[i])
            if content not in seen:
                seen.add(content)
                out.extend(paths.get(content, []))
            if len(out) >= 10:
                break
        ranks.append(out[:10].index(expected) + 1 if expected in out[:10] else 0)
    r = np.asarray(ranks)
    return float(np.mean(r > 0)), float(np.mean(np.where(r > 0, 1 / np.maximum(r, 1), 0)))


def pair_errors(path: Path, added: np.ndarray[Any, Any],
                order: dict[tuple[int, int, int], int]) -> list[list[Any]]:
    """How far the cosine estimates involving binary rows sit from the float32 cosine, by
    true cosine: an exact vector (an int8 row or a query) against a binary row
    (`BinaryDecoder.estimate`), and two binary rows (`sign_cosines`, what dedupe reads).
    Pairs: every pair of rows above 0.5 and 20,000 random ones. In-sample: the decoder's
    two weights were fitted on pairs of these same vectors."""
    with Archive.open(path) as archive:
        stored = archive.vectors(SEARCH_KINDS)
    decoder = stored.decoder
    assert decoder is not None
    rows = added[[order[key] for key in row_keys(path)]]
    rows = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    sims = rows @ rows.T
    np.fill_diagonal(sims, -2.0)
    i, j = np.nonzero(np.triu(sims > 0.5))
    rng = np.random.default_rng(5)
    i = np.concatenate([i, rng.integers(0, len(rows), 20_000)])
    j = np.concatenate([j, rng.integers(0, len(rows), 20_000)])
    keep = i != j
    i, j = i[keep], j[keep]
    true = np.einsum("ij,ij->i", rows[i], rows[j])
    exact = np.einsum("ij,ij->i", rows[i], decoder.estimate(stored.bits[j]))
    both = decoder.sign_cosines(stored.bits[i], stored.bits[j])
    out = []
    for lo, hi in ((-1.0, 0.3), (0.3, 0.5), (0.5, 0.7), (0.7, 0.8), (0.8, 0.85),
                   (0.85, 0.9), (0.9, 0.95), (0.95, 1.01)):
        m = (true >= lo) & (true < hi)
        if m.any():
            out.append([f"[{max(lo, -1):.2f}, {min(hi, 1):.2f})", int(m.sum()),
                        f"{np.mean(exact[m] - true[m]):+.3f} ± {np.std(exact[m] - true[m]):.3f}",
                        f"{np.mean(both[m] - true[m]):+.3f} ± {np.std(both[m] - true[m]):.3f}"])
    return out


def _options(parser: Any) -> None:
    parser.add_argument("--archive", type=Path,
                        help="an existing real-model archive of all the Debian descriptions "
                             "(copied under bench/out first; only the queries are encoded)")
    parser.add_argument("--queries", type=int, default=2_000,
                        help="with --archive: synopsis queries drawn (half are held out)")


def existing_corpus(args: Any) -> tuple[Path, np.ndarray[Any, Any], list[tuple[str, str]],
                                        int]:
    """The copied archive, its int8 search rows decoded (standing in for float32), the
    held-out synopsis queries with their one answer each, and its brief count."""
    path = copy_archive(args.archive, "tiers-archive")
    _, _, held = held_out_synopses(args.data, path, args.queries)
    with Archive.open(path) as archive:
        stored = archive.vectors(SEARCH_KINDS)
        codes = archive.all_int8(SEARCH_KINDS)
        rows = decoded(codes, stored.lengths(codes))
        briefs = int(archive.info()["briefs"])
    return path, rows, [(q, min(answers)) for q, answers in held], briefs


def main() -> None:
    args = parse_args(__doc__ or "", _options)
    ensure_corpora(args.data)
    whole = args.archive is not None
    if whole:
        archive_path, rows, queries, n_docs = existing_corpus(args)
    else:
        # the same samples as bench_search.py (its cache is reused): 5k/500 quick, 20k/2,000
        n_docs, n_queries = (5_000, 500) if args.quick else (20_000, 2_000)
        archive_path, rows, queries = build_corpus(args.data, n_docs, n_queries)
    log(f"{len(queries)} queries over {len(rows):,} rows; encoding the queries")
    vectors = load_encoder(BUNDLED_MODEL).encode([text for text, _ in queries])
    exact = float_exact(rows, archive_path, queries, vectors)
    order = {key: row for row, key in enumerate(row_keys(archive_path))}
    results = []
    for name, codes, share in ARMS:
        log(f"arm: {name}")
        path, chosen, seconds = tiered_copy(archive_path, codes, share,
                                            folder="tiers-whole" if whole else "tiers")
        results.append((name, seconds, measure(path, chosen, rows, order, queries, vectors)))
        log(f"{name}: {results[-1][2]}")
    base = results[0][2]
    errors = [] if whole else pair_errors(OUT / "tiers" / "binary-1.0.bmin", rows, order)
    reference = "int8 as added" if whole else "float32"

    def fmt(pair: tuple[float, float]) -> str:
        return "" if np.isnan(pair[0]) else f"{pair[0]:.3f} / {pair[1]:.3f}"

    body = [
        table(["archive", "file bytes", "vs all int8", "vector bytes", "tier s",
               "recall@10 / MRR@10, all queries", "answer in the tiered half",
               "answer in the other half",
               f"score - {reference} cosine (true top 10): mean", "sd"],
              [[f"{reference} exact (reference)", "", "", "", "", fmt(exact), "", "", "", ""]]
              + [[name, m["file"], f"{m['file'] / base['file']:.3f}x", m["vector_bytes"],
                  round(seconds, 2), fmt(m["all"]), fmt(m["tiered"]), fmt(m["untiered"]),
                  round(m["bias"], 4), round(m["spread"], 4)] for name, seconds, m in results]),
        f"{len(queries):,} synopsis queries over {n_docs:,} descriptions ({len(rows):,} search "
        + (f"rows; the held-out half of bench_search.py's {args.queries:,} drawn for the "
           "whole archive, "
           "no query that tuned anything; the reference is exact cosine over the archive's "
           "own int8 rows, its float32 vectors not being stored)" if whole else "rows)")
        + "; the 'old half' is a seeded random half of the stored contents, tiered with "
        "`Archive.tier(only=...)` (what `briefmin tier` does to the contents it finds old, "
        "compaction included). Search: semantic two-stage (Hamming shortlist of k x m "
        "rows, then rescoring), default m. The last two columns: rescoring score minus the "
        f"{reference} cosine for the 10 rows nearest each query by {reference}, pooled over "
        "all rows of the arm (int8, 4-bit and binary rows together).",
    ]
    if errors:
        body += [
            table(["true cosine", "pairs", "exact vs binary row: estimate - true (mean ± sd)",
                   "binary vs binary (dedupe)"], errors),
            "Cosine estimates of the binary tier against float32, on the `all -> binary` "
            "archive's rows: every pair above 0.5 and 20,000 random pairs. In-sample: the "
            "decoder's two weights were fitted on pairs of these same vectors (no query)."]
    title = "the whole Debian archive, " if whole else ""
    print(section(f"Tiers ({title}{n_docs:,} Debian descriptions)", body))


if __name__ == "__main__":
    main()
