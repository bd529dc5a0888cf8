"""Groups that do not chain: each group is a representative (its oldest member) and members
that are each at least the threshold from that representative.

Transitive groups (A~B and B~C put A, B and C together) chain across a corpus whose texts all
share a topic: 153 licences ended up in one group at cosine 0.85 although most of them were
below 0.85 to its first member. Here nodes are taken oldest first; a node with a pair at or
above the threshold to an existing representative joins the closest such representative,
otherwise it becomes one itself. A member is never a representative, so no link runs through
it, and "each of these is a near copy of the first" holds for every group by construction."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .quantize import Floats

Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Assignment:
    """member[k] joined representative[k] with score[k] (cosine or Jaccard to it)."""

    member: Ints
    representative: Ints
    score: Floats

    def __len__(self) -> int:
        return len(self.member)

    def groups(self) -> dict[int, list[tuple[int, float]]]:
        """Representative -> [(member, score), ...] in the order the members were assigned."""
        out: dict[int, list[tuple[int, float]]] = {}
        for m, r, s in zip(self.member.tolist(), self.representative.tolist(),
                           self.score.tolist(), strict=True):
            out.setdefault(r, []).append((m, s))
        return out


def assign(rank: Ints, i: Ints, j: Ints, score: Floats, threshold: float,
           excluded: npt.NDArray[np.bool_] | None = None) -> Assignment:
    """Star groups over nodes 0..len(rank)-1 (rank: smaller is older, all distinct) from the
    scored pairs (i, j): only pairs at or above the threshold count, and no pair touching an
    `excluded` node (a member of a stronger kind's group). Only nodes in such pairs are
    visited, so a million lone nodes cost nothing."""
    score = np.asarray(score, np.float32)
    keep = score >= np.float32(threshold)  # in float32, as the scores were compared when found
    if excluded is not None and len(i):
        keep &= ~excluded[i] & ~excluded[j]
    i, j, score = i[keep], j[keep], score[keep]
    del keep
    older_is_i = rank[i] < rank[j]
    old = np.where(older_is_i, i, j)
    young = np.where(older_is_i, j, i)
    del i, j, older_is_i  # a million briefs' 1.3e7 similar pairs: 100 MB an array
    # visit the younger end of each pair in age order; its older neighbours are settled by then
    order = np.lexsort((rank[old], rank[young]))
    old, young, score = old[order], young[order], score[order]
    member_of: dict[int, tuple[int, float]] = {}
    members, reps, scores = [], [], []
    starts = np.flatnonzero(np.r_[True, young[1:] != young[:-1]]) if len(young) else young
    ends = np.r_[starts[1:], len(young)] if len(young) else young
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        node = int(young[start])
        best: tuple[float, int] | None = None
        for k in range(start, end):
            rep = int(old[k])
            if rep in member_of:  # a member is no representative: no chaining through it
                continue
            s = float(score[k])
            if best is None or s > best[0]:
                best = (s, rep)  # ties keep the older representative (visited first)
        if best is not None:
            member_of[node] = (best[1], best[0])
            members.append(node)
            reps.append(best[1])
            scores.append(best[0])
    return Assignment(np.array(members, np.int64), np.array(reps, np.int64),
                      np.array(scores, np.float32))
