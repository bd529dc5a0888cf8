"""`briefmin dedupe`: the banded near-pair search against exact all-pairs, grouping by kind,
the CI mode's exit codes, pruning, and the planted fixture cases with the real model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from briefmin import Archive, add, grouping, iter_sources
from briefmin.dedupe import (
    BOILERPLATE_BRIEFS,
    BOILERPLATE_JACCARD,
    DEFAULT_JACCARD,
    DEFAULT_THRESHOLD,
    KIND_RANK,
    MAX_EDIT_SHINGLES,
    DedupeReport,
    find_duplicates,
    near_copies,
    normalize_text,
    small_edit,
    stored_text_key,
    text_key,
)
from briefmin.errors import ExitStatus
from briefmin.grouping import assign
from briefmin.nearpairs import (
    all_code_pairs,
    all_pairs,
    band_plan,
    decoded,
    int8_norms,
    near_pairs,
    projected_signs,
)
from briefmin.quantize import Int8Scale, binary_codes
from briefmin.shingles import Shingles, lexical_pairs, shingle

from .conftest import BRIEFS, FIXTURES, HASHING, ROOT, Cli, run_briefmin
from .surgery import flip_stored_byte
from .test_cli import run_checking_imports

MakeArchive = Callable[..., Path]


def planted(n: int, dim: int = 384, copies: int = 150, seed: int = 0
            ) -> tuple[np.ndarray, np.ndarray]:
    """Random unit vectors with planted near-duplicates at cosines spread over 0.85-1."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    src = rng.choice(n, copies, replace=False)
    dst = rng.choice(np.setdiff1d(np.arange(n), src), copies, replace=False)
    cos = rng.uniform(0.85, 1.0, copies).astype(np.float32)
    noise = rng.standard_normal((copies, dim)).astype(np.float32)
    noise -= (noise * x[src]).sum(1, keepdims=True) * x[src]
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    x[dst] = cos[:, None] * x[src] + np.sqrt(1 - cos ** 2)[:, None] * noise
    return x, Int8Scale.calibrate(x).encode(x)


# -- the library, no model --------------------------------------------------------------------

@pytest.mark.parametrize("threshold", [0.85, 0.9, 0.95])
def test_banded_search_finds_what_all_pairs_finds(threshold: float) -> None:
    vectors, codes = planted(6000)
    exact = all_pairs(vectors, threshold)
    found = near_pairs(binary_codes(vectors), codes, threshold)
    want = set(zip(exact.i.tolist(), exact.j.tolist(), strict=True))
    got = set(zip(found.i.tolist(), found.j.tolist(), strict=True))
    assert len(want) > 40
    assert len(want & got) >= 0.98 * len(want)
    assert (found.similarity >= threshold).all() and (found.i < found.j).all()
    assert len(got - want) <= 2  # only int8 rounding right at the threshold


def test_exact_pairs_over_codes_block_by_block_equal_those_of_the_decoded_floats() -> None:
    # the fallback decodes a block at a time (no float copy of every code); blocks smaller
    # than the input and a last partial block must find exactly what one matrix finds
    _, codes = planted(1000, copies=60)
    norms = int8_norms(codes)
    whole = all_pairs(decoded(codes, norms), 0.85, block=4096)
    blocked = all_code_pairs(codes, norms, 0.85, block=96)
    assert len(whole) >= 50
    assert (blocked.i < blocked.j).all()
    assert sorted(zip(blocked.i.tolist(), blocked.j.tolist(), strict=True)) == sorted(
        zip(whole.i.tolist(), whole.j.tolist(), strict=True))
    assert np.allclose(np.sort(blocked.similarity), np.sort(whole.similarity), atol=1e-6)


def test_fewer_bands_for_higher_thresholds() -> None:
    plans = [band_plan(100_000, 384, t) for t in (0.8, 0.9, 0.95, 0.99)]
    counts = [len(p) for p in plans if p is not None]
    assert len(counts) == 4 and counts == sorted(counts, reverse=True) and counts[-1] >= 1


def test_biased_bits_make_longer_bands_and_constant_bits_are_never_used() -> None:
    ones = np.full(384, 0.5)
    ones[:100] = 0.0  # never set
    ones[100:200] = 0.9  # mostly set: little selectivity each
    plan = band_plan(100_000, 384, 0.9, ones=ones)
    balanced = band_plan(100_000, 384, 0.9)
    assert plan is not None and balanced is not None
    assert len(plan[0]) > len(balanced[0])
    assert all((band >= 100).all() for band in plan)
    assert band_plan(100_000, 384, 0.9, ones=np.zeros(384)) is None  # falls back to exact


def test_sparse_codes_band_on_random_projections_and_find_what_all_pairs_finds() -> None:
    # signed bag-of-words-like rows (the hashing encoder's shape): most coordinates are 0, so
    # the stored sign bits are mostly 0 and too biased to band; random hyperplanes are not
    rng = np.random.default_rng(3)
    x = np.zeros((6000, 384), np.float32)
    for row in x:
        row[rng.choice(384, 40, replace=False)] = rng.choice([-1.0, 1.0], 40)
    src, dst = np.arange(0, 600), np.arange(3000, 3600)
    for a, b in zip(src, dst, strict=True):  # near copies: a few of the 40 words changed
        x[b] = x[a]
        x[b, rng.choice(np.flatnonzero(x[a]), int(rng.integers(0, 6)), replace=False)] = 0.0
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    codes, bits = Int8Scale.calibrate(x).encode(x), binary_codes(x)
    ones = np.unpackbits(bits, axis=1).mean(axis=0)
    assert band_plan(len(x), 384, 0.85, ones=ones) is None
    projected = projected_signs(codes)
    assert band_plan(len(x), len(projected), 0.85, ones=projected.mean(axis=1),
                     hyperplanes=True) is not None
    exact = all_pairs(x, 0.85)
    found = near_pairs(bits, codes, 0.85)
    want = set(zip(exact.i.tolist(), exact.j.tolist(), strict=True))
    got = set(zip(found.i.tolist(), found.j.tolist(), strict=True))
    assert len(want) > 400
    assert len(want & got) >= 0.98 * len(want) and len(got - want) <= 2


def test_a_pool_of_bits_needs_more_bands_than_independent_bits() -> None:
    # bands drawn from one pool of 512 bits are correlated: a pair that differs on more of
    # the pool than usual misses many bands at once, so the plan takes more of them
    pooled = band_plan(100_000, 512, 0.9, hyperplanes=True)
    assert pooled is not None and len(band_plan(100_000, 512, 0.9) or []) == len(pooled)
    independent = band_plan(100_000, 512, 0.9, pooled=False)
    assert pooled is not None and independent is not None
    assert len(pooled) > len(independent)


def test_star_groups_do_not_chain_and_join_the_closest_representative() -> None:
    # 0~1 and 1~2 but 0 and 2 are far apart: transitive grouping would make one group of
    # three, here 2 is left alone (its only link runs through a member); 3 is close to the
    # representatives 0 and 4 and joins the closer one (4)
    rank = np.array([0, 1, 2, 4, 3], np.int64)
    i, j = np.array([0, 1, 0, 3]), np.array([1, 2, 3, 4])
    score = np.array([0.9, 0.9, 0.86, 0.95], np.float32)
    groups = assign(rank, i, j, score, 0.85).groups()
    assert groups == {0: [(1, pytest.approx(0.9))], 4: [(3, pytest.approx(0.95))]}
    assert assign(rank, i, j, score, 0.95).groups() == {4: [(3, pytest.approx(0.95))]}
    excluded = np.array([False, False, False, False, True])  # 4 is a stronger kind's member
    assert assign(rank, i, j, score, 0.85, excluded).groups() == {
        0: [(1, pytest.approx(0.9)), (3, pytest.approx(0.86))]}


def test_every_member_is_at_least_the_threshold_from_its_representative() -> None:
    vectors, _ = planted(3000, copies=400)
    # a dense neighbourhood: chains of copies of copies
    rng = np.random.default_rng(1)
    chain = [vectors[0]]
    for _ in range(30):
        step = chain[-1] + 0.35 * rng.standard_normal(384).astype(np.float32) / np.sqrt(384)
        chain.append(step / np.linalg.norm(step))
    vectors = np.vstack([vectors, np.array(chain)])
    pairs = all_pairs(vectors, 0.85)
    rank = rng.permutation(len(vectors)).astype(np.int64)
    stars = assign(rank, pairs.i, pairs.j, pairs.similarity, 0.85)
    assert len(stars) > 100
    for rep, members in stars.groups().items():
        for member, score in members:
            assert rank[rep] < rank[member]
            assert float(vectors[rep] @ vectors[member]) >= 0.85 - 1e-5
            assert score == pytest.approx(float(vectors[rep] @ vectors[member]), abs=1e-4)
    assert not set(stars.member.tolist()) & set(stars.representative.tolist())


