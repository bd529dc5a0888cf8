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
    visited, so a million lone nodes cost nothing.

    Taken oldest first, a node joins the closest older neighbour that is no member (ties: the
    oldest); with none it is a representative. So a node is a member exactly when an older
    neighbour is a representative, which `_members` settles in rounds of array operations (a
    Python step per pair was ~10 s of one core for a million briefs' 1.3e7 similar pairs)."""
    score = np.asarray(score, np.float32)
    keep = score >= np.float32(threshold)  # in float32, as the scores were compared when found
    if excluded is not None and len(i):
        keep &= ~excluded[i] & ~excluded[j]
    if not keep.all():  # (no copy when all count: 20 bytes a pair, 73M pairs of one template)
        i, j, score = i[keep], j[keep], score[keep]
    del keep
    if len(i) and bool((i == j).any()):  # a node paired with itself: the one-by-one rule
        return _assign_in_order(rank, i, j, score)
    older_is_i = rank[i] < rank[j]
    old = np.where(older_is_i, i, j)
    young = np.where(older_is_i, j, i)
    del i, j, older_is_i  # a million briefs' 1.3e7 similar pairs: 100 MB an array
    member = _members(rank, old, young)
    # each member's representative: among its representative neighbours, the best score,
    # ties to the oldest (one sort: by the member's age, then score down, then age)
    useful = member[young] & ~member[old]
    old, young, score = old[useful], young[useful], score[useful]
    del useful
    order = np.lexsort((rank[old], -score, rank[young]))
    old, young, score = old[order], young[order], score[order]
    first = np.r_[True, young[1:] != young[:-1]] if len(young) else np.zeros(0, bool)
    return Assignment(young[first].astype(np.int64), old[first].astype(np.int64),
                      score[first].astype(np.float32))


_UNDECIDED, _MEMBER, _REPRESENTATIVE = 0, 1, 2
_ROUNDS = 64  # then one by one: a long chain of pairs decides a node or two a round


def _members(rank: Ints, old: Ints, young: Ints) -> npt.NDArray[np.bool_]:
    """Which nodes are members (see `assign`), in rounds: a node with a representative as
    older neighbour is a member, one whose older neighbours are all members is a
    representative; each round settles at least the oldest node still open (its older
    neighbours are settled), most settle in the first few."""
    status = np.full(len(rank), _REPRESENTATIVE, np.int8)  # no older neighbour: a first
    status[young] = _UNDECIDED
    for _ in range(_ROUNDS):
        if not len(young):
            break
        status[young[status[old] == _REPRESENTATIVE]] = _MEMBER
        open_ = status[young] == _UNDECIDED
        old, young = old[open_], young[open_]
        # open nodes with no open or representative older neighbour left
        settled = np.zeros(len(rank), bool)
        settled[young] = True
        settled[young[status[old] != _MEMBER]] = False
        status[settled] = _REPRESENTATIVE
        open_ = status[young] == _UNDECIDED
        old, young = old[open_], young[open_]
    if len(young):  # what the rounds left, oldest first: its older neighbours are settled
        order = np.lexsort((rank[old], rank[young]))
        old, young = old[order], young[order]
        starts = np.flatnonzero(np.r_[True, young[1:] != young[:-1]])
        ends = np.r_[starts[1:], len(young)]
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            joins = bool((status[old[start:end]] == _REPRESENTATIVE).any())
            status[young[start]] = _MEMBER if joins else _REPRESENTATIVE
    out: npt.NDArray[np.bool_] = status == _MEMBER
    return out


def _assign_in_order(rank: Ints, i: Ints, j: Ints, score: Floats) -> Assignment:
    """`assign`'s rule one pair at a time (pairs already kept)."""
    older_is_i = rank[i] < rank[j]
    old = np.where(older_is_i, i, j)
    young = np.where(older_is_i, j, i)
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
