"""Search: ranks with the real model, the ONNX query encoder against the torch one, the CLI."""

from __future__ import annotations

import json
import os
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest

from briefmin import Archive, add, iter_sources
from briefmin.encoder import (
    BUNDLED_MODEL,
    Encoder,
    Floats,
    HashingEncoder,
    SentenceTransformerEncoder,
    bundled_model_path,
)
from briefmin.errors import ExitStatus
from briefmin.onnx_encoder import OnnxEncoder
from briefmin.search import Searcher, search_texts, snippet
from briefmin.store import SEARCH_KINDS

from .conftest import BRIEFS, HASHING, Cli
from .test_cli import run_checking_imports

# (a query in other words than the brief uses, the brief it must rank first)
PARAPHRASED_QUERIES = [
    ("the hiking app dies as soon as it is opened on the newest phones",
     "briefs/engineering/android-crash-startup.md"),
    ("too many calls to our API from one customer, cap them per key",
     "briefs/engineering/rate-limiter-redis.md"),
    ("the office copier broke and we need a new one", "briefs/misc/printer-replacement.txt"),
    ("server room overheating after the air conditioning stopped",
     "briefs/ops/datacenter-cooling-failure.txt"),
    ("how quickly do electric vehicle batteries lose capacity",
     "briefs/research/battery-degradation-study.txt"),
    ("customers paying in euros, value added tax and the new price list",
     "briefs/product/pricing-eu.md"),
]
# briefs that say the same thing as another: either may rank first
TWINS = {"briefs/engineering/rate-limiter-redis.md": "briefs/archive/rate-limiter-redis-revised.md",
         "briefs/product/pricing-eu.md": "briefs/product/pricing-eu-paraphrase.md"}


@pytest.mark.model
@pytest.mark.parametrize(("query", "expected"), PARAPHRASED_QUERIES)
def test_a_paraphrased_query_ranks_its_brief_first(fixture_archive: Path, query: str,
                                                   expected: str) -> None:
    with Archive.open(fixture_archive) as archive:
        hits = search_texts(archive, [query], k=3)[0]
    assert hits[0].path in {expected, TWINS.get(expected)}, [h.path for h in hits]
    assert hits[0].score > hits[-1].score


@pytest.mark.model
def test_paraphrase_of_a_whole_brief_finds_its_original_first(fixture_archive: Path) -> None:
    """The planted paraphrase, used as a query, finds the brief it paraphrases (after itself)."""
    text = (BRIEFS / "product" / "pricing-eu-paraphrase.md").read_text()
    with Archive.open(fixture_archive) as archive:
        hits = search_texts(archive, [text], k=2)[0]
    assert [h.path for h in hits] == ["briefs/product/pricing-eu-paraphrase.md",
                                      "briefs/product/pricing-eu.md"]


@pytest.mark.model
def test_two_stage_search_agrees_with_exact_on_the_fixtures(fixture_archive: Path) -> None:
    queries = [q for q, _ in PARAPHRASED_QUERIES] + ["incident postmortem", "legal contract"]
    with Archive.open(fixture_archive) as archive:
        fast = search_texts(archive, queries, k=5)
        exact = search_texts(archive, queries, k=5, exact=True)
    overlaps = []
    for got, want in zip(fast, exact, strict=True):
        assert got[0] == want[0]  # the same best brief, with the same int8 score
        overlaps.append(len({h.path for h in got} & {h.path for h in want}) / 5)
    # the Hamming stage may swap a borderline 5th hit; the benchmark measures this at scale
    assert np.mean(overlaps) >= 0.9, overlaps


VARIED_TEXTS = [
    "pricing change for EU customers",
    "",
    "x",
    "Ünïcödé, emoji ✓ and 日本語 mixed with English words.",
    "   leading and trailing whitespace   \n\n",
    "word " * 400,  # longer than the model's window: both truncate the same way
    "```python\ndef f(x):\n    return x * 2\n```",
    "| a | b |\n|---|---|\n| 1 | 2 |",
    "SELECT * FROM briefs WHERE path LIKE '%legal%';",
]