@pytest.mark.parametrize("rounds", [0, 1, 3, 64])
def test_star_groups_in_rounds_equal_the_groups_taken_one_by_one(
        rounds: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # families of many pairs, ties of score, chains (a node or two settled a round) and
    # excluded nodes; `rounds` 0 leaves everything to the one-by-one finish
    monkeypatch.setattr(grouping, "_ROUNDS", rounds)
    for seed in range(6):
        rng = np.random.default_rng(seed)
        n = 400
        family = rng.integers(0, 40, 3000)
        i, j = family * 10 + rng.integers(0, 10, 3000), family * 10 + rng.integers(0, 10, 3000)
        chain = np.arange(300, 399)
        i, j = np.r_[i, chain], np.r_[j, chain + 1]
        i, j = i[i != j], j[i != j]
        score = rng.choice(np.array([0.8, 0.86, 0.9, 0.9, 0.95], np.float32), len(i))
        rank = rng.permutation(n).astype(np.int64)
        excluded = rng.random(n) < 0.05
        for chosen in (None, excluded):
            fast = assign(rank, i, j, score, 0.85, chosen)
            keep = (score >= np.float32(0.85)) & (
                True if chosen is None else ~chosen[i] & ~chosen[j])
            slow = grouping._assign_in_order(rank, i[keep], j[keep], score[keep])
            assert len(fast) > 50
            assert np.array_equal(fast.member, slow.member)
            assert np.array_equal(fast.representative, slow.representative)
            assert np.array_equal(fast.score, slow.score)


def test_lexical_search_finds_what_exact_jaccard_finds() -> None:
    rng = np.random.default_rng(5)
    words = [f"w{k}" for k in range(3000)]
    texts = [" ".join(rng.choice(words, int(rng.integers(8, 200)))) for _ in range(1500)]
    for _ in range(300):  # near copies: some words swapped, some sentences' worth dropped
        source = texts[int(rng.integers(0, 1500))].split()
        for _ in range(int(rng.integers(0, 6))):
            source[int(rng.integers(0, len(source)))] = str(rng.choice(words))
        cut = int(rng.integers(0, max(1, len(source) // 5)))
        texts.append(" ".join(source[cut:]))
    shingles = shingle(texts)
    sets = [set(shingles.of(k).tolist()) for k in range(len(texts))]
    postings: dict[int, list[int]] = {}
    for k, hashes in enumerate(sets):
        for h in hashes:
            postings.setdefault(h, []).append(k)
    sharing = {(a, b) for docs in postings.values() for x, a in enumerate(docs)
               for b in docs[x + 1:]}
    for threshold in (0.5, DEFAULT_JACCARD, 0.9):
        want = {(a, b) for a, b in sharing
                if len(sets[a] & sets[b]) / len(sets[a] | sets[b]) >= threshold}
        found = lexical_pairs(shingles, threshold)
        got = set(zip(found.i.tolist(), found.j.tolist(), strict=True))
        assert len(want) > 30 and got <= want  # exact confirmation: nothing below
        assert len(want & got) >= 0.98 * len(want)
        for a, b, jac in zip(found.i.tolist(), found.j.tolist(), found.similarity.tolist(),
                             strict=True):
            assert jac == pytest.approx(len(sets[a] & sets[b]) / len(sets[a] | sets[b]))
    # the bands' pairs merged in small pieces (a merge after most bands) or in one: the same
    whole = lexical_pairs(shingles, DEFAULT_JACCARD)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("briefmin.shingles.LEXICAL_PAIR_CHUNK", 64)
        pieces = lexical_pairs(shingles, DEFAULT_JACCARD)
    assert np.array_equal(whole.i, pieces.i) and np.array_equal(whole.j, pieces.j)
    assert np.array_equal(whole.similarity, pieces.similarity) and len(whole) > 30
    # the same hashes in another process with another string-hash salt: nothing is salted
    code = ("from briefmin.shingles import shingle; "
            "print(shingle(['One two, three four']).hashes.tolist())")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={**os.environ, "PYTHONHASHSEED": "12345"}, check=True)
    assert other.stdout.strip() == str(shingle(["one two three FOUR"]).hashes.tolist())


def test_shingles_in_chunks_equal_shingles_at_once() -> None:
    texts = ["", "one", "two words", *(f"brief {k} shares words with brief {k + 1} today"
                                       for k in range(40)), ""]
    whole = shingle(texts, chunk=len(texts))
    for chunk in (1, 3, 7):
        part = shingle(texts, chunk=chunk)
        assert part.hashes.tolist() == whole.hashes.tolist()
        assert part.offsets.tolist() == whole.offsets.tolist()
    assert len(whole) == len(texts) and len(whole.hashes) > len(texts)
    assert len(shingle([])) == 0


def test_normalization_ignores_the_layout_only() -> None:
    """Line endings, a BOM, trailing and repeated white space, blank lines (several end a
    paragraph as one does), a re-wrapped paragraph and the Unicode form are layout; case and
    indentation are not (an audit's cases: `US` against `us`, and Python whose `log` left
    the `if`)."""
    assert normalize_text("\ufeffThe billing  service moves to the new queue\r\nbefore the "
                          "March freeze.  \r\n\r\n\r\nEnd.\n") == \
        normalize_text("The billing service moves to the new queue before\nthe March "
                       "freeze.\n\nEnd.")
    assert normalize_text("caf\u00e9") == normalize_text("cafe\u0301")  # NFC and NFD
    assert normalize_text("hello world") != normalize_text("hello, world")
    assert normalize_text("Deploy to the US region") != normalize_text("deploy to the us region")
    assert normalize_text("if x:\n    log(item)\n") != normalize_text("if x:\nlog(item)\n")
    assert normalize_text("if x:\n    log(item)\n") != normalize_text("if x:\n  log(item)\n")
    # around a code block, and after an unclosed one at the end, blank lines and trailing
    # white space are layout still
    assert normalize_text("Run it:\n\n\n```\nmake  \n```  \n\nDone.\n") == \
        normalize_text("Run it:\n```\nmake  \n```\nDone.")
    assert normalize_text("```\nmake\n\n\n") == normalize_text("```\nmake")


def test_white_space_that_is_text_is_not_layout() -> None:
    """A third audit's pairs, each `normalized` before, so the default prune removed one: a
    trailing space outside a code block that the text means (`\\ ` ends a shell command
    where `\\` continues it; a Makefile's `OUT = build `), and a run of spaces inside a
    prose paragraph's code span or quotation. In prose, trailing white space and runs
    elsewhere stay layout."""
    pairs = [("#!/bin/sh\nrsync -av --delete \\\n  public/ web01:/srv/www/\n",
              "#!/bin/sh\nrsync -av --delete \\ \n  public/ web01:/srv/www/\n"),
             ("OUT = build\n$(OUT)/r.pdf: r.md\n", "OUT = build \n$(OUT)/r.pdf: r.md\n"),
             ("Split each row with `line.split(\"  \")`.\n",
              "Split each row with `line.split(\" \")`.\n"),
             ('The password is "open  sesame" for now.\n',
              'The password is "open sesame" for now.\n')]
    for a, b in pairs:
        assert text_key(a) != text_key(b), (a, b)
    prose = ("The billing service moves to the new queue before the March freeze, and the\n"
             "old one stops   a week later.  \n")
    assert normalize_text(prose) == normalize_text(" ".join(prose.split()) + "\n")
    assert normalize_text('He said "stop  now".\n') != normalize_text('He said "stop now".\n')


# an audit's cases: the default prune removed the first of each pair, whose
# words all stay in the second, while what it meant did not: the setting is switched on in
# the first config and lies inside the comment in the second; the tables' fields are cut
# elsewhere; the first script runs two commands where the second runs one
FORWARDING = (b"# Uncomment the next line to enable packet forwarding for IPv4\n"
              b"net.ipv4.ip_forward=1\n",
              b"# Uncomment the next line to enable packet forwarding for IPv4 "
              b"net.ipv4.ip_forward=1\n")
LEDGERS = (b"name\tcity\tamount\nAlice Smith\tNew York\t100\nBob Jones\tLos Angeles\t250\n",
           b"name\tcity\tamount\nAlice\tSmith New\tYork 100\nBob\tJones Los\tAngeles 250\n")
CLEANUPS = (b"#!/bin/sh\n# cleanup script for the nightly build host\nrm -rf /srv/build/tmp\n"
            b"mkdir -p /srv/build/tmp\necho done\n",
            b"#!/bin/sh\n# cleanup script for the nightly build host\n"
            b"rm -rf /srv/build/tmp mkdir -p /srv/build/tmp\necho done\n")


def test_the_lines_of_a_config_a_table_or_a_script_are_not_layout() -> None:
    """Only a prose paragraph's line breaks are a re-wrap's: a comment's line, a table's row,
    a command's line, a list's item, a header's line keep theirs, and a tab is no space."""
    for a, b in (FORWARDING, LEDGERS, CLEANUPS):
        assert text_key(a.decode()) != text_key(b.decode())
    assert normalize_text("a\tb") != normalize_text("a b")  # a tab separates fields
    assert normalize_text("a\t\tb") != normalize_text("a\tb")  # an empty field
    assert normalize_text("To: counsel\nFrom: legal\n") != normalize_text("To: counsel From: legal")
    assert normalize_text("- one\n- two.\n") != normalize_text("- one - two.\n")
    assert normalize_text("# Title\nFirst words.\n") != normalize_text("# Title First words.")
    assert normalize_text("Title\n=====\n") != normalize_text("Title =====\n")
    # commands are no sentence, and the prose paragraph after them does not make them one
    assert normalize_text("make\nmake install\n\nThen run it.\n") != \
        normalize_text("make make install\n\nThen run it.\n")


# a second audit's pairs, each `normalized` before (so the default prune removed one):
# the line breaks or spaces that differ are the meaning. Commands and a Makefile whose last
# line ends in `.` or `:` (in a code block and out), a space-aligned table with a value moved
# to another column, code whose string holds two spaces, a list of names, a shopping list,
# an address and a memo's header lines
LAID_OUT_OTHERWISE = [
    ("# Local setup\n\n```sh\npython3 -m venv .venv\npip install -e .\n```\n",
     "# Local setup\n\n```sh\npython3 -m venv .venv pip install -e .\n```\n"),
    ("Build notes: release must not depend on test.\n\n```make\nall: build test\nrelease:\n```\n",
     "Build notes: release must not depend on test.\n\n```make\nall: build\ntest release:\n```\n"),
    ("Release runbook\n\ngit checkout release\ngit merge main\ndocker build .\n",
     "Release runbook\n\ngit checkout release git merge main\ndocker build .\n"),
    ("Pages\n=====\n\n=====  =====  =====\nname   jan    feb\n=====  =====  =====\n"
     "alice  10\nbob           20\n=====  =====  =====\n",
     "Pages\n=====\n\n=====  =====  =====\nname   jan    feb\n=====  =====  =====\n"
     "alice         10\nbob    20\n=====  =====  =====\n"),
    ("Records are split on two spaces:\n\n```python\nfields = line.split(\"  \")\n```\n",
     "Records are split on two spaces:\n\n```python\nfields = line.split(\" \")\n```\n"),
    ("Board meeting attendees:\n\nMary Ann\nLee Smith.\n",
     "Board meeting attendees:\n\nMary\nAnn Lee\nSmith.\n"),
    ("Party shopping list:\n\nice cream\ncake\nparty hats.\n",
     "Party shopping list:\n\nice\ncream cake\nparty hats.\n"),
    ("Ship to:\n\nAcme Corp\n10 Main Street\nSpringfield.\n",
     "Ship to:\n\nAcme Corp 10\nMain Street Springfield.\n"),
    ("To: Board of Directors\nFrom: General Counsel\nRe: Settlement offer from Acme Ltd.\n\n"
     "Please review before Friday.\n",
     "To: Board of Directors From: General Counsel\nRe: Settlement offer from Acme Ltd.\n\n"
     "Please review before Friday.\n"),
    ("name\x1falice\x1f\x1f10\n", "name\x1falice\x1f10\n"),
    # a session-43 audit's: in a code block a blank line and trailing white space count (a
    # heredoc's Bcc line in the body, then a header; `\ ` ends no shell line continuation)
    ("# Release\n\n```sh\nsendmail ops@example.com <<EOF\nSubject: 4.2\n\nBcc: legal@example.com"
     "\nShip it.\nEOF\n```\n",
     "# Release\n\n```sh\nsendmail ops@example.com <<EOF\nSubject: 4.2\nBcc: legal@example.com"
     "\n\nShip it.\nEOF\n```\n"),
    ("# Deploy\n\n```sh\nrsync -a build/ \\\n  host:/srv/app\n```\n",
     "# Deploy\n\n```sh\nrsync -a build/ \\ \n  host:/srv/app\n```\n"),
    # ... and in a list item's fence, indented 4 spaces or a tab (a review's cases)
    ("- Deploy:\n\n    ```sh\n    rsync -a build/ \\\n      host:/srv/app\n    ```\n",
     "- Deploy:\n\n    ```sh\n    rsync -a build/ \\ \n      host:/srv/app\n    ```\n"),
    ("- Deploy:\n\n\t```sh\n\techo one\n\n\techo two\n\t```\n",
     "- Deploy:\n\n\t```sh\n\techo one\n\techo two\n\t```\n"),
]


@pytest.mark.parametrize("pair", LAID_OUT_OTHERWISE, ids=range(len(LAID_OUT_OTHERWISE)))
def test_line_breaks_and_spaces_that_carry_meaning_are_not_layout(pair: tuple[str, str]
                                                                  ) -> None:
    """Only a paragraph of prose filled to a width has line breaks a re-wrap may move (a
    code block's never, a full stop that ends no word (`git add .`) ends no sentence, short
    lines are a list's, an address's or a verse's), and only prose or a `|` table's cells
    have spaces that are layout."""
    assert text_key(pair[0]) != text_key(pair[1])


def test_sentences_one_per_line_and_a_fill_are_one_text() -> None:
    """A break after a sentence is a writer's at any width: one sentence per line is the
    same text as the paragraph filled; a pipe table's cells may be padded otherwise."""
    assert text_key("Buy milk.\nCall mom.\nPay the rent.\n") == \
        text_key("Buy milk. Call mom. Pay the rent.\n")
    assert text_key("| name | jan |\n| alice | 10 |\n") == \
        text_key("| name  | jan |\n| alice | 10  |\n")


def test_the_default_prune_keeps_a_config_a_table_and_a_script_laid_out_otherwise(
        cli: Cli, hashing_archive: MakeArchive) -> None:
    """The audit's pairs are near-identical (every word alike), not normalized: reported, and
    the default prune removes none of them."""
    path = hashing_archive({"fwd-on.conf": FORWARDING[0], "fwd-off.conf": FORWARDING[1],
                            "ledger-a.tsv": LEDGERS[0], "ledger-b.tsv": LEDGERS[1],
                            "cleanup-a.sh": CLEANUPS[0], "cleanup-b.sh": CLEANUPS[1]})
    document = json.loads(cli("dedupe", path, "--prune", "--json").stdout)
    assert sorted((g["kind"], sorted(g["paths"])) for g in document["groups"]) == [
        ("near-identical", ["src/cleanup-a.sh", "src/cleanup-b.sh"]),
        ("near-identical", ["src/fwd-off.conf", "src/fwd-on.conf"]),
        ("near-identical", ["src/ledger-a.tsv", "src/ledger-b.tsv"])]
    assert document["prune"]["paths"] == []


SSHD = ("# Hardened sshd settings for the build hosts.\nPort 22\nPermitRootLogin no\n"
        "PasswordAuthentication no\nMaxAuthTries 3\nLoginGraceTime 30\nX11Forwarding no\n"
        "AllowTcpForwarding no\nClientAliveInterval 300\nClientAliveCountMax 2\n")


def test_a_near_identical_member_shows_the_words_it_changed(
        cli: Cli, hashing_archive: MakeArchive, chdir_tmp: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An audit's near-identical groups held copies that changed one fact: a setting
    (`PermitRootLogin no` / `yes`), a number, "never" / "always". The kind says "small
    edits", true of both, so each member now shows its changed words against the group's
    first, as `git diff --word-diff` does; a copy laid out otherwise changed none."""
    path = hashing_archive({
        "a-sshd.conf": SSHD.encode(),
        "b-root.conf": SSHD.replace("PermitRootLogin no", "PermitRootLogin yes").encode(),
        "c-indented.conf": SSHD.replace("\nPort 22", "\n    Port 22").encode()})
    document = json.loads(cli("dedupe", path, "--json").stdout)
    monkeypatch.setattr("briefmin.dedupe.CHANGES_BATCH_BYTES", 1)  # one group at a time
    assert json.loads(cli("dedupe", path, "--json").stdout) == document
    monkeypatch.undo()
    (group,) = document["groups"]
    assert group["kind"] == "near-identical"
    assert dict(zip(group["paths"], group["changes"], strict=True)) == {
        "src/a-sshd.conf": [], "src/b-root.conf": ["PermitRootLogin [-no-]{+yes+}"],
        "src/c-indented.conf": []}
    piped = cli("dedupe", path, "-q").stdout.splitlines()
    assert [line.split("\t")[4:] for line in piped] == [
        ["src/a-sshd.conf", ""], ["src/b-root.conf", "PermitRootLogin [-no-]{+yes+}"],
        ["src/c-indented.conf", "same words, other layout"]]
    # a prune of near-identical groups says what each removal loses
    plan = cli("dedupe", path, "--prune", "--prune-kind", "near-identical", "-q").stdout
    (line,) = [x for x in plan.splitlines() if x.startswith("would remove src/b-root.conf")]
    assert line.endswith("src/a-sshd.conf, which stays; changes: PermitRootLogin "
                         "[-no-]{+yes+})"), line
    removals = json.loads(cli("dedupe", path, "--prune", "--prune-kind", "near-identical",
                              "--json").stdout)["prune"]["removals"]
    assert {r["path"]: r["changes"] for r in removals} == {
        "src/b-root.conf": ["PermitRootLogin [-no-]{+yes+}"], "src/c-indented.conf": []}
    # CI mode: a new brief that copies an archived one with a number changed
    (chdir_tmp / "new.conf").write_text(SSHD.replace("MaxAuthTries 3", "MaxAuthTries 30"))
    gate = cli("dedupe", path, "new.conf", "--fail-on", "near-identical", "--json")
    assert gate.returncode == ExitStatus.FINDINGS
    groups = json.loads(gate.stdout)["groups"]
    (group,) = [g for g in groups if g["paths"][0] == "src/a-sshd.conf"]
    assert group["paths"][1:] == ["new.conf"]
    assert group["changes"] == [[], ["MaxAuthTries [-3-]{+30+}"]]


# a licence's prose paragraphs and numbered sections (MPL-2.0, section 5) and a README's
# paragraph whose first line is indented (e2fsprogs'), to be filled at two widths
REWRAPPED = [
    "", "5.1. The rights granted under this License will terminate automatically if You fail "
    "to comply with any of its terms. However, if You become compliant, then the rights "
    "granted under this License from a particular Contributor are reinstated (a) "
    "provisionally, unless and until such Contributor explicitly and finally terminates Your "
    "grants, and (b) on an ongoing basis, if such Contributor fails to notify You of the "
    "non-compliance by some reasonable means prior to 60 days after You have come back into "
    "compliance.",
    "", "The licenses granted in this Section 2 are the only rights granted under this "
    "License. No additional rights or licenses will be implied from the distribution or "
    "licensing of Covered Software under this License. Notwithstanding Section 2.1(b) above, "
    "no patent license is granted by a Contributor:",
    "\t", "From time to time, I release new versions of e2fsprogs, to fix bugs and to make "
    "the utilities more robust. You can always find information about the latest version at "
    "the e2fsprogs web page, which is:"]


def test_a_re_wrapped_licence_or_readme_is_still_a_normalized_copy() -> None:
    """What `normalized` is for: the same paragraphs filled at another width (a numbered
    section's number and a paragraph's indented first line stay where they are), with CRLF
    line endings, trailing white space and extra blank lines."""
    import textwrap

    def filled(width: int, end: str = "\n", blank: str = "\n") -> str:
        paragraphs = [textwrap.fill(text, width, initial_indent=indent)
                      for indent, text in zip(REWRAPPED[::2], REWRAPPED[1::2], strict=True)]
        return (end + blank).join(p.replace("\n", end) for p in paragraphs) + end

    narrow, wide = filled(60), filled(100, "  \r\n", "\r\n\r\n")
    assert narrow.count("\n") > wide.count("\n") // 2 and narrow != wide
    assert text_key(narrow) == text_key(wide)
    # each paragraph one line (its number and its indentation first)
    assert normalize_text(narrow).count("\n") == 2
    # and a blank line between two paragraphs of prose is layout too (two Debian packages'
    # descriptions differ in one: libfelix-main-java-doc, libfelix-framework-java-doc)
    wide = "One line of prose, wide enough to be a fill's, and"
    assert normalize_text(f"{wide}\nits end.\n\nTwo.\n") == normalize_text(f"{wide} its end. Two.")


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=" \t\r\n\x0b\x0cab.-#\x1c\xa0\u2028é", max_size=40))
def test_a_stored_brief_and_the_same_text_given_have_one_key(text: str) -> None:
    """The archive's briefs are keyed from their bytes (ASCII ones by a path of their own),
    a given brief from its text: the two must agree, or a CI check misses a normalized
    copy. And the key is the layout's only: each line's words, an indented line's
    indentation, and a line break wherever no paragraph ends a sentence."""
    data = text.encode("utf-8")
    if not any(c in text for c in "\x1c\xa0\u2028é"):  # the bytes path, else decoded
        assert data.isascii()
    from briefmin.text import decode_text

    assert stored_text_key(data) == text_key(decode_text(data)[0])
    lines = [line for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
             if line.split()]
    assert normalize_text(text).split() == text.replace("\ufeff", "").split()
    key = normalize_text(text).split("\n") if lines else []
    indents = [[line[:len(line) - len(line.lstrip())] for line in some if line[:1].isspace()]
               for some in (lines, key)]
    assert indents[0] == indents[1]  # each indented line begins a line, as indented
    assert len(key) <= len(lines)
    if not any(line.rstrip().endswith(".") for line in lines):  # no sentence: no paragraph
        assert len(key) == len(lines)


# a checksum tool's page of coreutils 9.1 (`man sha256sum`, rendered; white space condensed):
# sha256sum's, sha384sum's and sha512sum's differ only in the tool's name and digest size
SHA2_PAGE = """{TOOL}(1) User Commands {TOOL}(1)

NAME
    {tool} - compute and check {alg} message digest

SYNOPSIS
    {tool} [OPTION]... [FILE]...

DESCRIPTION
    Print or check {alg} ({bits}-bit) checksums.

    With no FILE, or when FILE is -, read standard input.

    -b, --binary
        read in binary mode
    -c, --check
        read checksums from the FILEs and check them
    --tag create a BSD-style checksum
    -t, --text
        read in text mode (default)
    -z, --zero
        end each output line with NUL, not newline, and disable file name escaping

 The following five options are useful only when verifying checksums:
    --ignore-missing
        don't fail or report status for missing files
    --quiet
        don't print OK for each successfully verified file
    --status
        don't output anything, status code shows success
    --strict
        exit non-zero for improperly formatted checksum lines
    -w, --warn
        warn about improperly formatted checksum lines
    --help display this help and exit
    --version
        output version information and exit

    The sums are computed as described in FIPS-180-2. When checking, the
    input should be a former output of this program. The default mode is
    to print a line with: checksum, a space, a character indicating input
    mode ('*' for binary, ' ' for text or where binary is insignificant),
    and name for each FILE.

    Note: There is no difference between binary mode and text mode on GNU
    systems.

AUTHOR
    Written by Ulrich Drepper, Scott Miller, and David Madore.

REPORTING BUGS
    GNU coreutils online help: <https://www.gnu.org/software/coreutils/>
    Report any translation bugs to <https://translationproject.org/team/>

COPYRIGHT
    Copyright © 2022 Free Software Foundation, Inc. License GPLv3+: GNU
    GPL version 3 or later <https://gnu.org/licenses/gpl.html>.
    This is free software: you are free to change and redistribute it.
    There is NO WARRANTY, to the extent permitted by law.

SEE ALSO
    cksum(1)

    Full documentation <https://www.gnu.org/software/coreutils/{tool}>
    or available locally via: info '(coreutils) sha2 utilities'

GNU coreutils 9.1 September 2022 {TOOL}(1)
"""


def test_sibling_pages_that_differ_only_in_the_name_are_near_identical_and_kept(
        cli: Cli, hashing_archive: MakeArchive) -> None:
    """README said sibling tools' pages are distinct briefs, never near-identical; an audit
    found sha256sum's, sha384sum's and sha512sum's pages in one near-identical group (Jaccard
    0.867, 22 shingles of its own on each side: six places, the tool's name and the digest's
    size). That is the shape of an edited copy, and no measure of the text tells the two
    apart, so README now says which siblings are near-identical; the default prune keeps
    them all."""
    pages = {f"sha{bits}sum.txt": SHA2_PAGE.format(
        TOOL=f"SHA{bits}SUM", tool=f"sha{bits}sum", alg=f"SHA{bits}", bits=bits).encode()
        for bits in (256, 384, 512)}
    document = json.loads(cli("dedupe", hashing_archive(pages), "--prune", "--json").stdout)
    (near,) = [g for g in document["groups"] if g["kind"] == "near-identical"]
    assert near["paths"] == ["src/sha256sum.txt", "src/sha384sum.txt", "src/sha512sum.txt"]
    assert near["jaccards"] == pytest.approx([1.0, 0.867, 0.867], abs=0.001)
    assert document["prune"]["paths"] == []
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert "never near-identical (at most `similar`)" not in readme
    assert "`sha256sum`, `sha384sum` and `sha512sum`'s pages (coreutils 9.1)" in readme


# -- grouping and the CLI, with the hashing encoder ---------------------------------------------

BRIEF = b"Migrate the billing service to the new queue before the March freeze.\n"
OTHER = b"Plan the offsite for the design team in Lisbon, budget and agenda.\n"


def test_exact_and_normalized_groups_in_the_archive(hashing_archive: MakeArchive) -> None:
    path = hashing_archive({
        "a.md": BRIEF, "b.md": BRIEF,  # same bytes
        "c.txt": BRIEF.replace(b"\n", b"\r\n").replace(b" ", b"  "),  # normalized
        "d.md": OTHER,
        "e.md": BRIEF.upper()})  # case is no layout: an edited copy
    with Archive.open(path) as archive:
        report = find_duplicates(archive)
    kinds = {g.kind: [m.path for m in g.members] for g in report.groups}
    assert kinds == {"exact": ["src/a.md", "src/b.md"], "normalized": ["src/a.md", "src/c.txt"],
                     "near-identical": ["src/a.md", "src/e.md"]}
    assert report.briefs == 5
    assert report.redundant == ["src/b.md", "src/c.txt"]  # one brief per cluster remains


def test_cli_json_schema_and_fail_exit(cli: Cli, hashing_archive: MakeArchive,
                                       tmp_path: Path) -> None:
    path = hashing_archive({"a.md": BRIEF, "b.md": BRIEF, "d.md": OTHER})
    result = cli("dedupe", path, "--json", "--fail")
    assert result.returncode == ExitStatus.FINDINGS
    document = json.loads(result.stdout)
    assert document["groups"] == [{"kind": "exact", "paths": ["src/a.md", "src/b.md"],
                                   "similarities": [1.0, 1.0], "jaccards": [1.0, 1.0],
                                   "new": [False, False]}]
    assert document["threshold"] == DEFAULT_THRESHOLD and document["briefs"] == 3
    (tmp_path / "src" / "b.md").unlink()  # the helper archives its whole src folder
    clean = hashing_archive({"a.md": BRIEF, "d.md": OTHER}, name="clean.bmin")
    assert cli("dedupe", clean, "--fail").returncode == 0


@pytest.mark.parametrize("value", ["0", "-0.5", "1.01", "nan"])
def test_threshold_out_of_range_is_a_usage_error(cli: Cli, hashing_archive: MakeArchive,
                                                 value: str) -> None:
    path = hashing_archive({"a.md": BRIEF})
    result = cli("dedupe", path, "--threshold", value)
    assert result.returncode == ExitStatus.USAGE
    assert "--threshold must be in (0, 1]" in result.stderr


def test_ci_mode_exit_codes(cli: Cli, hashing_archive: MakeArchive, chdir_tmp: Path) -> None:
    path = hashing_archive({"a.md": BRIEF, "d.md": OTHER})
    (chdir_tmp / "new").mkdir()
    (chdir_tmp / "new" / "copy.md").write_bytes(BRIEF)
    (chdir_tmp / "new" / "fresh.md").write_bytes(b"Replace the office printer on floor 3.\n")
    dup = cli("dedupe", path, "new/copy.md", "--fail", "--json")
    assert dup.returncode == ExitStatus.FINDINGS
    (group,) = json.loads(dup.stdout)["groups"]
    assert group == {"kind": "exact", "paths": ["src/a.md", "new/copy.md"],
                     "similarities": [1.0, 1.0], "jaccards": [1.0, 1.0], "new": [False, True]}
    fine = cli("dedupe", path, "new/fresh.md", "--fail")
    assert fine.returncode == 0, fine.stderr
    assert cli("dedupe", path, "new/fresh.md").returncode == 0
    # two new briefs duplicating each other, from a path list
    (chdir_tmp / "new" / "fresh2.md").write_bytes(b"Replace the office printer on floor 3.  \r\n")
    (chdir_tmp / "list.txt").write_text("new/fresh.md\nnew/fresh2.md\n")
    both = cli("dedupe", path, "--from", "list.txt", "--fail", "--json")
    assert both.returncode == ExitStatus.FINDINGS
    assert [g["kind"] for g in json.loads(both.stdout)["groups"]] == ["normalized"]
    # nothing was added
    with Archive.open(path) as archive:
        assert [r.path for r in archive.records()] == ["src/a.md", "src/d.md"]
    assert cli("dedupe", path, "missing.md").returncode == ExitStatus.USAGE
    assert cli("dedupe", path, "new", "--prune").returncode == ExitStatus.USAGE
    # --no-dry-run alone removes nothing: a usage error, as --prune-kind alone is
    assert cli("dedupe", path, "--no-dry-run").returncode == ExitStatus.USAGE
    # piped, the given briefs are named in a column of their own (a ` (new)` after the
    # path made `cut -f5` give none), and `--max-size` is dedupe's too (a CI check of a
    # brief over the default 64 MiB had no way to pass)
    piped = cli("dedupe", path, "new/copy.md", "-q")
    assert [line.split("\t")[4:] for line in piped.stdout.splitlines()] == [
        ["src/a.md", "archived", ""], ["new/copy.md", "new", ""]]
    small = cli("dedupe", path, "new/copy.md", "--fail", "--max-size", "10")
    assert small.returncode == ExitStatus.USAGE and "--max-size 10" in small.stderr


def test_a_new_version_of_an_archived_brief_is_not_its_duplicate(
        cli: Cli, hashing_archive: MakeArchive, chdir_tmp: Path) -> None:
    path = hashing_archive({"a.md": BRIEF, "d.md": OTHER})
    (chdir_tmp / "src").mkdir(exist_ok=True)
    (chdir_tmp / "src" / "a.md").write_bytes(BRIEF + b"One more line.\n")
    assert cli("dedupe", path, "src/a.md", "--fail").returncode == 0


def test_the_ci_check_fails_when_a_given_file_cannot_be_read(
        cli: Cli, hashing_archive: MakeArchive, chdir_tmp: Path) -> None:
    """A copy the check could not read passed it (exit 0, a warning): it fails closed now.
    A binary file (a pull request's image) is no brief and still passes."""
    path = hashing_archive({"a.md": BRIEF, "d.md": OTHER})
    with open(os.fsencode(chdir_tmp) + b"/copy\xe9.md", "wb") as copy:  # not UTF-8
        copy.write(BRIEF)
    (chdir_tmp / "logo.md").write_bytes(b"\x89PNG\x00\x01\x02")
    done = cli("dedupe", path, "copy\udce9.md", "--fail")
    assert done.returncode == ExitStatus.USAGE
    assert "1 given file(s) could not be checked" in done.stderr
    assert cli("dedupe", path, "copy\udce9.md").returncode == 0  # not a CI check: a warning
    assert cli("dedupe", path, "logo.md", "--fail").returncode == 0


def test_a_damaged_stored_brief_is_named_with_what_to_run(tmp_path: Path) -> None:
    """dedupe of an archive with a damaged solid block said only `stored item does not match
    its sha256` (no brief, no next step: an audit's find), and as the error closed the
    archive while its thread still read the codes through the same connection, it mostly
    crashed instead (exit 139). Now, every time: one line, the briefs, what to run."""
    (tmp_path / "src").mkdir()
    for n in range(1, 6):
        (tmp_path / "src" / f"b{n}.md").write_text(f"Brief {n}: the billing queue and the "
                                                   f"price of plan {n} for customers.\n")
    assert run_briefmin("add", "a.bmin", "src", "--model", HASHING, "-q",
                        cwd=tmp_path).returncode == 0
    flip_stored_byte(tmp_path / "a.bmin", "src/b3.md")  # the one block of all five
    for _ in range(3):  # the crash came in most runs, not all
        done = run_briefmin("dedupe", "a.bmin", "-q", cwd=tmp_path)
        stderr = done.stderr.decode()
        assert done.returncode == ExitStatus.ARCHIVE, stderr
        assert stderr.count("\n") == 1, stderr
        assert "cannot read src/b1.md (and 4 other brief(s)): " in stderr
        assert "run `briefmin verify a.bmin`" in stderr


def test_prune_dry_run_then_for_real(cli: Cli, hashing_archive: MakeArchive) -> None:
    rewrapped = BRIEF.replace(b"queue before", b"queue  \r\nbefore")
    path = hashing_archive({"a.md": BRIEF, "b.md": BRIEF, "c.md": rewrapped, "d.md": OTHER})
    before = path.read_bytes()
    shown = cli("dedupe", path, "--prune", "--json")
    plan = json.loads(shown.stdout)["prune"]
    assert plan["dry_run"] is True and plan["paths"] == ["src/b.md", "src/c.md"]
    assert plan["kinds"] == ["exact", "normalized"]
    assert [(r["path"], r["kind"], r["keeps"], r["jaccard"]) for r in plan["removals"]] == [
        ("src/b.md", "exact", "src/a.md", 1.0), ("src/c.md", "normalized", "src/a.md", 1.0)]
    assert path.read_bytes() == before
    done = cli("dedupe", path, "--prune", "--no-dry-run")
    assert done.returncode == 0, done.stderr
    assert "removed src/b.md" in done.stdout
    with Archive.open(path) as archive:
        assert [r.path for r in archive.records()] == ["src/a.md", "src/d.md"]
        assert archive.verify().ok
    assert cli("dedupe", path, "--fail").returncode == 0


def test_a_prune_says_what_it_removes_on_stdout_even_when_quiet(
        cli: Cli, hashing_archive: MakeArchive) -> None:
    """The plan and what was removed went to stderr, so -q hid them and `--prune
    --no-dry-run -q` deleted briefs saying nothing (an audit's find). They are the prune's
    result: stdout, which -q (no messages) leaves alone; the gate's exit status is
    unchanged."""
    path = hashing_archive({"a.md": BRIEF, "b.md": BRIEF, "d.md": OTHER})
    shown = cli("dedupe", path, "--prune", "-q")
    assert (shown.returncode, shown.stderr) == (0, "")
    assert "would remove src/b.md (exact: jaccard 1.000, cosine 1.000 to src/a.md" in \
        shown.stdout
    assert "would remove 1 brief(s) from exact, normalized groups" in shown.stdout
    gated = cli("dedupe", path, "--prune", "-q", "--fail")
    assert (gated.returncode, gated.stderr) == (ExitStatus.FINDINGS, "")
    assert "would remove src/b.md" in gated.stdout
    done = cli("dedupe", path, "--prune", "--no-dry-run", "-q")
    assert (done.returncode, done.stderr) == (0, "")
    assert "removed src/b.md (exact" in done.stdout and "removed 1 brief(s)" in done.stdout
    with Archive.open(path) as archive:
        assert [r.path for r in archive.records()] == ["src/a.md", "src/d.md"]


def test_a_prune_names_as_kept_only_briefs_that_stay(cli: Cli, tmp_path: Path) -> None:
    """b and c hold the same bytes (an exact group, b first), and b is a normalized copy of
    the older a: b went for a while c's line said it went "keeping src/b.md, which stays"
    (an audit's find). Each removal now names the brief that stays at the end of the chain,
    with the chain's weakest kind."""
    os.chdir(tmp_path)
    Path("src").mkdir()
    Path("src/a.md").write_bytes(BRIEF)
    assert cli("add", "x.bmin", "src", "--model", HASHING).returncode == 0
    time.sleep(1.1)  # b and c are younger than a
    Path("src/b.md").write_bytes(BRIEF.replace(b"\n", b"\r\n"))
    Path("src/c.md").write_bytes(BRIEF.replace(b"\n", b"\r\n"))
    assert cli("add", "x.bmin", "src").returncode == 0
    plan = json.loads(cli("dedupe", "x.bmin", "--prune", "--json").stdout)["prune"]
    removals = {r["path"]: (r["kind"], r["keeps"]) for r in plan["removals"]}
    assert removals == {"src/b.md": ("normalized", "src/a.md"),
                        "src/c.md": ("normalized", "src/a.md")}
    shown = cli("dedupe", "x.bmin", "--prune").stdout
    assert "to src/b.md, which stays" not in shown and shown.count("to src/a.md") == 2


def test_a_prune_keeps_a_path_whose_earlier_version_is_found_nowhere_else(
        cli: Cli, tmp_path: Path) -> None:
    """p2's latest version is a copy of p1, its first version text of its own: the prune
    removed p2 (every version), and with it the only copy of that text, which snapshot 1
    held (an audit's find). Now p2 is held, and said to be; p3, whose earlier version
    another brief holds, still goes."""
    os.chdir(tmp_path)
    Path("d").mkdir()
    Path("d/p1.md").write_text("Plan alpha: migrate billing to Postgres 16.\n")
    Path("d/p2.md").write_text("Unique zebra launch codes and llama budget.\n")
    Path("d/p3.md").write_text("Plan alpha: migrate billing to Postgres 16.\n")
    assert cli("add", "a.bmin", "d", "--model", HASHING).returncode == 0
    Path("d/p3.md").write_text("Plan alpha: migrate billing to  Postgres 16.\r\n")
    shutil.copyfile("d/p1.md", "d/p2.md")
    assert cli("add", "a.bmin", "d").returncode == 0
    plan = json.loads(cli("dedupe", "a.bmin", "--prune", "--json").stdout)["prune"]
    assert plan["paths"] == ["d/p3.md"] and plan["held"] == ["d/p2.md"]
    done = cli("dedupe", "a.bmin", "--prune", "--no-dry-run")
    assert done.returncode == 0, done.stderr
    assert "kept d/p2.md: an earlier version of it holds text no brief that stays" in done.stdout
    assert cli("restore", "a.bmin", "--snapshot", "1", "--to", "one").returncode == 0
    assert Path("one/d/p2.md").read_text() == "Unique zebra launch codes and llama budget.\n"
    listed = cli("ls", "a.bmin", "--json").stdout
    assert sorted(r["path"] for r in json.loads(listed)) == ["d/p1.md", "d/p2.md"]


# two Debian packages of one source (libaacs-dev, libaacs0): one template, the last sentence
# says which package it is
AACS = ("libaacs is a research project to implement the Advanced Access Content\nSystem "
        "specification. It provides, through an open-source library, a\nway to understand how "
        "the AACS works.\n\nThis package DOES NOT provide any key or certificate that could "
        "be used\nto decode encrypted copyrighted material. It is based on the official\n"
        "public AACS specification only.\n\nThis package provides {what}.\n")


def test_template_siblings_are_near_identical_and_the_default_prune_keeps_both(
        cli: Cli, hashing_archive: MakeArchive) -> None:
    """Their text differs in one sentence, as an edited copy's would: near-identical (the
    text cannot tell them apart), but each is its own brief, so the default prune removes
    neither and says what it left and how to remove it."""
    dev = AACS.format(what="the development files for libaacs0").encode()
    runtime = AACS.format(what="the shared library").encode()
    path = hashing_archive({"libaacs-dev.txt": dev, "libaacs0.txt": runtime,
                            "libaacs0-copy.txt": runtime, "d.md": OTHER})
    shown = cli("dedupe", path, "--json", "--prune")
    document = json.loads(shown.stdout)
    kinds = sorted((g["kind"], g["paths"]) for g in document["groups"])
    assert kinds == [("exact", ["src/libaacs0-copy.txt", "src/libaacs0.txt"]),
                     ("near-identical", ["src/libaacs-dev.txt", "src/libaacs0-copy.txt"])]
    assert document["prune"]["paths"] == ["src/libaacs0.txt"]  # its bytes stay in the copy
    done = cli("dedupe", path, "--prune", "--no-dry-run")
    assert "left 1 near-identical group(s)" in done.stdout
    assert "--prune-kind exact,normalized,near-identical" in done.stdout
    with Archive.open(path) as archive:
        assert [r.path for r in archive.records()] == [
            "src/d.md", "src/libaacs-dev.txt", "src/libaacs0-copy.txt"]
    # what a prune of other kinds leaves is named for what it is
    path = hashing_archive({"a.md": dev, "b.md": dev})
    left = cli("dedupe", path, "--prune", "--prune-kind", "near-identical")
    assert "exact group(s) (the same bytes)" in left.stdout


LONG = ("The billing service moves to the new message queue before the March freeze. "
        "Every consumer is migrated one at a time behind a feature flag, with a rollback "
        "plan for each step and a dashboard that compares queue depth before and after. "
        "Finance signs off on the reconciliation report once the last consumer has moved.\n")


def test_near_identical_copies_are_found_from_the_text(cli: Cli, hashing_archive: MakeArchive
                                                       ) -> None:
    edited = LONG.replace("March", "April").replace(
        "Finance signs off", "Finance approves").encode()
    rewrapped = edited.replace(b". ", b".\n").replace(b"a dashboard that", b"a dashboard\nthat")
    path = hashing_archive({"a.md": LONG.encode(), "b.md": edited, "c.md": rewrapped,
                            "d.md": OTHER})
    with Archive.open(path) as archive:
        report = find_duplicates(archive, jaccard=0.6)
        strict = find_duplicates(archive, jaccard=0.95)
    (group,) = [g for g in report.groups if g.kind == "near-identical"]
    assert [m.path for m in group.members] == ["src/a.md", "src/b.md"]
    # re-wrapping changes no word: c is b's normalized copy, b takes part for both
    (norm,) = [g for g in report.groups if g.kind == "normalized"]
    assert [m.path for m in norm.members] == ["src/b.md", "src/c.md"]
    assert 0.6 <= group.members[1].jaccard < 0.95
    assert not [g for g in strict.groups if g.kind == "near-identical"]
    # each kind fails CI only when it, or a weaker kind, is selected: a pair is reported in
    # its strongest kind only (b and c: normalized, so near-identical fails on them too)
    assert cli("dedupe", path, "--fail-on", "near-identical").returncode == ExitStatus.FINDINGS
    assert cli("dedupe", path, "--fail-on", "exact").returncode == 0
    assert cli("dedupe", path, "--fail-on", "exact,normalized").returncode == \
        ExitStatus.FINDINGS
    assert cli("dedupe", path, "--fail-on", "near").returncode == \
        ExitStatus.FINDINGS  # the old name of similar
    copy = hashing_archive({"a.md": OTHER, "b.md": OTHER}, name="copy.bmin")
    assert cli("dedupe", copy, "--fail-on", "near-identical").returncode == ExitStatus.FINDINGS
    bad = cli("dedupe", path, "--fail-on", "fuzzy")
    assert bad.returncode == ExitStatus.USAGE and "unknown kind 'fuzzy'" in bad.stderr
    assert cli("dedupe", path, "--jaccard", "1.5").returncode == ExitStatus.USAGE
    assert cli("dedupe", path, "--prune-kind", "all").returncode == ExitStatus.USAGE


def test_prune_leaves_similar_groups_unless_named(cli: Cli, hashing_archive: MakeArchive
                                                  ) -> None:
    # the hashing encoder scores shared words: two briefs with most words shared but no
    # three-word run in common are `similar`, not near-identical
    words = LONG.split()
    shuffled = " ".join(words[k] for k in range(len(words) - 1, -1, -1)) + "\n"
    path = hashing_archive({"a.md": LONG.encode(), "b.md": shuffled.encode()})
    document = json.loads(cli("dedupe", path, "--json", "--threshold", "0.8").stdout)
    assert [g["kind"] for g in document["groups"]] == ["similar"]
    assert document["groups"][0]["deprecated_kind"] == "near"
    assert document["groups"][0]["jaccards"][1] < 0.1
    kept = cli("dedupe", path, "--threshold", "0.8", "--prune", "--no-dry-run")
    assert "removed 0 brief(s)" in kept.stdout
    shown = cli("dedupe", path, "--threshold", "0.8", "--prune", "--prune-kind", "similar")
    assert "would remove src/b.md (similar: jaccard 0.0" in shown.stdout
    with Archive.open(path) as archive:
        assert len(archive.records()) == 2


def test_histogram_is_drawn_and_in_json(cli: Cli, hashing_archive: MakeArchive) -> None:
    path = hashing_archive({f"{i}.md": f"brief {i} about topic {i * 7}\n".encode()
                            for i in range(12)})
    drawn = cli("dedupe", path, "--histogram")
    assert "← threshold" in drawn.stdout and "│" in drawn.stdout
    document = json.loads(cli("dedupe", path, "--histogram", "--json").stdout)
    bins = document["histogram"]["bins"]
    assert sum(b["count"] for b in bins) == 12
    # the first bin holds every brief below its end (the table's `< 0.525`): it said
    # `"from": 0.5` of briefs at 0.2 (an audit's find); each bin now says where it ends
    assert bins[0]["from"] is None and bins[0]["to"] == 0.525 and bins[0]["count"] > 0
    assert "< 0.525" in drawn.stdout
    assert [b["from"] for b in bins[1:]] == [b["to"] for b in bins[:-1]]
    assert bins[-1] == {"from": 0.975, "to": 1.0, "count": bins[-1]["count"]}


# -- the planted fixture cases, with the real model ----------------------------------------------

PLANTED = {
    "exact": {"briefs/archive/cache-invalidation-copy.md",
              "briefs/engineering/cache-invalidation.md"},
    "near-copy": {"briefs/archive/rate-limiter-redis-revised.md",
                  "briefs/engineering/rate-limiter-redis.md"},
    "paraphrase": {"briefs/product/pricing-eu.md", "briefs/product/pricing-eu-paraphrase.md"},
}


@pytest.mark.model
def test_fixture_archive_groups_the_planted_cases_only(fixture_archive: Path) -> None:
    with Archive.open(fixture_archive) as archive:
        report = find_duplicates(archive, histogram_of_nearest=True)
        # 4-bit codes (the small profile) read a cosine within about +-0.01
        line = 0.99 if archive.meta.profile == "default" else 0.98
    groups = sorted((g.kind, frozenset(m.path for m in g.members)) for g in report.groups)
    assert groups == sorted([("exact", frozenset(PLANTED["exact"])),
                             ("near-identical", frozenset(PLANTED["near-copy"])),
                             ("similar", frozenset(PLANTED["paraphrase"]))])
    last = {g.kind: g.members[-1] for g in report.groups}
    # the near copy: a few edits (high Jaccard); the paraphrase: same meaning, other words
    assert last["near-identical"].similarity > line
    assert DEFAULT_JACCARD <= last["near-identical"].jaccard < 1.0
    assert DEFAULT_THRESHOLD <= last["similar"].similarity < line
    assert last["similar"].jaccard < 0.2
    assert_members_at_threshold(report)
    # unrelated briefs sit far below the threshold: nothing else in the top bins
    assert report.histogram is not None
    above = sum(c for lo, c in report.histogram if lo >= 0.7)
    assert above == 4  # the two near pairs (the exact copy counts as one content)


def assert_members_at_threshold(report: DedupeReport) -> None:
    """No group member is below its kind's threshold to the group's first member."""
    for group in report.groups:
        first, *rest = group.members
        assert first.similarity == 1.0 and first.jaccard == 1.0
        for member in rest:
            if group.kind == "near-identical":
                assert member.jaccard >= report.thresholds.near_identical
            elif group.kind == "similar":
                assert member.similarity >= report.thresholds.similar - 1e-6


@pytest.mark.model
def test_a_distinct_brief_on_the_same_topic_is_never_pruned(
        fixture_archive: Path, copy_archive: Callable[[Path], Path], cli: Cli,
        chdir_tmp: Path) -> None:
    path = copy_archive(fixture_archive)
    brief = chdir_tmp / "briefs" / "engineering" / "rate-limiter-dashboards.md"
    brief.parent.mkdir(parents=True)
    brief.write_text(
        "# ENG-2342: Dashboards and alerts for the public API rate limiter\n\n"
        "**Type:** Improvement\n**Owner:** Platform team (Hana Sato)\n\n## Background\n\n"
        "Since the sliding-window rate limiter shipped, support cannot see which API keys are "
        "throttled or how close a plan is to its limit. Partners ask why they receive 429 "
        "responses and we answer from Redis by hand.\n\n## Goals\n\n"
        "- A Grafana dashboard of throttled requests per API key, plan and endpoint group.\n"
        "- An alert when one key is throttled for more than ten minutes.\n"
        "- A weekly report to account managers of customers near their plan limit.\n")
    assert cli("add", path, "briefs").returncode == 0
    # archived together, the path that sorts first is the oldest: the default prune removes
    # the exact copy only; named, near-identical groups lose the revision too. Never the new
    # brief on the same topic, nor the paraphrase (a `similar` group)
    document = json.loads(cli("dedupe", path, "--json", "--prune").stdout)
    assert document["prune"]["paths"] == ["briefs/engineering/cache-invalidation.md"]
    document = json.loads(cli("dedupe", path, "--json", "--prune", "--prune-kind",
                              "exact,normalized,near-identical").stdout)
    assert set(document["prune"]["paths"]) == {"briefs/engineering/cache-invalidation.md",
                                               "briefs/engineering/rate-limiter-redis.md"}
    assert all(r["jaccard"] >= DEFAULT_JACCARD for r in document["prune"]["removals"])


@pytest.mark.model
def test_two_versions(tmp_path: Path, cli: Cli, chdir_tmp: Path) -> None:
    shutil.copytree(FIXTURES / "versions", "versions")
    # as two briefs under two paths: near duplicates
    with Archive.open("two.bmin", write=True, create=True) as archive:
        add(archive, iter_sources(["versions"]))
        report = find_duplicates(archive)
    # a revision: the same background and proposal, but its scope, budget, timeline and
    # people sections changed and a safety section added. Its brief vector is 0.889 from
    # the first draft's, but its chunks do not all say what v1's say (chunk coverage 0.75,
    # below 0.85 - chunkmatch.MARGIN): no longer `similar` (it was before the chunk check)
    assert report.groups == []
    # as versions of one path: only the latest counts, and checking the next version of an
    # archived brief in CI is not a duplicate of itself
    Path("plan.md").write_bytes(Path("versions/v1/warehouse-robot-pilot.md").read_bytes())
    assert cli("add", "one.bmin", "plan.md").returncode == 0
    Path("plan.md").write_bytes(Path("versions/v2/warehouse-robot-pilot.md").read_bytes())
    assert cli("dedupe", "one.bmin", "plan.md", "--fail").returncode == 0
    assert cli("add", "one.bmin", "plan.md").returncode == 0
    assert cli("dedupe", "one.bmin", "--fail").returncode == 0


@pytest.mark.model
def test_ci_mode_with_the_real_model(fixture_archive: Path, cli: Cli, chdir_tmp: Path) -> None:
    new = chdir_tmp / "new"
    new.mkdir()
    shutil.copyfile(BRIEFS / "product/pricing-eu-paraphrase.md", new / "eu-prices.md")
    limiter = (BRIEFS / "engineering/rate-limiter-redis.md").read_bytes()
    (new / "limiter-crlf.txt").write_bytes(limiter.replace(b"\n", b"\r\n"))
    (new / "limiter-shouted.txt").write_bytes(limiter.upper())  # case counts: an edit
    (new / "cache-notes.md").write_bytes(
        (BRIEFS / "engineering/cache-invalidation.md").read_bytes()
        + b"\nNote: we also checked the CDN purge hooks; they are out of scope.\n")
    (new / "beekeeping.md").write_text(
        "# Club newsletter\n\nThe beekeeping club wants a spring newsletter: hive inspection "
        "dates, the honey extraction day in June, and a call for new members.\n")
    result = cli("dedupe", fixture_archive, "new", "--fail", "--json")
    assert result.returncode == ExitStatus.FINDINGS, result.stderr
    groups = {(g["kind"], tuple(g["paths"])) for g in json.loads(result.stdout)["groups"]}
    assert groups == {
        ("exact", ("briefs/product/pricing-eu-paraphrase.md", "new/eu-prices.md")),
        ("normalized", ("briefs/engineering/rate-limiter-redis.md", "new/limiter-crlf.txt")),
        ("near-identical", ("briefs/engineering/rate-limiter-redis.md",
                            "new/limiter-shouted.txt")),
        ("near-identical", ("briefs/archive/cache-invalidation-copy.md",
                            "new/cache-notes.md")),
        # both copies are also near copies of the archived revision of the brief they copy,
        # and of each other: every pair with a given brief is reported, even where it is a
        # member
        ("near-identical", ("briefs/archive/rate-limiter-redis-revised.md",
                            "new/limiter-crlf.txt", "new/limiter-shouted.txt")),
        ("near-identical", ("new/limiter-crlf.txt", "new/limiter-shouted.txt"))}
    alone = cli("dedupe", fixture_archive, "new/beekeeping.md", "--fail")
    assert alone.returncode == 0, alone.stderr


@pytest.mark.model
def test_default_mode_never_loads_the_model(fixture_archive: Path, tmp_path: Path) -> None:
    code, heavy = run_checking_imports("dedupe", str(fixture_archive), "--histogram",
                                       cwd=tmp_path)
    assert code == 0 and heavy == []


# -- CI mode: every pair with a given brief is reported (issue 12's gap) ------------------------

def assert_ci_report_complete(document: dict[str, Any], pairs: dict[frozenset[str], str],
                              given: set[str]) -> None:
    """Every qualifying pair (paths -> kind) that involves a given brief shares a group
    of its kind or a stronger one, and no group chains: each member is at least its kind's
    threshold from the group's first member."""
    thresholds = document["thresholds"]
    for pair, kind in pairs.items():
        assert pair & given
        assert any(pair <= set(g["paths"]) and KIND_RANK[g["kind"]] <= KIND_RANK[kind]
                   for g in document["groups"]), (sorted(pair), kind, document["groups"])
    for group in document["groups"]:
        if group["kind"] == "near-identical":
            assert min(group["jaccards"][1:]) >= thresholds["near-identical"], group
        elif group["kind"] == "similar":
            assert min(group["similarities"][1:]) >= thresholds["similar"] - 1e-4, group


def test_ci_mode_reports_a_new_brief_near_only_a_new_member(
        cli: Cli, hashing_archive: MakeArchive, chdir_tmp: Path) -> None:
    """a-edit is a near copy of the archived brief and joins its group; b-edit is a near copy
    of a-edit only (an edit of an edit): it is still reported, in a group of its own with
    a-edit first, not in the archived brief's group, whose members are near copies of it."""
    first = LONG.replace("March", "April").replace("Finance signs off", "Finance approves")
    second = first.replace("feature flag", "config switch").replace(
        "dashboard that compares", "chart comparing")
    texts = {"src/a.md": LONG, "src/d.md": OTHER.decode(), "new/a-edit.md": first,
             "new/b-edit.md": second}
    path = hashing_archive({"a.md": texts["src/a.md"].encode(), "d.md": OTHER})
    (chdir_tmp / "new").mkdir()
    for name in ("new/a-edit.md", "new/b-edit.md"):
        (chdir_tmp / name).write_text(texts[name])
    names = list(texts)
    sets = shingle(texts.values())
    pairs = {frozenset((names[a], names[b])): "near-identical" for a in range(4)
             for b in range(a + 1, 4) if sets.jaccard(a, b) >= DEFAULT_JACCARD}
    # the case: b-edit is near a-edit only
    assert set(pairs) == {frozenset(("src/a.md", "new/a-edit.md")),
                          frozenset(("new/a-edit.md", "new/b-edit.md"))}
    result = cli("dedupe", path, "new/a-edit.md", "new/b-edit.md", "--json", "--fail-on",
                 "near-identical")
    assert result.returncode == ExitStatus.FINDINGS, result.stderr
    document = json.loads(result.stdout)
    assert_ci_report_complete(document, pairs, {"new/a-edit.md", "new/b-edit.md"})
    near = [g["paths"] for g in document["groups"] if g["kind"] == "near-identical"]
    assert sorted(near) == [["new/a-edit.md", "new/b-edit.md"],
                            ["src/a.md", "new/a-edit.md"]]
    # checked alone, b-edit is no near copy of anything archived
    alone = cli("dedupe", path, "new/b-edit.md", "--json", "--fail-on", "near-identical")
    assert alone.returncode == 0, alone.stdout


ROTATION = {  # cosines with the bundled model: archived~a 0.88, a~b 0.89, archived~b 0.77
    "src/rotation.md": "Rotate the production database passwords every ninety days and keep "
                       "the new ones in the team vault.",
    "new/a-rotation.md": "Every ninety days the production database passwords are rotated; "
                         "the new passwords go into the team vault.",
    "new/b-rotation.md": "Database passwords in production are rotated on a ninety-day "
                         "schedule and kept in the vault.",
}


@pytest.mark.model
def test_ci_mode_reports_a_paraphrase_of_a_new_member_with_the_real_model(
        tmp_path: Path, cli: Cli, chdir_tmp: Path, real_encoder: Any) -> None:
    """The same case for meaning: a-rotation paraphrases the archived brief and joins its
    `similar` group; b-rotation paraphrases a-rotation but is below the threshold to the
    archived brief, so it is reported with a-rotation first."""
    for name, text in ROTATION.items():
        (chdir_tmp / name).parent.mkdir(exist_ok=True)
        (chdir_tmp / name).write_text(text + "\n")
    (chdir_tmp / "src" / "other.md").write_bytes(OTHER)
    with Archive.open("r.bmin", write=True, create=True) as archive:
        add(archive, iter_sources(["src"]))
    names = list(ROTATION)
    vectors = np.vstack([real_encoder.encode([ROTATION[n] + "\n"])[0] for n in names])
    cosines = vectors @ vectors.T
    threshold = DEFAULT_THRESHOLD
    # the case holds with the model: a~archived and a~b at the threshold, b~archived below
    assert cosines[0, 1] >= threshold + 0.01 and cosines[1, 2] >= threshold + 0.01
    assert cosines[0, 2] < threshold - 0.05
    pairs = {frozenset((names[0], names[1])): "similar", frozenset((names[1], names[2])):
             "similar"}
    result = cli("dedupe", "r.bmin", names[1], names[2], "--json", "--fail")
    assert result.returncode == ExitStatus.FINDINGS, result.stderr
    document = json.loads(result.stdout)
    assert_ci_report_complete(document, pairs, set(names[1:]))
    assert sorted(g["paths"] for g in document["groups"]) == [
        ["new/a-rotation.md", "new/b-rotation.md"], ["src/rotation.md", "new/a-rotation.md"]]


def test_the_similar_search_beside_the_text_pass_gives_the_same_report(
        hashing_archive: MakeArchive, fixture_archive: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # every kind present: exact copies, a normalized copy, a near-identical edit, and briefs
    # of shuffled words (similar for the hashing encoder, no shingle in common)
    words = LONG.split()
    edited = LONG.replace("March", "April").replace("Finance signs off", "Finance approves")
    files = {"a.md": LONG.encode(), "a-copy.md": LONG.encode(), "b.md": edited.encode(),
             "c.md": LONG.replace(" ", "  ").encode(), "d.md": OTHER,
             "e.md": (" ".join(reversed(words)) + "\n").encode()}
    files.update({f"n{k}.md": f"note {k} on topic {k * 7} for the team\n".encode()
                  for k in range(40)})
    path = hashing_archive(files)
    with Archive.open(path) as archive:
        apart = find_duplicates(archive, threshold=0.8, concurrent=False).to_json()
        beside = find_duplicates(archive, threshold=0.8).to_json()
    assert beside == apart
    assert {g["kind"] for g in beside["groups"]} == {"exact", "normalized", "near-identical",
                                                     "similar"}
    with Archive.open(fixture_archive) as archive:  # the real model
        assert find_duplicates(archive).to_json() == find_duplicates(
            archive, concurrent=False).to_json()

    def broken(*_: object, **__: object) -> None:
        raise MemoryError("the search thread ran out")

    # an error in the search thread reaches the caller
    monkeypatch.setattr("briefmin.dedupe.near_pairs", broken)
    with Archive.open(path) as archive, pytest.raises(MemoryError, match="search thread"):
        find_duplicates(archive)


# -- `similar` on long documents: the chunk check (briefmin.chunkmatch) ----------------------

def pydoc_page(module: str) -> str:
    """A standard-library module's pydoc page: long pages of one genre, on every machine."""
    import importlib
    import pydoc

    return pydoc.render_doc(importlib.import_module(module), renderer=pydoc.plaintext)


def renamed_throughout(text: str) -> str:
    """A copy edited at many places (terms renamed throughout): too many changed shingles
    for near-identical, the same meaning."""
    for old, new in (("payment", "billing"), ("Payment", "Billing"), ("outage", "incident"),
                     ("customers", "clients"), ("database", "datastore")):
        text = text.replace(old, new)
    return text


LONG_PAGES = ("tomllib", "binascii")  # pydoc pages whose brief cosine is ~0.87 (bundled model)


def long_briefs(root: Path) -> dict[str, Path]:
    """Long briefs (several chunks each): two pydoc pages of one genre that say different
    things, and a long brief with a paraphrase (the fixtures' planted one) and with a copy
    whose terms are renamed throughout."""
    files = {f"pydoc/{m}.txt": pydoc_page(m) for m in LONG_PAGES}
    outage = (BRIEFS / "ops/incident-2024-03-payment-outage.md").read_text()
    files.update({"src/pricing-eu.md": (BRIEFS / "product/pricing-eu.md").read_text(),
                  "src/outage.md": outage,
                  "copies/pricing-eu-paraphrase.md":
                      (BRIEFS / "product/pricing-eu-paraphrase.md").read_text(),
                  "copies/outage-renamed.md": renamed_throughout(outage)})
    out = {}
    for name, text in files.items():
        out[name] = root / name
        out[name].parent.mkdir(parents=True, exist_ok=True)
        out[name].write_text(text)
    return out


def check_long_case(real_encoder: Any, files: dict[str, Path]) -> None:
    """What the tests below stand on, measured with the model: every brief has several
    chunks, the two pydoc pages reach the similar threshold by their brief vectors, and the
    renamed copy is no small edit (so no near-identical copy)."""
    from briefmin.encoder import encode_briefs

    names = list(files)
    encoded = encode_briefs(real_encoder, [files[n].read_text() for n in names])
    assert all(len(e.spans) > 1 for e in encoded)
    a, b = (encoded[names.index(f"pydoc/{m}.txt")] for m in LONG_PAGES)
    assert float(a.brief_vector @ b.brief_vector) >= DEFAULT_THRESHOLD + 0.005
    sets = shingle([files[n].read_text() for n in ("src/outage.md", "copies/outage-renamed.md")])
    assert np.minimum(*sets.own(np.array([0]), np.array([1])))[0] > MAX_EDIT_SHINGLES


def together(groups: list[dict[str, Any]], a: str, b: str) -> set[str]:
    """The kinds of the groups that hold both paths."""
    return {g["kind"] for g in groups if a in g["paths"] and b in g["paths"]}


@pytest.mark.model
def test_long_pages_of_one_genre_are_not_similar_but_a_long_paraphrase_is(
        real_encoder: Any, cli: Cli, chdir_tmp: Path) -> None:
    files = long_briefs(chdir_tmp)
    check_long_case(real_encoder, files)
    assert cli("add", "a.bmin", "pydoc", "src", "copies").returncode == 0
    result = cli("dedupe", "a.bmin", "--json", "--fail-on", "similar")
    assert result.returncode == ExitStatus.FINDINGS, result.stderr
    groups = json.loads(result.stdout)["groups"]
    # the brief vectors of the two pages reach 0.85; their chunks do not match
    assert together(groups, "pydoc/tomllib.txt", "pydoc/binascii.txt") == set()
    assert together(groups, "src/pricing-eu.md", "copies/pricing-eu-paraphrase.md") == \
        {"similar"}
    assert together(groups, "src/outage.md", "copies/outage-renamed.md") == {"similar"}
    assert all(g["kind"] == "similar" for g in groups) and len(groups) == 2


@pytest.mark.model
def test_path_mode_checks_the_chunks_of_new_long_briefs(
        real_encoder: Any, cli: Cli, chdir_tmp: Path) -> None:
    files = long_briefs(chdir_tmp)
    check_long_case(real_encoder, files)
    assert cli("add", "a.bmin", "pydoc/tomllib.txt", "src").returncode == 0
    # a new page of the same genre: not a duplicate of the archived one (nor of the others)
    alone = cli("dedupe", "a.bmin", "pydoc/binascii.txt", "--json", "--fail")
    assert alone.returncode == 0, alone.stdout
    result = cli("dedupe", "a.bmin", "pydoc/binascii.txt", "copies", "--json", "--fail")
    assert result.returncode == ExitStatus.FINDINGS, result.stderr
    groups = json.loads(result.stdout)["groups"]
    assert sorted(g["paths"] for g in groups) == [
        ["src/outage.md", "copies/outage-renamed.md"],
        ["src/pricing-eu.md", "copies/pricing-eu-paraphrase.md"]]
    assert {g["kind"] for g in groups} == {"similar"}


def test_pairs_with_a_one_chunk_brief_are_not_checked(
        hashing_archive: MakeArchive, monkeypatch: pytest.MonkeyPatch) -> None:
    from briefmin.chunkmatch import confirmed
    from briefmin.nearpairs import Pairs

    # hashing archives hold one chunk a brief: the check reads nothing and changes nothing
    words = LONG.split()
    files = {"a.md": LONG.encode(), "e.md": (" ".join(reversed(words)) + "\n").encode(),
             "d.md": OTHER}
    path = hashing_archive(files)
    with Archive.open(path) as archive:
        before = find_duplicates(archive, threshold=0.8).to_json()

    def unread(*_: object) -> None:
        raise AssertionError("chunk vectors read for one-chunk briefs")

    monkeypatch.setattr(Archive, "chunk_vectors", unread)
    with Archive.open(path) as archive:
        assert find_duplicates(archive, threshold=0.8).to_json() == before
    assert [g["kind"] for g in before["groups"]] == ["similar"]
    # rows 0 and 1 long, 2 one chunk: only the pair of two long rows is checked
    rng = np.random.default_rng(0)
    chunks = {r: v / np.linalg.norm(v, axis=1, keepdims=True)
              for r, v in enumerate(rng.standard_normal((3, 4, 16)).astype(np.float32))}
    pairs = Pairs(np.array([0, 0, 1]), np.array([1, 2, 2]), np.full(3, 0.9, np.float32))
    read: list[list[int]] = []

    def chunks_of(rows: np.ndarray) -> dict[int, np.ndarray]:
        read.append(rows.tolist())
        return {r: chunks[r] for r in rows.tolist()}

    kept = confirmed(pairs, np.array([True, True, False]), chunks_of, 0.85)
    assert read == [[0, 1]]  # random chunks do not match: the long pair goes, the others stay
    assert list(zip(kept.i.tolist(), kept.j.tolist(), strict=True)) == [(0, 2), (1, 2)]
    same = confirmed(pairs, np.array([False, True, True]), chunks_of, 0.85)
    assert read == [[0, 1], [1, 2]] and len(same) == 2
    assert confirmed(pairs, np.array([True, False, False]), chunks_of, 0.85) is pairs


# a Chinese brief (no spaces between words), the same with two words changed, and another
ZH_LONG = ("本季度我们将把订单服务从旧的消息队列迁移到新的流处理平台。迁移分三个阶段进行，"
           "每个阶段都有回滚计划和对比队列深度的监控面板。三月底之前完成第一阶段，"
           "四月中旬完成第二阶段，五月完成全部消费者的切换。财务部门在最后一个消费者迁移完成后"
           "签署对账报告，运维团队负责在每次切换前检查告警规则和容量预估。\n")
ZH_OTHER = ("春季市场活动计划：在三个城市举办产品发布会，邀请合作伙伴参加技术分享，"
            "并在社交媒体上发布系列短视频。预算由市场部统一管理，活动结束后两周内提交总结。\n")


@st.composite
def briefs_around_boilerplate(draw: st.DrawFn) -> tuple[list[set[int]], list[set[int]]]:
    """Archived and given briefs' shingle sets: most of a common base (so pairs reach the
    Jaccard threshold), a few shingles of their own, and a phrase that 5-8 archived briefs
    hold (where boilerplate begins) and given ones hold some of."""
    base = sorted(draw(st.sets(st.integers(0, 199), max_size=30)))
    phrase = sorted(draw(st.sets(st.integers(200, 259), max_size=8)))
    holders = draw(st.integers(5, 8))

    def brief(own_from: int, part: list[int]) -> set[int]:
        dropped = draw(st.sets(st.sampled_from(base), max_size=3)) if base else set()
        own = draw(st.sets(st.integers(own_from, own_from + 99), max_size=3))
        return (set(base) - dropped) | own | set(part)

    archived = [brief(300, phrase if k < holders else [])
                for k in range(draw(st.integers(1, 12)))]
    given = [brief(400, sorted(draw(st.sets(st.sampled_from(phrase)))) if phrase else [])
             for _ in range(draw(st.integers(0, 3)))]
    return archived, given


@settings(max_examples=300, deadline=None)
@given(briefs_around_boilerplate(), st.sampled_from([0.3, 0.5, DEFAULT_JACCARD, 0.9]))
# the audit's case: a header eight archived briefs hold (0-9), an archived brief's content
# (10-14) and a phrase it shares with six others (20); given, a copy with a word changed (31)
# and without the phrase: 20 is not boilerplate (seven hold it), so the copy is no near one
@example(([set(range(15)) | {20}, *[set(range(10)) | {20}] * 6, set(range(10))],
          [set(range(14)) | {31}]), DEFAULT_JACCARD)
# two given briefs with a header the archive's eight hold (50-59) and content in common
# (0-4); one holds a phrase six archived briefs hold (10-14), which is no boilerplate
@example(([*[set(range(10, 15)) | set(range(50, 60))] * 6, *[set(range(50, 60))] * 2],
          [set(range(50, 60)) | set(range(5)) | set(range(10, 15)),
           set(range(50, 60)) | set(range(5)) | {41}]), DEFAULT_JACCARD)
def test_near_copies_count_a_shingles_holders_as_the_rule_says(
        briefs: tuple[list[set[int]], list[set[int]]], threshold: float) -> None:
    """A shingle is boilerplate for a pair when BOILERPLATE_BRIEFS briefs hold it: the
    archived ones, and of the briefs given to check only the pair's own that hold it. The
    given briefs were counted whether they held it or not, so a shingle that seven archived
    briefs held made an archived brief's own words boilerplate beside a given copy that
    dropped them, and a copies-only CI gate failed a change the archived copy would not have
    (a session 45 audit's finding). Checked against the rule written out, pair by pair, and in
    an archive alone (nothing given) the same, on the pairs at the Jaccard threshold, in
    either order."""
    archived, given_briefs = briefs
    rows = [*archived, *given_briefs]
    hashes = [np.array(sorted(r), np.uint32) for r in rows]
    shingles = Shingles(np.concatenate(hashes) if rows else np.zeros(0, np.uint32),
                        np.r_[0, np.cumsum([len(h) for h in hashes])].astype(np.int64))
    i, j = (np.array(a, np.int64) for a in zip(*[(a, b) for b in range(len(rows))
                                                  for a in range(b)], strict=True)) \
        if len(rows) > 1 else (np.zeros(0, np.int64),) * 2
    at_threshold = shingles.jaccards(i, j) >= np.float32(threshold)  # what it is given
    i, j = np.r_[i[at_threshold], j[at_threshold]], np.r_[j[at_threshold], i[at_threshold]]
    if not len(i):
        return
    for given_from in ([len(archived)] if given_briefs else []) + [None]:
        counted = len(rows) if given_from is None else given_from
        expected = []
        for a, b in zip(i.tolist(), j.tolist(), strict=True):
            own = [rows[k] for k in (a, b) if given_from is not None and k >= given_from]

            kept = {s for s in rows[a] | rows[b]
                    if sum(s in r for r in [*rows[:counted], *own]) < BOILERPLATE_BRIEFS}
            shared, union = len(rows[a] & rows[b] & kept), len((rows[a] | rows[b]) & kept)
            jaccard = np.float32(shared / union if union else 0.0)
            edit = small_edit(np.array([len(rows[a] - rows[b])]),
                              np.array([len(rows[b] - rows[a])]))
            expected.append(bool(edit[0]) and jaccard >= np.float32(
                min(threshold, BOILERPLATE_JACCARD)))
        assert near_copies(shingles, i, j, threshold, given_from).tolist() == expected


def test_chinese_near_copies_are_found_from_the_text(hashing_archive: MakeArchive) -> None:
    """Each CJK letter is a word of the shingles: before, a run of letters up to the next
    punctuation (a whole clause) was one word, so a copy with two words changed shared
    almost no three-word shingle with its original and was no near copy."""
    edited = ZH_LONG.replace("三月底", "四月初").replace("财务部门", "财务团队")
    path = hashing_archive({"a.md": ZH_LONG.encode(), "b.md": edited.encode(),
                            "c.md": ZH_OTHER.encode()})
    with Archive.open(path) as archive:
        report = find_duplicates(archive)
    (group,) = [g for g in report.groups if g.kind == "near-identical"]
    assert [m.path for m in group.members] == ["src/a.md", "src/b.md"]
    assert DEFAULT_JACCARD <= group.members[1].jaccard < 1.0
    assert all("src/c.md" not in [m.path for m in g.members] for g in report.groups)


def test_dedupe_reads_one_state_while_an_rm_commits(hashing_archive: MakeArchive,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Dedupe reads the codes' places, then the codes themselves in a thread; an rm that
    committed between (its segment rewritten one row short) shifted every code after the
    removed brief onto the wrong brief. The whole read now sees one state (WAL here: the rm
    commits at once; in the default journal it waits for the dedupe)."""
    from briefmin.store import Archive as StoreArchive

    rng = np.random.default_rng(3)
    files = {f"n{k:02d}.md": (" ".join("".join(rng.choice(list("abcdefghijklmnop"), 6))
                                       for _ in range(12)) + "\n").encode()
             for k in range(12)}  # made-up words: no two alike
    files["n02.md"] = files["n01.md"].replace(b"\n", b"\r\n")  # a normalized copy
    path = hashing_archive(files)
    with Archive.open(path, write=True) as archive:
        archive.set_journal_mode("wal")
        expected = find_duplicates(archive, concurrent=False).to_json()
    assert [(g["kind"], g["paths"]) for g in expected["groups"]] == [
        ("normalized", ["src/n01.md", "src/n02.md"])]
    assert expected["groups"][0]["similarities"][1] > 0.99
    real = StoreArchive.all_int8

    def after_an_rm(self: StoreArchive, *args: Any) -> Any:
        with Archive.open(path, write=True) as writer:
            writer.rm(["src/n00.md"])
        return real(self, *args)

    monkeypatch.setattr(StoreArchive, "all_int8", after_an_rm)
    with Archive.open(path) as archive:
        report = find_duplicates(archive, concurrent=False).to_json()
    assert report == expected


def test_a_prune_removes_a_copy_named_like_a_glob_or_a_folder_and_only_it(
        cli: Cli, chdir_tmp: Path) -> None:
    """The dry run listed `move*.md` and `notes.md` (a brief archived before `notes.md/`
    became a folder), and the real prune refused the whole plan ("its name also selects other
    briefs"), so `rota2.md` stayed too. Each listed path is removed by itself now, and
    nothing else."""
    brief, other = b"Office move: the Berlin team moves on 14 March.\n", b"Holiday rota.\n"
    files = {"a/move.md": brief, "b/move*.md": brief, "a/rota.md": other,
             "b/rota2.md": other, "a/hire.md": BRIEF, "b/notes.md": BRIEF}
    for rel, data in files.items():
        (chdir_tmp / "d" / rel).parent.mkdir(parents=True, exist_ok=True)
        (chdir_tmp / "d" / rel).write_bytes(data)
    assert cli("add", "a.bmin", "d", "--model", HASHING, "-q").returncode == 0
    (chdir_tmp / "d/b/notes.md").unlink()
    (chdir_tmp / "d/b/notes.md").mkdir()
    (chdir_tmp / "d/b/notes.md/plan.md").write_bytes(OTHER)
    assert cli("add", "a.bmin", "d", "-q").returncode == 0
    shown = json.loads(cli("dedupe", "a.bmin", "--prune", "--json").stdout)["prune"]["paths"]
    assert shown == ["d/b/move*.md", "d/b/notes.md", "d/b/rota2.md"]
    done = cli("dedupe", "a.bmin", "--prune", "--no-dry-run")
    assert done.returncode == 0, done.stderr
    with Archive.open(chdir_tmp / "a.bmin") as archive:
        assert sorted(r.path for r in archive.records()) == [
            "d/a/hire.md", "d/a/move.md", "d/a/rota.md", "d/b/notes.md/plan.md"]


@pytest.mark.parametrize("memory_holds_them", [True, False])
def test_a_similar_search_that_cannot_hold_every_pair_says_its_groups_may_lack_members(
        hashing_archive: MakeArchive, cli: Cli, monkeypatch: pytest.MonkeyPatch,
        memory_holds_them: bool) -> None:
    """Briefs of one template are all near one another; where their similar pairs are more
    than half the memory available holds, the exact search gives up and the bands that go on
    miss many: the run says so on stderr (one line, exit 0), where before it was silent.
    With the memory for them, every pair is found and nothing is said."""
    import random

    from briefmin import nearpairs

    words = ["price", "customer", "booking", "calendar", "legal", "contract", "design",
             "product", "task", "brief", "euro", "vat", "team", "review", "deadline",
             "budget", "client", "scope", "risk", "launch"]
    rng = random.Random(1)
    files = {f"t{k:04d}.md": "\n".join(
        " ".join(rng.choice(words) for _ in range(rng.randint(5, 15)))
        for _ in range(rng.randint(2, 12))).encode() for k in range(1000)}
    path = hashing_archive(files)
    monkeypatch.setattr(nearpairs, "BRUTE_FORCE_BELOW", 0)  # band these 1,000 (as 20,000)
    if not memory_holds_them:
        monkeypatch.setattr(nearpairs, "exact_pairs_bound", lambda: 1000)
        planned = nearpairs.band_plan
        # the first 50 of the bands that go on (all of them: 5 minutes)
        monkeypatch.setattr(nearpairs, "band_plan",
                            lambda *args, **kwargs: (planned(*args, **kwargs) or [])[:50])
    result = cli("dedupe", path, "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    similar = [g for g in document["groups"] if g["kind"] == "similar"]
    assert similar and all(s >= document["thresholds"]["similar"]
                           for g in similar for s in g["similarities"][1:])
    warned = [line for line in result.stderr.splitlines() if "warning" in line]
    if memory_holds_them:
        assert warned == [] and document["notes"] == []
    else:
        assert len(warned) == 1 and len(document["notes"]) == 1
        assert warned[0].endswith(document["notes"][0])  # and a JSON reader is told as well
        assert "over 1,000 similar pairs" in warned[0]
        assert "`similar` groups may lack members" in warned[0]


def test_long_pairs_scored_a_row_at_a_time_keep_the_pairs_one_at_a_time_keeps() -> None:
    """`covered` scores each row's pairs in one product (briefs of one template: ~60 µs a
    pair one at a time): the same decisions as `coverage` pair by pair, on rows of 1-9
    chunks, a row paired once and many times, and rows whose chunks are missing."""
    from briefmin.chunkmatch import coverage, covered

    rng = np.random.default_rng(50)
    base = rng.normal(size=384)
    vectors: dict[int, np.ndarray] = {}
    for row in range(60):
        x = base + rng.normal(scale=rng.uniform(0.3, 1.5), size=(rng.integers(1, 10), 384))
        vectors[row] = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    i = np.r_[np.zeros(40, np.int64), rng.integers(0, 70, 400)]
    j = np.r_[np.arange(1, 41), rng.integers(0, 70, 400)]  # rows 60-69 have no chunks
    scores = np.array([coverage(vectors[a], vectors[b]) if a in vectors and b in vectors
                       else 2.0 for a, b in zip(i.tolist(), j.tolist(), strict=True)])
    cut = float(np.median(scores[scores < 2]))
    clear = np.abs(scores - cut) > 1e-5  # (float32 sums in another order)
    got = covered(i, j, vectors, cut)
    assert 0 < (got & (scores < 2)).sum() < (scores < 2).sum()  # both answers occur
    assert (got[clear] == (scores >= cut)[clear]).all()
    assert got[scores == 2].all()  # missing chunks: kept, the brief vectors decide
