"""Semantic search: a Hamming scan over the binary codes, then int8 rescoring.

The scan over packed sign bits (numpy's bitwise_count) is ~30x cheaper than a float matmul and
picks `k x m` candidate rows; their int8 codes, read from disk only for those rows, give
cosines within ~1e-3 of float32. Long briefs have one row per chunk, so a brief matches
through its best chunk."""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Set
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from . import cjk, fusion
from .encoder import archive_encoder
from .errors import BriefminError, UsageError
from .fusion import Fused, fuse, order
from .quantize import Floats, binary_codes, hamming
from .query import Literal, Query, parse
from .store import SEARCH_KINDS, Archive, BriefRecord, Snapshot, StoredVectors, lexical
from .store.lexical import STOP_WORDS

# candidates per wanted hit for the Hamming stage, chosen with bench/bench_search.py on the
# Debian descriptions (20k briefs, 2,000 synopsis queries): m=10 keeps recall@10 at 0.996x of
# float32 exact and overlaps its top-10 by 0.957; m=5 falls to 0.906 overlap, and m=20 gains
# 0.02 overlap for twice the int8 reads
DEFAULT_M = 10
TIED_ROWS_MAX = 1024  # rows past the pool read at the Hamming cut when they tie with its last
MODES = ("hybrid", "semantic", "lexical")
DEFAULT_MODE = "hybrid"
SNIPPET_CHARS = 240


@dataclass(frozen=True)
class Channel:
    """Where one channel put a hit: its rank among that channel's candidates (None when the
    hit came from the other channel only) and that channel's own score."""

    rank: int | None
    score: float

    def to_json(self) -> dict[str, Any]:
        return {"rank": self.rank, "score": round(self.score, 4)}