@pytest.mark.model
def test_onnx_query_encoder_agrees_with_the_torch_ingest_encoder(real_encoder: Encoder) -> None:
    texts = VARIED_TEXTS + [p.read_text(errors="replace")[:4000]
                            for p in sorted(BRIEFS.rglob("*.md"))[:20]]
    torch_encoder = (real_encoder if isinstance(real_encoder, SentenceTransformerEncoder)
                     else SentenceTransformerEncoder(BUNDLED_MODEL))
    onnx_encoder = (real_encoder if isinstance(real_encoder, OnnxEncoder)
                    else OnnxEncoder(BUNDLED_MODEL, bundled_model_path()))
    cosines = (torch_encoder.encode(texts) * onnx_encoder.encode(texts)).sum(axis=1)
    assert cosines.min() >= 0.999, cosines
    assert onnx_encoder.token_spans(texts[3]) == torch_encoder.token_spans(texts[3])
    assert (onnx_encoder.dim, onnx_encoder.max_tokens) == (torch_encoder.dim,
                                                           torch_encoder.max_tokens)


@pytest.mark.model
def test_search_cli_json_and_many_queries(cli: Cli, fixture_archive: Path) -> None:
    result = cli("search", fixture_archive, "pricing change for EU customers", "-k", "2",
                 "--json")
    assert result.returncode == 0, result.stderr
    hits = json.loads(result.stdout)
    assert {h["path"] for h in hits} == {"briefs/product/pricing-eu.md",
                                         "briefs/product/pricing-eu-paraphrase.md"}
    assert set(hits[0]) >= {"path", "score", "version", "snippet"}
    assert hits[0]["score"] >= hits[1]["score"] and hits[0]["snippet"]

    result = cli("search", fixture_archive, "--queries", "-", "-k", "1", "--json",
                 input="copier replacement\n\nserver room too hot\n")
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout)
    assert [a["query"] for a in answers] == ["copier replacement", "server room too hot"]
    assert [a["hits"][0]["path"] for a in answers] == [
        "briefs/misc/printer-replacement.txt", "briefs/ops/datacenter-cooling-failure.txt"]


def test_a_batch_names_each_row_s_query_and_skips_a_line_without_words(
        cli: Cli, hashing_archive: object) -> None:
    """Piped, the rows of a `--queries` batch could not be told apart (the `query:` headers
    went to stderr), and one line without words stopped the whole batch."""
    archive = hashing_archive({  # type: ignore[operator]
        "a.md": b"A brief about apples.\n", "b.md": b"A brief about pears.\n"})
    result = cli("search", archive, "--queries", "-", "--mode", "lexical",
                 input="apples\n?!\npears\nplums\n")
    assert result.returncode == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert [(r[0], r[2]) for r in rows] == [("apples", "src/a.md"), ("pears", "src/b.md")]
    assert "query 2 skipped: the query '?!' has no words" in result.stderr
    assert "no matching briefs for plums" in result.stderr
    only = cli("search", archive, "--queries", "-", input="?!\n")
    assert only.returncode == ExitStatus.USAGE and "no query in the batch" in only.stderr


@pytest.mark.model
def test_min_score_hides_weak_hits(cli: Cli, fixture_archive: Path) -> None:
    result = cli("search", fixture_archive, "the office copier broke", "--min-score", "0.4",
                 "--json")
    scores = [h["score"] for h in json.loads(result.stdout)]
    assert scores and all(s >= 0.4 for s in scores) and len(scores) < 10


@pytest.mark.parametrize(("args", "message"), [
    (["-k", "0"], "-k must be at least 1"),
    (["--min-score", "2"], "--min-score must be between -1 and 1"),
    (["--queries", "missing.txt"], "--queries missing.txt"),
])
def test_bad_search_options_are_usage_errors(cli: Cli, hashing_archive: object,
                                             args: list[str], message: str) -> None:
    archive = hashing_archive({"a.md": b"a brief about apples\n"})  # type: ignore[operator]
    result = cli("search", archive, *(["q"] if "--queries" not in args else []), *args)
    assert result.returncode == ExitStatus.USAGE
    assert message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.model
def test_an_archive_of_another_model_is_refused(cli: Cli, hashing_archive: object) -> None:
    archive = hashing_archive({"a.md": b"a brief about apples\n"})  # type: ignore[operator]
    result = cli("search", archive, "apples", "--model", "all-MiniLM-L6-v2")
    assert result.returncode == ExitStatus.MODEL
    assert "was made with model 'hashing:384'" in result.stderr


