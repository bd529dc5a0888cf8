"""Semantic search: a Hamming scan over the binary codes, then int8 rescoring.

The scan over packed sign bits (numpy's bitwise_count) is ~30x cheaper than a float matmul and
picks `k x m` candidate rows; their int8 codes, read from disk only for those rows, give
cosines within ~1e-3 of float32. Long briefs have one row per chunk, so a brief matches
through its best chunk."""

from __future__ import annotations

import re
from collections.abc import Set
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .encoder import archive_encoder
from .errors import UsageError
from .quantize import Floats, binary_codes, hamming
from .store import SEARCH_KINDS, Archive, Snapshot, StoredVectors

# candidates per wanted hit for the Hamming stage, chosen with bench/bench_search.py on the
# Debian descriptions (20k briefs, 2,000 synopsis queries): m=10 keeps recall@10 at 0.996x of
# float32 exact and overlaps its top-10 by 0.957; m=5 falls to 0.906 overlap, and m=20 gains
# 0.02 overlap for twice the int8 reads
DEFAULT_M = 10
SNIPPET_CHARS = 240


@dataclass(frozen=True)
class Hit:
    path: str
    version: int
    score: float  # cosine between the query and the brief's best chunk
    snippet: str
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "version": self.version, "score": round(self.score, 4),
                "snippet": self.snippet, "sha256": self.sha256}


class Searcher:
    """Holds an archive's scan codes in memory, so many queries pay the load once."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self.vectors: StoredVectors = archive.vectors(SEARCH_KINDS)
        self._scale = self.vectors.scale if self.vectors.int8_step else None
        self._all_int8: npt.NDArray[np.int8] | None = None

    def search(self, query: Floats, k: int = 10, *, m: int = DEFAULT_M,
               min_score: float | None = None, all_versions: bool = False,
               exact: bool = False, query_text: str = "",
               within: Set[tuple[str, int]] | None = None) -> list[Hit]:
        """The k best briefs for one unit query vector, best first; only the (path, version)
        pairs `within` holds when it is given (a snapshot's)."""
        check_k(k)
        if m < 1:
            raise UsageError(f"m must be at least 1, not {m}")
        n = len(self.vectors)
        if n == 0 or self._scale is None:
            return []
        query = np.asarray(query, np.float32).reshape(-1)
        pool = n if exact else min(n, k * m)
        distances = None if exact else hamming(binary_codes(query[None, :])[0], self.vectors.bits)
        while True:
            rows = self._candidates(distances, pool)
            hits, below_min = self._rank(query, rows, k, min_score, all_versions, query_text,
                                         within)
            # old versions can crowd the pool: widen it until k briefs (or a score too low)
            if len(hits) >= k or pool >= n or below_min:
                return hits
            pool = min(n, pool * 4)

    def _candidates(self, distances: npt.NDArray[np.uint16] | None,
                    pool: int) -> npt.NDArray[np.int64]:
        if distances is None or pool >= len(distances):
            return np.arange(len(self.vectors), dtype=np.int64)
        return np.argpartition(distances, pool - 1)[:pool].astype(np.int64)

    def _scores(self, query: Floats, rows: npt.NDArray[np.int64]) -> Floats:
        assert self._scale is not None
        if len(rows) == len(self.vectors):  # exact: every code, in a few large reads
            if self._all_int8 is None:
                self._all_int8 = self.archive.all_int8(SEARCH_KINDS)
            return self._scale.scores(query, self._all_int8[rows])
        return self._scale.scores(query, self.vectors.int8(rows))

    def _rank(self, query: Floats, rows: npt.NDArray[np.int64], k: int,
              min_score: float | None, all_versions: bool, query_text: str,
              within: Set[tuple[str, int]] | None = None) -> tuple[list[Hit], bool]:
        """(hits, whether the ranking stopped at a score below min_score)."""
        scores = self._scores(query, rows)
        order = np.argsort(-scores, kind="stable")
        contents = self.vectors.content_ids[rows[order]]
        # a content's first place in score order is its best chunk
        firsts = np.sort(np.unique(contents, return_index=True)[1])
        hits: list[Hit] = []
        # records are looked up a few contents at a time: an --exact search over a million
        # rows needs the first dozens, not a million lookups
        for start in range(0, len(firsts), 4 * k):
            batch = firsts[start:start + 4 * k]
            records = self.archive.records_of_contents(
                contents[batch].tolist(), all_versions=all_versions or within is not None)
            if within is not None:
                records = {c: [r for r in rs if (r.path, r.version) in within]
                           for c, rs in records.items()}
            for place in batch:
                score, row = float(scores[order[place]]), int(rows[order[place]])
                if min_score is not None and score < min_score:
                    return hits[:k], True
                holders = records.get(int(contents[place]), [])  # none: only old versions
                if holders:
                    snippet = self._snippet(int(contents[place]), row, query_text)
                    hits.extend(Hit(r.path, r.version, score, snippet, r.sha256)
                                for r in holders)
                if len(hits) >= k:
                    return hits[:k], False
        return hits[:k], False

    def _snippet(self, content_id: int, row: int, query_text: str) -> str:
        start, end = (int(x) for x in self.vectors.spans[row])
        return snippet(self.archive.text(content_id)[start:end], query_text)


def check_k(k: int) -> None:
    if k < 1:
        raise UsageError(f"-k must be at least 1, not {k}")


# sentence ends, and line breaks (markdown list items and headings are lines of their own)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\s*\n\s*")
_WORD = re.compile(r"\w+")


def snippet(chunk: str, query_text: str = "", limit: int = SNIPPET_CHARS) -> str:
    """The sentence of the chunk that shares most words with the query (the first one on a
    tie), whitespace collapsed and cut to `limit` characters."""
    sentences = [s for s in (" ".join(p.split()) for p in _SENTENCE.split(chunk)) if s]
    if not sentences:
        return ""
    words = {w.lower() for w in _WORD.findall(query_text)}
    best = max(sentences, key=lambda s: len(words & {w.lower() for w in _WORD.findall(s)}))
    return best if len(best) <= limit else best[:limit - 1].rstrip() + "…"


def search_texts(archive: Archive, queries: list[str], k: int = 10, *, m: int = DEFAULT_M,
                 min_score: float | None = None, all_versions: bool = False,
                 exact: bool = False, snapshot: Snapshot | None = None) -> list[list[Hit]]:
    """Encode the queries with the archive's own model and search each; one list of hits per
    query, best first. With `snapshot`, only the brief versions it holds."""
    check_k(k)
    within = archive.snapshot_members(snapshot) if snapshot is not None else None
    # onnxruntime builds its session (~0.3 s, GIL released) while numpy loads the codes
    with ThreadPoolExecutor(max_workers=1) as pool:
        encoder = pool.submit(archive_encoder, archive)
        searcher = Searcher(archive)
        if not len(searcher.vectors):
            encoder.cancel()
            return [[] for _ in queries]
        vectors = encoder.result().encode(queries)
    return [searcher.search(vector, k, m=m, min_score=min_score, all_versions=all_versions,
                            exact=exact, query_text=text, within=within)
            for text, vector in zip(queries, vectors, strict=True)]