@dataclass(frozen=True)
class Hit:
    path: str
    version: int
    score: float  # the mode's score: fused (hybrid), cosine (semantic), BM25 (lexical)
    snippet: str
    sha256: str
    semantic: Channel | None = None  # score: cosine with the brief's best chunk
    lexical: Channel | None = None  # score: BM25 over the query's words
    # quoted phrases and identifiers of the query the brief holds; None where nothing looked
    # for them (semantic mode, an archive without a lexical index yet): a 0 there said the
    # brief lacked an identifier it holds
    literals: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "version": self.version, "score": round(self.score, 4),
                "snippet": self.snippet, "sha256": self.sha256,
                "semantic": self.semantic and self.semantic.to_json(),
                "lexical": self.lexical and self.lexical.to_json(),
                "literals": self.literals}


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
        nearest = np.argpartition(distances, pool - 1)[:pool]
        # every row as near as the last one taken comes too: which of a tie the cut kept
        # depended on row order, so one archive merged from parts (rows in another order)
        # answered otherwise than the archive of the same briefs built at once. A larger tie
        # (a chunk shared by thousands of briefs: identical codes) keeps the cut's choice
        tied = np.flatnonzero(distances <= distances[nearest].max())
        return (tied if len(tied) <= pool + TIED_ROWS_MAX else nearest).astype(np.int64)

    def _scores(self, query: Floats, rows: npt.NDArray[np.int64]) -> Floats:
        assert self._scale is not None
        if len(rows) == len(self.vectors):  # exact: every code, in a few large reads
            if self._all_int8 is None:
                self._all_int8 = self.archive.all_int8(SEARCH_KINDS)
            return self.vectors.scores(query, rows, self._all_int8[rows])
        # per row: tiered rows (`briefmin tier`) read their cosines their own way
        return self.vectors.scores(query, rows, self.vectors.int8(rows))

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
                records = _only_within(records, within)
            for rank, place in enumerate(batch, start + 1):
                score, row = float(scores[order[place]]), int(rows[order[place]])
                if min_score is not None and score < min_score:
                    return hits[:k], True
                holders = records.get(int(contents[place]), [])  # none: only old versions
                if holders:
                    snippet = self._snippet(int(contents[place]), row, query_text)
                    hits.extend(Hit(r.path, r.version, score, snippet, r.sha256,
                                    semantic=Channel(rank, score)) for r in holders)
                if len(hits) >= k:
                    return hits[:k], False
        return hits[:k], False

    def contents(self, query: Floats, n: int, pool: int, *, exact: bool = False
                 ) -> list[tuple[int, float, int]]:
        """Up to n (content id, cosine of its best chunk) among the `pool` rows nearest in
        Hamming distance, best first, with the row of that chunk: the semantic channel of a
        hybrid search (contents, so old versions count; the caller maps them to briefs)."""
        total = len(self.vectors)
        if total == 0 or self._scale is None:
            return []
        query = np.asarray(query, np.float32).reshape(-1)
        pool = total if exact else min(total, pool)
        distances = None if exact else hamming(binary_codes(query[None, :])[0],
                                               self.vectors.bits)
        rows = self._candidates(distances, pool)
        scores = self._scores(query, rows)
        order = np.argsort(-scores, kind="stable")
        contents = self.vectors.content_ids[rows[order]]
        firsts = np.sort(np.unique(contents, return_index=True)[1])[:n]
        return [(int(contents[i]), float(scores[order[i]]), int(rows[order[i]]))
                for i in firsts]

    def best_chunks(self, query: Floats | None, content_ids: list[int]
                    ) -> dict[int, tuple[float, int]]:
        """(cosine, row) of each content's best chunk; rows only, cosine 0, without a query
        vector (the first chunk then)."""
        mask = np.isin(self.vectors.content_ids, content_ids)
        rows = np.flatnonzero(mask).astype(np.int64)
        if not len(rows):
            return {}
        if query is None or self._scale is None:
            scores = np.zeros(len(rows), np.float32)
        else:
            scores = self._scores(np.asarray(query, np.float32).reshape(-1), rows)
        best: dict[int, tuple[float, int]] = {}
        for row, score in zip(rows.tolist(), scores.tolist(), strict=True):
            content = int(self.vectors.content_ids[row])
            if content not in best or score > best[content][0]:
                best[content] = (float(score), row)
        return best

    def _snippet(self, content_id: int, row: int, query_text: str) -> str:
        start, end = (int(x) for x in self.vectors.spans[row])
        return snippet(self.archive.text(content_id)[start:end], query_text)


def check_k(k: int) -> None:
    if k < 1:
        raise UsageError(f"-k must be at least 1, not {k}")


# sentence ends (a CJK one needs no space after it, and keeps the marks and the closing
# quote after it), and line breaks (markdown list items and headings are lines of their own)
_CJK_STOPS, _CJK_CLOSERS = "\u3002\uff01\uff1f", "\u300d\u300f\uff09\u3011\u300b\u201d\u2019"
_SENTENCE = re.compile(
    r"(?<=[.!?])\s+"
    f"|(?<=[{_CJK_STOPS}])(?![{_CJK_STOPS}{_CJK_CLOSERS}])\\s*"
    f"|(?<=[{_CJK_STOPS}][{_CJK_CLOSERS}])(?![{_CJK_CLOSERS}])\\s*"
    r"|\s*\n\s*")
_WORD = re.compile(r"\w+")
# white space between two CJK letters (or a CJK comma and a letter) on one line, or across
# one line break unless the line is a heading: a wrapped line, no space and no line of its
# own in the sentence
_CJK_WRAP = re.compile(f"(?<=[{cjk.LETTERS}{cjk.MARKS}])"
                       f"(?:[ \\t]+|[ \\t]*\\r?\\n[ \\t]*)(?=[{cjk.LETTERS}])")
_HEADING_LINE = re.compile(r"^[ \t]*#.*$", re.MULTILINE)