def test_old_versions_are_hidden_unless_asked(tmp_path: Path) -> None:
    """Versions crowd the Hamming pool with the same meaning; the search widens it."""
    os.chdir(tmp_path)
    brief = tmp_path / "b.md"
    with Archive.open("a.bmin", write=True, create=True, model=HASHING) as archive:
        for i in range(30):
            brief.write_text(f"apples and pears, revision {i}\n")
            add(archive, iter_sources(["b.md"]))
        (tmp_path / "c.md").write_text("apples and pears and plums\n")
        add(archive, iter_sources(["c.md"]))
    with Archive.open("a.bmin") as archive:
        latest = search_texts(archive, ["apples and pears"], k=2, m=1)[0]
        every = search_texts(archive, ["apples and pears"], k=40, all_versions=True)[0]
    assert sorted((h.path, h.version) for h in latest) == [("b.md", 30), ("c.md", 1)]
    assert len(every) == 31


def test_searcher_on_an_empty_archive(tmp_path: Path) -> None:
    with Archive.open(tmp_path / "a.bmin", write=True, create=True, model=HASHING) as archive:
        assert search_texts(archive, ["anything"]) == [[]]
        assert Searcher(archive).search(np.ones(384, np.float32) / np.sqrt(384)) == []


def test_an_archive_of_only_empty_briefs_searches_to_nothing(tmp_path: Path) -> None:
    """Zero-byte briefs (stored since they restore a folder as it was) have no vectors and
    no words: every mode finds nothing, and BM25's mean length of 0 divides nothing by it
    (a RuntimeWarning, and NaN scores, before)."""
    for name in ("a.md", "b.md"):
        (tmp_path / name).write_bytes(b"")
    with Archive.open(tmp_path / "a.bmin", write=True, create=True, model=HASHING) as archive:
        add(archive, iter_sources([str(tmp_path / "a.md"), str(tmp_path / "b.md")]))
    with Archive.open(tmp_path / "a.bmin") as archive, warnings.catch_warnings():
        warnings.simplefilter("error")
        for mode in ("hybrid", "semantic", "lexical"):
            assert search_texts(archive, ["anything at all"], mode=mode) == [[]]


def test_snippet_picks_the_sentence_sharing_most_query_words() -> None:
    chunk = "# Title\n\nFirst sentence here. The redis counter expires.\n- a list item\n"
    assert snippet(chunk, "when does the counter expire in redis") == \
        "The redis counter expires."
    assert snippet(chunk) == "# Title"
    assert snippet("word " * 100, limit=20).endswith("…")


def test_a_snippet_matches_the_query_words_by_stem() -> None:
    """The lexical channel finds `prices` in `price`; the snippet showed the title instead
    (no sentence held the query's exact words). Words now match by the index's stems, its
    folded case and accents included."""
    chunk = "# Notes\n\nSome notes. The new price list applies in March.\nCafé opening.\n"
    assert snippet(chunk, "prices") == "The new price list applies in March."
    assert snippet(chunk, "applying pricelists") == "The new price list applies in March."
    assert snippet(chunk, "CAFE") == "Café opening."
    assert snippet(chunk, "nothing matches") == "# Notes"


def test_a_snippet_shows_the_sentence_holding_the_literal() -> None:
    """`max_connections` shares its stems with `max_keepalive_connections`: the snippet
    showed the sentence naming the other identifier (an audit's finding)."""
    from briefmin.query import parse

    chunk = ("Fix max_keepalive_connections handling. Timeouts are longer.\n"
             "The max_connections limit is 100.\n")
    query = parse("max_connections")
    assert snippet(chunk, query.text) == "Fix max_keepalive_connections handling."
    assert snippet(chunk, query.text, literals=query.literals) == \
        "The max_connections limit is 100."


def test_a_chinese_snippet_is_a_whole_sentence() -> None:
    """A CJK sentence ends at 。！？ (the marks after it and a closing quote kept) with no
    space after it, a line wrapped inside it is joined without a space, and a heading
    keeps its own line."""
    chunk = "## 安装步骤\n运行脚本之前，先检查\n配置。然后重启？！“好的。”下一句\n"
    assert snippet(chunk, "检查配置") == "运行脚本之前，先检查配置。"
    assert snippet(chunk, "重启") == "然后重启？！"
    assert snippet(chunk, "好的") == "“好的。”"
    assert snippet(chunk, "安装") == "## 安装步骤"


