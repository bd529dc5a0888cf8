"""Hybrid search: the lexical index in the archive, literals that must match, the fusion with
the semantic channel (real model where meaning matters), modes, JSON, migration."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from briefmin import Archive
from briefmin.encoder import Encoder
from briefmin.errors import ExitStatus
from briefmin.query import is_identifier, parse
from briefmin.search import search_texts
from briefmin.store import schema

from . import surgery
from .conftest import Cli

CACHE = {"briefs/engineering/cache-invalidation.md", "briefs/archive/cache-invalidation-copy.md"}


def hits(cli: Cli, archive: Path, query: str, *args: str) -> list[dict[str, object]]:
    result = cli("search", archive, query, "--json", *args)
    assert result.returncode == 0, result.stderr
    found: list[dict[str, object]] = json.loads(result.stdout)
    return found


@pytest.mark.model
def test_a_ticket_id_finds_its_brief_first(cli: Cli, fixture_archive: Path) -> None:
    """The issue's case: `ENG-2291` (first line of cache-invalidation.md, and of its archived
    copy) used to return unrelated legal and marketing briefs."""
    found = hits(cli, fixture_archive, "ENG-2291", "-k", "5")
    assert {h["path"] for h in found[:2]} == CACHE
    assert all(h["literals"] == 1 for h in found[:2])
    assert all(h["literals"] == 0 for h in found[2:])
    assert "ENG-2291" in str(found[0]["snippet"])
    semantic = hits(cli, fixture_archive, "ENG-2291", "-k", "5", "--mode", "semantic")
    assert not CACHE & {h["path"] for h in semantic[:2]}  # what the issue saw


@pytest.mark.model
def test_identifiers_in_a_sentence_must_match(cli: Cli, fixture_archive: Path) -> None:
    found = hits(cli, fixture_archive, "where is perm_version incremented", "-k", "3")
    assert {h["path"] for h in found[:2]} == CACHE
    # the words alone (perm, version) are in other briefs too: only the literal ranks first
    assert found[2]["literals"] == 0


def test_a_quoted_phrase_ranks_above_its_words_apart(cli: Cli,
                                                     hashing_archive: Callable[..., Path]
                                                     ) -> None:
    archive = hashing_archive({
        "apart.md": b"The role of the cache changed: a change of role, a new cache.\n" * 3,
        "phrase.md": b"After a role change the old token stays valid.\n",
        "neither.md": b"Quarterly marketing plan for the spring campaign.\n"})
    found = hits(cli, archive, '"role change"', "--mode", "lexical")
    assert [h["path"] for h in found] == ["src/phrase.md", "src/apart.md"]
    assert [h["literals"] for h in found] == [1, 0]
    # unquoted, the brief with both words more often may come first: no literal rule applies
    assert parse("role change").literals == ()


def test_the_brief_about_a_word_outranks_one_that_mentions_it_once(
        cli: Cli, hashing_archive: Callable[..., Path]) -> None:
    """Words count as often as they occur (an audit: with each word counted once, the
    fixtures' pricing brief ranked 10th for `pricing`, below short briefs that mention it
    once); stems count too (prices, priced)."""
    about = (b"# Pricing change\n\nThe new pricing starts in May. Prices rise by 4%, and "
             b"annual plans are priced per seat. Pricing questions go to billing; the "
             b"pricing page lists every plan, and old pricing stays for a year.\n")
    archive = hashing_archive({
        "about.md": about,
        "once.md": b"The dashboard shows pricing.\n",
        "other.md": b"Spring campaign for running shoes, with a launch event in May.\n"})
    found = hits(cli, archive, "pricing", "--mode", "lexical")
    assert [h["path"] for h in found] == ["src/about.md", "src/once.md"]


@pytest.mark.parametrize(("word", "expected"), [
    ("ENG-2291", True), ("CONFIG_FOO_BAR", True), ("perm_version", True),
    ("/sys/class/net", True), ("getUserName", True), ("NFS", True), ("v2.1", True),
    ("kmalloc.c", True), ("cache", False), ("Cache", False), ("re-use", True), ("I", False),
    ("#include", True), ("C++", False), ("C#", False), ("Dir::Cache", True),
    ("env->context", True), ("\u092e\u093e\u0932\u0940", True), ("caf\u00e9", False),
    ("Juli\u00e1n", True), ("M\u00fcller", True), ("\u00d8yvind", True), ("juli\u00e1n", False),
    ("JULI\u00c1N", True), ("Julian", False), ("\u0413\u0434\u0435", False), ("#", False),
    ("++", False)])
def test_identifier_like_words(word: str, expected: bool) -> None:
    assert is_identifier(word) is expected


def test_a_language_name_is_a_literal_only_as_the_whole_query() -> None:
    """`C++` in a sentence names a topic the answer need not repeat: as a literal there, 4
    of 250 held-out Debian synopses lost their answer from the top 10."""
    assert [lit.text for lit in parse("C++").literals] == ["C++"]
    assert [lit.text for lit in parse(" (C#) ").literals] == ["C#"]
    assert [lit.text for lit in parse("GNU C++ compiler").literals] == ["GNU"]


def test_an_address_with_a_scheme_glued_on_is_the_address(
        cli: Cli, hashing_archive: Callable[..., Path]) -> None:
    """`mailto:user@example.com` was one literal no brief held, so the brief holding
    `user@example.com` ranked third behind others of `@example.com` (a session-43 audit).
    The literal is the address; a URL with a user in it stays whole."""
    assert [lit.text for lit in parse("mailto:user@example.com").literals] == [
        "user@example.com"]
    assert [lit.text for lit in parse("cc:user@example.com now").literals] == [
        "user@example.com"]
    assert [lit.text for lit in parse("https://user@example.com").literals] == [
        "https://user@example.com"]
    archive = hashing_archive({
        "contact.md": b"Questions about the invoice go to user@example.com, the billing desk.\n",
        "mail-a.md": b"Mail ops@example.com about outages of the example.com mail relay.\n",
        "mail-b.md": b"Page ops@example.com for production incidents at any hour.\n"})
    found = hits(cli, archive, "mailto:user@example.com", "--mode", "lexical")
    assert found[0]["path"] == "src/contact.md" and found[0]["literals"] == 1


def test_punctuation_that_names_a_thing_must_match(cli: Cli,
                                                   hashing_archive: Callable[..., Path]) -> None:
    """The index holds `C++` and `C#` as the letter `c` and `#include` as the stem
    `include`, so a brief saying "C" or "including" outranked the holder by BM25 (an
    audit's finding: none of 17 holders of `C++` in the top 10 of 620 documents)."""
    archive = hashing_archive({
        "c.md": b"Build the C library with -O2; C is the language of the kernel. C and C.\n",
        "cpp.md": b"Build the C++ library with -O2 and link it against libstdc++.\n",
        "csharp.md": b"The C# service talks to the Java one over gRPC.\n",
        "inc.md": b"Add #include <stdio.h> to use printf.\n",
        "inc2.md": b"Please include the invoice and include the receipt; include everything.\n",
        "arrow.md": b"In C, p->next walks the list; the struct node holds the next pointer.\n",
        "arrow2.md": b"The next node of the list is reached by following the pointer p, next.\n",
        "dir.md": b"Dir::Cache names the folder apt keeps its package files in.\n",
        "dir2.md": b"The cache dir: a folder to cache the dir listing in, a cache of the dir.\n",
        "hi.md": "\u092e\u0947\u0930\u093e \u092e\u093e\u0932\u0940 \u0906\u091c "
                 "\u0928\u0939\u0940\u0902 \u0906\u092f\u093e\u0964\n".encode(),
        "hi2.md": "\u092e\u0932 \u092e\u0932 \u092e\u0932 \u0932\u092e\u0964\n".encode()})
    for query, path in (("C++", "cpp.md"), ("C#", "csharp.md"), ("#include", "inc.md"),
                        ("p->next", "arrow.md"), ("Dir::Cache", "dir.md"),
                        ("\u092e\u093e\u0932\u0940", "hi.md")):
        found = hits(cli, archive, query, "--mode", "lexical")
        assert found[0]["path"] == f"src/{path}", query
        assert found[0]["literals"] == 1 and all(h["literals"] == 0 for h in found[1:]), query


def test_identifiers_match_literally_not_by_their_parts(cli: Cli,
                                                        hashing_archive: Callable[..., Path]
                                                        ) -> None:
    archive = hashing_archive({
        "parts.md": b"config foo bar: the foo config of the bar, sys class net.\n" * 4,
        "option.md": b"Set CONFIG_FOO_BAR=y, then read /sys/class/net/eth0/mtu.\n",
        "longer.md": b"CONFIG_FOO_BAR_BAZ is another option; see /sys/class/network.\n"})
    for query in ("CONFIG_FOO_BAR", "/sys/class/net", "what does config_foo_bar do"):
        found = hits(cli, archive, query, "--mode", "lexical")
        assert found[0]["path"] == "src/option.md", query
        assert found[0]["literals"] == 1 and all(h["literals"] == 0 for h in found[1:])


def test_a_version_or_an_address_is_not_found_inside_a_longer_one(
        cli: Cli, hashing_archive: Callable[..., Path]) -> None:
    """`v2.3` was found in `v2.3.1` (a dot and digits read as the word's end), so the brief
    that only named the longer version tied on literals and outranked the one naming
    `v2.3` by BM25; so did `ops@example.com` in `ops@example.com.au`. A path still goes on
    (`/sys/class/net` is in `/sys/class/net/eth0`: the test above)."""
    archive = hashing_archive({
        "a.md": b"# Upgrade notes for v2.3.1\n\nUpgrading to v2.3.1 is safe. The v2.3.1 "
                b"installer keeps settings, and v2.3.1 fixes the renderer.\n",
        "b.md": b"# Known issues\n\nThe scheduler in v2.3 drops jobs when the queue is "
                b"full.\n",
        "c.md": b"Contact ops@example.com.au for access to the old servers.\n",
        "d.md": b"Contact ops@example.com for access to the new servers.\n"})
    for query, path in (("v2.3", "src/b.md"), ("ops@example.com", "src/d.md")):
        found = hits(cli, archive, query, "--mode", "lexical")
        assert found[0]["path"] == path, query
        assert found[0]["literals"] == 1 and all(h["literals"] == 0 for h in found[1:])


def test_a_release_is_not_in_its_pre_release_nor_a_shouted_word_a_literal(
        cli: Cli, hashing_archive: Callable[..., Path]) -> None:
    """Three finds of an identifier audit (session 51). `v2.13.0` counted as held by
    `v2.13.0-rc1`, so the rc's brief tied on literals (a packaging revision, `1.2.3-1`, is
    the same release and still holds it). In a query typed in capitals every word was an
    acronym that had to stand alone, so `ERR CONNECTION RESET` gave literal credit to a
    brief with the three plain words and none to the one holding `ERR_CONNECTION_RESET`
    (8th); one shouted word alone is still a literal. A decomposed `naïve` (the accent a
    mark of its own) found nothing."""
    archive = hashing_archive({
        "rel.md": b"Release v2.13.0 is out.\n",
        "rc.md": b"The v2.13.0-rc1 candidate: v2.13.0-rc1 is on staging, and v2.13.0-rc1 "
                 b"passed the smoke tests of v2.13.0-rc1.\n",
        "deb.md": b"The Debian package 1.2.3-1 ships the fix.\n",
        "conn.md": b"Chrome shows ERR_CONNECTION_RESET behind the proxy.\n",
        "log.md": b"Changelog: reset the err counter when a connection closes; the err "
                  b"counter and the connection pool are reset at start; no reset of the "
                  b"err log on connection loss.\n",
        "naive.md": "A naïve Bayes filter for the spam folder.\n".encode()})
    for query, path in (("v2.13.0", "src/rel.md"), ("1.2.3", "src/deb.md")):
        found = hits(cli, archive, query, "--mode", "lexical")
        assert found[0]["path"] == path and found[0]["literals"] == 1, query
        assert all(h["literals"] == 0 for h in found[1:]), query
    shouted = hits(cli, archive, "ERR CONNECTION RESET", "--mode", "lexical")
    assert all(h["literals"] == 0 for h in shouted)
    assert parse("ERR").literals and not parse("ERR RESET").literals
    assert [h["path"] for h in hits(cli, archive, "nai\u0308ve bayes", "--mode",
                                    "lexical")] == ["src/naive.md"]


@pytest.mark.model
def test_a_query_with_no_lexical_match_falls_back_to_meaning(cli: Cli,
                                                             fixture_archive: Path) -> None:
    query = "copier broke"  # neither word occurs in any fixture brief
    found = hits(cli, fixture_archive, query, "-k", "3")
    assert found[0]["path"] == "briefs/misc/printer-replacement.txt"
    assert all(h["lexical"] is None for h in found)
    # the semantic search's own order (the hybrid's semantic channel scans the same pool)
    assert [h["path"] for h in found] == [h["path"] for h in hits(
        cli, fixture_archive, query, "-k", "3", "--mode", "semantic")]
    assert hits(cli, fixture_archive, query, "--mode", "lexical") == []


@pytest.mark.parametrize("query", ["", "   ", "?!", "... ---"])
def test_a_query_without_words_is_a_usage_error(cli: Cli, query: str,
                                                hashing_archive: Callable[..., Path]) -> None:
    archive = hashing_archive({"a.md": b"some brief\n"})
    result = cli("search", archive, query)
    assert result.returncode == ExitStatus.USAGE
    assert "has no words to search for" in result.stderr


@pytest.mark.model
def test_a_query_of_stop_words_is_answered_by_meaning(cli: Cli, fixture_archive: Path
                                                      ) -> None:
    found = hits(cli, fixture_archive, "what is it about", "-k", "3")
    assert len(found) == 3 and all(h["lexical"] is None for h in found)
    assert hits(cli, fixture_archive, "what is it about", "--mode", "lexical") == []


def test_semantic_mode_counts_no_literals_and_says_so(cli: Cli,
                                                     hashing_archive: Callable[..., Path]
                                                     ) -> None:
    """`--mode semantic` reported `"literals": 0` for the brief holding the query's id
    (hybrid: 1), while nothing looked for literals (an audit's find): null there."""
    archive = hashing_archive({
        "ticket.md": b"ENG-2291: stale permissions after a role change.\n",
        "other.md": b"Quarterly marketing plan for the spring campaign.\n"})
    hybrid = {h["path"]: h["literals"] for h in hits(cli, archive, "ENG-2291")}
    assert hybrid["src/ticket.md"] == 1 and hybrid["src/other.md"] == 0
    semantic = hits(cli, archive, "ENG-2291", "--mode", "semantic")
    assert {h["path"] for h in semantic} == {"src/ticket.md", "src/other.md"}
    assert all(h["literals"] is None for h in semantic)
    # a query without literals: every brief holds 0 of them, in hybrid mode
    assert {h["literals"] for h in hits(cli, archive, "role change")} == {0}


@pytest.mark.model
def test_json_hits_carry_the_fused_score_and_both_channels(cli: Cli,
                                                           fixture_archive: Path) -> None:
    found = hits(cli, fixture_archive, "Redis token bucket rate limit per API key", "-k", "4")
    assert set(found[0]) == {"path", "version", "score", "snippet", "sha256", "semantic",
                             "lexical", "literals"}
    assert [h["score"] for h in found] == sorted((h["score"] for h in found), reverse=True)
    for h in found[:2]:
        semantic, lexical = h["semantic"], h["lexical"]
        assert isinstance(semantic, dict) and isinstance(lexical, dict)
        assert semantic["rank"] >= 1 and -1 <= semantic["score"] <= 1
        assert lexical["rank"] >= 1 and lexical["score"] > 0
    assert "rate-limiter" in str(found[0]["path"])


@pytest.mark.model
def test_modes(cli: Cli, fixture_archive: Path) -> None:
    semantic = hits(cli, fixture_archive, "perm_version", "--mode", "semantic")
    assert all(h["lexical"] is None and h["literals"] is None for h in semantic)
    assert semantic[0]["score"] == semantic[0]["semantic"]["score"]  # type: ignore[index]
    lexical = hits(cli, fixture_archive, "perm_version", "--mode", "lexical")
    assert {h["path"] for h in lexical[:2]} == CACHE  # others hold `version` alone
    assert [h["literals"] for h in lexical[:3]] == [1, 1, 0]
    assert all(h["semantic"] is None for h in lexical)


@pytest.mark.parametrize(("args", "message"), [
    (["--mode", "fuzzy"], "--mode must be one of hybrid, semantic, lexical"),
    (["--mode", "lexical", "--min-score", "0.3"], "--min-score applies to the cosine"),
])
def test_bad_mode_options_are_usage_errors(cli: Cli, hashing_archive: Callable[..., Path],
                                           args: list[str], message: str) -> None:
    archive = hashing_archive({"a.md": b"some brief\n"})
    result = cli("search", archive, "brief", *args)
    assert result.returncode == ExitStatus.USAGE and message in result.stderr


@pytest.mark.parametrize("old_format", [surgery.write_format_3, surgery.write_format_5])
def test_an_older_archive_gets_the_index_on_its_next_write(
        cli: Cli, tmp_path: Path, hashing_archive: Callable[..., Path],
        old_format: Callable[[Path], None]) -> None:
    archive = hashing_archive({"old.md": b"The zanzibar rollout checklist.\n"})
    old_format(archive)
    before = archive.read_bytes()
    result = cli("search", archive, "zanzibar", "--mode", "lexical")
    assert result.returncode == ExitStatus.USAGE and "no lexical index yet" in result.stderr
    assert hits(cli, archive, "zanzibar")  # hybrid: meaning only, no error
    assert cli("verify", archive).returncode == 0  # readers read it as it is
    assert archive.read_bytes() == before
    new = tmp_path / "new.md"
    new.write_bytes(b"An unrelated brief about lunch.\n")
    assert cli("add", archive, new).returncode == 0
    assert [h["path"] for h in hits(cli, archive, "zanzibar", "--mode", "lexical")] == [
        "src/old.md"]
    assert cli("verify", archive).returncode == 0
    with Archive.open(archive) as opened:
        assert opened.info()["lexical_index_bytes"] > 0


def test_rm_removes_briefs_from_the_index(cli: Cli, hashing_archive: Callable[..., Path]
                                          ) -> None:
    archive = hashing_archive({"a.md": b"The zanzibar rollout.\n",
                               "b.md": b"The zanzibar retro and the quokka plan.\n"})
    assert cli("rm", archive, "src/b.md").returncode == 0
    assert [h["path"] for h in hits(cli, archive, "zanzibar", "--mode", "lexical")] == [
        "src/a.md"]
    assert hits(cli, archive, "quokka", "--mode", "lexical") == []
    assert cli("verify", archive).returncode == 0
    with Archive.open(archive) as opened:  # the library API too
        assert search_texts(opened, ["quokka"], mode="lexical") == [[]]


def test_a_word_with_a_sharp_s_or_a_ligature_is_found(
        cli: Cli, hashing_archive: Callable[..., Path]) -> None:
    """The query's words were casefolded (`Straße` to `strasse`, `ﬁle` to `file`), the
    index's tokenizer keeps `ß` and `ﬁ`: such a word was never found, even as written (an
    audit's find). They are lower-cased now, as the index does."""
    archive = hashing_archive({"de.md": "Die Straße ist gesperrt.\n".encode(),
                               "de2.md": "Der Fluß ist über die Ufer getreten.\n".encode(),
                               "lig.md": "The ﬁnal ﬁle.\n".encode()})
    for query, path in [("Straße", "src/de.md"), ("STRAßE", "src/de.md"),
                        ("fluß", "src/de2.md"), ("ﬁle", "src/lig.md")]:
        assert [h["path"] for h in hits(cli, archive, query, "--mode", "lexical")] == [path]
    assert hits(cli, archive, "strasse", "--mode", "lexical") == []  # another spelling


def test_an_acronym_matches_in_capitals_and_a_phrase_of_stop_words_is_checked(
        cli: Cli, hashing_archive: Callable[..., Path]) -> None:
    """Two audit finds. `US` was a literal matched without case, so "contact us" counted
    as holding it; an acronym now matches in capitals only. A quoted phrase of stop words
    (`"do not"`) was never checked, as the index leaves such words out; the candidates the
    channels ranked are now read for it."""
    archive = hashing_archive({
        "pricing.md": b"Pricing for American customers: list prices rise in January.\n",
        "printer.md": b"Contact us if the printer on floor two jams again.\n",
        "us.md": b"The US office moves to Denver in May.\n",
        "lend.md": b"Lending policy: we do not lend laptops to contractors.\n",
        "rule.md": b"Staff must share their badges with visitors at the front desk.\n"})
    found = {h["path"]: h["literals"] for h in hits(cli, archive, "US pricing", "-k", "5")}
    assert found["src/us.md"] == 1 and found.get("src/printer.md", 0) == 0
    ranked = hits(cli, archive, '"do not" share badges', "-k", "5")
    assert ranked[0]["path"] == "src/lend.md" and ranked[0]["literals"] == 1
    assert all(h["literals"] == 0 for h in ranked[1:])
    assert parse("US and CVE-1 and NFS").literals[0].exact_case
    assert not parse("CVE-1").literals[0].exact_case
    # a query typed in capitals has no acronym: its words match in any case (a review's
    # find: "HOW TO RESET PASSWORD" ranked a brief shouting "HOW" first)
    assert not any(lit.exact_case for lit in parse("HOW TO RESET PASSWORD").literals)
    archive = hashing_archive({
        "reset.md": b"How to reset your password when the login page refuses it.\n",
        "shout.md": b"WARNING: HOW we store data. NOTE TO the team about lunch.\n"},
        name="caps.bmin")
    assert hits(cli, archive, "HOW TO RESET PASSWORD", "-k", "2")[0]["path"] == "src/reset.md"


def test_an_abbreviated_hash_finds_the_whole_one(
        cli: Cli, hashing_archive: Callable[..., Path]) -> None:
    """`3f2ed9a` (7 to 39 hex digits, with a digit and a letter) is the start of the hash a
    brief holds: a prefix for the index and the literal check. It was looked up as a whole
    word, and only a brief holding those 7 digits alone was found. A longer word that only
    holds them (`x3f2ed9a1`, `3f2ed9ag`) is not the hash."""
    archive = hashing_archive({
        "fix.md": b"The outage was fixed in commit 3f2ed9a1c0b4e5d6f7a8b9c0d1e2f3a4b5c6d7e8.\n",
        "short.md": b"Another note names 3f2ed9a as its short id.\n",
        "alike.md": b"Lookalikes: x3f2ed9a1, 3f2ed9ag and 3f2ed9b0000.\n",
        "other.md": b"Pricing tiers and coupons for the spring sale.\n"})
    for query, want in (("3f2ed9a", {"src/fix.md", "src/short.md"}),
                        ("3F2ED9A1C0B4", {"src/fix.md"}),
                        ("commit 3f2ed9a1c0b4", {"src/fix.md"})):
        for mode in ("lexical", "hybrid"):
            found = {h["path"] for h in hits(cli, archive, query, "--mode", mode, "-k", "4")
                     if h["literals"]}
            assert found == want, (query, mode, found)
    literal = parse("see 3f2ed9a").literals[0]
    assert literal.prefix and literal.tokens == ("3f2ed9a*",)
    assert "3f2ed9a*" in parse("see 3f2ed9a").terms
    # not hashes: too short, no letter, no digit, not hex, or a name in mixed case
    for word in ("3f2ed9", "12345678", "deadbeefcafe", "3f2ed9g", "Ed25519"):
        assert not any(lit.prefix for lit in parse(word).literals), word


def test_verify_accepts_an_index_of_unmerged_segments(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """An add killed before its final merge leaves the index in many segments, some already
    half merged into others by FTS5: verify must not call that damage (it compares entries,
    not the layout)."""
    from briefmin import Source, add
    from briefmin.store import lexical

    from .conftest import HASHING

    monkeypatch.setattr(lexical, "optimize", lambda db: None)
    path = tmp_path / "a.bmin"
    with Archive.open(path, write=True, create=True, model=HASHING) as archive:
        add(archive, [Source(f"b{i:04d}.md", None, f"Brief {i}: word{i % 97} term{i % 13} "
                             f"and unique{i}\n".encode()) for i in range(1200)])
        assert archive.verify().ok
    segments = surgery.execute(path, "SELECT COUNT(DISTINCT segid) FROM lexical_idx")
    assert segments[0][0] > 1
    # a few pages of merge work (what FTS5 does after each commit): segments half merged
    surgery.execute(path, "INSERT INTO lexical(lexical, rank) VALUES ('merge', -3)")
    first_pages = surgery.execute(path, "SELECT MIN(id & 2147483647) FROM lexical_data "
                                        "WHERE id >= 1 << 37 GROUP BY id >> 37")
    assert max(first_pages)[0] > 1
    with Archive.open(path) as archive:
        assert archive.verify().ok


LOADS_NO_MODEL = """
import sys
from briefmin.cli import main
code = main(sys.argv[1:])
loaded = [m for m in ("onnxruntime", "torch", "sentence_transformers") if m in sys.modules]
print("LOADED:" + ",".join(loaded), file=sys.stderr)
sys.exit(code)
"""


@pytest.mark.model
def test_lexical_mode_loads_no_model(tmp_path: Path, fixture_archive: Path) -> None:
    import os
    import subprocess
    import sys

    from .conftest import ROOT

    done = subprocess.run([sys.executable, "-c", LOADS_NO_MODEL, "search", str(fixture_archive),
                           "ENG-2291", "--mode", "lexical", "--json"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert done.stderr.rsplit("LOADED:", 1)[-1].strip() == ""
    assert json.loads(done.stdout)[0]["path"] in CACHE


def test_rm_of_a_damaged_brief_rebuilds_the_index(cli: Cli, tmp_path: Path,
                                                  hashing_archive: Callable[..., Path]) -> None:
    """Unindexing needs the indexed text; a damaged brief (alone in its block) has none to
    give, so rm rebuilds the index from the briefs that remain instead of failing."""
    archive = hashing_archive({"a.md": b"The zanzibar rollout.\n" * 50})
    (tmp_path / "b.md").write_bytes(b"The quokka plan, damaged.\n" * 50)
    assert cli("add", archive, tmp_path / "b.md").returncode == 0  # a block of its own
    damaged = [h["path"] for h in hits(cli, archive, "quokka", "--mode", "lexical")]
    surgery.flip_stored_byte(archive, damaged[0], where=0.5)
    result = cli("rm", archive, damaged[0])
    assert result.returncode == 0, result.stderr
    assert [h["path"] for h in hits(cli, archive, "zanzibar", "--mode", "lexical")] == [
        "src/a.md"]
    assert hits(cli, archive, "quokka", "--mode", "lexical") == []


def test_info_counts_the_lexical_index_apart_from_other_bytes(
        cli: Cli, hashing_archive: Callable[..., Path]) -> None:
    archive = hashing_archive({f"b{i}.md": f"Brief {i} about the zanzibar{i} rollout.\n".encode()
                               for i in range(40)})
    info = json.loads(cli("info", archive, "--json").stdout)
    assert info["lexical_index_bytes"] > 0
    parts = ("text_bytes", "vector_bytes", "lexical_index_bytes", "other_bytes")
    assert sum(info[p] for p in parts) == info["stored_bytes"]
    assert "lexical index" in cli("info", archive).stdout


def test_the_brief_holding_every_literal_ranks_first_among_many_holding_one(
        cli: Cli, hashing_archive: Callable[..., Path]) -> None:
    """The literal check reads the briefs outside both channels' candidates a level at a
    time (those that could hold the most literals first) and stops early: that must not
    lose the one brief holding both, even when 80 briefs hold one of them, the parts of
    both are in many more, and its BM25 is the lowest (the longest brief)."""
    files = {f"one/{i:02}.md": f"Ticket ALPHA-7 is open; see item {i}.\n".encode()
             for i in range(80)}
    files |= {f"parts/{i:02}.md": f"alpha and 7 beta {i} and 9 apart.\n".encode()
              for i in range(80)}
    files["both.md"] = ("Long notes. " * 400 + "ALPHA-7 depends on BETA-9.\n").encode()
    archive = hashing_archive(files)
    for mode in ("lexical", "hybrid"):
        found = hits(cli, archive, "ALPHA-7 BETA-9", "--mode", mode, "-k", "5")
        assert found[0]["path"] == "src/both.md" and found[0]["literals"] == 2
        assert all(h["literals"] == 1 for h in found[1:]), found
        single = hits(cli, archive, "ALPHA-7", "--mode", mode, "-k", "5")
        assert all(h["literals"] == 1 for h in single)


def test_an_identifier_of_common_words_is_found_in_a_long_brief_among_many_short_ones(
        cli: Cli, hashing_archive: Callable[..., Path]) -> None:
    """`for_each_file` is, to the index, the one word `file` ("for" and "each" are stop
    words it leaves out), which 1,156 of an audit's 2,733 briefs held. The literal check
    read only the 500 best by BM25 of them, and BM25 favours short briefs: the one long
    brief that holds the identifier was never read, in either mode. `do_this` is to the
    index nothing at all (stop words only): only the channels' candidates were read."""
    files = {f"short/{i:03}.md": f"Copy the file to slot {i} and keep a backup.\n".encode()
             for i in range(700)}
    files["api.md"] = ("The module walks a directory tree. " * 300
                       + "Call for_each_file(root, fn) to visit every entry, or do_this(root) "
                       "for the root alone.\n").encode()
    archive = hashing_archive(files)
    for mode in ("lexical", "hybrid"):
        for query in ("for_each_file", "do_this"):
            found = hits(cli, archive, query, "--mode", mode, "-k", "3")
            assert found[0]["path"] == "src/api.md" and found[0]["literals"] == 1, found
            assert all(h["literals"] == 0 for h in found[1:]), found


def test_an_acronym_or_option_of_a_stop_word_is_checked_in_the_candidates_only(
        cli: Cli, hashing_archive: Callable[..., Path]) -> None:
    """`OR`, `-a`: one stop word most briefs hold. Read in every brief as `do_this` is (a
    review's find), each brief saying "OR" outranked the cache briefs for `cache OR redis`.
    (So it does in hybrid mode among the semantic candidates while `OR` is an acronym.)"""
    files = {f"cache/{i:02}.md": f"Redis cache eviction policy number {i}.\n".encode()
             for i in range(20)}
    files |= {f"travel/{i:03}.md": f"Travel policy {i}: book flights OR trains early.\n"
              .encode() for i in range(120)}
    archive = hashing_archive(files)  # lexical mode: hashing vectors carry no meaning
    for query in ("cache OR redis", "redis eviction -a"):
        found = hits(cli, archive, query, "--mode", "lexical", "-k", "3")
        assert all(h["path"].startswith("src/cache/") for h in found), (query, found)
    # and `OR`, `AND`, `NOT` between words are the operators other tools read, no acronym:
    # in hybrid mode the travel briefs among the semantic candidates held "OR" and ranked
    # first; alone, `OR` is still looked up as one
    assert parse("cache OR redis AND NOT memcached").literals == ()
    assert [lit.text for lit in parse("OR").literals] == ["OR"]
    found = hits(cli, archive, "cache OR redis", "-k", "3")
    assert all(h["path"].startswith("src/cache/") for h in found), found


def test_the_channels_candidates_are_checked_whatever_the_read_budget(
        cli: Cli, hashing_archive: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
        ) -> None:
    """The literal check's byte budget cuts the briefs holding a literal's words, best BM25
    first; a brief the channels ranked is read whatever it leaves (a review's find: past
    the budget, a large candidate lost its literal)."""
    archive = hashing_archive({
        "ticket.md": ("Notes. " * 200 + "Ticket ENG-2291 moved the cache.\n").encode(),
        "other.md": b"Cache warming on deploy.\n"})
    monkeypatch.setattr("briefmin.search.LITERAL_READ_BYTES", 1)
    for mode in ("lexical", "hybrid"):
        found = hits(cli, archive, "ENG-2291 cache", "--mode", mode, "-k", "2")
        assert found[0]["path"] == "src/ticket.md" and found[0]["literals"] == 1, found


# three Chinese briefs (no spaces between words): the first holds 负载均衡器 ("load balancer")
# inside a longer run of letters, wrapped across a line as source files wrap Chinese; the
# second holds its letters apart; the third none of them
CHINESE = {
    "zh/lb.md": "运维手册\n\n证书轮换之后需要重启负载均\n衡器才能生效。然后检查日志。\n".encode(),
    "zh/apart.md": "器材清单：负责人、载重、均价、平衡表。\n".encode(),
    "zh/other.md": "季度市场计划与春季活动安排。\n".encode(),
}


def test_a_chinese_word_inside_a_run_of_letters_is_found(
        cli: Cli, hashing_archive: Callable[..., Path]) -> None:
    """Each CJK letter is a token of the index (format 9): before it a run of letters up to
    the next punctuation (a whole clause) was one token, so 负载均衡器 inside it was never
    found, quoted or not. A word of CJK letters is a literal, as an identifier is: its
    letters together and in order, across a wrapped line, rank first."""
    archive = hashing_archive(CHINESE)
    for query in ('"负载均衡器"', "负载均衡器", "重启 负载均衡器"):
        found = hits(cli, archive, query, "--mode", "lexical")
        assert [h["path"] for h in found] == ["src/zh/lb.md", "src/zh/apart.md"], query
        assert [h["literals"] for h in found] == [len(parse(query).literals), 0], query
        assert "负载均衡器" in str(found[0]["snippet"])  # the wrapped line is one sentence
    assert hits(cli, archive, "均衡器才能", "--mode", "hybrid")[0]["path"] == "src/zh/lb.md"
    assert hits(cli, archive, "发布流程", "--mode", "lexical") == []


def test_a_korean_word_is_found_with_its_particles(
        cli: Cli, hashing_archive: Callable[..., Path]) -> None:
    """Korean puts spaces between words, but a word carries its particles: in the kernel's
    Korean howto 패치 ("patch") never stands alone (패치를, 패치가, 패치들은). Each syllable is a
    token (format 9) and a Korean query word a literal, so 패치 finds them."""
    archive = hashing_archive({
        "ko/patch.md": "커널에 패치를 보내는 방법. 패치가 거절되면 다시 보낸다.\n".encode(),
        "ko/other.md": "메모리 배리어의 종류와 사용법.\n".encode()})
    found = hits(cli, archive, "패치", "--mode", "lexical")
    assert [h["path"] for h in found] == ["src/ko/patch.md"] and found[0]["literals"] == 1
    assert hits(cli, archive, "배리어", "--mode", "lexical")[0]["path"] == "src/ko/other.md"


def test_chinese_queries_are_read_letter_by_letter() -> None:
    query = parse("重启负载均衡器，检查 ENG-2291 的日志")
    assert query.terms[:4] == ("重", "启", "负", "载")
    assert "eng" in query.terms and "2291" in query.terms
    # CJK punctuation ends a word as a space does; each word is a literal
    assert [lit.text for lit in query.literals] == ["重启负载均衡器", "检查", "ENG-2291", "的日志"]
    literal = query.literals[0]
    assert literal.found_in("请先重启负载\n均衡器。") and literal.found_in("x重启负载均衡器y")
    assert not literal.found_in("重启负载 平衡器")
    # a Latin word or identifier between CJK letters, as Chinese writes them, is found; a
    # longer Latin word still does not hold it
    for lit in parse('"Docker" ENG-2291 --batch').literals:
        assert lit.found_in("使用Docker部署，修复ENG-2291的问题，加上--batch。"), lit.text
        assert not lit.found_in("Dockerfile、ENG-22910、--batch-size"), lit.text
    # punctuation inside a word of CJK letters ends it, but not an identifier's
    query = parse("“负载均衡器”的配置，重启(服务)…修复ENG-2291的问题")
    assert [lit.text for lit in query.literals] == [
        "负载均衡器", "的配置", "重启", "服务", "修复ENG-2291的问题"]
    # a Latin word beside CJK letters is written with a space or without, and wrapped anywhere
    for lit in parse('Docker部署 "Docker 部署"').literals:
        for text in ("使用Docker部署", "使用 Docker 部署", "使用Docker部\n署"):
            assert lit.found_in(text), (lit.text, text)
        assert not lit.found_in("使用Dockerfile部署"), lit.text
    # read as formats before 9 indexed: a run of letters is one token
    assert parse("重启负载均衡器", split_cjk=False).terms == ("重启负载均衡器",)


def test_a_format_8_archive_is_read_as_it_is_and_reindexed_by_a_writer(
        cli: Cli, tmp_path: Path, hashing_archive: Callable[..., Path]) -> None:
    """Format 8's index holds a run of CJK letters as one token: a reader searches and
    verifies it as that (verify rebuilding it letter by letter would call it damaged); a
    writer drops it and indexes every content again, so a removal then unindexes the very
    tokens that were indexed."""
    archive = hashing_archive(CHINESE)
    surgery.write_format_8(archive)
    before = archive.read_bytes()
    with Archive.open(archive) as opened:
        assert opened.meta.format_version == 8 and not opened.lexical_splits_cjk()
    assert cli("verify", archive).returncode == 0
    # the old index finds a whole run only
    assert [h["path"] for h in hits(cli, archive, "器材清单", "--mode", "lexical")] == [
        "src/zh/apart.md"]
    assert hits(cli, archive, "负载均衡器", "--mode", "lexical") == []
    assert archive.read_bytes() == before
    new = tmp_path / "new.md"
    new.write_bytes("新的简报：负载均衡器的监控。\n".encode())
    assert cli("add", archive, new).returncode == 0
    with Archive.open(archive) as opened:
        assert opened.meta.format_version == schema.FORMAT_VERSION
        assert opened.lexical_splits_cjk()
    found = hits(cli, archive, "负载均衡器", "--mode", "lexical")
    assert {Path(str(h["path"])).name for h in found if h["literals"]} == {"lb.md", "new.md"}
    assert cli("rm", archive, "src/zh/lb.md").returncode == 0
    assert cli("verify", archive).returncode == 0
    found = hits(cli, archive, "负载均衡器", "--mode", "lexical")
    assert [Path(str(h["path"])).name for h in found if h["literals"]] == ["new.md"]


def test_a_damaged_brief_does_not_stop_a_format_8_archive_from_being_upgraded(
        cli: Cli, tmp_path: Path, hashing_archive: Callable[..., Path]) -> None:
    """The migration to format 9 reindexes every content on the next write: a damaged one is
    left out of the index (verify names it) rather than stopping every write, so `rm` of
    it, the way to recover, works, and the lexical index is searched again."""
    archive = hashing_archive(CHINESE)
    intact = tmp_path / "intact.md"
    intact.write_text("另一份简报：证书轮换的步骤。\n")
    assert cli("add", archive, intact).returncode == 0  # a block of its own
    surgery.write_format_8(archive)
    surgery.flip_stored_byte(archive, "src/zh/lb.md")  # the block of all three
    assert cli("verify", archive).returncode != 0
    removed = cli("rm", archive, "src/zh/lb.md", "src/zh/apart.md", "src/zh/other.md")
    assert removed.returncode == 0, removed.stderr
    assert cli("verify", archive).returncode == 0
    found = hits(cli, archive, "证书轮换", "--mode", "lexical")
    assert [Path(str(h["path"])).name for h in found] == ["intact.md"]
    assert found[0]["literals"] == 1


def test_a_query_mostly_in_cjk_leans_on_its_words(
        monkeypatch: pytest.MonkeyPatch, hashing_archive: Callable[..., Path]) -> None:
    """The bundled model reads English: for a query at least half of whose letters are CJK
    or Hangul the fusion weighs the cosine by `cjk_alpha` (0.1, chosen on the training half
    of Chinese Debian descriptions, where the default 0.8 was behind the words alone);
    English queries keep 0.8."""
    from briefmin import fusion, search

    assert parse("负载均衡器配置").mostly_cjk and parse("패치 보내기").mostly_cjk
    assert parse("配置 the nginx load balancer 负载").mostly_cjk is False
    assert not parse("ENG-2291 rollout").mostly_cjk and not parse("2291").mostly_cjk
    used: list[float] = []
    real = fusion.fuse

    def spy(*args: object, **kwargs: object) -> object:
        used.append(args[3].alpha)  # type: ignore[attr-defined]
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(search, "fuse", spy)
    archive = hashing_archive(CHINESE)
    with Archive.open(archive) as opened:
        search_texts(opened, ["负载均衡器配置", "load balancer rotation"], mode="hybrid")
    assert used == [fusion.DEFAULT.cjk_alpha, fusion.DEFAULT.alpha] == [0.1, 0.8]



@pytest.mark.model
def test_a_rare_name_held_once_in_a_long_brief_ranks_first(
        tmp_path: Path, real_encoder: Encoder) -> None:
    """A name held once in a long author list, asked in a sentence ("where is Lisák
    documented"): BM25's length penalty sank the list below short briefs closer in meaning
    (an audit's accented names, found first 5 times of 12). A capitalized word with a
    diacritic is a name, so a literal: the list comes first. Written in lower case it is a
    word, and only `fusion.Params.coverage` (off by default: it lost held-out recall@10 on
    Debian synopses) lifts it, leaving the lexical channel's own score (what `--json`
    shows) BM25."""
    from dataclasses import replace

    from briefmin import add, fusion, iter_sources
    from briefmin.search import HybridSearcher

    from .conftest import cached_encoder

    firsts = ["Anna", "Bruno", "Chiara", "Dmitri", "Elif", "Farid", "Greta", "Hiro", "Ines",
              "Jonas", "Kofi", "Lena", "Marek", "Nora", "Oskar", "Priya", "Quentin", "Rosa",
              "Sven", "Tara"]
    lasts = ["Abbott", "Berg", "Costa", "Dietz", "Eriksen", "Fischer", "Gallo", "Horvat",
             "Ivanov", "Jansen", "Keller", "Lindqvist", "Moreau", "Novak", "Olsen", "Peters",
             "Quinn", "Rossi", "Schmidt", "Tanaka"]
    names = [f"{f} {last} <{f.lower()}.{last.lower()}@example.org>" for f in firsts
             for last in lasts]
    names.insert(217, "Tomáš Lisák <tomas.lisak@example.org>")
    src = tmp_path / "src"
    src.mkdir()
    (src / "AUTHORS.txt").write_text("Authors of this project:\n\n" + "\n".join(names) + "\n")
    topics = {"docs.md": "Where things are documented: each module is documented in its "
                         "docstring, and the user guide is documented under docs/.",
              "api.md": "The public API is documented in the reference manual, generated "
                        "from the documented functions.",
              "cli.md": "Every command-line option is documented in the man page and in "
                        "--help.",
              "faq.md": "Questions that are not documented elsewhere are answered in the "
                        "FAQ, which says where each topic is documented."}
    for name, text in topics.items():
        (src / name).write_text(text + "\n")
    path = tmp_path / "a.bmin"
    with Archive.open(path, write=True, create=True) as archive:
        add(archive, iter_sources([str(src)]), encoder_factory=cached_encoder)
    name, word = "where is Lisák documented", "where is lisák documented"
    vectors = dict(zip((name, word), real_encoder.encode([name, word]), strict=True))
    with Archive.open(path) as archive:
        searcher = HybridSearcher(archive)
        by_name = searcher.search(parse(name), vectors[name], k=5)
        by_bm25 = searcher.search(parse(word), vectors[word], k=5)
        searcher.params = replace(fusion.DEFAULT, coverage=1.0)
        by_words_held = searcher.search(parse(word), vectors[word], k=5)
    assert by_name[0].path.endswith("AUTHORS.txt") and by_name[0].literals == 1
    assert not by_bm25[0].path.endswith("AUTHORS.txt")  # the loss coverage is for
    assert by_words_held[0].path.endswith("AUTHORS.txt")
    bm25 = {h.path: h.lexical.score for h in by_bm25 if h.lexical is not None}
    assert {h.path: h.lexical.score for h in by_words_held if h.lexical is not None} == bm25
