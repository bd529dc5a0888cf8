"""The CLI end to end: exit codes, JSON documents, messages on stderr, no tracebacks, and
which commands may import torch."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from briefmin.errors import ExitStatus

from .conftest import HASHING, Cli, run_briefmin
from .surgery import flip_stored_byte

MakeArchive = Callable[..., Path]


def test_add_ls_info_restore_verify_json(cli: Cli, chdir_tmp: Path) -> None:
    (chdir_tmp / "b").mkdir()
    (chdir_tmp / "b" / "one.md").write_bytes(b"# One\n\nthe first brief\n")
    (chdir_tmp / "b" / "two.txt").write_bytes(b"the second brief\n")
    (chdir_tmp / "b" / "skip.py").write_bytes(b"print('not a brief')\n")
    added = cli("add", "a.bmin", "b", "--model", HASHING, "--json")
    assert added.returncode == 0, added.stderr
    report = json.loads(added.stdout)
    assert sorted(report["added"]) == ["b/one.md", "b/two.txt"]
    assert report["bytes_in"] == 40 and report["bytes_stored"] > 0

    listing = json.loads(cli("ls", "a.bmin", "--json").stdout)
    assert [(r["path"], r["version"], r["size"]) for r in listing] == [
        ("b/one.md", 1, 23), ("b/two.txt", 1, 17)]
    assert all(len(r["sha256"]) == 64 for r in listing)

    info = json.loads(cli("info", "a.bmin", "--json").stdout)
    assert info["briefs"] == 2 and info["raw_bytes"] == 40
    assert info["stored_bytes"] == os.path.getsize("a.bmin")
    assert info["model"] == HASHING

    restored = cli("restore", "a.bmin", "--to", "out")
    assert restored.returncode == 0, restored.stderr
    assert (chdir_tmp / "out/b/one.md").read_bytes() == b"# One\n\nthe first brief\n"
    single = cli("restore", "a.bmin", "b/two.txt", "--stdout")
    assert single.stdout == "the second brief\n"

    verified = cli("verify", "a.bmin", "--json")
    assert verified.returncode == 0 and json.loads(verified.stdout)["ok"] is True


def test_add_stdin_and_path_list(cli: Cli, chdir_tmp: Path) -> None:
    (chdir_tmp / "x.md").write_text("listed brief\n")
    (chdir_tmp / "list.txt").write_text("x.md\n\n")
    assert cli("add", "a.bmin", "-", "--name", "notes/from-stdin.md", "--model", HASHING,
               input=b"piped brief\n").returncode == 0
    assert cli("add", "a.bmin", "--from", "list.txt").returncode == 0
    paths = [r["path"] for r in json.loads(cli("ls", "a.bmin", "--json").stdout)]
    assert paths == ["notes/from-stdin.md", "x.md"]


def test_a_stdin_name_that_leaves_the_archive_is_stored_relative_with_a_warning(
        cli: Cli, chdir_tmp: Path) -> None:
    added = cli("add", "a.bmin", "-", "--name", "../up/x.md", "--model", HASHING,
                input=b"piped brief\n")
    assert added.returncode == 0, added.stderr
    assert "--name ../up/x.md is stored as up/x.md" in added.stderr
    plain = cli("add", "a.bmin", "-", "--name", "notes/y.md", input=b"another brief\n")
    assert plain.returncode == 0 and "warning" not in plain.stderr
    paths = [r["path"] for r in json.loads(cli("ls", "a.bmin", "--json").stdout)]
    assert paths == ["notes/y.md", "up/x.md"]
    for unusable in ("..", "/", "./"):
        refused = cli("add", "a.bmin", "-", "--name", unusable, input=b"third brief\n")
        assert refused.returncode == 2 and "not a usable archive name" in refused.stderr
        assert "Traceback" not in refused.stderr
    assert len(json.loads(cli("snapshots", "a.bmin", "--json").stdout)["snapshots"]) == 2
    # the CI gate too: a brief it cannot name is an error, not a skipped brief and a pass
    gate = cli("dedupe", "a.bmin", "-", "--name", "..", "--fail", input=b"piped brief\n")
    assert gate.returncode == 2 and "not a usable archive name" in gate.stderr


def test_a_nul_separated_list_and_dot_dot_names(cli: Cli, chdir_tmp: Path) -> None:
    """`find -print0 | briefmin add A --from -` (a name may then hold a newline), and a
    '..' inside a path, which was stored as given and made the whole archive unrestorable."""
    (chdir_tmp / "b").mkdir()
    (chdir_tmp / "b" / "one.md").write_bytes(b"first\n")
    (chdir_tmp / "b" / "two\nlines.md").write_bytes(b"second\n")
    added = cli("add", "a.bmin", "--from", "-", "--model", HASHING,
                input=b"b/one.md\0b/two\nlines.md\0")
    assert added.returncode == 0, added.stderr
    assert cli("add", "a.bmin", "b/../b/one.md", "./b/../b").returncode == 0
    paths = [r["path"] for r in json.loads(cli("ls", "a.bmin", "--json").stdout)]
    assert paths == ["b/one.md", "b/two\nlines.md"]
    restored = cli("restore", "a.bmin", "--to", "out")
    assert restored.returncode == 0, restored.stderr
    assert (chdir_tmp / "out/b/two\nlines.md").read_bytes() == b"second\n"


def test_a_name_in_a_message_cannot_drive_the_terminal(cli: Cli, chdir_tmp: Path) -> None:
    """A file name holding an escape sequence (here: turn the text red, then clear the
    screen) is quoted escaped, one line, in the error that names it."""
    result = cli("add", "a.bmin", "x\x1b[31m\x1b[2J.md", "--model", HASHING)
    assert result.returncode == ExitStatus.USAGE
    assert "\x1b" not in result.stderr and result.stderr.count("\n") == 1
    assert "x\\x1b[31m\\x1b[2J.md: no such file" in result.stderr


def test_minify_of_nothing_says_so(cli: Cli, chdir_tmp: Path) -> None:
    (chdir_tmp / "empty").mkdir()
    done = cli("minify", "empty", "--model", HASHING, "--json")
    assert done.returncode == 0 and json.loads(done.stdout) == []
    assert "nothing to minify: no text briefs in empty" in done.stderr
    # a brief of white space only was "0 -> 0 words, similarity 1.000": skipped, as empty
    (chdir_tmp / "empty" / "blank.md").write_text("  \n\t\n")
    (chdir_tmp / "empty" / "plan.md").write_text("Ship the plan in May. Then review it.\n")
    done = cli("minify", "empty", "--model", HASHING, "--to", "out", "--json")
    assert done.returncode == 0, done.stderr
    assert [r["path"] for r in json.loads(done.stdout)] == ["empty/plan.md"]
    assert "skipped empty/blank.md: no words" in done.stderr


def test_versions_from_the_cli(cli: Cli, chdir_tmp: Path) -> None:
    brief = chdir_tmp / "plan.md"
    brief.write_text("plan v1\n")
    cli("add", "a.bmin", "plan.md", "--model", HASHING)
    brief.write_text("plan v2, longer\n")
    second = json.loads(cli("add", "a.bmin", "plan.md", "--json").stdout)
    assert second["new_versions"] == ["plan.md"]
    old = cli("restore", "a.bmin", "plan.md", "--version", "1", "--stdout")
    assert old.stdout == "plan v1\n"
    rows = json.loads(cli("ls", "a.bmin", "--all-versions", "--json").stdout)
    assert [(r["version"], r["versions"]) for r in rows] == [(1, 2), (2, 2)]


@pytest.mark.parametrize(("args", "code", "message"), [
    (["ls", "missing.bmin"], ExitStatus.ARCHIVE, "no such archive"),
    (["ls", "."], ExitStatus.ARCHIVE, "is a folder"),
    (["add", "a.bmin", "does-not-exist.md"], ExitStatus.USAGE, "no such file"),
    (["add", "a.bmin"], ExitStatus.USAGE, "nothing to add"),
    (["restore", "a.bmin"], ExitStatus.USAGE, "--to DIR or --stdout"),
    (["restore", "a.bmin", "nothing-like-this", "--stdout"], ExitStatus.USAGE,
     "no brief matches"),
    (["rm", "a.bmin", "ghost.md"], ExitStatus.USAGE, "no brief matches"),
    (["add", "a.bmin", "x.md", "--model", "hashing:256"], ExitStatus.MODEL,
     "was made with model"),
    # values that crashed (exit 70) or, for a negative duration, forgot every snapshot
    (["forget", "a.bmin", "--keep-within", "-1d", "--prune"], ExitStatus.USAGE,
     "a duration cannot be negative"),
    (["tier", "a.bmin", "--older-than", "-2h", "--codes", "small"], ExitStatus.USAGE,
     "--older-than '-2h': a duration cannot be negative"),
    (["ls", "a.bmin", "--as-of", "0001-01-01"], ExitStatus.USAGE, "--as-of '0001-01-01': out"),
    (["restore", "a.bmin", "x.md", "--stdout", "--json"], ExitStatus.USAGE, "give one"),
    (["restore", "a.bmin", "--minify", "0", "--stdout"], ExitStatus.USAGE,
     "--minify must be in (0, 1]"),
    (["search", "a.bmin"], ExitStatus.USAGE, "nothing to search for"),
    # an empty tag kept every snapshot; an empty glob matched nothing, so the snapshot
    # recorded every brief of the folder as deleted
    (["forget", "a.bmin", "--keep-tag", ""], ExitStatus.USAGE, "--keep-tag '': an empty tag"),
    (["forget", "a.bmin", "--keep-tag", "daily,"], ExitStatus.USAGE, "an empty tag"),
    (["add", "a.bmin", ".", "--include", ""], ExitStatus.USAGE, "--include '': an empty glob"),
    (["add", "a.bmin", ".", "--host", ""], ExitStatus.USAGE, "--host '': an empty host name"),
    (["forget", "a.bmin", "--keep-last", "1", "--host", ""], ExitStatus.USAGE,
     "--host '': an empty host name"),
    (["dedupe", "a.bmin", ".", "--exclude", " "], ExitStatus.USAGE, "--exclude ' ': an empty"),
])
def test_bad_input_gives_one_line_and_exit_code(cli: Cli, chdir_tmp: Path, args: list[str],
                                                code: int, message: str) -> None:
    (chdir_tmp / "x.md").write_text("a brief\n")
    cli("add", "a.bmin", "x.md", "--model", HASHING)
    before = (chdir_tmp / "a.bmin").read_bytes()
    result = cli(*args)
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert (chdir_tmp / "a.bmin").read_bytes() == before


@pytest.mark.parametrize(("args", "message"), [
    (["search"], "Missing argument 'ARCHIVE'. (see 'briefmin search --help')"),
    (["search", "a.bmin", "q", "-k", "many"], "Invalid value for '-k': 'many' is not a "
     "valid integer. (see 'briefmin search --help')"),
    (["add", "a.bmin", "x.md", "--bogus"], "No such option '--bogus'"),
    # a query that is an option's name: click's "Did you mean '--json'?" alone misled
    (["search", "a.bmin", "--si"], "No such option '--si'. Did you mean '--json'? A query "
     "that starts with a dash goes after --: briefmin search ARCHIVE -- --si (see"),
    (["frob"], "No such command 'frob'. (see 'briefmin --help')"),
    # NaN passes every range check, and crashed (exit 70) after making a new archive
    (["add", "a.bmin", ".", "--wait", "nan"], "Invalid value for '--wait': nan is not in the "
     "range 0<=x<=1e+06"),
    (["merge", "m.bmin", "a.bmin", "--wait", "inf"], "Invalid value for '--wait'"),
])
def test_usage_errors_are_one_line_too(tmp_path: Path, args: list[str], message: str) -> None:
    """click's own usage errors took four lines (usage, hint, blank, error): now the one line
    every other bad input gets, saying where the help is."""
    done = run_briefmin(*args, cwd=tmp_path)
    stderr = done.stderr.decode()
    assert done.returncode == ExitStatus.USAGE and stderr.count("\n") == 1, stderr
    assert stderr.startswith("briefmin: error: ") and message in stderr
    assert not list(tmp_path.iterdir())  # nothing made


def test_briefmin_alone_shows_the_help(tmp_path: Path) -> None:
    done = run_briefmin(cwd=tmp_path)
    assert done.returncode == ExitStatus.USAGE
    assert "Commands" in done.stderr.decode() and "restore" in done.stderr.decode()


def test_verify_exits_1_and_names_the_damaged_brief(cli: Cli, chdir_tmp: Path) -> None:
    for name in ("fine.md", "hurt.md"):
        (chdir_tmp / name).write_text(f"{name} has some words in it\n" * 20)
    cli("add", "a.bmin", "fine.md", "--model", HASHING)
    cli("add", "a.bmin", "hurt.md")
    flip_stored_byte(chdir_tmp / "a.bmin", "hurt.md", where=0.3)
    result = cli("verify", "a.bmin", "--json")
    assert result.returncode == ExitStatus.FINDINGS
    problems = json.loads(result.stdout)["problems"]
    assert [p["paths"] for p in problems] == [["hurt.md"]]


@pytest.mark.parametrize("mode", ["lexical", "hybrid"])
@pytest.mark.parametrize("query", ["quokka census", "quokka_census"])
def test_search_names_a_damaged_brief_it_hits(cli: Cli, chdir_tmp: Path, mode: str,
                                              query: str) -> None:
    """A hit whose stored text fails its sha256 ended the search with "stored item does not
    match its sha256": no brief named, nothing to do. It names the brief and what to run;
    so does the literal check (`quokka_census`), which reads many texts at once."""
    for name in ("fine.md", "hurt.md"):
        (chdir_tmp / name).write_text(f"{name} speaks of the quokka census\n" * 20)
    assert cli("add", "a.bmin", "fine.md", "--model", HASHING).returncode == 0
    assert cli("add", "a.bmin", "hurt.md").returncode == 0  # a block of its own
    flip_stored_byte(chdir_tmp / "a.bmin", "hurt.md", where=0.3)
    done = cli("search", "a.bmin", query, "--mode", mode)
    assert done.returncode == ExitStatus.ARCHIVE and done.stderr.count("\n") == 1
    assert done.stderr.startswith("briefmin: error: cannot read hurt.md: stored item does "), \
        done.stderr
    assert done.stderr.endswith("; run `briefmin verify a.bmin`\n")


@pytest.mark.parametrize("briefs", [40, 2_400])  # one process; two (from 2,000 contents)
def test_restore_writes_every_intact_brief_before_naming_the_damaged(
        cli: Cli, chdir_tmp: Path, briefs: int) -> None:
    """A stored item whose sha256 no longer matched stopped the restore at its turn: the
    intact briefs after it were never written (an audit: 45 of 63)."""
    (chdir_tmp / "src").mkdir()
    for n in range(briefs):
        (chdir_tmp / "src" / f"b{n:04d}.md").write_text(f"brief {n}: some words\n" * 3)
    assert cli("add", "a.bmin", "src", "--model", HASHING).returncode == 0
    hurt = ["src/b0001.md", f"src/b{briefs // 2:04d}.md"]
    with sqlite3.connect(chdir_tmp / "a.bmin") as raw:
        raw.executemany("UPDATE contents SET sha256 = zeroblob(32) WHERE id = (SELECT content "
                        "FROM briefs WHERE path = ?)", [(p,) for p in hurt])
    done = cli("restore", "a.bmin", "--to", "out")
    assert done.returncode == ExitStatus.ARCHIVE
    assert done.stderr.count("\n") == 1
    assert "cannot restore src/b0001.md (and 1 other brief(s))" in done.stderr
    written = {str(p.relative_to(chdir_tmp / "out")) for p in (chdir_tmp / "out").rglob("*.md")}
    assert written == {f"src/b{n:04d}.md" for n in range(briefs)} - set(hurt)
    for path in written:
        assert (chdir_tmp / "out" / path).read_bytes() == (chdir_tmp / path).read_bytes()


@pytest.mark.parametrize("briefs", [40, 2_400])  # one process; two (from 2,000 contents)
@pytest.mark.parametrize("damage", ["row", "bytes"])
def test_restore_json_reports_what_it_wrote_and_what_is_damaged(
        cli: Cli, chdir_tmp: Path, briefs: int, damage: str) -> None:
    """`restore --to DIR --json` with a damaged brief wrote every intact one and exited 3
    with no JSON, so a `--json` log had no record of the run. It ran to its end, so its
    report comes out, as verify's does before its exit 1: every brief, the damaged ones
    with `"restored_to": null` and an `error`; then the one-line error and exit 3. In two
    processes, the damaged briefs of both halves are named."""
    (chdir_tmp / "src").mkdir()
    for n in range(briefs):
        (chdir_tmp / "src" / f"b{n:04d}.md").write_text(f"brief {n}: some words\n" * 3)
    assert cli("add", "a.bmin", "src", "--model", HASHING).returncode == 0
    hurt = ["src/b0001.md", f"src/b{briefs - 2:04d}.md"]
    if damage == "row":
        with sqlite3.connect(chdir_tmp / "a.bmin") as raw:
            raw.executemany("UPDATE contents SET sha256 = zeroblob(32) WHERE id = (SELECT "
                            "content FROM briefs WHERE path = ?)", [(p,) for p in hurt])
    else:
        for path, where in zip(hurt, (0.3, 0.6), strict=True):  # (one block: two bytes)
            flip_stored_byte(chdir_tmp / "a.bmin", path, where=where)  # its block goes
    done = cli("restore", "a.bmin", "--to", "out", "--json")
    assert done.returncode == ExitStatus.ARCHIVE
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(
        "briefmin: error: cannot restore ")
    document = json.loads(done.stdout)
    assert [d["path"] for d in document] == [f"src/b{n:04d}.md" for n in range(briefs)]
    failed = {d["path"]: d["error"] for d in document if d["restored_to"] is None}
    assert set(hurt) <= set(failed) and all(failed.values())
    assert f"(and {len(failed) - 1} other brief(s))" in done.stderr
    written = {str(p.relative_to(chdir_tmp / "out")) for p in (chdir_tmp / "out").rglob("*.md")}
    assert written == {d["path"] for d in document} - set(failed)
    for entry in document:
        if entry["restored_to"] is not None:
            assert entry["restored_to"] == f"out/{entry['path']}" and "error" not in entry
            assert Path(entry["restored_to"]).read_bytes() == \
                (chdir_tmp / entry["path"]).read_bytes()


def test_verify_names_one_damage_once(cli: Cli, chdir_tmp: Path) -> None:
    """A changed sha256 cell was listed twice: by the row's checksum and by the read."""
    (chdir_tmp / "a.md").write_text("a brief with some words\n")
    assert cli("add", "a.bmin", "a.md", "--model", HASHING).returncode == 0
    with sqlite3.connect(chdir_tmp / "a.bmin") as raw:
        raw.execute("UPDATE contents SET sha256 = zeroblob(32)")
    result = cli("verify", "a.bmin", "--json")
    assert result.returncode == ExitStatus.FINDINGS
    problems = json.loads(result.stdout)["problems"]
    assert len(problems) == 1 and problems[0]["paths"] == ["a.md"], problems