@pytest.mark.model
def test_search_never_imports_torch(tmp_path: Path, fixture_archive: Path) -> None:
    code, heavy = run_checking_imports("search", str(fixture_archive), "pricing", "--json",
                                       cwd=tmp_path)
    assert code == 0
    assert heavy == [], f"search imported {heavy}"


@pytest.mark.model
def test_int8_model_variant_is_recorded_and_used_by_queries(cli: Cli, tmp_path: Path,
                                                            real_encoder: Encoder) -> None:
    """`--model all-MiniLM-L6-v2#int8` encodes with int8 weights; the archive records it, so
    queries use the same weights, and an fp32 query model is refused."""
    from briefmin.encoder import load_encoder

    product = tmp_path / "briefs"
    product.mkdir()
    for name in ("pricing-eu.md", "offline-mode-mobile.md", "bike-share-unlock.txt"):
        (product / name).write_bytes((BRIEFS / "product" / name).read_bytes())
    archive = tmp_path / "q.bmin"
    assert cli("add", archive, product, "--model", "all-MiniLM-L6-v2#int8", "-q").returncode == 0
    info = json.loads(cli("info", archive, "--json").stdout)
    assert info["model"] == "bundled:all-MiniLM-L6-v2#int8"
    hits = json.loads(cli("search", archive, "pricing change for EU customers", "--json").stdout)
    assert hits[0]["path"].endswith("pricing-eu.md")
    refused = cli("search", archive, "pricing", "--model", "all-MiniLM-L6-v2")
    assert refused.returncode == ExitStatus.MODEL

    int8 = load_encoder("bundled:all-MiniLM-L6-v2#int8")
    texts = [p.read_text(errors="replace")[:3000] for p in sorted(BRIEFS.rglob("*.md"))[:12]]
    cosines = (int8.encode(texts) * real_encoder.encode(texts)).sum(axis=1)
    assert cosines.mean() >= 0.98 and cosines.min() >= 0.95, cosines


def test_hamming_matches_a_bit_by_bit_count() -> None:
    from briefmin.quantize import hamming

    rng = np.random.default_rng(4)
    codes = rng.integers(0, 256, (1000, 48), dtype=np.uint8)
    query = rng.integers(0, 256, 48, dtype=np.uint8)
    expected = np.unpackbits(codes ^ query, axis=1).sum(axis=1)
    assert (hamming(query, codes, chunk=64) == expected).all()


@pytest.mark.parametrize("profile", ["default", "small"])
def test_rows_read_in_any_order_across_segments_match_the_whole_codes(
        tmp_path: Path, profile: str) -> None:
    """int8 reads go through one blob handle per segment, rows sorted by offset: unordered,
    repeated rows spread over several segments come back in the order asked."""
    path = tmp_path / "a.bmin"
    for batch in range(3):  # three adds: three segments at least
        folder = tmp_path / f"docs{batch}"
        folder.mkdir()
        for i in range(30):
            (folder / f"b{i}.md").write_text(f"brief {batch} {i} about topic {i % 7}\n")
        with Archive.open(path, write=True, create=True, model=HASHING,
                          profile=profile) as archive:
            add(archive, iter_sources([str(folder)]))
    with Archive.open(path) as archive:
        stored, codes = archive.vectors(SEARCH_KINDS), archive.all_int8(SEARCH_KINDS)
        rows = np.random.default_rng(0).integers(0, len(stored), 40)
        rows = np.concatenate([rows, rows[:5]])
        assert len(np.unique(stored.reader.locations(rows)[:, 0])) >= 2
        assert (stored.int8(rows) == codes[rows]).all()