def snippet(chunk: str, query_text: str = "", limit: int = SNIPPET_CHARS,
            literals: tuple[Literal, ...] = ()) -> str:
    """The sentence of the chunk that holds most of the query's literals, then shares most
    words with the query (the first one on a tie; each CJK letter a word), whitespace
    collapsed and cut to `limit` characters."""
    sentences = [s for s in (" ".join(p.split()) for p in _SENTENCE.split(_unwrapped(chunk)))
                 if s]
    if not sentences:
        return ""
    best = sentences[_best_sentence(query_text, sentences, literals)]
    return best if len(best) <= limit else best[:limit - 1].rstrip() + "…"


def _best_sentence(query_text: str, sentences: list[str],
                   literals: tuple[Literal, ...] = ()) -> int:
    """The sentence holding most of the query's literals (`max_connections`, not the
    sentence naming `max_keepalive_connections` that shares more of its parts), then most
    of its words, by stem (`prices` finds `price`, as the lexical channel did), the first on
    a tie. Only words that begin as a query word does are stemmed (a stem is its word's
    start, folded): few of a long brief's words."""
    asked = _words(query_text)
    if not asked:
        return 0
    own = [_words(s) for s in sentences]
    prefixes = {_fold(w[:2]) for w in asked}
    stem = lexical.stems(w for w in asked.union(*own) if _fold(w[:2]) in prefixes)
    query = {t for w in asked for t in stem[w]}
    return max(range(len(sentences)),
               key=lambda i: (sum(lit.found_in(sentences[i]) for lit in literals),
                              len(query.intersection(
                                  [t for w in own[i] if w in stem for t in stem[w]]))))


@functools.lru_cache(maxsize=4096)
def _fold(text: str) -> str:
    """Lower case without accents (`É` as `e`), as the index's tokenizer folds (a word's
    first two letters: few, so cached)."""
    return "".join(c for c in unicodedata.normalize("NFKD", text.lower())
                   if not unicodedata.combining(c))


def _unwrapped(chunk: str) -> str:
    """The chunk with its wrapped CJK lines joined (`_CJK_WRAP`); a markdown heading line
    keeps its line break."""
    if not cjk.has_letter(chunk):
        return chunk
    headings = {m.end() for m in _HEADING_LINE.finditer(chunk)}
    return _CJK_WRAP.sub(lambda m: m.group() if "\n" in m.group() and any(
        m.start() <= end <= m.end() for end in headings) else "", chunk)


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(cjk.token_spaced(text))}


# text whose words `LexicalRanker.counted` counts per query, at most: FTS5 tokenizes about
# 20 MB/s here, and 50 candidates of 1.5 MB each took a lexical search from 0.95 s to 4.9 s
# (a review's archive); past it a candidate keeps its score with each word counted once
COUNT_BYTES = 2 * 1024 * 1024


