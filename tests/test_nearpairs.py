"""The similar-pair search for codes that cannot be banded: the inverted file against exact
all-pairs on vectors that share one direction (the `hashing` encoder's shape)."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from briefmin import nearpairs
from briefmin.nearpairs import (
    Centres,
    Pairs,
    all_code_pairs,
    band_plan,
    int8_norms,
    ivf_pairs,
    ivf_plan,
    near_pairs,
    nearest_lists,
    pair_cosines,
    projected_signs,
    top_lists,
)
from briefmin.quantize import Int8Scale, binary_codes

THRESHOLD = 0.85


def shared_direction(n: int, families: int = 1500, seed: int = 0
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sparse signed rows (40 of 384 words each) plus one common direction (random pairs
    at cosine ~0.45), with planted families: 1-3 copies of a row with its words reweighted.
    Returns unit floats, their int8 codes and their sign bits."""
    rng = np.random.default_rng(seed)
    common = np.zeros(384, np.float32)
    common[rng.choice(384, 24, replace=False)] = rng.uniform(0.5, 1.5, 24)
    x = np.zeros((n, 384), np.float32)
    for row in x:
        row[rng.choice(384, 40, replace=False)] = rng.choice([-1.0, 1.0], 40)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    x += common / np.linalg.norm(common)
    for a in rng.choice(n, families, replace=False):
        for b in rng.choice(n, int(rng.integers(1, 4)), replace=False):
            x[b] = x[a] + rng.normal(0, 0.12, 384).astype(np.float32) * (x[a] != 0)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, Int8Scale.calibrate(x).encode(x), binary_codes(x)