@pytest.mark.parametrize("journal", ["delete", "wal"])
def test_a_search_sees_one_state_while_an_add_merges_the_segments_it_loaded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, journal: str) -> None:
    """The codes are loaded once and rescoring rows read later; an add that committed between
    (merging the eight segments it found into one) made the rows' segments vanish: "no such
    rowid", exit 3 on a sound archive. A query now reads in one transaction and reloads the
    codes when another connection committed since they were loaded."""
    import briefmin.search as search_module

    monkeypatch.chdir(tmp_path)
    path, src = Path("a.bmin"), Path("src")
    src.mkdir()
    for i in range(7):  # seven adds, seven segments: the eighth add merges them
        for j in range(3):  # more rows than a k=1 query's pool: rows are read one by one
            (src / f"b{i}-{j}.md").write_text(f"brief {i} {j} about apples and pears {i}\n")
        with Archive.open(path, write=True, create=True, model=HASHING) as archive:
            add(archive, iter_sources([str(src / f"b{i}-{j}.md") for j in range(3)]))
            archive.set_journal_mode(journal)
    real = search_module.archive_encoder

    def encoder_after_an_add(archive: Archive) -> Encoder:
        # runs once the searcher has loaded the codes: another process's add commits now
        (src / "late.md").write_text("a late brief about apples and figs\n")
        with Archive.open(path, write=True) as writer:
            add(writer, iter_sources([str(src / "late.md")]))
            (segments,), = writer._db.query("SELECT COUNT(*) FROM vec_segments")
        assert segments == 1  # merged: every row the reader loaded moved
        return real(archive)

    monkeypatch.setattr(search_module, "archive_encoder", encoder_after_an_add)
    with Archive.open(path) as reader:
        hits = search_texts(reader, ["pears", "figs"], k=1)
    assert len(hits[0]) == 1 and hits[0][0].path.startswith("src/b")
    assert hits[1][0].path == "src/late.md"  # the reloaded codes hold the new brief


def test_the_path_column_is_what_restore_takes(cli: Cli, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The latest version of a brief with three was shown as `d/a.md@3`, which no command
    takes (`search ... | cut -f2 | xargs briefmin restore` failed; an audit's find). The
    path is shown as it is now; with older versions among the hits, every row's version
    (`@1` too)."""
    monkeypatch.chdir(tmp_path)
    Path("d").mkdir()
    for text in ("apples and pears\n", "apples, pears and plums\n", "apples only\n"):
        Path("d/a.md").write_text(text)
        assert cli("add", "a.bmin", "d", "--model", HASHING, "-q").returncode == 0
    rows = cli("search", "a.bmin", "apples", "--mode", "lexical").stdout.splitlines()
    assert [row.split("\t")[1] for row in rows] == ["d/a.md"]
    restored = cli("restore", "a.bmin", rows[0].split("\t")[1], "--stdout")
    assert restored.stdout == "apples only\n"
    every = cli("search", "a.bmin", "apples", "--mode", "lexical", "--all-versions").stdout
    assert sorted(row.split("\t")[1] for row in every.splitlines()) == [
        "d/a.md@1", "d/a.md@2", "d/a.md@3"]


class _RandomEncoder(HashingEncoder):
    """A dense pseudo-random unit vector per chunk (seeded by its words): unlike the hashing
    encoder's sparse vectors, their sign codes spread, so the Hamming cut meets real ties."""

    def _vectors(self, words: list[list[bytes]]) -> Floats:
        rows = np.array([np.random.default_rng(zlib.crc32(b" ".join(w))).standard_normal(self.dim)
                         for w in words], np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_the_same_briefs_in_another_row_order_give_the_same_hits(tmp_path: Path) -> None:
    """Rows tied in Hamming distance at the candidate cut all come in: which of them the cut
    kept depended on row order, so an archive merged from parts (its rows in another order)
    answered otherwise than the archive of the same briefs built at once (a failing CI run
    on the bundled model's '---' query)."""
    for i in range(240):
        letters = "".join(chr(ord("a") + int(digit)) for digit in str(i))
        (tmp_path / f"b{i:03d}.md").write_text(f"brief {letters}\n")
    names = sorted(p.name for p in tmp_path.glob("*.md"))[1:]
    queries = np.random.default_rng(7).standard_normal((100, 384)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    os.chdir(tmp_path)
    hits = []
    for archive_name, order in (("a.bmin", names), ("z.bmin", names[::-1])):
        with Archive.open(archive_name, write=True, create=True, model=HASHING) as archive:
            # the same first brief: both archives round their codes by its scale
            add(archive, iter_sources(["b000.md"]), encoder_factory=_RandomEncoder)
            add(archive, iter_sources(order), encoder_factory=_RandomEncoder)
        with Archive.open(archive_name) as archive:
            searcher = Searcher(archive)
            hits.append([searcher.search(query, k, m=1) for query in queries for k in (1, 3)])
    for forward, backward in zip(*hits, strict=True):
        assert [h.path for h in forward] == [h.path for h in backward]
        assert [h.score for h in forward] == pytest.approx([h.score for h in backward], abs=1e-5)