class LexicalRanker:
    """BM25 over the archive's lexical index (store/lexical.py), document length = the
    brief's size in bytes. The index keeps no term frequencies (detail=none, for size), so
    `scores` counts every term once per brief, and `counted` then counts the terms in the
    text of the best candidates. Term lookups are cached, so a batch of queries pays each
    term once."""

    K1 = 1.2
    B = 0.75

    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self.available = archive.has_lexical_index()
        self._ids, sizes = archive.content_sizes() if self.available else (
            np.zeros(0, np.int64), np.zeros(0, np.int64))
        self._sizes = sizes
        # no sizes, or only zero-byte briefs (which no term matches): any average will do
        average = float(sizes.mean()) if sizes.any() else 1.0
        # BM25's length factor, and its saturation term at tf = 1, per content
        self._length = 1 - self.B + self.B * sizes / average
        self._norm = (self.K1 + 1) / (1 + self.K1 * self._length)
        self._matches: dict[str, npt.NDArray[np.int64]] = {}

    def matches(self, term: str) -> npt.NDArray[np.int64]:
        """Positions (into the content table) of the contents holding `term`."""
        if term not in self._matches:
            ids = self.archive.lexical_matches(term)
            positions = np.searchsorted(self._ids, ids)
            # contents indexed but gone from the table cannot happen inside one transaction;
            # guard anyway so a damaged index never raises here
            ok = (positions < len(self._ids))
            ok[ok] &= self._ids[positions[ok]] == ids[ok]
            self._matches[term] = positions[ok]
        return self._matches[term]

    def scores(self, terms: tuple[str, ...]) -> Floats:
        """The BM25 score of every content (0 = no term)."""
        return self._idf_sums(terms, self._norm)

    def held(self, terms: tuple[str, ...]) -> Floats:
        """Per content, the idf of the query's terms it holds, each counted once whatever
        the brief's length (`fusion.Params.coverage`)."""
        return self._idf_sums(terms, None)

    def _idf_sums(self, terms: tuple[str, ...], weights: Floats | None) -> Floats:
        """Per content, the idf of each term it holds, times its `weights` (none: 1)."""
        out = np.zeros(len(self._ids), np.float32)
        for term in terms:
            where = self.matches(term)
            if len(where):
                idf = self._idf(len(where))
                out[where] += idf if weights is None else idf * weights[where]
        return out

    def _idf(self, df: int) -> float:
        """BM25's idf of a term that `df` of the contents hold."""
        n = len(self._ids)
        return float(np.log(1 + (n - df + 0.5) / (df + 0.5)))

    def counted(self, scores: Floats, terms: tuple[str, ...], n: int) -> Floats:
        """`scores` with the n best scored again from how often each term occurs in their
        text. Counting each term once let the shortest brief that mentions a word outrank
        the one about it (an audit's one-word query `pricing`: the fixtures' pricing brief,
        10 mentions, ranked 10th), and in Chinese, where each letter is a token and letters
        repeat, it was most of the gap to bm25s (bench/RESULTS.md, "Term frequencies")."""
        top, total = [], 0
        for content_id, _ in self.rank(scores, n):  # best first, within COUNT_BYTES
            size = int(self._sizes[np.searchsorted(self._ids, content_id)])
            if total + size <= COUNT_BYTES:
                top.append(content_id)
                total += size
        if not top:
            return scores
        texts = {}
        for content_id in sorted(top):  # storage order: each solid block inflates once
            try:
                texts[content_id] = self.archive.text(content_id)
            except BriefminError:
                # damaged (verify names it): its words count once, so it may rank below
                # where it belongs (README). Failing here instead failed searches over a
                # damaged old version no result would show, naming no brief (a review)
                continue
        counts = self.archive.lexical_counts(texts, terms)
        idf = {t: self._idf(len(self.matches(t))) for t in set(terms) if len(self.matches(t))}
        out = scores.copy()
        for content_id in texts:
            position = int(np.searchsorted(self._ids, content_id))
            score = 0.0
            for term in terms:
                if term not in idf:
                    continue
                where = self.matches(term)
                held = bool(where[min(int(np.searchsorted(where, position)), len(where) - 1)]
                            == position)
                count = max(counts.get((term, content_id), 0), int(held))
                if count:
                    score += idf[term] * (self.K1 + 1) * count / (
                        count + self.K1 * float(self._length[position]))
            out[position] = score
        return out

    def scale(self, terms: tuple[str, ...]) -> float:
        """The BM25 score of a brief of average length holding every term that occurs."""
        return float(sum(self._idf(df) for df in (len(self.matches(t)) for t in terms) if df))

    def scores_of(self, scores: Floats, content_ids: list[int]) -> dict[int, float]:
        return {int(self._ids[p]): float(scores[p])
                for p in self._positions(content_ids).tolist() if scores[p] > 0}

    def _positions(self, content_ids: Iterable[int]) -> npt.NDArray[np.int64]:
        """The positions of those of these content ids the table holds."""
        wanted = np.array(sorted(content_ids), np.int64)
        if not len(self._ids):
            return wanted[:0]
        positions = np.searchsorted(self._ids, wanted)
        clipped = np.minimum(positions, len(self._ids) - 1)
        held: npt.NDArray[np.int64] = positions[(positions < len(self._ids))
                                                & (self._ids[clipped] == wanted)]
        return held

    def rank(self, scores: Floats, n: int) -> list[tuple[int, float]]:
        """The n best (content id, score) with a score above 0, best first."""
        hit = np.flatnonzero(scores > 0)
        if len(hit) > n:
            hit = hit[np.argpartition(-scores[hit], n - 1)[:n]]
        hit = hit[np.argsort(-scores[hit], kind="stable")]
        return [(int(self._ids[i]), float(scores[i])) for i in hit]

    def holding(self, literal: Literal) -> npt.NDArray[np.int64] | None:
        """Positions of the contents holding every token of `literal` (a superset of the
        ones holding the literal itself). The index leaves stop words out, so none can be
        ruled out for a literal of stop words only: every content for an identifier
        (`do_this`, `after_all`: rare, and missed in every mode when only the channels'
        candidates were read), None for anything else (`"do not"`, `OR`: in most briefs,
        and reading them all took a second a query on the Debian descriptions)."""
        words = [t for t in literal.tokens if t not in STOP_WORDS]
        if not words:
            # an identifier joins two words or more; `OR`, `IT` (acronyms), `-a`, `--all`
            # (options) and `"it"` are one word most briefs hold: candidates only (read
            # everywhere, `cache OR redis` ranked every brief saying "OR" first)
            identifier = (len(literal.tokens) >= 2 and " " not in literal.text
                          and not literal.exact_case and not literal.text.startswith("-"))
            return np.arange(len(self._ids), dtype=np.int64) if identifier else None
        found = self.matches(words[0])
        for word in words[1:]:
            found = np.intersect1d(found, self.matches(word))
        return found

    def content_ids(self, positions: npt.NDArray[np.int64]) -> list[int]:
        return [int(c) for c in self._ids[positions].tolist()]

    def sizes_at(self, positions: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The size in bytes of the contents at these positions."""
        return self._sizes[positions]

    def best_within(self, positions: npt.NDArray[np.int64], scores: Floats, budget: int,
                    keep: Set[int]) -> npt.NDArray[np.int64]:
        """Of these positions, the best by `scores` (storage order among equals) whose sizes
        add up to at most `budget` bytes, and those of the content ids `keep` (the channels'
        candidates, read whatever the budget), in storage order: a literal held by a
        million briefs costs no Python object per brief."""
        order = positions[np.argsort(-scores[positions], kind="stable")]
        chosen = order[np.cumsum(self._sizes[order]) <= budget]
        return np.union1d(chosen, np.intersect1d(self._positions(keep), positions))

    @property
    def count(self) -> int:
        """How many contents the archive holds."""
        return len(self._ids)


# contents each channel hands to the fusion
CANDIDATES = 50
# text the literal check reads per query, at most. Reading every brief that holds a
# literal's words takes 0.17 s for `is_file` on the 64,609 Debian descriptions (15,115 hold
# `file`, 22 MB in all). A cap of 500 texts, the best by BM25, missed `for_each_file` in the
# one long brief holding it (BM25 favours short briefs; "for" and "each" are not indexed)
LITERAL_READ_BYTES = 64 * 1024 * 1024
# read at least this share of an archive's contents at once in one scan of its catalogue
# (Archive.texts), fewer one at a time: on the Debian descriptions, 1,779 texts took 0.11 s
# either way; on 15,115 a scan took a quarter of the time
BULK_READ_SHARE = 1 / 32


class HybridSearcher:
    """Both channels over one archive, fused (briefmin.fusion); see README "search"."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self.semantic = Searcher(archive)
        self.lexical = LexicalRanker(archive)
        self.params = fusion.DEFAULT  # the benchmark tries others

    def search(self, query: Query, vector: Floats | None, k: int = 10, *,
               mode: str = DEFAULT_MODE, min_score: float | None = None,
               all_versions: bool = False, exact: bool = False,
               within: Set[tuple[str, int]] | None = None) -> list[Hit]:
        """`within`: only these (path, version) pairs (a snapshot's)."""
        if mode == "semantic":
            assert vector is not None
            return self.semantic.search(vector, k, min_score=min_score,
                                        all_versions=all_versions, exact=exact,
                                        query_text=query.text, within=within)
        n = max(CANDIDATES, 3 * k)
        rankings: dict[str, list[tuple[int, float]]] = {}
        # content -> (cosine, row) of its best chunk; each int8 row read costs ~0.1-0.4 ms
        chunks: dict[int, tuple[float, int]] = {}
        if mode == "hybrid":
            assert vector is not None
            # the semantic search's own pool: deeper ranks matter little to the fusion, and
            # each pooled row costs an int8 read
            semantic = self.semantic.contents(vector, n, k * DEFAULT_M, exact=exact)
            rankings["semantic"] = [(c, cosine) for c, cosine, _ in semantic]
            chunks = {c: (cosine, row) for c, cosine, row in semantic}
        scores = self.lexical.scores(query.terms) if self.lexical.available else None
        if scores is not None and query.terms:
            scores = self.lexical.counted(scores, query.terms, n)
            rankings["lexical"] = self.lexical.rank(scores, n)
        candidates = sorted({c for ranking in rankings.values() for c, _ in ranking})
        chunks.update(self.semantic.best_chunks(vector, [c for c in candidates
                                                         if c not in chunks]))
        known: dict[str, dict[int, float]] = {}
        if vector is not None:
            known["semantic"] = {c: cosine for c, (cosine, _) in chunks.items()}
        if scores is not None:
            known["lexical"] = self.lexical.scores_of(scores, candidates)
        scale = self.lexical.scale(query.terms) if scores is not None else 1.0
        # the bundled model reads English: a query mostly in CJK leans on its words, and on
        # how often they occur (each letter is a word there; its alpha was chosen so)
        params = (replace(self.params, alpha=self.params.cjk_alpha, coverage=0.0)
                  if query.mostly_cjk else self.params)
        held = (self.lexical.held(query.terms) if scores is not None and params.coverage
                else None)
        fused = fuse(rankings, known, scale, params,
                     None if held is None else self.lexical.scores_of(held, candidates))
        if scores is not None and query.literals:
            fused = self._literals(query, fused, scores, k)
            # briefs found only by the literal check (any number of them) are scored on
            # their words: reading every one's vectors for a cosine would cost more than the
            # rest of the search
            found = [item for item in fused if not item.ranks]
            known_held = ({} if held is None else
                          self.lexical.scores_of(held, [f.content_id for f in found]))
            for item in found:
                item.held = known_held.get(item.content_id, 0.0)
                fusion.rescore(item, list(rankings) or ["lexical"], scale, params)
            fused = order(fused)
        # a query without literals holds none to count: 0 is true of every brief then
        counted = scores is not None or not query.literals
        return self._hits(query, vector, fused, chunks, k, mode, min_score, all_versions,
                          within, counted)

    def _literals(self, query: Query, fused: list[Fused], scores: Floats, k: int
                  ) -> list[Fused]:
        """Count the query's literals in the candidates' stored text (the index has no
        positions), adding contents that hold some but neither channel ranked. Those are
        read (up to LITERAL_READ_BYTES of text, the best by BM25 among equals) most
        promising first: those holding the words of the most literals (a bound on how many
        literals they hold); the reading stops once k contents hold at least as many
        literals as any unread one could. A content outside both channels' candidates has
        no cosine and a BM25 below the lexical channel's, so among equals it ranks below
        them."""
        by_id = {f.content_id: f for f in fused}
        holders: dict[Literal, set[int]] = {}
        lexical: dict[int, float] = {}  # BM25 of every content holding a literal's words
        size: dict[int, int] = {}  # and its size in bytes
        for literal in query.literals:
            where = self.lexical.holding(literal)
            if where is None:  # a phrase of stop words: the channels' candidates are read
                holders[literal] = set(by_id)
            elif len(where):
                where = self.lexical.best_within(where, scores, LITERAL_READ_BYTES,
                                                 by_id.keys())
                ids = self.lexical.content_ids(where)
                holders[literal] = set(ids)
                lexical.update(zip(ids, scores[where].tolist(), strict=True))
                size.update(zip(ids, self.lexical.sizes_at(where).tolist(), strict=True))
        bound = Counter(c for held in holders.values() for c in held)

        def check(content_ids: list[int]) -> None:
            for content_id, text in self._texts(content_ids):
                found = sum(literal.found_in(text) for literal, held in holders.items()
                            if content_id in held)
                if found:
                    item = by_id.setdefault(content_id, Fused(content_id))
                    item.literals += found
                    if "lexical" not in item.scores and lexical.get(content_id, 0.0) > 0:
                        item.scores["lexical"] = lexical[content_id]
        ranked = {f.content_id for f in fused}
        todo = [c for c in bound if c in ranked]
        rest = sorted(set(bound) - ranked, key=lambda c: (-bound[c], -lexical[c]))
        budget = LITERAL_READ_BYTES - sum(size.get(c, 0) for c in todo)
        spent = itertools.accumulate(size[c] for c in rest)
        rest = [c for c, total in zip(rest, spent, strict=True) if total <= budget]
        # a level at a time (the unread contents that could hold `best` literals); texts are
        # read only where the reading could stop, in one pass in storage order each (smaller
        # batches inflated big solid blocks again)
        for best, level in itertools.groupby(rest, key=bound.__getitem__):
            if sum(n >= best for n in bound.values()) >= k:
                check(todo)
                todo = []
                if sum(f.literals >= best for f in by_id.values()) >= k:
                    break
            todo += level
        check(todo)
        return order(list(by_id.values()))

    def _texts(self, content_ids: list[int]) -> Iterator[tuple[int, str]]:
        """Their texts in storage order (each solid block inflated once): one scan of the
        catalogue for many, one lookup each for a few (see BULK_READ_SHARE)."""
        if len(content_ids) >= BULK_READ_SHARE * self.lexical.count:
            yield from self.archive.texts(content_ids)
        else:
            for content_id in sorted(content_ids):  # id order is storage order
                yield content_id, self.archive.text(content_id)

    def _hits(self, query: Query, vector: Floats | None, fused: list[Fused],
              chunks: dict[int, tuple[float, int]], k: int, mode: str,
              min_score: float | None, all_versions: bool,
              within: Set[tuple[str, int]] | None, counted: bool) -> list[Hit]:
        hits: list[Hit] = []
        for start in range(0, len(fused), 4 * k):
            batch = fused[start:start + 4 * k]
            ids = [f.content_id for f in batch]
            records = self.archive.records_of_contents(
                ids, all_versions=all_versions or within is not None)
            if within is not None:
                records = _only_within(records, within)
            chunks.update(self.semantic.best_chunks(vector, [c for c in ids if c not in chunks]))
            for item in batch:
                holders = records.get(item.content_id, [])  # none: only old versions
                cosine, row = chunks.get(item.content_id, (0.0, -1))
                if not holders or (min_score is not None and cosine < min_score):
                    continue
                score = item.score if mode == "hybrid" else item.scores.get("lexical", 0.0)
                semantic = (Channel(item.ranks.get("semantic"), cosine)
                            if vector is not None else None)
                lexical = (Channel(item.ranks.get("lexical"), item.scores["lexical"])
                           if "lexical" in item.scores else None)
                text = self.archive.text(item.content_id)
                # a words match shows the sentence with most query words in the whole brief
                if row >= 0 and vector is not None and lexical is None:
                    begin, end = (int(x) for x in self.semantic.vectors.spans[row])
                    text = text[begin:end]
                piece = snippet(text, query.text, literals=query.literals)
                hits.extend(Hit(r.path, r.version, score, piece, r.sha256, semantic, lexical,
                                item.literals if counted else None) for r in holders)
                if len(hits) >= k:
                    return hits[:k]
        return hits[:k]


def search_texts(archive: Archive, queries: list[str], k: int = 10, *,
                 mode: str = DEFAULT_MODE, m: int = DEFAULT_M,
                 min_score: float | None = None, all_versions: bool = False,
                 exact: bool = False, snapshot: Snapshot | None = None,
                 warn: Callable[[str], None] | None = None) -> list[list[Hit]]:
    """Search each query (see `HybridSearcher`); the semantic channel encodes them all with
    the archive's own model in one call, and the lexical mode loads no model. One list of
    hits per query, best first. With `snapshot`, only the brief versions it holds. `warn`
    hears of damage the results cannot show (briefs whose vectors are lost)."""
    check_k(k)
    check_mode(mode, min_score)
    parsed = [parse(text, archive.lexical_splits_cjk()) for text in queries]
    if mode == "lexical" and not archive.has_lexical_index():
        raise UsageError(f"{archive.path} has no lexical index yet (an older format); any "
                         "write to it (`briefmin add`) builds it")
    fresh = _FreshSearcher(archive, snapshot)
    results: list[list[Hit]] = []
    if mode == "lexical":
        for q in parsed:
            with fresh.current() as searcher:
                results.append(searcher.search(q, None, k, mode=mode,
                                               all_versions=all_versions, within=fresh.within))
        return results
    # onnxruntime builds its session (~0.3 s, GIL released) while numpy loads the codes
    with ThreadPoolExecutor(max_workers=1) as pool:
        encoder = pool.submit(archive_encoder, archive)
        with fresh.current() as searcher:
            stored = searcher.semantic.vectors
        if warn is not None and stored.missing:
            warn("vectors of stored briefs are missing (damage): a search by meaning cannot "
                 f"find those briefs; run `briefmin verify {archive.path}`")
        if not len(stored):
            encoder.cancel()
            return [[] for _ in queries]
        vectors = encoder.result().encode(queries)
    for q, vector in zip(parsed, vectors, strict=True):
        with fresh.current() as searcher:
            if mode == "semantic" or m != DEFAULT_M:
                results.append(searcher.semantic.search(
                    vector, k, m=m, min_score=min_score, all_versions=all_versions,
                    exact=exact, query_text=q.text, within=fresh.within))
            else:
                results.append(searcher.search(
                    q, vector, k, mode=mode, min_score=min_score, all_versions=all_versions,
                    exact=exact, within=fresh.within))
    return results


class _FreshSearcher:
    """Gives each query a read transaction of its own and a searcher loaded from the state
    it sees. The codes are loaded once and rows read lazily; a commit in between (an add
    merging the segments the rows lay in, a prune) would leave the reads pointing at rows
    that moved, so the codes are loaded again when another process has committed since. One
    transaction per query, not one for the batch: a writer waits for one query at most.
    With a snapshot, its members are read again with the codes (`within`): a `forget
    --prune` between would leave a part of the snapshot passing for all of it."""

    def __init__(self, archive: Archive, snapshot: Snapshot | None) -> None:
        self.archive = archive
        self.snapshot = snapshot
        self.within: set[tuple[str, int]] | None = None
        self._searcher: HybridSearcher | None = None
        self._state: int | None = None

    @contextmanager
    def current(self) -> Iterator[HybridSearcher]:
        with self.archive.reading() as state:
            if self._searcher is None or state != self._state:
                self._searcher, self._state = HybridSearcher(self.archive), state
                if self.snapshot is not None:
                    self.within = self.archive.snapshot_members(self.snapshot)
            yield self._searcher


def _only_within(records: dict[int, list[BriefRecord]], within: Set[tuple[str, int]]
                 ) -> dict[int, list[BriefRecord]]:
    """The records of a snapshot's brief versions only."""
    return {c: [r for r in rs if (r.path, r.version) in within] for c, rs in records.items()}


def check_mode(mode: str, min_score: float | None) -> None:
    if mode not in MODES:
        raise UsageError(f"--mode must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "lexical" and min_score is not None:
        raise UsageError("--min-score applies to the cosine: use it with --mode hybrid or "
                         "semantic")
