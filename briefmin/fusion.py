"""Fusing the semantic and lexical rankings of one query into one, over content ids.

The default is a convex combination of the two channels' scores (see `Params`): Bruch et al.
2023 ("An analysis of fusion functions for hybrid retrieval") find it beats reciprocal rank
fusion once tuned, because ranks throw away how far apart two candidates' scores are; on the
held-out Debian synopsis queries it did too (bench/RESULTS.md). RRF (Cormack et al. 2009,
sum_c w_c / (K + rank_c)) stays available for the benchmark. On top of either, literals
(quoted phrases, identifiers) are a hard rule: a content that holds more of the query's
literals ranks above one that holds fewer, whatever the scores say (an embedding carries
little signal for `ENG-2291`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Params:
    """How to fuse. "convex": alpha x cosine + (1 - alpha) x a lexical score over the BM25
    score a brief would have for this query with every term present once, at average
    length; the lexical score is the idf of the query's words the brief holds (`coverage`
    of it) plus BM25 (the rest: word counts can take a brief past the scale, up to K1 + 1 =
    2.2x), so the lexical part says how much of the query's rarity a brief matched. "rrf":
    reciprocal rank fusion, sum_c w_c / (k + rank_c). Defaults chosen on the training half
    of the Debian synopsis queries (bench/bench_search.py); the held-out half reports them."""

    method: str = "convex"
    alpha: float = 0.8
    # the share of the lexical part that counts which of the query's words a brief holds
    # (the idf of each, once, whatever the brief's length: `Fused.held`); the rest is BM25.
    # Off: 1.0 lifted accented names in a sentence held once in a long author list (an
    # audit's 12 queries, found first 0.42 -> 0.75) and Debian's held-out recall@1 (0.712
    # -> 0.732), but lost held-out recall@10 (0.884 -> 0.876), past the rule set before
    # measuring (bench/RESULTS.md, "Search: the words a brief holds, in the fusion")
    coverage: float = 0.0
    rrf_k: float = 60.0
    lexical_weight: float = 1.0
    # alpha for a query written mostly in Chinese, Japanese or Korean (`Query.mostly_cjk`),
    # which the bundled English model reads poorly: chosen by MRR@10 on the training half of
    # 1,010 Chinese Debian descriptions, their synopses as queries (0.706 at 0.1 against
    # 0.626 at 0.8; 0.3-0.0 within 0.002); bench/RESULTS.md has the held-out half
    cjk_alpha: float = 0.1


DEFAULT = Params()


@dataclass
class Fused:
    content_id: int
    score: float = 0.0
    ranks: dict[str, int] = field(default_factory=dict)  # channel -> 1-based rank
    scores: dict[str, float] = field(default_factory=dict)  # channel -> its own score
    literals: int = 0  # how many of the query's literals the content holds
    held: float = 0.0  # the idf of the query's words the content holds, each counted once


def fuse(rankings: Mapping[str, Sequence[tuple[int, float]]],
         scores: Mapping[str, Mapping[int, float]] | None = None,
         lexical_scale: float = 1.0, params: Params = DEFAULT,
         held: Mapping[int, float] | None = None) -> list[Fused]:
    """Each channel's (content id, score) list, best first -> one list, best first.
    `scores` holds each channel's score of every candidate, ranked or not (a cosine or a
    BM25 score can be computed for any brief); `lexical_scale` is the best BM25 score a
    brief could reach for this query; `held` each candidate's `Fused.held`."""
    out: dict[int, Fused] = {}
    for channel, ranking in rankings.items():
        for rank, (content_id, score) in enumerate(ranking, 1):
            item = out.setdefault(content_id, Fused(content_id))
            item.ranks[channel] = rank
            item.scores[channel] = score
    for channel, known in (scores or {}).items():
        for item in out.values():
            if item.content_id in known:
                item.scores.setdefault(channel, known[item.content_id])
    for item in out.values():
        item.held = (held or {}).get(item.content_id, 0.0)
        rescore(item, list(rankings), lexical_scale, params)
    return order(list(out.values()))


def rescore(item: Fused, channels: Sequence[str], lexical_scale: float,
          params: Params = DEFAULT) -> None:
    """Set `item.score` from its channel scores (or ranks, for RRF)."""
    if len(channels) == 1:  # one channel: its own order
        item.score = item.scores.get(channels[0], 0.0)
    elif params.method == "rrf":
        item.score = sum((params.lexical_weight if c == "lexical" else 1.0)
                         / (params.rrf_k + r) for c, r in item.ranks.items())
    else:
        lexical = ((1 - params.coverage) * item.scores.get("lexical", 0.0)
                   + params.coverage * item.held)
        item.score = (params.alpha * item.scores.get("semantic", 0.0)
                      + (1 - params.alpha) * lexical / max(lexical_scale, 1e-9))


def order(items: list[Fused]) -> list[Fused]:
    """Literal matches first, then the fused score; ties keep their order."""
    return sorted(items, key=lambda f: (-f.literals, -f.score))