def unit_rows(n: int, seed: int) -> np.ndarray:
    """n random unit rows of 384 (list centres for the tests of a row's nearest lists)."""
    rows = np.random.default_rng(seed).standard_normal((n, 384)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows


def keys(pairs: Pairs) -> set[tuple[int, int]]:
    return set(zip(pairs.i.tolist(), pairs.j.tolist(), strict=True))


def pair_ids(pairs: Pairs, n: int) -> np.ndarray:
    """`keys` as sorted integers i * n + j: set-free, for millions of pairs."""
    return np.sort(pairs.i * n + pairs.j)


@pytest.fixture(scope="module")
def biased() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return shared_direction(10_000)


def test_vectors_sharing_a_direction_band_neither_way(biased: tuple[np.ndarray, ...]) -> None:
    x, codes, bits = biased
    assert 0.3 < float(np.mean(np.sum(x[:2000] * x[2000:4000], axis=1))) < 0.6
    ones = np.unpackbits(bits, axis=1).mean(axis=0)
    assert band_plan(len(x), 384, THRESHOLD, ones=ones) is None
    projected = projected_signs(codes)
    assert band_plan(len(x), len(projected), THRESHOLD, ones=projected.mean(axis=1),
                     hyperplanes=True) is None


def test_the_inverted_file_finds_the_exact_pairs_and_none_below(
        biased: tuple[np.ndarray, ...]) -> None:
    _, codes, _ = biased
    norms = int8_norms(codes)
    exact = keys(all_code_pairs(codes, norms, THRESHOLD))
    plan = ivf_plan(codes, norms, THRESHOLD, nlist=100, sample=2000)
    assert plan.sampled_pairs > 100 and plan.recall >= 0.99 and 2 <= plan.probes <= 100 // 8
    found = ivf_pairs(codes, norms, THRESHOLD, plan)
    assert len(exact) > 500
    assert len(keys(found) & exact) >= 0.99 * len(exact)
    assert len(keys(found)) == len(found) and (found.i < found.j).all()  # each pair once
    assert (found.similarity >= THRESHOLD).all()
    # their int8 cosine, recomputed pair by pair, is at or above the threshold too
    assert (pair_cosines(codes, norms, found.i, found.j) >= THRESHOLD - 1e-5).all()
    assert len(keys(found) - exact) <= 2  # float summation order right at the threshold


def test_one_probe_misses_pairs_whose_rows_straddle_two_lists(
        biased: tuple[np.ndarray, ...]) -> None:
    # the recall is the probes', not a given: with a single probe a pair is found only when
    # both rows sit in one list, and the plan's sampled recall says so
    _, codes, _ = biased
    norms = int8_norms(codes)
    exact = keys(all_code_pairs(codes, norms, THRESHOLD))
    plan = ivf_plan(codes, norms, THRESHOLD, nlist=100, probes=1, sample=2000)
    found = keys(ivf_pairs(codes, norms, THRESHOLD, plan))
    assert len(found) < len(exact) and plan.recall < 1.0
    assert len(found - exact) <= 2  # float summation order right at the threshold


def test_near_pairs_takes_the_inverted_file_above_its_size(
        biased: tuple[np.ndarray, ...], monkeypatch: pytest.MonkeyPatch) -> None:
    _, codes, bits = biased
    norms = int8_norms(codes)
    exact = keys(all_code_pairs(codes, norms, THRESHOLD))

    def quadratic(*_: object, **__: object) -> Pairs:
        raise AssertionError("exact all-pairs above IVF_ABOVE")

    monkeypatch.setattr(nearpairs, "IVF_ABOVE", 5000)
    monkeypatch.setattr(nearpairs, "all_code_pairs", quadratic)
    found = near_pairs(bits, codes, THRESHOLD)
    assert len(keys(found) & exact) >= 0.99 * len(exact)
    assert (found.similarity >= THRESHOLD).all()


def test_top_lists_are_those_a_full_sort_gives_ties_included(
        biased: tuple[np.ndarray, ...]) -> None:
    _, codes, _ = biased
    centroids = unit_rows(300, seed=1)
    sims = codes[:700].astype(np.float32) @ centroids.T
    want = np.argsort(-sims, axis=1, kind="stable")[:, :12]
    assert (top_lists(sims, 12) == want).all()
    # a list twice (equal scores at the cut): still `count` distinct lists a row
    doubled = np.hstack([sims, sims[:, want[0, 11]][:, None]])
    got = top_lists(doubled, 12)
    assert got.shape == (700, 12)
    assert all(len(set(r.tolist())) == 12 for r in got)
    assert (top_lists(sims, 500).shape == (700, 300))


def test_nearest_lists_by_integer_products_are_the_float_order_but_for_near_ties(
        biased: tuple[np.ndarray, ...]) -> None:
    # the centres are rounded to int8 for the products: a row's order of its lists is the
    # float one wherever two lists' scores differ by more than the rounding (~1e-3 cosine)
    _, codes, _ = biased
    centroids = unit_rows(300, seed=2)
    rows = codes[:700]
    unit = rows.astype(np.float32) / np.linalg.norm(rows.astype(np.float32), axis=1,
                                                     keepdims=True)
    sims = unit @ centroids.T
    got = nearest_lists(rows, Centres.of(centroids), 12)
    want = np.argsort(-sims, axis=1, kind="stable")[:, :12]
    ranked = np.sort(sims, axis=1)[:, ::-1]
    # where the float scores leave a clear gap (> 0.005) after the first list, or after the
    # twelfth, the integer products pick the same first list, or the same twelve
    first = ranked[:, 0] - ranked[:, 1] > 0.005
    twelve = ranked[:, 11] - ranked[:, 12] > 0.005
    assert first.sum() > 100 and twelve.sum() > 20
    assert (got[first, 0] == want[first, 0]).all()
    assert all(set(g) == set(w) for g, w in zip(got[twelve].tolist(), want[twelve].tolist(),
                                                  strict=True))
    # every row's scores are the float ones to within the rounding
    scores = Centres.of(centroids).scores(rows) / np.linalg.norm(
        rows.astype(np.float32), axis=1, keepdims=True)
    assert np.abs(scores - sims).max() < 3e-3


def test_threads_find_the_same_pairs(biased: tuple[np.ndarray, ...]) -> None:
    _, codes, _ = biased
    norms = int8_norms(codes)
    plan = ivf_plan(codes, norms, THRESHOLD, nlist=100, sample=600)
    one = ivf_pairs(codes, norms, THRESHOLD, plan, threads=1)
    two = ivf_pairs(codes, norms, THRESHOLD, plan, threads=2)
    assert len(one) > 500 and keys(one) == keys(two)


def test_small_products_find_the_same_pairs(biased: tuple[np.ndarray, ...]) -> None:
    # the filing and the scan cut their products to `chunk` scores: a few rows at a time
    # here (5 rows filed against 100 lists, a handful scanned against a list)
    _, codes, _ = biased
    norms = int8_norms(codes)
    plan = ivf_plan(codes, norms, THRESHOLD, nlist=100, sample=600)
    whole = ivf_pairs(codes, norms, THRESHOLD, plan)
    small = ivf_pairs(codes, norms, THRESHOLD, plan, chunk=500)
    assert len(whole) > 500 and keys(whole) == keys(small)


def test_drain_equals_concat_and_empties_the_parts() -> None:
    rng = np.random.default_rng(2)
    parts = [Pairs(rng.integers(0, 99, k), rng.integers(0, 99, k),
                   rng.random(k).astype(np.float32)) for k in (5, 0, 17, 3)]
    want = Pairs.concat(parts)
    got = Pairs.drain(list(parts))
    assert (got.i == want.i).all() and (got.j == want.j).all()
    assert (got.similarity == want.similarity).all() and len(got) == 25
    given = list(parts)
    Pairs.drain(given)
    assert given == []
    assert len(Pairs.drain([])) == 0
    above = got.at_least(0.0)
    assert above is got  # nothing to drop: no copy
    assert len(got.at_least(0.5)) == int((got.similarity >= 0.5).sum())


def test_top_lists_take_the_slow_way_only_in_rows_with_ties_at_the_cut() -> None:
    rng = np.random.default_rng(3)
    sims = rng.permuted(np.tile(np.arange(40, dtype=np.float32), (6, 1)), axis=1)
    sims[2, sims[2] == 29] = 30  # row 2: two lists share the 10th highest score
    got = top_lists(sims, 10)
    for r in (0, 1, 3, 4, 5):  # no tie: the exact order
        assert (sims[r, got[r]] == np.arange(39, 29, -1)).all()
    assert len(set(got[2].tolist())) == 10
    assert sims[2, got[2]].tolist() == [39, 38, 37, 36, 35, 34, 33, 32, 31, 30]


@functools.cache
def _one_template(count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Codes, bits and norms of `count` hashing vectors of briefs drawn from one 20-word
    vocabulary: all near one another, as a template's tickets."""
    import random

    from briefmin.encoder import load_encoder

    words = ["price", "customer", "booking", "calendar", "legal", "contract", "design",
             "product", "task", "brief", "euro", "vat", "team", "review", "deadline",
             "budget", "client", "scope", "risk", "launch"]
    rng = random.Random(1)
    texts = ["\n".join(" ".join(rng.choice(words) for _ in range(rng.randint(5, 15)))
                       for _ in range(rng.randint(2, 12))) for _ in range(count)]
    x = np.asarray(load_encoder("hashing:384").encode(texts), np.float32)
    codes = Int8Scale.calibrate(x).encode(x)
    return codes, binary_codes(x), int8_norms(codes)


@pytest.mark.parametrize("count", [4500, 8500])
def test_a_corpus_of_near_copies_takes_exact_pairs_once_banding_costs_more(
        monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    """Briefs drawn from one 20-word vocabulary are all near one another (a template's
    tickets): band after band made most pairs candidates again, and dropped runs longer than
    max_run. A session-48 audit's archive: 51 s, and 4,256 of 1.6M pairs found. Past a
    share of all pairs checked, the search is exact all-pairs; above 8,192 codes too (12,000
    such briefs took 14 min, and half were grouped), while the pairs fit EXACT_PAIRS."""
    codes, bits, norms = _one_template(count)
    checked: list[int] = []
    original = nearpairs.pair_cosines

    def counted(codes: np.ndarray, norms: np.ndarray, i: np.ndarray, j: np.ndarray,
                chunk: int = 16384) -> np.ndarray:
        checked.append(len(i))
        return original(codes, norms, i, j, chunk)

    monkeypatch.setattr(nearpairs, "pair_cosines", counted)
    # the stored bits band (the path under test), and the exact pairs are most of all pairs
    assert band_plan(count, 384, THRESHOLD, ones=nearpairs._bit_shares(bits)) is not None
    found = near_pairs(bits, codes, THRESHOLD, norms=norms)
    exact = all_code_pairs(codes, norms, THRESHOLD)
    assert len(exact.i) > 1_000_000 and np.array_equal(pair_ids(found, count),
                                                       pair_ids(exact, count))
    assert sum(checked) <= count * (count - 1) // 2 * nearpairs.EXACT_AFTER_SHARE


def test_exact_pairs_too_many_to_hold_leave_the_bands_to_go_on(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the pairs memory holds (`exact_pairs_bound`), the exact search gives up and the
    bands go on: what they find is still only pairs at or above the threshold, with their
    true cosines."""
    codes, bits, norms = _one_template(1000)
    exact = all_code_pairs(codes, norms, THRESHOLD)
    monkeypatch.setattr(nearpairs, "BRUTE_FORCE_BELOW", 0)  # band these 1,000 (5 s, not 50)
    monkeypatch.setattr(nearpairs, "exact_pairs_bound", lambda: len(exact.i) // 2)
    gave_up: list[int] = []

    def watched(*args: object, **kwargs: object) -> Pairs:
        try:
            return all_code_pairs(*args, **kwargs)  # type: ignore[arg-type]
        except nearpairs.TooManyPairs:
            gave_up.append(1)
            raise

    monkeypatch.setattr(nearpairs, "all_code_pairs", watched)
    found = near_pairs(bits, codes, THRESHOLD, norms=norms, max_run=64)
    assert gave_up == [1]  # exact was tried, gave up, and the bands went on
    assert 0 < len(found.i) < len(exact.i)
    assert np.isin(pair_ids(found, 1000), pair_ids(exact, 1000)).all()
    assert np.allclose(found.similarity, pair_cosines(codes, norms, found.i, found.j))


@pytest.mark.parametrize(("available", "bound"), [
    (None, nearpairs.EXACT_PAIRS),  # not known (not Linux): the fixed floor
    (10**6, nearpairs.EXACT_PAIRS),  # little memory: never below the floor
    (64 * 10**9, 64 * 10**9 // 2 // nearpairs.PAIR_PEAK_BYTES)])  # half of it, in pairs
def test_the_exact_search_holds_the_pairs_half_the_available_memory_holds(
        monkeypatch: pytest.MonkeyPatch, available: int | None, bound: int) -> None:
    """30,000 briefs of one template have 73M similar pairs, over 2^25: on a machine with
    the memory for them, exact all-pairs (97 s, every pair) instead of 2,000 bands (~45 min,
    most pairs missed: each band drops its runs of over 2,048 equal keys)."""
    monkeypatch.setattr(nearpairs, "available_memory", lambda: available)
    assert nearpairs.exact_pairs_bound() == bound


def _template_among_random(count: int, others: int) -> tuple[np.ndarray, np.ndarray,
                                                             np.ndarray]:
    """`_one_template(count)` shuffled among `others` random codes: one dense family (every
    band puts it in one long run) in a corpus that bands well otherwise."""
    codes, _, _ = _one_template(count)
    rng = np.random.default_rng(0)
    mixed = np.concatenate([codes, rng.integers(-127, 128, (others, codes.shape[1]),
                                                dtype=np.int8)])[rng.permutation(count + others)]
    return mixed, binary_codes(mixed.astype(np.float32)), int8_norms(mixed)


def test_a_family_too_large_for_the_bands_runs_is_searched_exactly(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Above IVF_ABOVE the search never turns exact as a whole, and each band dropped its
    runs over max_run: a family of near copies larger than that (4,500 briefs of one
    template among 3,000 others, max_run 64 for 2,048) had most of its pairs missed, and
    nothing said so. Their rows are now searched exactly against every row."""
    codes, bits, norms = _template_among_random(4500, 3000)
    monkeypatch.setattr(nearpairs, "IVF_ABOVE", 0)
    notes: list[str] = []
    found = near_pairs(bits, codes, THRESHOLD, norms=norms, max_run=64, incomplete=notes.append)
    exact = all_code_pairs(codes, norms, THRESHOLD)
    assert len(exact.i) > 1_000_000 and not notes
    assert _same_but_at_the_threshold(found, exact, codes, norms)
    assert np.allclose(found.similarity, pair_cosines(codes, norms, found.i, found.j))


@pytest.mark.parametrize(("bound", "complete"), [(2_000_000, True), (1_000_000, False)])
def test_a_familys_exact_pairs_count_against_memory_without_the_band_pairs_they_replace(
        monkeypatch: pytest.MonkeyPatch, bound: int, complete: bool) -> None:
    """The family's 1.6M exact pairs fit a bound of 2M: the 1.47M band pairs they replace
    counted against it too, so a review's repro gave up with the pairs missing. Past the
    bound, the warning names memory as the cause, not the comparisons."""
    codes, bits, norms = _template_among_random(4500, 3000)
    monkeypatch.setattr(nearpairs, "IVF_ABOVE", 0)
    monkeypatch.setattr(nearpairs, "exact_pairs_bound", lambda: bound)
    notes: list[str] = []
    found = near_pairs(bits, codes, THRESHOLD, norms=norms, max_run=64, incomplete=notes.append)
    exact = all_code_pairs(codes, norms, THRESHOLD)
    if complete:
        assert not notes and _same_but_at_the_threshold(found, exact, codes, norms)
    else:
        assert len(found.i) < len(exact.i) and len(notes) == 1
        assert "more than dedupe may hold in the memory available" in notes[0]


def _same_but_at_the_threshold(found: Pairs, exact: Pairs, codes: np.ndarray,
                               norms: np.ndarray) -> bool:
    """The same pairs, but for a few whose cosine is the threshold to float rounding (the
    blocked products of `all_code_pairs` and the integer ones round differently)."""
    n = len(codes)
    odd = np.setxor1d(pair_ids(found, n), pair_ids(exact, n))
    sims = pair_cosines(codes, norms, odd // n, odd % n)
    return len(odd) <= 3 and bool(np.all(np.abs(sims - THRESHOLD) < 1e-5))


def test_a_family_too_large_to_search_exactly_is_reported(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """When the rows of the over-long runs are too many to compare with every row
    (EXACT_ROW_SCORES), the pairs found are the bands' and the search says it is
    incomplete, naming how many briefs it concerns."""
    codes, bits, norms = _template_among_random(4500, 3000)
    monkeypatch.setattr(nearpairs, "IVF_ABOVE", 0)
    monkeypatch.setattr(nearpairs, "EXACT_ROW_SCORES", 1000 * len(codes))
    notes: list[str] = []
    found = near_pairs(bits, codes, THRESHOLD, norms=norms, max_run=64, incomplete=notes.append)
    exact = all_code_pairs(codes, norms, THRESHOLD)
    assert 0 < len(found.i) < len(exact.i) and (found.similarity >= THRESHOLD).all()
    known = np.isin(pair_ids(found, len(codes)), pair_ids(exact, len(codes)))
    # (a pair at 0.85 to the last bit may fall either side in exact's blocked products)
    assert known.sum() >= len(found.i) - 2
    assert len(notes) == 1 and "cannot split" in notes[0]
    assert int(notes[0].split()[0].replace(",", "")) >= 4000  # the family, about


def test_row_pairs_are_the_exact_pairs_that_touch_the_rows() -> None:
    """Pairs of two chosen rows come once, ordered i < j; a row never pairs with itself."""
    codes, _, norms = _template_among_random(300, 200)
    exact = all_code_pairs(codes, norms, THRESHOLD)
    rows = np.sort(np.random.default_rng(2).choice(len(codes), 120, replace=False))
    got = nearpairs.row_pairs(codes, norms, rows, THRESHOLD, chunk=50)
    touches = np.isin(exact.i, rows) | np.isin(exact.j, rows)
    assert touches.sum() > 1000 and (got.i < got.j).all()
    assert _same_but_at_the_threshold(got, exact.where(touches), codes, norms)
    with pytest.raises(nearpairs.TooManyPairs):
        nearpairs.row_pairs(codes, norms, rows, THRESHOLD, chunk=50, max_pairs=10)
