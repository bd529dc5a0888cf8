"""`briefmin minify` on the command line: where it may write, which named paths fail the run,
what it says, and Ctrl-C at start-up (an audit's findings)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from briefmin.errors import ExitStatus

from .conftest import HASHING, ROOT, Cli

PLAN = b"# Plan\n\nShip the plan in May. Then review it with the team. Then write down what " \
       b"we learned. Finally celebrate the launch with everyone.\n"


def _one_error(stderr: str) -> str:
    assert stderr.count("\n") == 1 and stderr.startswith("briefmin: error: "), stderr
    assert "Traceback" not in stderr
    return stderr


# -- 1. never over its own input -------------------------------------------------------------

def test_an_empty_to_is_a_usage_error(cli: Cli, chdir_tmp: Path) -> None:
    """`--to ''` was the current folder: `minify plan.md --to '' --force` wrote the minified
    brief over plan.md. Refused, as in `restore` (which restored into the current folder)."""
    (chdir_tmp / "plan.md").write_bytes(PLAN)
    done = cli("minify", "plan.md", "--to", "", "--force", "--model", HASHING)
    assert done.returncode == ExitStatus.USAGE
    assert "--to '' names no folder" in _one_error(done.stderr)
    assert (chdir_tmp / "plan.md").read_bytes() == PLAN
    assert cli("add", "a.bmin", "plan.md", "--model", HASHING, "-q").returncode == 0
    os.mkdir("elsewhere")
    os.chdir("elsewhere")
    for args in (["restore", "../a.bmin", "--to", ""],
                 ["restore", "../a.bmin", "--to", "", "--minify", "0.5", "--force"]):
        done = cli(*args)
        assert done.returncode == ExitStatus.USAGE, args
        assert "--to '' names no folder" in _one_error(done.stderr)
        assert os.listdir(".") == []


def test_minify_never_writes_over_the_brief_it_reads(cli: Cli, chdir_tmp: Path) -> None:
    """`--to .` from the brief's folder, --to a symlink to that folder, or a folder run whose
    output tree is its input tree: refused with --force too, and nothing is written."""
    (chdir_tmp / "plan.md").write_bytes(PLAN)
    (chdir_tmp / "b").mkdir()
    (chdir_tmp / "b" / "one.md").write_bytes(PLAN)
    (chdir_tmp / "b" / "two.md").write_bytes(PLAN.replace(b"May", b"June"))
    os.symlink(".", "here")
    before = {p: p.read_bytes() for p in (Path("plan.md"), Path("b/one.md"), Path("b/two.md"))}
    for args in (["plan.md", "--to", "."], ["plan.md", "--to", "here"],
                 ["plan.md", "--to", str(chdir_tmp)], ["b", "--to", "."],
                 ["other.md", "b/two.md", "--to", "."]):
        if args[0] == "other.md":
            Path("other.md").write_bytes(PLAN)
        done = cli("minify", *args, "--force", "--model", HASHING)
        assert done.returncode == ExitStatus.USAGE, (args, done.stderr)
        assert "the brief it is minified from" in _one_error(done.stderr)
        assert {p: p.read_bytes() for p in before} == before
        if args[0] == "other.md":  # refused before any brief was written
            assert Path("other.md").read_bytes() == PLAN
    # the same names in another folder are written as before
    done = cli("minify", "b", "--to", "out", "--model", HASHING, "--json")
    assert done.returncode == 0, done.stderr
    assert sorted(d["path"] for d in json.loads(done.stdout)) == ["b/one.md", "b/two.md"]


def test_json_and_warnings_name_each_brief_as_it_was_given(cli: Cli, chdir_tmp: Path) -> None:
    """`minify /tmp/x.md --json` said `"path": "tmp/x.md"`, and `../x.md` was `x.md`: the
    relative name `--to` writes under, which names no file from where the user stands. The
    path is the one given (a folder's member: the folder as given, then its path), `-` for
    stdin; `--to` still writes at the relative name."""
    (chdir_tmp / "b").mkdir()
    (chdir_tmp / "b" / "one.md").write_bytes(PLAN)
    os.mkdir("here")
    os.chdir("here")
    given = str(chdir_tmp / "b" / "one.md")
    for path in (given, "../b/one.md", "-"):
        done = cli("minify", path, "--json", "--model", HASHING, input=PLAN)
        assert done.returncode == 0, done.stderr
        assert [d["path"] for d in json.loads(done.stdout)] == [path]
    done = cli("minify", "../b", "--to", "out", "--json", "--model", HASHING)
    assert done.returncode == 0, done.stderr
    [document] = json.loads(done.stdout)
    assert document["path"] == os.path.join("../b", "one.md")
    assert Path(document["written_to"]).resolve() == (Path("out") / "b" / "one.md").resolve()
    done = cli("minify", given, "--model", HASHING)
    assert done.returncode == 0 and done.stderr.startswith(f"{given}: 25 → "), done.stderr
    Path(given).write_text("```\n" + "word " * 30 + "\n```\n")  # a block over budget
    done = cli("minify", given, "--max-words", "5", "--model", HASHING)
    assert done.returncode == 0
    assert done.stderr.startswith(f"briefmin: warning: {given}: no part of it fits"), \
        done.stderr



def test_nothing_fits_advises_a_budget_that_keeps_something(cli: Cli, chdir_tmp: Path) -> None:
    """`--max-words 2` of a brief with a 13-word quote said "its one block (13 words) is
    larger than the budget; give --max-words 13 or more", though 4 words kept its heading
    and a word: the advice is the fewest words a part costs with its headings, and that
    budget keeps something. A brief of one code block still needs all of it."""
    Path("q.md").write_text("# Deploy Plan\n\nWe deploy on Fridays. Rollback is manual.\n\n"
                            "> Never deploy during the holiday freeze without approval from "
                            "the release manager.\n")
    Path("code.md").write_text("```\n" + "word " * 30 + "\n```\n")
    for name, words in (("q.md", "2"), ("code.md", "5")):
        done = cli("minify", name, "--max-words", words, "--model", HASHING)
        assert done.returncode == 0 and done.stdout == ""
        found = re.search(r"can be kept is (\d+) words(.*); give --max-words (\d+) or more",
                          done.stderr)
        assert found is not None and found.group(1) == found.group(3), done.stderr
        least = found.group(1)
        assert ("never cut" in found.group(2)) == (name == "code.md")
        kept = cli("minify", name, "--max-words", least, "--model", HASHING)
        assert kept.stdout.strip() and "no part of it fits" not in kept.stderr
        fewer = cli("minify", name, "--max-words", str(int(least) - 1), "--model", HASHING)
        assert fewer.stdout == "" and f"can be kept is {least} words" in fewer.stderr
    # the advised ratio too: int(0.29 * 100) is 28, one short of the 29 words advised once
    Path("two.md").write_text("```\n" + " ".join(f"a{i}" for i in range(27)) + "\n```\n\n```\n"
                              + " ".join(f"b{i}" for i in range(69)) + "\n```\n")
    done = cli("minify", "two.md", "--ratio", "0.2", "--model", HASHING)
    ratio = re.search(r"or --ratio ([0-9.]+) or more", done.stderr)
    assert ratio is not None, done.stderr
    assert cli("minify", "two.md", "--ratio", ratio.group(1), "--model", HASHING).stdout


def test_a_folders_skipped_members_are_named_as_reached(cli: Cli, chdir_tmp: Path) -> None:
    """`minify ../b` warned `skipped b/empty.md`, the relative name `--to` writes under,
    which is no file from where the user stands: each skip now names `../b/empty.md`."""
    folder = chdir_tmp / "b"
    folder.mkdir()
    (folder / "one.md").write_bytes(PLAN)
    (folder / "empty.md").write_bytes(b"")
    (folder / "blank.md").write_bytes(b"  \n\n")
    (folder / "bin.md").write_bytes(b"\0\1\2binary")
    (folder / "large.md").write_bytes(PLAN * 40)
    os.mkdir("here")
    os.chdir("here")
    done = cli("minify", "../b", "--to", "out", "--max-size", str(len(PLAN) * 20),
               "--model", HASHING)
    assert done.returncode == 0, done.stderr
    warned = [line for line in done.stderr.splitlines() if "skipped" in line]
    assert [line.split(": ")[2] for line in warned] == [
        f"skipped {os.path.join('../b', name)}"
        for name in ("bin.md", "blank.md", "empty.md", "large.md")]
    assert "too large" in warned[-1] and "binary" in warned[0]
    # two folders' members of one relative name: the one skipped is named as reached
    os.makedirs("b")
    Path("b/one.md").write_bytes(PLAN)
    done = cli("minify", "b", "../b", "--to", "out2", "--model", HASHING)
    assert done.returncode == 0, done.stderr
    assert "skipped ../b/one.md: ../b/one.md has the archive name of b/one.md" in done.stderr


# -- 2. a named path that cannot be read -----------------------------------------------------

def _deny(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Reading `name` fails as without read permission (chmod does not stop root)."""
    from briefmin import sources

    read = sources.Source.read

    def denied(self: sources.Source) -> bytes:
        if self.fs_path is not None and os.path.basename(self.fs_path) == name:
            raise PermissionError(13, "Permission denied", self.fs_path)
        return read(self)

    monkeypatch.setattr(sources.Source, "read", denied)


def test_a_named_file_that_cannot_be_read_fails_the_run(
        cli: Cli, chdir_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Was a warning, no output and exit 0; a folder's member that cannot be read is still
    skipped with a warning, as `add` skips it."""
    (chdir_tmp / "plan.md").write_bytes(PLAN)
    (chdir_tmp / "secret.md").write_bytes(PLAN)
    _deny(monkeypatch, "secret.md")
    for args in (["secret.md"], ["secret.md", "-q"], ["plan.md", "secret.md", "--to", "out"]):
        done = cli("minify", *args, "--model", HASHING)
        assert done.returncode == ExitStatus.USAGE, args
        assert done.stdout == ""
        message = _one_error(done.stderr)
        assert "cannot minify secret.md: unreadable (permission denied); make it readable" \
            in message
        assert not os.path.exists("out")  # nothing written, not even plan.md's output
    (chdir_tmp / "b").mkdir()
    os.rename("secret.md", "b/secret.md")
    (chdir_tmp / "b" / "plan.md").write_bytes(PLAN)
    done = cli("minify", "b", "--to", "out", "--model", HASHING)
    assert done.returncode == 0, done.stderr
    assert "skipped b/secret.md: unreadable (permission denied)" in done.stderr
    assert os.listdir("out/b") == ["plan.md"]


def _bad_name(folder: Path, name: bytes) -> str:
    try:
        (Path(os.fsdecode(bytes(folder))) / os.fsdecode(name)).write_bytes(PLAN)
    except (OSError, UnicodeError):
        pytest.skip("this file system refuses names that are not UTF-8")
    return os.fsdecode(name)


def test_a_named_file_whose_name_is_not_utf8_fails_the_run(cli: Cli, chdir_tmp: Path) -> None:
    """`minify $'bad\\xff.md'` printed nothing (-q) and exited 0; without -q its last warning
    leaked the name as Python holds it, `bad\\udcff.md`."""
    bad = _bad_name(chdir_tmp, b"bad\xff.md")
    for quiet in ([], ["-q"]):
        done = cli("minify", bad, *quiet, "--model", HASHING)
        assert done.returncode == ExitStatus.USAGE
        message = _one_error(done.stderr)
        assert "cannot minify bad\\xff.md: its name is not valid UTF-8; rename it" in message
        assert "udcff" not in message
    os.mkdir("b")
    os.rename(bad, os.path.join("b", bad))
    done = cli("minify", "b", "--model", HASHING)  # a folder's member: skipped, as by `add`
    assert done.returncode == 0
    assert "udcff" not in done.stderr and "file name is not valid UTF-8" in done.stderr


# -- 3. what it says -------------------------------------------------------------------------

def test_a_single_file_with_no_brief_is_named_for_what_it_is(cli: Cli, chdir_tmp: Path) -> None:
    """`minify empty.md` said `no text briefs in empty.md` after a `skipped` line: one line
    now, saying the file is empty (exit 0, as for a folder of no brief)."""
    (chdir_tmp / "empty.md").write_bytes(b"")
    (chdir_tmp / "blank.md").write_bytes(b"  \n\t\n")
    (chdir_tmp / "logo.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    for name, said in (("empty.md", "empty.md is empty"),
                       ("blank.md", "blank.md has no words (only white space)"),
                       ("logo.md", "logo.md is binary, not text"),
                       ("-", "stdin is empty")):
        done = cli("minify", name, "--model", HASHING, "--json", input=b"")
        assert done.returncode == 0 and json.loads(done.stdout) == []
        assert done.stderr == f"briefmin: warning: nothing to minify: {said}\n"
        assert cli("minify", name, "--model", HASHING, "-q", input=b"").stderr == ""


def test_a_brief_of_one_code_block_says_why_nothing_fits(cli: Cli, chdir_tmp: Path) -> None:
    """Said only `no part of it fits in N words`; the README promises the count of blocks
    larger than the budget, and it now says what to give."""
    lines = "".join(f"x = {i} + {i} * value_{i}\n" for i in range(400))
    (chdir_tmp / "onlycode.md").write_text(f"```python\n{lines}```\n")
    done = cli("minify", "onlycode.md", "--model", HASHING)
    assert done.returncode == 0
    warning = next(line for line in done.stderr.splitlines() if "warning" in line)
    assert warning == (
        "briefmin: warning: onlycode.md: no part of it fits in 1401 words: the least of it "
        "that can be kept is 2802 words (a code block, table row or quote is never cut); "
        "give --max-words 2802 or more, or --ratio 1")
    assert cli("minify", "onlycode.md", "--model", HASHING, "--max-words", "2802"
               ).stdout.count("value_") == 400


# -- 4. Ctrl-C at start-up -------------------------------------------------------------------

def test_sigint_while_the_cli_loads_exits_130_even_when_inherited_ignored() -> None:
    """A job started with `&` by a non-interactive shell inherits SIGINT ignored; the CLI
    took SIGINT back only once its modules had loaded (~0.4 s), and a `kill -INT` before
    that was lost: the run went on to exit 0. Here the signal comes exactly while the CLI's
    module is being imported (a stand-in that signals itself), so no timing is involved."""
    program = textwrap.dedent("""
        import os, signal, sys, types

        class LoadingCli(types.ModuleType):
            def __getattr__(self, name):
                if name != "main":
                    raise AttributeError(name)
                os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the CLI loads
                return lambda: 0

        sys.modules["briefmin.cli"] = LoadingCli("briefmin.cli")
        from briefmin.launch import main
        sys.exit(main())
    """)
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert done.returncode == ExitStatus.INTERRUPTED, done.stderr
    assert done.stderr == b"briefmin: error: interrupted\n"


# -- 5. which folder members it takes --------------------------------------------------------

def test_a_folder_run_takes_include_and_exclude_and_says_what_it_left_out(
        cli: Cli, chdir_tmp: Path) -> None:
    (chdir_tmp / "b").mkdir()
    (chdir_tmp / "b" / "plan.md").write_bytes(PLAN)
    (chdir_tmp / "b" / "README").write_bytes(PLAN)
    (chdir_tmp / "b" / "page.html").write_bytes(PLAN)
    done = cli("minify", "b", "--to", "out", "--model", HASHING)
    assert done.returncode == 0, done.stderr
    assert os.listdir("out/b") == ["plan.md"]
    assert ("left out 2 file(s) of the folder(s) that match no --include glob (*.md "
            "*.markdown *.txt *.rst), such as b/README; give --include GLOB to take them"
            ) in done.stderr
    done = cli("minify", "b", "--to", "all", "--include", "*", "--exclude", "*.html",
               "--model", HASHING, "--json")
    assert done.returncode == 0, done.stderr
    assert [d["path"] for d in json.loads(done.stdout)] == ["b/README", "b/plan.md"]
    assert "left out" not in done.stderr  # an --exclude'd file was asked to be left out
    os.remove("b/plan.md")
    done = cli("minify", "b", "--model", HASHING)
    assert done.returncode == 0
    assert done.stderr == ("briefmin: warning: nothing to minify: no text briefs in b (2 "
                           "file(s) there match no --include glob: *.md *.markdown *.txt "
                           "*.rst; give --include GLOB to take them)\n")


@pytest.mark.parametrize("where", ["--stdout", "--to"])
def test_restore_minify_holds_no_read_transaction_while_it_minifies_and_writes(
        tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    """A concurrency audit: `restore --minify R --stdout | sleep 20` held its read
    transaction while it minified and wrote, so an `add` waited until the pipe drained (or
    failed busy), and the readers behind it waited too. The texts are read first now."""
    import briefmin.minify
    from briefmin import Archive
    from briefmin.errors import ArchiveBusyError

    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "a.md").write_text("Alpha. The first brief has two sentences.\n")
    (folder / "b.md").write_text("Beta. The second brief has two sentences too.\n")
    archive = tmp_path / "a.bmin"
    assert cli("add", archive, folder, "--model", HASHING, "-q").returncode == 0
    original = briefmin.minify.minify_many
    writer: list[str] = []

    def minify_many(*args: object, **kwargs: object) -> object:
        try:  # another process's commit, while this one minifies
            with Archive.open(archive, write=True, wait=0) as other:
                other.forget([1])
            writer.append("committed")
        except ArchiveBusyError:
            writer.append("busy")
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(briefmin.minify, "minify_many", minify_many)
    target = ["--stdout"] if where == "--stdout" else ["--to", str(tmp_path / "out")]
    result = cli("restore", archive, *target, "--minify", "0.5", "-q")
    assert result.returncode == 0, result.stderr
    assert writer == ["committed"]
    if where == "--stdout":
        assert "a.md <==\nAlpha." in result.stdout and "b.md <==\n" in result.stdout
    else:
        assert sorted(p.name for p in (tmp_path / "out").rglob("*.md")) == ["a.md", "b.md"]