def test_python_dash_m_works(chdir_tmp: Path) -> None:
    (chdir_tmp / "x.md").write_text("a brief\n")
    done = run_briefmin("add", "a.bmin", "x.md", "--model", HASHING, "--json", cwd=chdir_tmp)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["added"] == ["x.md"]


CHECK_IMPORTS = """
import sys
from briefmin.cli import main
code = main(sys.argv[1:])
heavy = sorted(m for m in ("torch", "sentence_transformers", "transformers", "ray")
               if m in sys.modules)
print("HEAVY:" + ",".join(heavy), file=sys.stderr)
sys.exit(code)
"""


def run_checking_imports(*args: str, cwd: Path) -> tuple[int, list[str]]:
    import subprocess
    import sys

    from .conftest import ROOT

    done = subprocess.run([sys.executable, "-c", CHECK_IMPORTS, *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    heavy = done.stderr.rsplit("HEAVY:", 1)[-1].strip()
    return done.returncode, [m for m in heavy.split(",") if m]


@pytest.mark.model
def test_model_free_commands_never_import_torch(tmp_path: Path) -> None:
    briefs = tmp_path / "briefs"
    briefs.mkdir()
    for i in range(3):
        (briefs / f"b{i}.md").write_text(f"Brief number {i} about topic {i}.\n")
    code, heavy = run_checking_imports("add", "a.bmin", "briefs", cwd=tmp_path)
    assert code == 0  # loads the real model (torch only to export it to ONNX the first time)
    # nothing new: `--ray` neither imports Ray nor starts it
    for args in (["add", "a.bmin", "briefs"], ["add", "a.bmin", "briefs", "--ray"],
                 ["ls", "a.bmin"], ["info", "a.bmin"],
                 ["verify", "a.bmin"], ["restore", "a.bmin", "--to", "out"],
                 ["rm", "a.bmin", "briefs/b0.md"]):
        code, heavy = run_checking_imports(*args, cwd=tmp_path)
        assert code == 0, args
        assert heavy == [], f"{args[0]} imported {heavy}"


CHECK_LIGHT = """
import sys
from briefmin.cli import main
code = main(sys.argv[1:])
print("LOADED:" + ",".join(sorted(sys.modules)), file=sys.stderr)
sys.exit(code)
"""


@pytest.mark.parametrize("profile", ["default", "small"])
def test_store_commands_start_without_numpy_rich_or_onnxruntime(tmp_path: Path,
                                                                profile: str) -> None:
    """`restore`, `ls`, `verify`, `info`, `--version` read the store only: their cold start
    pays for neither numpy (vectors), rich (drawn only on a terminal) nor the ONNX model."""
    import subprocess

    from .conftest import ROOT

    briefs = tmp_path / "briefs"
    briefs.mkdir()
    for i in range(5):
        (briefs / f"b{i}.md").write_text(f"Brief number {i} about topic {i}.\n" * (i + 1))
    done = run_briefmin("add", "a.bmin", "briefs", "--model", HASHING, "--profile", profile,
                        "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for args in (["restore", "a.bmin", "--to", "out"], ["restore", "a.bmin", "--stdout",
                 "briefs/b1.md"], ["ls", "a.bmin"], ["verify", "a.bmin"], ["info", "a.bmin"],
                 ["snapshots", "a.bmin"], ["--version"]):
        done = subprocess.run([sys.executable, "-c", CHECK_LIGHT, *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=600, check=False,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert done.returncode == 0, (args, done.stderr)
        loaded = set(done.stderr.rsplit("LOADED:", 1)[-1].strip().split(","))
        heavy = sorted(m for m in ("numpy", "rich", "onnxruntime", "tokenizers", "torch",
                                   "briefmin.encoder", "briefmin.ingest") if m in loaded)
        assert heavy == [], f"{args[0]} imported {heavy}"
    assert (tmp_path / "out" / "briefs" / "b4.md").read_bytes() == \
        (briefs / "b4.md").read_bytes()


def test_ray_without_ray_installed_is_a_usage_error(cli: Cli, chdir_tmp: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    (chdir_tmp / "one.md").write_text("a brief\n")
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` sees when not installed
    result = cli("add", "a.bmin", "one.md", "--model", HASHING, "--ray")
    assert result.returncode == ExitStatus.USAGE
    assert result.stderr.count("\n") == 1 and "pip install 'briefmin[ray]'" in result.stderr


def test_an_unreachable_cluster_is_one_line_and_exit_6(cli: Cli, chdir_tmp: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("ray")
    (chdir_tmp / "one.md").write_text("a brief\n")
    result = cli("add", "a.bmin", "one.md", "--model", HASHING, "--ray-address", "127.0.0.1:1")
    assert result.returncode == ExitStatus.MODEL
    assert result.stderr.count("\n") == 1 and "cannot reach the Ray cluster" in result.stderr
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    result = cli("add", "a.bmin", "one.md", "--ray-address", "auto")
    assert result.returncode == ExitStatus.USAGE and "needs RAY_ADDRESS" in result.stderr
    # nothing was stored: the failed join removed the archive it made, and `auto` without
    # RAY_ADDRESS fails before an archive is made
    assert not (chdir_tmp / "a.bmin").exists()


def _frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    """One HTTP/2 frame (RFC 9113 section 4.1)."""
    return (len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big")
            + payload)


def _answer_404(conn: socket.socket) -> None:
    """Speak just enough HTTP/2 to answer every request with status 404, as a web server or
    proxy at a mistyped Ray address does (gRPC: UNIMPLEMENTED)."""
    with conn:
        try:
            conn.sendall(_frame(4, 0, 0))  # our SETTINGS
            data = b""
            while True:
                got = conn.recv(65536)
                if not got:
                    return
                data += got
                if data.startswith(b"PRI * HTTP/2.0"):
                    data = data[24:]  # the client's preface
                while len(data) >= 9 and len(data) >= 9 + int.from_bytes(data[:3], "big"):
                    size, kind, flags = int.from_bytes(data[:3], "big"), data[3], data[4]
                    stream = int.from_bytes(data[5:9], "big") & 0x7FFFFFFF
                    body, data = data[9:9 + size], data[9 + size:]
                    if kind == 4 and not flags & 1:  # SETTINGS: acknowledged
                        conn.sendall(_frame(4, 1, 0))
                    elif kind == 6 and not flags & 1:  # PING: answered
                        conn.sendall(_frame(6, 1, 0, body))
                    elif kind == 1:  # a request: `:status 404` (HPACK static entry 13), ended
                        conn.sendall(_frame(1, 0x5, stream, b"\x8d"))
        except OSError:
            return


def test_an_address_where_no_ray_head_answers_fails_in_one_line_and_seconds(
        tmp_path: Path) -> None:
    """Something answered at the address, but no Ray head: the add printed Ray's C++ log of
    its 20 tries a second apart (`gcs_client.cc … Failed to get cluster ID`, 20 lines) and
    took 23 s before its one-line error (an audit's find). Now one try, one line, saying
    what answered."""
    pytest.importorskip("ray")
    server = socket.socket()
    server.bind(("0.0.0.0", 0))  # Ray dials 127.0.0.1 as this machine's address
    server.listen(16)
    port = server.getsockname()[1]

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                threading.Thread(target=_answer_404, args=(server.accept()[0],),
                                 daemon=True).start()
    threading.Thread(target=serve, daemon=True).start()
    (tmp_path / "one.md").write_text("a brief\n")
    start = time.monotonic()
    try:
        done = run_briefmin("add", "a.bmin", "one.md", "--model", HASHING, "--ray-address",
                            f"127.0.0.1:{port}", cwd=tmp_path, timeout=120)
    finally:
        server.close()
    took = time.monotonic() - start
    stderr = done.stderr.decode()
    assert done.returncode == ExitStatus.MODEL, stderr
    assert stderr.count("\n") == 1, stderr
    assert "cannot start or join Ray" in stderr and "status: 404" in stderr
    assert took < 15, took  # importing Ray is most of it


def test_ray_address_auto_without_ray_address_fails_even_with_nothing_new(
        cli: Cli, chdir_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Checked only when Ray was to be joined, it passed (exit 0) while nothing was new, so a
    misconfigured cron job passed until a new file came (an audit's find): the same
    invocation now always fails, before the folder is read."""
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    (chdir_tmp / "one.md").write_text("a brief\n")
    assert cli("add", "a.bmin", "one.md", "--model", HASHING).returncode == 0
    for paths in (["one.md"], ["no-such-folder"]):  # unchanged; not even read
        result = cli("add", "a.bmin", *paths, "--ray-address", "auto")
        assert result.returncode == ExitStatus.USAGE, result.stderr
        assert result.stderr.count("\n") == 1 and "needs RAY_ADDRESS" in result.stderr
    listed = cli("ls", "a.bmin", "--json")
    assert [r["path"] for r in json.loads(listed.stdout)] == ["one.md"]


@pytest.mark.parametrize("args", [
    ["search", "a.bmin", "caf\udce9 price"],            # argv bytes that are not UTF-8
    ["add", "a.bmin", "-", "--name", "x\udce9.md", "--model", HASHING],
    ["dedupe", "a.bmin", "-", "--name", "x\udce9.md"],
])
def test_an_argument_that_is_not_utf8_is_a_usage_error(chdir_tmp: Path, args: list[str]
                                                       ) -> None:
    """They reached the encoder and the catalogue, and ended as "internal error" (exit 70)."""
    done = run_briefmin(*args, cwd=chdir_tmp, input=b"a brief\n")
    stderr = done.stderr.decode()
    assert done.returncode == ExitStatus.USAGE, stderr
    assert stderr.count("\n") == 1 and "is not valid UTF-8" in stderr and "\\xe9" in stderr
    assert not (chdir_tmp / "a.bmin").exists()


def test_a_file_name_that_is_not_utf8_is_shown_as_its_bytes(chdir_tmp: Path) -> None:
    """The skip warning named `bad\\xffname.md` (the escape's backslash doubled, as of a
    name holding a backslash of its own): it shows `bad\\xffname.md` as `minify` does, and
    a name that holds the characters `\\xff` still has its backslash doubled."""
    os.mkdir(b"f")
    (chdir_tmp / "f" / "ok.md").write_text("a brief\n")
    with open(b"f/bad\xffname.md", "wb") as file:
        file.write(b"another brief\n")
    (chdir_tmp / "f" / "lit\\xffname.md").write_bytes(b"\x00binary\x00")
    done = run_briefmin("add", "a.bmin", "f", "--model", HASHING, cwd=chdir_tmp)
    assert done.returncode == 0, done.stderr
    warnings = sorted(line for line in done.stderr.decode().splitlines()
                      if "warning: skipped" in line)
    assert warnings == [
        "briefmin: warning: skipped f/bad\\xffname.md: file name is not valid UTF-8; rename it",
        "briefmin: warning: skipped f/lit\\\\xffname.md: binary, not text"], warnings


@pytest.mark.parametrize("stderr", ["/dev/full", "closed"])
def test_a_stderr_that_cannot_be_written_keeps_the_verdict(chdir_tmp: Path,
                                                           stderr: str) -> None:
    """Every command exited 1 when its stderr could not be written (`2>/dev/full`, `2>&-`):
    the failed warning became an internal error and the interpreter's own exit status, which
    a cron script reads as `verify`'s "damage found". The warning is dropped; the command's
    status stands."""
    (chdir_tmp / "a.md").write_text("a brief\n")
    assert run_briefmin("add", "a.bmin", "a.md", "--model", HASHING).returncode == 0
    command = [sys.executable, "-m", "briefmin"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    with open("/dev/full", "w") as full:
        for args, code in ((["verify", "a.bmin"], 0), (["ls", "a.bmin"], 0),
                           (["verify", "missing.bmin"], 3), (["restore", "a.bmin", "nope"], 2)):
            if stderr == "closed":  # the process starts without descriptor 2
                done = subprocess.run(command + args, cwd=chdir_tmp, env=env,
                                      stdout=subprocess.DEVNULL, check=False,
                                      preexec_fn=lambda: os.close(2))
            else:
                done = subprocess.run(command + args, cwd=chdir_tmp, env=env,
                                      stdout=subprocess.DEVNULL, stderr=full, check=False)
            assert done.returncode == code, (args, stderr, done.returncode)


def test_a_name_a_thousand_folders_deep(chdir_tmp: Path) -> None:
    """`add` took such a name from stdin and `restore` then ended in a RecursionError (exit
    70, "a bug"), opening one folder per level by recursion; `add` of such a folder did too
    (os.walk recurses). Restore writes it now; the walk is a one-line usage error."""
    name = "d/" * 1000 + "b.md"
    added = run_briefmin("add", "a.bmin", "-", "--name", name, "--model", HASHING,
                         cwd=chdir_tmp, input=b"deep brief\n")
    assert added.returncode == 0, added.stderr
    try:
        restored = run_briefmin("restore", "a.bmin", "--to", "out", cwd=chdir_tmp)
        assert restored.returncode == 0, restored.stderr
        folder = os.open(chdir_tmp / "out", os.O_RDONLY)
        try:
            for _ in range(1000):
                inner = os.open("d", os.O_RDONLY, dir_fd=folder)
                os.close(folder)
                folder = inner
            with open(os.open("b.md", os.O_RDONLY, dir_fd=folder), "rb") as file:
                assert file.read() == b"deep brief\n"
        finally:
            os.close(folder)
        walked = run_briefmin("add", "b.bmin", "out", "--model", HASHING, cwd=chdir_tmp)
        if sys.version_info >= (3, 12):  # os.walk is a loop there
            assert walked.returncode == 0, walked.stderr
        else:
            assert walked.returncode == ExitStatus.USAGE, walked.stderr
            assert walked.stderr.decode().count("\n") == 1 and b"too deep" in walked.stderr
    finally:  # gone before pytest's own clean-up, whose rmtree recurses once per level too
        subprocess.run(["rm", "-rf", str(chdir_tmp / "out")], check=True)


@pytest.mark.parametrize("model", ["/nonexistent", "./no/such/model", "../missing"])
def test_a_model_path_that_is_no_folder_is_one_line_and_exit_6(cli: Cli, chdir_tmp: Path,
                                                              model: str) -> None:
    """Handed to the hub's libraries, `/nonexistent` gave a stray warning line of theirs and
    an error about repo ids."""
    (chdir_tmp / "b.md").write_text("a brief about pricing\n")
    (chdir_tmp / "empty").mkdir()
    (chdir_tmp / "empty.md").write_text("")
    # with nothing to encode too (an empty folder, an empty file): the model was not
    # loaded, and the new archive bound to it was kept, failing every later add
    for args in (["minify", "b.md"], ["add", "new.bmin", "b.md"], ["add", "new.bmin", "empty"],
                 ["add", "new.bmin", "empty.md"]):
        result = cli(*args, "--model", model)
        assert result.returncode == ExitStatus.MODEL
        assert result.stderr.startswith(f"briefmin: error: no model folder at {model} (it "
                                        "does not exist); give the folder of")
        assert result.stderr.count("\n") == 1
    assert not (chdir_tmp / "new.bmin").exists()


def test_a_bug_is_one_line_and_exit_70(cli: Cli, chdir_tmp: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from briefmin import Archive

    (chdir_tmp / "one.md").write_text("a brief\n")
    assert cli("add", "a.bmin", "one.md", "--model", HASHING).returncode == 0

    def broken(self: Archive) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(Archive, "info", broken)
    monkeypatch.delenv("BRIEFMIN_DEBUG", raising=False)
    result = cli("info", "a.bmin")
    assert result.returncode == ExitStatus.INTERNAL == 70
    assert result.stderr.count("\n") == 1 and "RuntimeError: simulated bug" in result.stderr
    assert "Traceback" not in result.stderr
    monkeypatch.setenv("BRIEFMIN_DEBUG", "1")
    with pytest.raises(RuntimeError, match="simulated bug"):
        cli("info", "a.bmin")


def test_version_prints_the_package_version(cli: Cli) -> None:
    from briefmin import __version__

    result = cli("--version")
    assert (result.returncode, result.stdout.strip()) == (0, f"briefmin {__version__}")


def test_plain_add_starts_without_rays_glue_or_history(tmp_path: Path) -> None:
    """An `add` without --ray or --time imports neither briefmin.distributed nor
    briefmin.history (~20 ms of every nightly add's start); --time still parses."""
    import subprocess

    from .conftest import ROOT

    (tmp_path / "b.md").write_text("a brief\n")
    runs = {"plain": ["add", "a.bmin", "b.md", "--model", HASHING, "-q"],
            "timed": ["add", "a.bmin", "b.md", "--model", HASHING, "-q",
                      "--time", "2026-01-02T03:04:05+00:00"]}
    loaded = {}
    for name, args in runs.items():
        done = subprocess.run([sys.executable, "-c", CHECK_LIGHT, *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=600, check=False,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert done.returncode == 0, (args, done.stderr)
        loaded[name] = set(done.stderr.rsplit("LOADED:", 1)[-1].strip().split(","))
    assert not {"briefmin.distributed", "briefmin.history"} & loaded["plain"]
    assert "briefmin.history" in loaded["timed"]


def test_a_command_alone_parses_as_in_the_whole_app(capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """`briefmin COMMAND ...` builds only that command (typer evaluates the annotations of
    every command it holds before it parses): its help and usage errors are the whole app's."""
    from briefmin import cli

    def outputs(args: list[str]) -> tuple[int, str, str]:
        code = cli.main(args)
        said = capsys.readouterr()
        return code, said.out, said.err

    for info in cli.app.registered_commands:
        assert cli._app_for([str(info.name), "--help"]).registered_commands == [info]
    cases = [[str(c.name), flag] for c in cli.app.registered_commands
             for flag in ("--help", "--no-such-option")]
    alone = [outputs(args) for args in cases]
    monkeypatch.setattr(cli, "_app_for", lambda argv: cli.app)
    assert alone == [outputs(args) for args in cases]
    assert [code for code, _, _ in alone] == [0, 2] * len(cli.app.registered_commands)
    monkeypatch.undo()
    for argv in ([], ["--help"], ["--version"], ["restor"], ["-q", "restore"]):
        assert cli._app_for(argv) is cli.app


def test_ctrl_c_speaks_of_kept_commits_only_for_commands_that_write(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    """A search, an ls or a dedupe that does not prune interrupted has committed nothing:
    'interrupted', exit 130; an interrupted rm keeps what it committed before, and says so."""
    from briefmin import cli

    class Interrupted:
        @staticmethod
        def open(*args: object, **kwargs: object) -> None:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_archive", lambda: Interrupted)
    archive = str(tmp_path / "a.bmin")
    said = {}
    for args in (["search", archive, "query"], ["ls", archive], ["rm", archive, "x.md"],
                 ["dedupe", archive], ["dedupe", archive, "--prune"],
                 ["dedupe", archive, "--prune", "--no-dry-run"],
                 ["forget", archive, "--keep-last", "1", "--dry-run"],
                 ["tier", archive, "--older-than", "1d", "--codes", "small", "--dry-run"]):
        assert cli.main(args) == ExitStatus.INTERRUPTED
        said[" ".join(args[:1] + args[2:])] = capsys.readouterr().err.strip()
    kept = "briefmin: error: interrupted; everything committed before stays in the archive"
    assert said == {"search query": "briefmin: error: interrupted",
                    "ls": "briefmin: error: interrupted", "rm x.md": kept,
                    # a dedupe writes only when it prunes for real
                    "dedupe": "briefmin: error: interrupted",
                    "dedupe --prune": "briefmin: error: interrupted",
                    "dedupe --prune --no-dry-run": kept,
                    "forget --keep-last 1 --dry-run": "briefmin: error: interrupted",
                    "tier --older-than 1d --codes small --dry-run": "briefmin: error: interrupted"}
    assert set(cli.WRITERS) <= {str(c.name) for c in cli.app.registered_commands}


def test_ctrl_c_before_a_command_knows_it_writes_speaks_of_no_commits(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    """forget and tier write unless --dry-run, but a Ctrl-C while they still read their
    options (or import what they need) came before any commit: 'interrupted', exit 130."""
    from briefmin import cli
    from briefmin.store import tiers

    def interrupt(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_duration", interrupt)
    monkeypatch.setattr(tiers, "bits_of", interrupt)
    archive = str(tmp_path / "a.bmin")
    for args in (["forget", archive, "--keep-within", "1d"],
                 ["tier", archive, "--older-than", "1d", "--codes", "small"]):
        assert cli.main(args) == ExitStatus.INTERRUPTED
        assert capsys.readouterr().err.strip() == "briefmin: error: interrupted"
    assert not (tmp_path / "a.bmin").exists()


FAST_EXIT = """
import atexit, os, sys
from briefmin import cli
real = os._exit
os._exit = lambda code: (sys.stderr.write(f"[fast exit {code}]"), sys.stderr.flush(), real(code))
if sys.argv[1] == "handler":
    atexit.register(lambda: sys.stderr.write("[handler ran]"))
sys.argv = ["briefmin", *sys.argv[2:]]
sys.exit(cli.main())
"""


def test_a_finished_command_skips_the_interpreter_teardown(hashing_archive: Callable[..., Path],
                                                           tmp_path: Path) -> None:
    """A command run as a process of its own (main() without arguments) ends by os._exit,
    with what it wrote flushed and its exit code, unless an exit handler or another thread
    still needs the interpreter's teardown."""
    import subprocess

    from .conftest import ROOT

    files = {f"b{i:03d}.md": f"brief {i}\n".encode() for i in range(300)}
    path = hashing_archive(files)

    def run(mode: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", FAST_EXIT, mode, *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=300, check=False,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})

    listed = run("plain", "ls", str(path), "--json")
    assert (listed.returncode, listed.stderr) == (0, "[fast exit 0]")
    assert sorted(r["path"] for r in json.loads(listed.stdout)) == [f"src/{n}" for n in files]
    restored = run("plain", "restore", str(path), "--to", "out")
    assert restored.returncode == 0
    assert restored.stderr.endswith("sha256 checked\n[fast exit 0]"), restored.stderr
    assert len(list((tmp_path / "out" / "src").iterdir())) == len(files)
    missing = run("plain", "ls", str(tmp_path / "none.bmin"))
    assert missing.returncode == ExitStatus.ARCHIVE and "no such archive" in missing.stderr
    kept = run("handler", "ls", str(path))
    assert kept.returncode == 0 and kept.stderr == "[handler ran]"


def test_empty_and_odd_arguments_are_refused_before_anything_runs(
        cli: Cli, chdir_tmp: Path) -> None:
    """An unset variable in a script (`''`), stdin named twice, an archive named like a
    folder: each is one line and exit 2, and nothing is created. Each of these silently
    became another input (stdin, the current folder, the bundled model, now) or made a file."""
    (chdir_tmp / "b.md").write_text("Invoices are sent on the first working day.\n")
    assert cli("add", "a.bmin", "b.md", "--model", HASHING, "-q").returncode == 0
    before = (chdir_tmp / "a.bmin").read_bytes()
    cases = [
        (("add", "a.bmin", ""), "'' names no file or folder"),
        (("add", "a.bmin", "--from", ""), "--from '' names no file"),
        (("add", "a.bmin", "b.md", "--time", ""), "--time ''"),
        (("add", "a.bmin", "-", "-"), "give - once"),
        (("dedupe", "a.bmin", "-", "-"), "give - once"),
        (("minify", "-", "-", "--model", HASHING), "give - once"),
        (("minify", "b.md", "--archive", ""), "'' names no archive"),
        (("search", "a.bmin", "invoices", "--model", ""), "'' names no model"),
        (("add", "a.bmin", "b.md", "--model", " "), "' ' names no model"),
        (("search", "a.bmin", "--queries", ""), "--queries '' names no file"),
        (("add", "new/", "b.md", "--model", HASHING), "new/ ends like a folder's path"),
        (("add", "new/.", "b.md", "--model", HASHING), "new/. ends like a folder's path"),
        (("add", "a.bmin", "b.md", "--host", "h\udcff"), "--host 'h\\xff' is not valid UTF-8"),
        (("add", "a.bmin", "b.md", "--tag", "t\udcff"), "--tag 't\\xff' is not valid UTF-8"),
        (("search", "a.bmin", "x", "--model", "m\udcff"), "'m\\xff' is not valid UTF-8; give the"),
        (("add", "a.bmin", "b.md", "--model", "m\udcff"), "'m\\xff' is not valid UTF-8; give the"),
    ]
    for args, says in cases:  # (a process each: click's one-line usage errors are main's)
        done = run_briefmin(*args, cwd=chdir_tmp, input=b"Invoices are sent.\n")
        err = done.stderr.decode()
        assert done.returncode == ExitStatus.USAGE, (args, err)
        assert says in err and err.count("\n") == 1, (args, err)
        assert done.stdout == b"", args
    assert sorted(p.name for p in chdir_tmp.iterdir()) == ["a.bmin", "b.md"]
    assert (chdir_tmp / "a.bmin").read_bytes() == before


def test_an_archive_whose_name_is_not_utf8_works_and_messages_show_its_bytes(
        cli: Cli, chdir_tmp: Path) -> None:
    """A path's bytes that are not UTF-8 reach Python as lone surrogates, which the SQLite
    URI could not encode: every command failed with exit 70 ("internal error"), and `add`
    left an empty archive behind. Messages quoting such a name showed `\\udcff`."""
    (chdir_tmp / "b.md").write_text("Invoices are sent on the first working day.\n")
    name = "a\udcff.bmin"
    assert cli("add", name, "b.md", "--model", HASHING, "-q").returncode == 0
    assert os.fsencode(name) in os.listdir(os.fsencode(chdir_tmp))
    assert cli("ls", name).stdout.startswith("b.md\t1\t")
    assert cli("verify", name, "-q").returncode == 0
    assert cli("restore", name, "--to", "out", "-q").returncode == 0
    assert (chdir_tmp / "out" / "b.md").read_text().startswith("Invoices")
    assert cli("merge", "m\udcff.bmin", name, "-q").returncode == 0
    # --json: JSON's escape keeps stdout UTF-8 under a strict locale, and reads back the name
    shown = run_briefmin("info", name, "--json", cwd=chdir_tmp,
                         env={"PYTHONIOENCODING": "utf-8:strict"})
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout.decode("utf-8"))["path"] == name
    restored = cli("restore", name, "--to", "q\udcff")
    assert "into q\\xff" in restored.stderr, restored.stderr
    missing = cli("ls", name, "x\udcff")
    assert missing.returncode == ExitStatus.USAGE
    assert "no brief matches 'x\\xff'" in missing.stderr and "udc" not in missing.stderr


def test_quiet_dedupe_of_folders_without_briefs_says_nothing(cli: Cli, chdir_tmp: Path) -> None:
    """-q is "no messages on stderr": the warning that given folders hold no brief is one."""
    (chdir_tmp / "b.md").write_text("Invoices are sent on the first working day.\n")
    (chdir_tmp / "empty").mkdir()
    assert cli("add", "a.bmin", "b.md", "--model", HASHING, "-q").returncode == 0
    loud = cli("dedupe", "a.bmin", "empty")
    assert loud.returncode == 0 and "no brief in the given paths" in loud.stderr
    quiet = cli("dedupe", "a.bmin", "empty", "-q")
    assert (quiet.returncode, quiet.stderr) == (0, "")
    # nor search's for a query with no words, in a batch
    batch = ("invoices\n!!!\n", "--queries", "-", "--mode", "lexical")
    assert "query 2 skipped" in cli("search", "a.bmin", *batch[1:], input=batch[0]).stderr
    quiet = cli("search", "a.bmin", *batch[1:], "-q", input=batch[0])
    assert (quiet.returncode, quiet.stderr) == (0, ""), quiet.stderr
    assert "\tb.md\t" in quiet.stdout  # (the first query's hit is still there)


def test_a_ctrl_c_after_the_command_ended_does_not_kill_the_process(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Once the CLI returned its status (its outcome said), a Ctrl-C in the ~20 ms the
    process takes to exit killed it by SIGINT: no line, status -2 to a Python caller, for an
    add whose every commit was done (a crash audit's finding, 1 of 40 late interrupts)."""
    import signal

    import briefmin.cli
    from briefmin import launch

    monkeypatch.setattr(briefmin.cli, "main", lambda: 0)
    before = signal.getsignal(signal.SIGINT)
    try:
        assert launch.main() == 0
        try:
            os.kill(os.getpid(), signal.SIGINT)  # what arrives while the process exits
            time.sleep(0.05)
        except KeyboardInterrupt:
            pytest.fail("a Ctrl-C after the CLI returned still interrupts")
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)


@pytest.mark.parametrize("vacuum_ran", [True, False])
def test_a_ctrl_c_at_the_vacuum_after_an_rm_says_what_was_done(
        cli: Cli, hashing_archive: Callable[..., Path], monkeypatch: pytest.MonkeyPatch,
        vacuum_ran: bool) -> None:
    """`rm` commits, then writes the file anew (VACUUM, one SQLite call, which a Ctrl-C does
    not cut: Python sees the signal after it). It exited 130, "interrupted; everything
    committed before stays", with the brief removed and the file written anew, and a rerun
    said `no brief matches` (a crash audit's finding): that run is done. A Ctrl-C before the
    VACUUM began leaves the removed bytes in free pages: the message says so."""
    from briefmin.store import connection

    path = hashing_archive({"a.md": b"The rota for March.\n",
                            "b.md": os.urandom(100_000).hex().encode() + b"\n"})
    real = connection.Connection.execute

    def interrupted(self: connection.Connection, sql: str, params: Any = ()) -> Any:
        if sql == "VACUUM":
            if vacuum_ran:
                real(self, sql, params)
            raise KeyboardInterrupt
        return real(self, sql, params)

    monkeypatch.setattr(connection.Connection, "execute", interrupted)
    done = cli("rm", path, "src/b.md")
    monkeypatch.undo()
    if vacuum_ran:
        assert done.returncode == 0, done.stderr
    else:
        assert done.returncode == ExitStatus.INTERRUPTED, done.stderr
        assert "the change is committed, but" in done.stderr
        assert "bytes it removed stay in the file's free pages" in done.stderr
    assert cli("ls", path).stdout.startswith("src/a.md\t")
    assert len(cli("ls", path).stdout.splitlines()) == 1
    assert cli("verify", path, "-q").returncode == 0
