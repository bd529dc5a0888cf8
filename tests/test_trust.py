"""A new user's trust checks on documents briefmin was never tuned on (man pages, licences,
config files, README's examples): sibling documents made from one template are distinct
briefs, not near copies (unless they differ only in a name, as README says of `sha256sum`'s
page), and a prune keeps them while real near copies (a typo fixed, a date changed, a sentence
appended) are still grouped with their original; an option names the page that documents it;
and bad input, quiet runs and log files behave as README says."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from briefmin import Archive

from .conftest import HASHING, Cli, run_briefmin

MakeArchive = Callable[..., Path]

# one page of a checksum tool's manual, in the shape sibling tools' pages share: the tool's
# and its algorithm's names recur throughout, the rest is word for word the same
MANUAL = """NAME
    {tool} - compute and check {alg} message digest

SYNOPSIS
    {tool} [OPTION]... [FILE]...

DESCRIPTION
    Print or check {alg} ({bits}-bit) checksums. With no FILE, or when FILE is -, read
    standard input. The {alg} digest of every named file is printed on its own line,
    followed by the file name, so that the output can be checked later.

    -b, --binary
        read in binary mode
    -c, --check
        read {alg} sums from the FILEs and check them
    --tag
        create a BSD-style checksum
    -t, --text
        read in text mode (default)
    -z, --zero
        end each output line with NUL, not newline, and disable file name escaping

    The following five options are useful only when verifying checksums:
    --ignore-missing
        do not fail or report status for missing files
    --quiet
        do not print OK for each successfully verified file
    --status
        do not output anything, status code shows success
    --strict
        exit non-zero for improperly formatted checksum lines
    -w, --warn
        warn about improperly formatted checksum lines

    The sums are computed as described in {spec}. When checking, the input should be a
    former output of this program. The default mode is to print a line with: checksum, a
    space, a character indicating input mode ('*' for binary, ' ' for text or where binary
    is insignificant), and name for each FILE.

BUGS
    Do not use the {alg} algorithm for security related purposes. Instead, use an SHA-2
    algorithm, implemented in the programs sha224sum, sha256sum, sha384sum and sha512sum,
    or the BLAKE2 algorithm, implemented in b2sum.

AUTHOR
    Written by Ulrich Drepper, Scott Miller and David Madore. Report {tool} translation
    bugs to the translation project. Full documentation is available locally via: info
    '({tool}) invocation'. Last changed in June 2024.
"""
MD5 = MANUAL.format(tool="md5sum", alg="MD5", bits=128, spec="RFC 1321")
SHA1 = MANUAL.format(tool="sha1sum", alg="SHA1", bits=160, spec="FIPS-180-1")


# the tests of what a prune of near-identical groups removes name the kind: since session 26
# the default prune removes only exact and normalized copies
WITH_NEAR = ("--prune-kind", "exact,normalized,near-identical")


def _dedupe(cli: Cli, path: Path, *args: str) -> dict[str, object]:
    done = cli("dedupe", path, "--json", *args)
    assert done.returncode == 0, done.stderr
    document: dict[str, object] = json.loads(done.stdout)
    return document


def test_sibling_pages_are_not_near_copies_and_a_prune_keeps_both(
        cli: Cli, hashing_archive: MakeArchive) -> None:
    """Two tools' pages from one template differ at a dozen places: by Jaccard alone (0.77)
    they passed for `near-identical`, and the default prune removed sha1sum's page as a copy
    of md5sum's. The near copies beside them stay near-identical."""
    typo = MD5.replace("successfully", "sucessfully").encode()  # a typo made (or fixed)
    dated = MD5.replace("June 2024", "March 2025").encode()
    appended = (MD5 + "\nSee also the checksum guide in the team wiki.\n").encode()
    path = hashing_archive({"man/md5sum.txt": MD5.encode(), "man/sha1sum.txt": SHA1.encode(),
                            "near/md5sum-typo.txt": typo, "near/md5sum-dated.txt": dated,
                            "near/md5sum-appended.txt": appended})
    groups = _dedupe(cli, path)["groups"]
    assert isinstance(groups, list)
    for group in groups:
        if group["kind"] in ("exact", "normalized", "near-identical"):
            assert not {"src/man/md5sum.txt", "src/man/sha1sum.txt"} <= set(group["paths"]), \
                group
    (near,) = [g for g in groups if g["kind"] == "near-identical"]
    assert near["paths"] == ["src/man/md5sum.txt", "src/near/md5sum-appended.txt",
                             "src/near/md5sum-dated.txt", "src/near/md5sum-typo.txt"]
    pruned = _dedupe(cli, path, "--prune", *WITH_NEAR, "--no-dry-run")["prune"]
    assert isinstance(pruned, dict)
    assert "src/man/sha1sum.txt" not in pruned["paths"]
    with Archive.open(path) as archive:
        assert [r.path for r in archive.records()] == ["src/man/md5sum.txt",
                                                       "src/man/sha1sum.txt"]
    again = _dedupe(cli, path, "--prune", *WITH_NEAR, "--no-dry-run")["prune"]  # idempotent
    assert isinstance(again, dict) and again["paths"] == []


DF = ("df - report file system space usage. Show information about the file system on which "
      "each FILE resides, or all file systems by default. -a, --all include pseudo, "
      "duplicate, inaccessible file systems. -h, --human-readable print sizes in powers of "
      "1024 (e.g., 1023M). -H, --si print sizes in powers of 1000 (e.g., 1.1G). -i, --inodes "
      "list inode information instead of block usage. -l, --local limit listing to local "
      "file systems. --total elide all entries insignificant to available space, and "
      "produce a grand total.\n")
KILL = ("kill - send a signal to a process. The signal's si_value carries the data: si_value "
        "is read by the receiver through si_code and si_value fields of siginfo.\n")


def test_a_command_line_option_is_a_literal_the_top_hit_must_hold(
        cli: Cli, hashing_archive: MakeArchive) -> None:
    """`--si` is an option name like `--no-preserve-root`, but it has no inner dash: it was not
    read as an identifier, so a page full of the word `si` (`si_value`) ranked above the one
    page that documents `--si`."""
    path = hashing_archive({"df.txt": DF.encode(), "kill.txt": KILL.encode()})
    for mode in ("lexical", "hybrid"):
        done = cli("search", path, "--json", "--mode", mode, "--", "--si")
        assert done.returncode == 0, done.stderr
        hits = json.loads(done.stdout)
        assert hits[0]["path"] == "src/df.txt" and hits[0]["literals"] == 1, (mode, hits)
        assert all(h["literals"] == 0 for h in hits[1:])


def test_an_option_is_not_found_inside_a_longer_option(cli: Cli, hashing_archive: MakeArchive
                                                       ) -> None:
    """`--batch` is top(1)'s option; sort(1)'s `--batch-size` is another one."""
    sort = ("sort - sort lines of text files. --batch-size=NMERGE merge at most NMERGE inputs "
            "at once; for more use temp files. --buffer-size=SIZE use SIZE for the main memory "
            "buffer. Batch jobs sort large files in batch mode with the batch size set.\n")
    top = ("top - display Linux processes. -b, --batch starts top in batch mode, which could "
           "be useful for sending output from top to other programs or to a file.\n")
    path = hashing_archive({"sort.txt": sort.encode(), "top.txt": top.encode()})
    done = cli("search", path, "--json", "--", "--batch")
    hits = json.loads(done.stdout)
    assert [(h["path"], h["literals"]) for h in hits] == [("src/top.txt", 1), ("src/sort.txt", 0)]


def test_an_empty_path_list_is_nothing_to_do_not_a_usage_error(
        cli: Cli, chdir_tmp: Path) -> None:
    """README's `find briefs -name '*.md' -newer stamp | briefmin add briefs.bmin --from -`
    finds nothing on a quiet night: that exited 2 ("nothing to add"), failing the cron job."""
    done = cli("add", "a.bmin", "--from", "-", input="")
    assert done.returncode == 0, done.stderr
    assert "nothing to add" in done.stderr and not (chdir_tmp / "a.bmin").exists()
    as_json = cli("add", "a.bmin", "--from", "-", "--json", input="\n")
    assert as_json.returncode == 0, as_json.stderr
    document = json.loads(as_json.stdout)
    assert document["snapshot"] is None and document["added"] == []
    assert cli("add", "a.bmin").returncode == 2  # no paths at all is still a usage error


def test_a_model_that_cannot_load_leaves_no_archive_behind(cli: Cli, chdir_tmp: Path) -> None:
    """`add new.bmin --model TYPO` exited 6 but left new.bmin bound to the model it could not
    load: every later `add new.bmin` failed the same way until the file was deleted by hand."""
    (chdir_tmp / "a.md").write_text("The rooftop garden is watered every morning at six.\n")
    # a folder, so loading it is tried (a missing one is refused before: tests/test_cli.py)
    model = chdir_tmp / "not-a-model"
    model.mkdir()
    (model / "README").write_text("no model here\n")
    done = cli("add", "new.bmin", "a.md", "--model", str(model))
    assert done.returncode == 6 and "cannot load model" in done.stderr, done.stderr
    assert not (chdir_tmp / "new.bmin").exists()
    assert cli("add", "new.bmin", "a.md", "--model", "hashing:384").returncode == 0
    # an archive that existed before keeps what it holds whatever the error
    (chdir_tmp / "b.md").write_text("The parking permits are renewed each January.\n")
    again = cli("add", "new.bmin", "b.md", "--model", str(model))
    assert again.returncode == 6
    with Archive.open(chdir_tmp / "new.bmin") as archive:
        assert [r.path for r in archive.records()] == ["a.md"]


def test_restore_into_a_file_or_an_impossible_folder_is_bad_input(
        cli: Cli, hashing_archive: MakeArchive, tmp_path: Path) -> None:
    """`restore --to FILE` and `--to /proc/x` ended as "internal error ... please report this
    bug" (exit 70) from the folder's mkdir: a mistyped target is bad input (exit 2)."""
    path = hashing_archive({"a.md": b"The rooftop garden is watered at six.\n"})
    a_file = tmp_path / "a-file.txt"
    a_file.write_text("not a folder\n")
    for target in (a_file, a_file / "below", Path("/proc/briefmin-no-such-dir")):
        done = cli("restore", path, "--to", target)
        assert done.returncode == 2, (target, done.stderr)
        assert done.stderr.startswith("briefmin: error: ") and done.stderr.count("\n") == 1
        assert "internal error" not in done.stderr
    assert a_file.read_text() == "not a folder\n"
    (path.parent / "b.md").write_text("Parking permits are renewed each January.\n")
    many = cli("minify", path.parent / "b.md", a_file, "--to", a_file, "--model", HASHING)
    assert many.returncode == 2 and "internal error" not in many.stderr, many.stderr
    assert a_file.read_text() == "not a folder\n"


def test_json_is_one_line_per_command_for_a_log_file(cli: Cli, hashing_archive: MakeArchive
                                                     ) -> None:
    """README's cron line appends `add -q --json` and `forget --prune -q --json` to a .jsonl
    log "one line a log collector can read"; the documents were indented over many lines."""
    path = hashing_archive({"a.md": b"The rooftop garden is watered at six.\n"})
    for args in (["info", path], ["ls", path], ["snapshots", path], ["verify", path],
                 ["forget", path, "--keep-last", "1", "--prune", "-q"],
                 ["search", path, "garden", "--mode", "lexical"], ["dedupe", path]):
        done = cli(*args, "--json")
        assert done.returncode == 0, done.stderr
        assert done.stdout.count("\n") == 1 and done.stdout.endswith("\n"), args
        json.loads(done.stdout)


def test_a_prune_of_every_kind_never_removes_the_brief_a_removal_keeps(
        cli: Cli, hashing_archive: MakeArchive) -> None:
    """A brief can lead one group and be a member of another (of a weaker kind): b.md is a
    `similar` member of a.md's group and the first of c.md's `near-identical` group. `--prune
    --prune-kind all` removed c.md "keeping b.md" and b.md too: nothing of b's text stayed."""
    words = [("moves", "shifts"), ("queue", "broker"), ("consumer", "subscriber"),
             ("flag", "toggle"), ("rollback", "revert"), ("dashboard", "panel"),
             ("Finance", "Accounting"), ("reconciliation", "matching"), ("runbook", "playbook")]
    text_a = LONG + EXTRA
    text_b = text_a
    for old, new in words:  # nine words at nine places: no near copy, one meaning
        text_b = text_b.replace(old, new, 1)
    text_c = text_b.replace("migrated", "migratted")
    path = hashing_archive({"a.md": text_a.encode(), "b.md": text_b.encode(),
                            "c.md": text_c.encode()})
    groups = {g["kind"]: g["paths"] for g in _dedupe(cli, path)["groups"]}
    assert groups == {"similar": ["src/a.md", "src/b.md"],
                      "near-identical": ["src/b.md", "src/c.md"]}, groups
    plan = _dedupe(cli, path, "--prune", "--prune-kind", "all")["prune"]
    assert isinstance(plan, dict)
    removed = {r["path"] for r in plan["removals"]}
    assert not removed & {r["keeps"] for r in plan["removals"]}, plan
    assert removed == {"src/c.md"}
    _dedupe(cli, path, "--prune", "--prune-kind", "all", "--no-dry-run")
    with Archive.open(path) as archive:
        assert [r.path for r in archive.records()] == ["src/a.md", "src/b.md"]


LONG = ("The billing service moves to the new message queue before the March freeze. "
        "Every consumer is migrated one at a time behind a feature flag, with a rollback "
        "plan for each step and a dashboard that compares queue depth before and after. "
        "Finance signs off on the reconciliation report once the last consumer has moved.\n")
EXTRA = ("Support keeps the old endpoint alive for two more weeks, and the platform team "
         "watches error rates on every release train until the migration is declared done. "
         "The runbook lists each owner, the order of the steps and the contacts on call.\n")


def test_a_copy_of_a_near_copy_goes_in_one_prune(cli: Cli, hashing_archive: MakeArchive
                                                 ) -> None:
    """The first of an exact group may go as a near copy of another brief: its copy's text
    is its own, so one prune of near-identical groups removes both and a second finds
    nothing."""
    typo = LONG.replace("migrated", "migratted").encode()
    path = hashing_archive({"a.md": LONG.encode(), "b.md": typo, "c.md": typo})
    pruned = _dedupe(cli, path, "--prune", *WITH_NEAR, "--no-dry-run")["prune"]
    assert isinstance(pruned, dict) and pruned["paths"] == ["src/b.md", "src/c.md"]
    again = _dedupe(cli, path, "--prune", *WITH_NEAR, "--no-dry-run")["prune"]
    assert isinstance(again, dict) and again["paths"] == []


def test_minify_does_not_blame_a_code_block_a_brief_does_not_have(cli: Cli, chdir_tmp: Path
                                                                  ) -> None:
    """A plain brief with a sentence larger than the budget: the warning said "a code block
    is never cut". Since the eighteenth round such a sentence keeps its start, so nothing is
    left out; the same sentence in a block quote is (a quote is never cut), and the warning
    names what is never cut. Over 512 words, so no measured pick."""
    departments = ", ".join(f"the budget of department {i}" for i in range(40))
    deadlines = "".join(f"Department {i} submits its spreadsheet by March {i % 28 + 1}.\r\n"
                        for i in range(50))
    for name, opening in (("plain.txt", ""), ("quoted.md", "> ")):
        (chdir_tmp / name).write_bytes(
            f"Quarterly budget review\r\n\r\n{opening}The finance team will review "
            f"{departments} in the second week of April.\r\n\r\n{deadlines}".encode())
    done = cli("minify", "plain.txt", "--ratio", "0.3", "--json", "--model", HASHING)
    assert done.returncode == 0, done.stderr
    (document,) = json.loads(done.stdout)
    assert document["words_in"] > 512 and 0 < document["words_out"] <= document["budget"] < 200
    assert "larger than the" not in done.stderr
    quoted = cli("minify", "quoted.md", "--ratio", "0.3", "--model", HASHING)
    assert quoted.returncode == 0 and "The finance team" not in quoted.stdout
    assert "left out 1 block(s) larger than the" in quoted.stderr
    assert "a code block, table row or quote is never cut" in quoted.stderr


E2SCRUB = """# e2scrub configuration file

# Uncomment to enable automatic periodic runs of e2scrub_all
# (either via cron or via a systemd timer)
# periodic_e2scrub=1

# e-mail destination used by e2scrub_fail when problems are found with
# the file system.
# recipient=root

# Snapshots will be created to run fsck; the snapshot will be of this size.
# snap_size_mb=256

# Set this to 1 to have e2scrub_all scrub all LVs, not just the mounted ones.
# scrub_all=0
"""


def test_minify_keeps_part_of_a_config_file_of_comments(cli: Cli, chdir_tmp: Path) -> None:
    """Every line of it starts with '#': read as markdown headings, each kept only with text
    under it, it minified to nothing ('no part of it fits in 38 words')."""
    (chdir_tmp / "e2scrub.conf.txt").write_text(E2SCRUB)
    done = cli("minify", "e2scrub.conf.txt", "--json", "--model", HASHING)
    assert done.returncode == 0, done.stderr
    (document,) = json.loads(done.stdout)
    assert 0 < document["words_out"] <= document["budget"]


def test_minify_quiet_is_quiet_like_add(cli: Cli, chdir_tmp: Path) -> None:
    """`add -q` keeps its skip warnings to itself; `minify -q` printed them, and 'no part of
    it fits'."""
    (chdir_tmp / "empty.md").write_bytes(b"")
    # a code block is never cut, not even by a short brief's first-words candidate
    (chdir_tmp / "short.md").write_text("```\nmake check && make install DESTDIR=/tmp/stage "
                                        "PREFIX=/usr\n```\n")
    for args in (["empty.md"], ["short.md", "--max-words", "1"]):
        loud = cli("minify", *args, "--model", HASHING)
        assert loud.returncode == 0 and "warning" in loud.stderr, (args, loud.stderr)
        quiet = cli("minify", *args, "--model", HASHING, "-q")
        assert quiet.returncode == 0 and quiet.stderr == "", (args, quiet.stderr)


# Second round (branch trust3): Debian copyright files, changelogs and METADATA, nobody tuned
# on them. Two packages' copyright files of one licence (brotli's and expat's, libxcomposite's
# and libxt's in /usr/share/doc) share the licence's body word for word and differ in the
# header (names, holders, years) or by a whole licence more on one side.
MIT = """Permission is hereby granted, free of charge, to any person obtaining a copy
 of this software and associated documentation files (the "Software"), to deal
 in the Software without restriction, including without limitation the rights
 to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
 copies of the Software, and to permit persons to whom the Software is
 furnished to do so, subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included in
 all copies or substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
 IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
 FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT.  IN NO EVENT SHALL THE
 AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
 LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
 OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN
 THE SOFTWARE.
"""
COPYRIGHT_A = f"""Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: quillpress
Source: https://github.com/quillpress/quillpress

Files: *
Copyright: 2009, 2010, 2013-2015 by the Quillpress Authors
License: MIT

Files: debian/*
Copyright: 2015 Tomas Brandt <tbrandt@example.org>
License: MIT

License: MIT
 {MIT}"""
COPYRIGHT_B = f"""Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: Lattice
Upstream-Contact: Sabine Pohl <sabine@lattice.example>
Source: https://github.com/latticexml/lattice
Copyright: Copyright (C) Lattice maintainers

Files: *
Copyright:
 Copyright (C) 1998-2000 Open Source Software Centre Ltd and Carl Cooper
 Copyright (C) 2001-2017 Lattice maintainers
License: MIT

Files: debian/*
Copyright:
 Copyright (C) 1998-2000 Adrian Dicarlo <adicarlo@example.org>
 Copyright (C) 2000-2007 Arno van Rijn <arno@example.org>
 Copyright (C) 2013-     Laszlo Borbas <lborbas@example.org>
License: MIT

License: MIT
 {MIT}"""


def test_two_packages_copyright_files_of_one_licence_are_distinct(
        cli: Cli, hashing_archive: MakeArchive) -> None:
    """Two projects' copyright files under one licence: other names, holders, maintainers
    and years (60 shingles of its own on one side, 23 on the other), the licence's body the
    same. A version bumped in one of them is its near copy; the other project's file is not,
    and a prune of near-identical groups must keep it."""
    bumped = COPYRIGHT_A.replace("2013-2015", "2013-2016").encode()
    path = hashing_archive({"a/copyright": COPYRIGHT_A.encode(),
                            "b/copyright": COPYRIGHT_B.encode(), "c/copyright": bumped})
    groups = _dedupe(cli, path)["groups"]
    assert isinstance(groups, list)
    near = [g["paths"] for g in groups if g["kind"] == "near-identical"]
    assert near == [["src/a/copyright", "src/c/copyright"]], groups
    pruned = _dedupe(cli, path, "--prune", *WITH_NEAR)["prune"]
    assert isinstance(pruned, dict) and pruned["paths"] == ["src/c/copyright"], pruned


def test_a_copyright_file_with_a_licence_more_is_not_pruned_as_a_copy(
        cli: Cli, hashing_archive: MakeArchive) -> None:
    """libxt's copyright file is libxcomposite's plus the holders and licence of more files
    (113 shingles the other lacks): Jaccard 0.73, and the side that changed less holds 5, so
    it was near-identical and the default prune removed it, losing that text (README: a copy's
    text "stays in the archive through the representative")."""
    more = ("\nFiles: src/Shell.c src/Vendor.c\nCopyright: 1987, 1988 by Digital Equipment "
            "Corporation, Maynard, Massachusetts, and 2003, 2019 Thomas Dickey\nLicense: "
            "HPND\n Permission to use, copy, modify, and distribute this software and its "
            "documentation for any purpose and without fee is hereby granted, provided that "
            "the above copyright notice appear in all copies and that both that copyright "
            "notice and this permission notice appear in supporting documentation.\n .\n "
            "DIGITAL DISCLAIMS ALL WARRANTIES WITH REGARD TO THIS SOFTWARE, INCLUDING ALL "
            "IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS, IN NO EVENT SHALL DIGITAL BE "
            "LIABLE FOR ANY SPECIAL, INDIRECT OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES "
            "WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN ACTION OF "
            "CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF OR IN CONNECTION "
            "WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.\n")
    path = hashing_archive({"a/copyright": COPYRIGHT_A.encode(),
                            "b/copyright": (COPYRIGHT_A + more).encode()})
    pruned = _dedupe(cli, path, "--prune", *WITH_NEAR)["prune"]
    assert isinstance(pruned, dict) and pruned["paths"] == [], pruned


@contextmanager
def _read_only(path: Path) -> Iterator[None]:
    """`path` read-only even for root (who ignores the mode bits): chattr +i where we are
    root, chmod otherwise."""
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(path)], capture_output=True,
                          check=False).returncode:
            pytest.skip("chattr +i is not available here")
        undo = ["chattr", "-i", str(path)]
    else:
        mode = path.stat().st_mode
        path.chmod(mode & ~0o222)
        undo = ["chmod", oct(mode & 0o7777)[2:], str(path)]
    try:
        yield
    finally:
        subprocess.run(undo, check=True)


def test_a_read_only_archive_or_folder_is_read_and_a_write_says_why_not(
        cli: Cli, hashing_archive: MakeArchive, tmp_path: Path) -> None:
    """A read-only archive file, or one in a read-only folder, answers every reader; a writer
    gets one line (exit 3) that says what is read-only, and the file is left as it was.
    SQLite's own words ("unable to open database file" for an archive `ls` had just read)
    named neither."""
    path = hashing_archive({"a.md": b"The rooftop garden is watered at six.\n"})
    new = tmp_path / "new.md"
    new.write_text("Parking permits are renewed each January.\n")
    before = path.read_bytes()
    copy = path.with_name("copy.bmin")
    copy.write_bytes(before)
    for locked, says in ((path, "the archive file is read-only"),
                         (path.parent, f"its folder {path.parent} is read-only")):
        with _read_only(locked):
            for reader in (("ls", path), ("verify", path), ("info", path),
                           ("search", path, "rooftop", "--mode", "lexical")):
                assert cli(*reader).returncode == 0, (locked, reader)
            for writer in (("add", path, new), ("rm", path, "src/a.md")):
                done = cli(*writer)
                assert done.returncode == 3, (locked, writer, done.stderr)
                assert done.stderr.startswith("briefmin: error: ") \
                    and done.stderr.count("\n") == 1, done.stderr
                assert says in done.stderr, (writer, done.stderr)
            # a merge with nothing to add writes nothing: no warning of space kept
            same = cli("merge", path, copy) if locked == path else None
            assert same is None or (same.returncode == 0 and "warning" not in same.stderr), same
        assert path.read_bytes() == before
    # an archive made in a read-only folder: said so, not "unable to open database file"
    with _read_only(path.parent):
        done = cli("add", path.parent / "new.bmin", new, "--model", HASHING)
    assert done.returncode == 3 and done.stderr.count("\n") == 1, done.stderr
    assert f"its folder {path.parent} is read-only" in done.stderr, done.stderr
    assert not (path.parent / "new.bmin").exists()


def test_a_pending_journal_in_a_read_only_folder_is_named_not_a_full_disk(
        cli: Cli, hashing_archive: MakeArchive) -> None:
    """A writer killed mid-commit leaves a journal that SQLite rolls back before anyone
    reads; in a read-only folder it cannot, and readers said `cannot write (disk I/O
    error); ... free some space`. They say what is read-only and what to do now; once the
    folder is writable again the archive reads as before the killed write."""
    path = hashing_archive({f"{k}.md": f"Brief {k}: rota of week {k}.\n".encode()
                            for k in range(300)})
    subprocess.run([sys.executable, "-c", (
        "import os, sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
        "c.execute('PRAGMA cache_size=2'); c.execute('BEGIN IMMEDIATE'); "
        "c.execute('DELETE FROM briefs'); os._exit(0)"), str(path)], check=True)
    assert Path(f"{path}-journal").exists()
    with _read_only(path.parent):
        done = cli("ls", path)
        assert done.returncode == 3 and done.stderr.count("\n") == 1, done.stderr
        assert "must be rolled back" in done.stderr and "read-only" in done.stderr
        assert "free some space" not in done.stderr
    assert len(cli("ls", path).stdout.splitlines()) == 300


def test_a_ci_check_of_no_new_brief_checks_nothing_and_says_so(
        cli: Cli, hashing_archive: MakeArchive, tmp_path: Path) -> None:
    """A pull request that changes no brief: `git diff --name-only … | briefmin dedupe A
    --from - --fail` exited 2 on the empty list, and README's `$(git diff …)` form ran the
    whole archive's dedupe, failing on duplicates the pull request never touched. Given
    folders holding no brief (a Debian package's `copyright`, `METADATA`: no --include glob)
    compared nothing, said "2 brief(s) compared" and passed."""
    text = b"Copies of the quarterly report go to the board by Friday.\n"
    path = hashing_archive({"a.md": text, "b.md": text})
    assert cli("dedupe", path, "--fail").returncode == 1  # the archive's own duplicates
    for given in ("", "\n"):
        done = cli("dedupe", path, "--from", "-", "--fail", input=given)
        assert done.returncode == 0, done.stderr
        assert "nothing to check: the path list - is empty" in done.stderr
    as_json = cli("dedupe", path, "--from", "-", "--fail", "--json", input="")
    assert as_json.returncode == 0, as_json.stderr
    document = json.loads(as_json.stdout)
    assert document["groups"] == [] and document["new"] == [] and document["briefs"] == 0
    debian = tmp_path / "debian"
    debian.mkdir()
    (debian / "copyright").write_bytes(text)
    (debian / "METADATA").write_bytes(text)
    done = cli("dedupe", path, debian, "--fail")
    assert done.returncode == 0, done.stderr
    assert "no brief in the given paths" in done.stderr and "compared" not in done.stderr
    assert "--include" in done.stderr
    named = cli("dedupe", path, debian / "copyright", "--fail")  # a file named is taken
    assert named.returncode == 1, named.stderr


def test_a_commit_torn_by_a_lost_journal_is_found_or_restores_exactly(
        cli: Cli, hashing_archive: MakeArchive, tmp_path: Path) -> None:
    """A kill mid-commit whose journal is then deleted (a cleanup script, a copy without the
    `-journal` file) leaves some pages of the new state and some of the old. Every such mix
    is either reported by `verify` (exit 1 or 3, one line on stderr for 3) or restores
    every brief byte-exact as of one of the two states."""
    texts = {f"doc/{i:02}.txt": (f"Changelog entry {i}: upload {i}.{i * 7 % 10}-1 fixes "
                                 f"CVE-2026-{1000 + i} in the parser; thanks to maintainer "
                                 f"number {i}.\n" * (3 + i % 5)).encode() for i in range(24)}
    path = hashing_archive(texts)
    before_bytes = path.read_bytes()
    later = tmp_path / "later"
    for i in range(12):
        name = later / f"doc/{i:02}.txt" if i % 2 else later / f"new/{i:02}.txt"
        name.parent.mkdir(parents=True, exist_ok=True)
        name.write_bytes(texts[f"doc/{i:02}.txt"] + b"Reviewed again.\n" * (i + 1))
    assert cli("add", path, later / "doc", later / "new").returncode == 0
    after_bytes = path.read_bytes()
    states = []
    for data in (before_bytes, after_bytes):
        path.write_bytes(data)
        with Archive.open(path) as archive:
            states.append({r.path: archive.read(r) for r in archive.records()})
    page = 4096
    pages = [i for i in range(max(len(before_bytes), len(after_bytes)) // page)
             if before_bytes[i * page:(i + 1) * page] != after_bytes[i * page:(i + 1) * page]]
    rng = random.Random(3)
    found = 0
    for trial in range(16):
        base, other = (before_bytes, after_bytes) if trial % 2 else (after_bytes, before_bytes)
        torn = bytearray(base)
        for i in rng.sample(pages, rng.randint(1, len(pages) - 1)):
            torn.extend(bytes(max(0, i * page - len(torn))))  # a page past the old end
            torn[i * page:(i + 1) * page] = other[i * page:(i + 1) * page]
        path.write_bytes(bytes(torn))
        done = cli("verify", path)
        assert done.returncode in (0, 1, 3), done.stderr
        assert "Traceback" not in done.stderr
        if done.returncode == 3:
            assert done.stderr.count("\n") == 1, done.stderr
        if done.returncode:
            found += 1
            continue
        with Archive.open(path) as archive:
            assert {r.path: archive.read(r) for r in archive.records()} in states
    assert found >= 4, found  # the mixes are not all harmless: verify has work here


def test_an_archived_name_with_glob_characters_selects_itself_only(
        cli: Cli, hashing_archive: MakeArchive) -> None:
    """`Draft [1].md` (a browser's or a share's name for a second copy) is also a glob whose
    class matches `Draft 1.md`: `restore --stdout` of that exact name printed both briefs'
    bytes run together, and `rm 'b*.md'` of a brief named so removed `bx.md`.
    A selector that is an archived path takes that path; a glob that names no brief is still
    a glob."""
    files = {"Draft [1].md": b"Budget approved for the Lisbon offsite.\n",
             "Draft 1.md": b"The printer on floor two is replaced in May.\n",
             "b*.md": b"A star in a file name, from a Windows share.\n",
             "bx.md": b"Unrelated: the parking rota for March.\n"}
    path = hashing_archive(files)
    done = cli("restore", path, "src/Draft [1].md", "--stdout")
    assert done.returncode == 0, done.stderr
    assert done.stdout == files["Draft [1].md"].decode()
    listed = cli("ls", path, "src/b?.md", "--json")  # a glob still matches as one
    assert [r["path"] for r in json.loads(listed.stdout)] == ["src/b*.md", "src/bx.md"]
    assert cli("rm", path, "src/b*.md").returncode == 0
    with Archive.open(path) as archive:
        assert sorted(r.path for r in archive.records()) == [
            "src/Draft 1.md", "src/Draft [1].md", "src/bx.md"]


def test_a_folder_named_like_a_checksum_selects_its_briefs_only(
        cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A year folder is also a sha256 prefix: `rm A 2024` removed every brief whose checksum
    starts with 2024 too (here `notes.md`: a healthy archive losing a brief no one named).
    A selector that is an archived folder takes that folder only; a prefix that is no path
    is still a checksum."""
    monkeypatch.chdir(tmp_path)
    notes = b"Meeting notes 59280: the rota for March.\n"
    assert hashlib.sha256(notes).hexdigest().startswith("2024")
    Path("2024").mkdir()
    Path("2024/q1.md").write_text("First quarter plan.\n")
    Path("notes.md").write_bytes(notes)
    assert cli("add", "a.bmin", "2024", "notes.md", "--model", HASHING, "-q").returncode == 0
    listed = cli("ls", "a.bmin", "2024", "--json")
    assert [r["path"] for r in json.loads(listed.stdout)] == ["2024/q1.md"]
    assert cli("rm", "a.bmin", "2024").returncode == 0
    with Archive.open(tmp_path / "a.bmin") as archive:
        assert [r.path for r in archive.records()] == ["notes.md"]
    by_sum = cli("restore", "a.bmin", "2024", "--stdout")
    assert (by_sum.returncode, by_sum.stdout) == (0, notes.decode())


def test_an_archived_name_selects_itself_only_at_a_version_or_snapshot_that_lacks_it(
        cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stateful audit (session 50): the "is it an archived name" test looked only at the
    briefs left after `--version N` or `--snapshot`, so `rm A 'notes/Draft [1].md' --version
    2` (a name with one version) fell back to the glob and removed version 2 of
    `notes/Draft 1.md`, exit 0; `restore`, `ls` and `rm` of a folder named like a checksum
    took the brief of that checksum. Such a selector takes nothing there: exit 2."""
    monkeypatch.chdir(tmp_path)
    Path("notes").mkdir()
    Path("notes/Draft [1].md").write_text("Draft one, the bracketed name.\n")
    Path("notes/Draft 1.md").write_text("Draft one, the plain name.\n")
    assert cli("add", "a.bmin", "notes", "--model", HASHING, "-q").returncode == 0
    Path("notes/Draft 1.md").write_text("The plain name's second version.\n")
    assert cli("add", "a.bmin", "notes", "-q").returncode == 0
    for command in (("rm",), ("restore", "--stdout")):
        done = cli(command[0], "a.bmin", "notes/Draft [1].md", *command[1:], "--version", "2")
        assert done.returncode == 2, (command, done.stdout)
        assert "no brief matches 'notes/Draft [1].md' at version 2" in done.stderr
    with Archive.open(tmp_path / "a.bmin") as archive:
        assert sorted((r.path, r.version) for r in archive.records(all_versions=True)) == [
            ("notes/Draft 1.md", 1), ("notes/Draft 1.md", 2), ("notes/Draft [1].md", 1)]
    # a folder named like the checksum of another brief's version 2 (found by search)
    second = next(f"{k:04d}" for k in range(10**6) if hashlib.sha256(
        f"Report {k}, its second version.\n".encode()).hexdigest().startswith("cafe"))
    Path("cafe").mkdir()
    Path("cafe/x.md").write_text("A folder named like a checksum.\n")
    Path("f").mkdir()
    Path("f/y.md").write_text("Report, its first version.\n")
    assert cli("add", "b.bmin", "cafe", "f", "--model", HASHING, "-q").returncode == 0
    Path("f/y.md").write_text(f"Report {second}, its second version.\n")
    assert cli("add", "b.bmin", "f", "-q").returncode == 0
    # (snapshot 2 is the add of f alone: cafe/ is not in it)
    for command in (("restore", "--stdout", "--version", "2"), ("rm", "--version", "2"),
                    ("ls", "--snapshot", "2"), ("restore", "--stdout", "--snapshot", "2")):
        done = cli(command[0], "b.bmin", "cafe", *command[1:])
        assert done.returncode == 2, (command, done.stdout)
        assert "no brief matches 'cafe'" in done.stderr
    with Archive.open(tmp_path / "b.bmin") as archive:
        assert len(archive.records(all_versions=True)) == 3


def test_literal_selectors_never_glob_so_a_retried_rm_takes_nothing_else(
        cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once `notes/Draft [1].md` is removed, no archived name is left for that selector to
    be, so a retried `rm` reads it as the glob it also is and removes `notes/Draft 1.md`.
    With `--literal` a selector is an exact path or folder only: the retry exits 2 and
    removes nothing; `ls` and `restore` take neither globs nor sha256 prefixes either."""
    monkeypatch.chdir(tmp_path)
    Path("notes").mkdir()
    Path("notes/Draft [1].md").write_text("Draft one, the bracketed name.\n")
    Path("notes/Draft 1.md").write_text("Draft one, the plain name.\n")
    Path("notes/bx.md").write_text("The parking rota for March.\n")
    assert cli("add", "a.bmin", "notes", "--model", HASHING, "-q").returncode == 0
    for _ in range(2):  # the retry: exit 2, and nothing else removed
        done = cli("rm", "a.bmin", "notes/Draft [1].md", "--literal")
    assert done.returncode == 2 and "no brief matches 'notes/Draft [1].md'" in done.stderr
    with Archive.open(tmp_path / "a.bmin") as archive:
        records = archive.records()
    assert sorted(r.path for r in records) == ["notes/Draft 1.md", "notes/bx.md"]
    digest = next(r.sha256 for r in records if r.path == "notes/bx.md")
    for selector in ("notes/b?.md", digest[:8]):
        for command in (("ls",), ("restore", "--stdout")):
            refused = cli(command[0], "a.bmin", selector, *command[1:], "--literal")
            assert refused.returncode == 2, (selector, command, refused.stdout)
        assert cli("ls", "a.bmin", selector, "--json").returncode == 0  # a glob, a prefix
    folder = cli("ls", "a.bmin", "notes/", "--literal", "--json")  # folders still select
    assert [r["path"] for r in json.loads(folder.stdout)] == ["notes/Draft 1.md", "notes/bx.md"]
    # without it, the retry's selector is a glob: the README says to pass --literal
    assert cli("rm", "a.bmin", "notes/Draft [1].md").returncode == 0
    with Archive.open(tmp_path / "a.bmin") as archive:
        assert [r.path for r in archive.records()] == ["notes/bx.md"]


def test_a_retried_rm_with_missing_ok_exits_0_and_leaves_the_file_as_it_was(
        cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A script's `rm` that ran (or was killed after its commit) and runs again found no
    brief and exited 2: a retrying wrapper saw a failure. With --missing-ok (`rm -f`), a
    selector that takes nothing is skipped, the others are removed, and a run that removes
    nothing leaves the file's bytes as they were (no rewrite)."""
    monkeypatch.chdir(tmp_path)
    Path("notes").mkdir()
    for name in ("Draft [1].md", "Draft 1.md", "plan.md"):
        Path("notes", name).write_text(f"The brief named {name}.\n")
    assert cli("add", "a.bmin", "notes", "--model", HASHING, "-q").returncode == 0
    retry = ("rm", "a.bmin", "notes/Draft [1].md", "--literal", "--missing-ok", "--json")
    first = cli(*retry)
    assert first.returncode == 0 and [r["path"] for r in json.loads(first.stdout)] == [
        "notes/Draft [1].md"]
    before = hashlib.sha256(Path("a.bmin").read_bytes()).hexdigest()
    again = cli(*retry)
    assert (again.returncode, json.loads(again.stdout)) == (0, [])
    assert hashlib.sha256(Path("a.bmin").read_bytes()).hexdigest() == before
    mixed = cli("rm", "a.bmin", "notes/ghost.md", "notes/plan.md", "--missing-ok")
    assert mixed.returncode == 0 and "removed 1 version(s) of 1 brief(s)" in mixed.stderr
    with Archive.open(tmp_path / "a.bmin") as archive:
        assert [r.path for r in archive.records()] == ["notes/Draft 1.md"]
    assert cli("rm", "a.bmin", "notes/ghost.md").returncode == 2  # without it: as before


def test_rm_refuses_a_sha256_prefix_that_starts_two_contents(
        cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`rm A 3f2e` removed every brief whose sha256 starts so (of 10,000 briefs, about one
    in 7 shares its first 4 digits with another): as git refuses an ambiguous
    short hash, rm now refuses one that starts two contents' sha256 (exit 2, nothing
    removed); copies of one content are one content. `ls` still lists every match, and an
    upper-case prefix (as `sha256sum` on Windows prints) selects as the lower-case one."""
    monkeypatch.chdir(tmp_path)
    seen: dict[str, int] = {}
    for k in range(10**6):  # two texts whose sha256 share their first 4 digits
        head = hashlib.sha256(f"Report {k}.\n".encode()).hexdigest()[:4]
        if head in seen:
            first, second = seen[head], k
            break
        seen[head] = k
    Path("f").mkdir()
    Path("f/a.md").write_text(f"Report {first}.\n")
    Path("f/a-copy.md").write_text(f"Report {first}.\n")
    Path("f/b.md").write_text(f"Report {second}.\n")
    assert cli("add", "a.bmin", "f", "--model", HASHING, "-q").returncode == 0
    listed = cli("ls", "a.bmin", head, "--json")
    assert sorted(r["path"] for r in json.loads(listed.stdout)) == [
        "f/a-copy.md", "f/a.md", "f/b.md"]
    refused = cli("rm", "a.bmin", head)
    assert refused.returncode == 2 and "starts the sha256 of 2 different briefs" in \
        refused.stderr and "Traceback" not in refused.stderr
    sha_a = hashlib.sha256(f"Report {first}.\n".encode()).hexdigest()
    upper = cli("ls", "a.bmin", sha_a[:10].upper(), "--json")
    assert sorted(r["path"] for r in json.loads(upper.stdout)) == ["f/a-copy.md", "f/a.md"]
    assert cli("rm", "a.bmin", sha_a[:10]).returncode == 0  # one content, two copies
    with Archive.open(tmp_path / "a.bmin") as archive:
        assert [r.path for r in archive.records()] == ["f/b.md"]
    both = cli("ls", "a.bmin", "--all-versions", "--snapshot", "latest")
    assert both.returncode == 2 and "not both" in both.stderr


def test_a_damaged_input_of_a_merge_is_named_with_its_brief(
        cli: Cli, hashing_archive: MakeArchive, tmp_path: Path) -> None:
    """Merging several hosts' archives, one with a damaged solid block, ended in `stored item
    does not decompress (…)`: which of the inputs, which brief? The error names both and
    what to run; OUT keeps only what was committed before (nothing here)."""
    path = hashing_archive({f"d/{i}.txt": f"Host note {i}: the backup of rack {i} ran at "
                            f"0{i}:00 and took {i * 3} minutes.\n".encode() for i in range(6)})
    with sqlite3.connect(path) as db:
        (block, data), = db.execute("SELECT id, data FROM blocks LIMIT 1")
        db.execute("UPDATE blocks SET data = ? WHERE id = ?",
                   (data[:len(data) // 2] + bytes([data[len(data) // 2] ^ 0x10])
                    + data[len(data) // 2 + 1:], block))
    out = tmp_path / "all.bmin"
    done = cli("merge", out, path)
    assert done.returncode == 3, done.stderr
    assert done.stderr.count("\n") == 1 and str(path) in done.stderr, done.stderr
    assert "src/d/" in done.stderr and "briefmin verify" in done.stderr, done.stderr
    assert not out.exists()  # a new OUT that got nothing is not left behind


def test_a_merge_never_vouches_for_an_inputs_damaged_rows(
        cli: Cli, hashing_archive: MakeArchive, tmp_path: Path) -> None:
    """An input whose vector segment is damaged (`verify` exit 1) merged with exit 0, and OUT
    verified clean: the wrong codes, rewritten under OUT's fresh checksums, were vouched for.
    Same for a damaged brief row (its path). A merge now checks each input's row checksums
    first and refuses, naming the input and what is damaged, before writing anything."""
    files = {f"d/{i}.txt": f"Rack {i} was moved to room {i + 10} on the {i + 1}th; the "
             f"cabling plan lists {i * 4} ports.\n".encode() for i in range(6)}
    for table, column in (("vec_segments", "int8"), ("briefs", "path")):
        path = hashing_archive(files, name=f"{table}.bmin")
        with sqlite3.connect(path) as db:
            (rowid, value), = db.execute(f"SELECT rowid, {column} FROM {table} LIMIT 1")
            changed = (value[:-1] + bytes([value[-1] ^ 1]) if isinstance(value, bytes)
                       else value + "x")
            db.execute(f"UPDATE {table} SET {column} = ? WHERE rowid = ?", (changed, rowid))
        assert cli("verify", path).returncode == 1
        out = tmp_path / f"all-{table}.bmin"
        done = cli("merge", out, path)
        assert done.returncode == 3, (table, done.stderr)
        assert done.stderr.count("\n") == 1 and str(path) in done.stderr, done.stderr
        assert "damaged" in done.stderr and "briefmin verify" in done.stderr, done.stderr
        assert not out.exists()  # a new OUT that got nothing is not left behind


def test_an_add_never_vouches_for_a_damaged_vector_segment(cli: Cli, chdir_tmp: Path
                                                          ) -> None:
    """Eight small segments merge into one at the next add (LSM tiers): a damaged one among
    them was rewritten under a fresh checksum, and `verify`, which had named it, passed. The
    damaged segment is now left out of merges: adds go on, and `verify` still names it."""
    for i in range(7):
        Path(f"n{i}.md").write_text(f"Rack {i} moved to room {i + 3}; {i * 4} ports.\n")
        assert cli("add", "a.bmin", f"n{i}.md", "--model", HASHING).returncode == 0
    with sqlite3.connect("a.bmin") as db:
        (segment, codes), = db.execute("SELECT id, int8 FROM vec_segments ORDER BY id "
                                       "LIMIT 1 OFFSET 2")
        db.execute("UPDATE vec_segments SET int8 = ? WHERE id = ?",
                   (codes[:-1] + bytes([codes[-1] ^ 1]), segment))
    assert cli("verify", "a.bmin").returncode == 1
    for i in range(7, 16):  # past the next merge, twice over
        Path(f"n{i}.md").write_text(f"Rack {i} moved to room {i + 3}; {i * 4} ports.\n")
        assert cli("add", "a.bmin", f"n{i}.md").returncode == 0
    done = cli("verify", "a.bmin")
    assert done.returncode == 1 and "vector segment" in done.stdout + done.stderr, done.stdout
    with Archive.open("a.bmin") as archive:
        assert len(archive.records()) == 16


def test_rm_refuses_to_rewrite_a_damaged_vector_segment(
        cli: Cli, hashing_archive: MakeArchive) -> None:
    """`rm` of one brief rewrites the segment holding its rows with the rest: a damaged
    segment came out under a fresh checksum and `verify` passed. Removing (rm, the prunes) or
    re-encoding (`tier`) rows of a damaged segment now fails (exit 3, one line, the archive
    unchanged)."""
    path = hashing_archive({f"d/{i}.txt": f"Rack {i} moved to room {i + 3}; {i * 4} ports "
                            f"and {i} patch panels.\n".encode() for i in range(6)})
    with sqlite3.connect(path) as db:
        (segment, codes), = db.execute("SELECT id, int8 FROM vec_segments")
        db.execute("UPDATE vec_segments SET int8 = ? WHERE id = ?",
                   (codes[:-1] + bytes([codes[-1] ^ 1]), segment))
    before = path.read_bytes()
    done = cli("rm", path, "src/d/0.txt")
    assert done.returncode == 3, (done.stdout, done.stderr)
    assert done.stderr.count("\n") == 1 and "vector segment" in done.stderr, done.stderr
    assert path.read_bytes() == before
    assert cli("verify", path).returncode == 1


# Third round (branch trust4): source code, Node.js's API docs, data files, eight languages,
# CRLF/BOM/UTF-16 and one-line briefs, nobody tuned on them. Node's API pages open every
# function's section with its history in an HTML comment that holds a YAML list.
NODE_API = """# Console

<!--introduced_in=v0.10.13-->

> Stability: 2 - Stable

The `node:console` module provides a simple debugging console that is similar to the
JavaScript console mechanism provided by web browsers.

### `console.assert(value[, ...message])`

<!-- YAML
added: v0.1.101
changes:
  - version: v10.0.0
    pr-url: https://github.com/nodejs/node/pull/17706
    description: The implementation is now spec compliant and does not throw
                 anymore.
-->

* `value` {any} The value tested for being truthy.
* `...message` {any} All arguments besides `value` are used as error message.

`console.assert()` writes a message if `value` is falsy or omitted. It only writes a
message and does not otherwise affect execution. The output always starts with
`"Assertion failed"`. If provided, `message` is formatted using `util.format()`.

### `console.count([label])`

<!-- YAML
added: v8.3.0
-->

* `label` {string} The display label for the counter. **Default:** `'default'`.

Maintains an internal counter specific to `label` and outputs to `stdout` the number of
times `console.count()` has been called with the given `label`.
"""


def _comments_whole(output: str, source: str) -> bool:
    """Every HTML comment the output opens is closed, and is one of the source's comments."""
    whole = set(re.findall(r"<!--.*?-->", source, re.S))
    rest = output
    for comment in re.findall(r"<!--.*?-->", output, re.S):
        if comment not in whole:
            return False
        rest = rest.replace(comment, "", 1)
    return "<!--" not in rest and "-->" not in rest


def test_minify_never_cuts_an_html_comment(cli: Cli, chdir_tmp: Path) -> None:
    """Node's API pages: the YAML comment's list lines read as list items, so the comment was
    cut after `changes:` and its `-->` dropped; rendered, the unclosed comment hid every
    kept line after it (11 of 20 nodejs API pages at --ratio 0.5 had one)."""
    (chdir_tmp / "console.md").write_text(NODE_API)
    for budget in (["--ratio", "0.3"], ["--ratio", "0.5"], ["--ratio", "0.8"],
                   ["--max-words", "12"], ["--max-words", "40"]):
        done = cli("minify", "console.md", "--json", *budget)
        assert done.returncode == 0, done.stderr
        (document,) = json.loads(done.stdout)
        assert document["words_out"] <= document["budget"]
        assert _comments_whole(document["text"], NODE_API), (budget, document["text"])


SCHEMA = ('{"$schema": "http://json-schema.org/draft-07/schema#", "title": "ISO 15924", '
          '"type": "object", "properties": {"15924": {"type": "array", "items": {"type": '
          '"object", "properties": {"alpha_4": {"description": "Four letter code", "type": '
          '"string"}, "name": {"description": "Name of the script, a property", "type": '
          '"string"}, "property": {"description": "Property of the script", "type": "string"}}, '
          '"required": ["alpha_4", "name", "property"], "additionalProperties": false}}}}\n')
MODULE = ('class Sample:\n    """A sample of a random process: its values, in the order they were '
          'drawn, and the statistics a report shows beside them."""\n\n    def __init__(self, '
          'values):\n        self._values = list(values)\n\n    @property\n    def mean(self):\n'
          '        """The arithmetic mean of the values drawn so far."""\n'
          '        return sum(self._values) / len(self._values)\n')
PROFILE = ("Your home folder holds your files. The home folder of a new user is made from "
           "/etc/skel; move a home to another disk with usermod. Keep home small: a home "
           "over quota locks its user out.\n")
SCRIPT = ('#!/bin/sh\nset -e\ncache="${XDG_CACHE_HOME:-$HOME/.cache}/briefs"\n'
          'mkdir -p "$cache"\nexec rsync -a "$cache/" backup:/srv/briefs/\n')


def test_a_decorator_or_a_shell_variable_is_a_literal_the_top_hit_must_hold(
        cli: Cli, hashing_archive: MakeArchive) -> None:
    """`@property` (a decorator, an @-mention) and `$HOME` (a shell variable) name one thing
    like `--si` does, but they were read as the plain words `property` and `home`: a JSON
    schema full of `properties` ranked above the one module that uses `@property` (on the
    audit's 196 documents, the top hit held no `@property` in hybrid and lexical modes)."""
    path = hashing_archive({"schema.json": SCHEMA.encode(), "sample.py": MODULE.encode(),
                            "profile.txt": PROFILE.encode(), "sync.sh": SCRIPT.encode()})
    for query, holder in (("@property", "src/sample.py"), ("$HOME", "src/sync.sh")):
        for mode in ("lexical", "hybrid"):
            done = cli("search", path, "--json", "--mode", mode, query)
            assert done.returncode == 0, done.stderr
            hits = json.loads(done.stdout)
            assert hits[0]["path"] == holder and hits[0]["literals"] == 1, (query, mode, hits)
            assert all(h["literals"] == 0 for h in hits[1:]), (query, mode, hits)


# Two of a cloud SDK's short modules: each is Apache's 13-line header, a docstring, imports and
# two small functions of its own (gcloud's billing utils and certificate manager client have
# this shape; 45 of its 113 modules of 0.7-1.2 KB were in the default prune's list).
APACHE_HEADER = """# -*- coding: utf-8 -*- #
# Copyright {year} Google LLC. All Rights Reserved.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#    http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""
BILLING = APACHE_HEADER.format(year=2016) + '''
"""Util for billing."""

from __future__ import absolute_import
from __future__ import division
from __future__ import unicode_literals

from googlecloudsdk.api_lib.util import apis


def GetMessages():
  """Import and return the appropriate projects messages module."""
  return apis.GetMessagesModule('cloudbilling', 'v1')


def GetClient():
  """Import and return the appropriate projects client.

  Returns:
    a cloudbilling client
  """
  return apis.GetClientInstance('cloudbilling', 'v1')
'''
CERTIFICATES = APACHE_HEADER.format(year=2020) + '''"""Base API client library."""

from __future__ import absolute_import
from __future__ import division
from __future__ import unicode_literals

from googlecloudsdk.api_lib.util import apis

API_VERSION = 'v1'


def GetClientInstance(api_version=API_VERSION):
  return apis.GetClientInstance('certificatemanager', api_version)
'''


def test_a_module_with_a_line_added_or_a_function_renamed_is_a_near_copy(
        cli: Cli, hashing_archive: MakeArchive) -> None:
    """Real near copies of a short module stay near-identical (on the audit's code: 10 of 10
    line-added and function-renamed copies were grouped with their original)."""
    added = BILLING.replace("\n\n\ndef GetClient", "\n\n# TODO(b/123456): drop after v2.\n"
                            "\ndef GetClient").encode()
    renamed = BILLING.replace("GetMessages", "GetMessagesModule").encode()
    path = hashing_archive({"billing/utils.py": BILLING.encode(), "copy/added.py": added,
                            "copy/renamed.py": renamed})
    groups = _dedupe(cli, path)["groups"]
    assert isinstance(groups, list)
    assert [g["paths"] for g in groups if g["kind"] == "near-identical"] == [
        ["src/billing/utils.py", "src/copy/added.py", "src/copy/renamed.py"]], groups


# the rest of the folder: modules that carry the same header (boilerplate is what many briefs
# of the archive hold; in the audit's folder, 113 modules did)
FOLDER = {f"{api}/util.py": (APACHE_HEADER.format(year=2017 + k % 4) + f'''"""{doc}"""

from googlecloudsdk.{package} import {module}


def {function}({argument}):
  """{detail}"""
  return {module}.{call}({argument}, '{api}')
''').encode() for k, (api, doc, package, module, function, argument, detail, call) in enumerate([
    ("pubsub", "Topic helpers for Cloud Pub/Sub.", "core", "log", "ListTopics", "project",
     "Yields every topic of a project, oldest first.", "Topics"),
    ("dns", "Record set parsing for Cloud DNS zones.", "calliope", "arg_parsers", "ParseRecord",
     "line", "Splits one zone file line into name, type and data.", "Parse"),
    ("kms", "Key ring paths for Cloud KMS.", "command_lib.kms", "resource_args", "KeyRingPath",
     "location", "Builds the relative name of a key ring in a location.", "Path"),
    ("spanner", "Backup schedules for Spanner databases.", "api_lib.spanner", "backups",
     "NextBackup", "schedule", "Works out when a cron schedule next fires.", "Next"),
    ("redis", "Maintenance windows of Memorystore instances.", "api_lib.redis", "windows",
     "Window", "instance", "Reads the weekly window of an instance, if it has one.", "Read"),
    ("tasks", "Queue throttling flags for Cloud Tasks.", "command_lib.tasks", "flags",
     "AddRateFlags", "parser", "Adds the dispatch rate and concurrency flags.", "Add"),
    ("iap", "Tunnel ports for Identity-Aware Proxy.", "api_lib.iap", "tunnel", "LocalPort",
     "request", "Picks a free local port for a tunnel to a VM.", "Pick"),
    ("scc", "Finding filters for Security Command Center.", "api_lib.scc", "filters",
     "SeverityFilter", "levels", "Turns severity names into a filter expression.", "Join"),
])}


def test_two_modules_sharing_a_licence_header_are_not_near_copies(
        cli: Cli, hashing_archive: MakeArchive) -> None:
    """The header is most of each short module, so their shingle Jaccard reaches 0.65, and the
    code of each is small enough (36 and 19 shingles of its own) to pass the small-edit caps:
    near-identical, and the default prune removed one module, with the code only it held. The
    header is boilerplate: every module of the folder holds it, so it is no evidence of a copy
    (without it, the two share nothing)."""
    path = hashing_archive({"billing/utils.py": BILLING.encode(),
                            "certificate_manager/api_client.py": CERTIFICATES.encode(), **FOLDER})
    groups = _dedupe(cli, path)["groups"]
    assert isinstance(groups, list)
    assert not [g for g in groups if g["kind"] == "near-identical"], groups
    pruned = _dedupe(cli, path, "--prune", *WITH_NEAR)["prune"]
    assert isinstance(pruned, dict) and pruned["paths"] == [], pruned


def test_copies_given_at_once_do_not_make_their_original_boilerplate(
        cli: Cli, hashing_archive: MakeArchive, tmp_path: Path) -> None:
    """Nine copies of an archived brief, each with one word changed, given at once: each of
    the original's shingles was held by ten briefs, so all were boilerplate, no copy was
    near-identical, and the copies-only CI gate passed them (an audit's finding; one copy
    alone failed it). The given briefs' holdings count only for their own pair. A new module
    beside archived ones that share its licence header is still no copy."""
    sentence = ("The nightly export job copies the billing ledger to the reporting bucket at "
                "two in the morning, checks every row against the ledger's own totals, writes "
                "a summary to the finance channel and retries twice before it pages whoever is "
                "on call that week.")
    words = sentence.split(" ")
    path = hashing_archive({"export.md": (" ".join(words) + "\n").encode(),
                            **FOLDER})
    given = tmp_path / "given"
    given.mkdir()
    for k in range(9):
        edited = [w.upper() if n == 3 * k + 2 else w for n, w in enumerate(words)]
        (given / f"copy{k}.md").write_text(" ".join(edited) + "\n")
    gate = ("--fail-on", "exact,normalized,near-identical", "--json")
    done = cli("dedupe", path, given, *gate)
    assert done.returncode == 1, done.stderr
    kinds = {path: g["kind"] for g in json.loads(done.stdout)["groups"]
             for path in g["paths"]}
    assert sorted(Path(p).name for p, kind in kinds.items() if kind == "near-identical") == \
        sorted(["export.md", *(f"copy{k}.md" for k in range(9))]), kinds
    module = given.parent / "module"
    module.mkdir()
    (module / "utils.py").write_text(BILLING)
    done = cli("dedupe", path, module, *gate)
    assert done.returncode == 0, done.stdout


@pytest.mark.parametrize("args", [["ls", ""], ["diff", "", "1", "2"], ["prune", ""],
                                  ["merge", "out.bmin", ""], ["merge", "", "a.bmin"]])
def test_an_empty_archive_name_is_named_as_such(
        hashing_archive: MakeArchive, chdir_tmp: Path, args: list[str]) -> None:
    """'' read as the current folder (`.: is a folder, not an archive file`, exit 3), or as a
    missing archive named by nothing (`: no such archive`): an audit's finding."""
    hashing_archive({"a.md": b"The parking rota for March.\n"}, name="a.bmin")
    done = run_briefmin(*args, cwd=chdir_tmp)  # a real process: click's errors as one line
    said = done.stderr.decode()
    assert done.returncode == 2, said
    assert said.count("\n") == 1 and "'' names no archive" in said, said
    assert not (chdir_tmp / "out.bmin").exists()


@pytest.mark.parametrize("args", [
    ["add", "a.bmin", "no\nsuch.md"],               # a path that does not exist
    ["ls", "no\nsuch.bmin"],                        # an archive that does not exist
    ["dedupe", "a.bmin", "no\nsuch.md"],
    ["minify", "no\nsuch.md"],
])
def test_an_error_naming_a_path_with_a_newline_is_one_line(
        cli: Cli, hashing_archive: MakeArchive, chdir_tmp: Path, args: list[str]) -> None:
    """A name may hold a newline (`ls` shows it as `\\n`), but the error that named it printed
    it raw: `briefmin: error: no` on one line and `such.md: no such file or directory` on the
    next, which a log reader takes for two messages."""
    hashing_archive({"a.md": b"The parking rota for March.\n"}, name="a.bmin")
    done = cli(*args)
    assert done.returncode in (2, 3), done.stderr
    assert done.stderr.count("\n") == 1 and "no\\nsuch" in done.stderr, done.stderr


def test_a_path_list_with_crlf_line_ends_is_read_like_one_with_lf(cli: Cli, chdir_tmp: Path
                                                                   ) -> None:
    """A list saved on Windows (`dir /b > list.txt`, an editor's CRLF): every path kept its
    `\\r` and was `no such file or directory`, in a message whose `\\r` did not show."""
    (chdir_tmp / "briefs").mkdir()
    (chdir_tmp / "briefs" / "a b.md").write_text("Lisbon offsite budget approved.\n")
    (chdir_tmp / "briefs" / "ü.md").write_text("Zürich office moves in May.\n")
    (chdir_tmp / "list.txt").write_bytes("briefs/a b.md\r\nbriefs/ü.md\r\n\r\n".encode())
    done = cli("add", "a.bmin", "--from", "list.txt", "--model", HASHING, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["added"] == ["briefs/a b.md", "briefs/ü.md"]


def test_a_refused_merge_leaves_no_new_archive_behind(cli: Cli, chdir_tmp: Path) -> None:
    """`merge all.bmin real.bmin hashing.bmin` exited 6 (different models) but left all.bmin
    behind, empty and bound to the first input's model: README says a refused merge leaves OUT
    unchanged, and a later `merge all.bmin hashing.bmin` then failed for the stale model."""
    (chdir_tmp / "a.md").write_text("The rooftop garden is watered every morning at six.\n")
    (chdir_tmp / "b.md").write_text("The parking permits are renewed each January.\n")
    assert cli("add", "one.bmin", "a.md", "--model", "hashing:384").returncode == 0
    assert cli("add", "two.bmin", "b.md", "--model", "hashing:256").returncode == 0
    assert cli("add", "small.bmin", "b.md", "--model", "hashing:384",
               "--profile", "small").returncode == 0
    for other, status in (("two.bmin", 6), ("small.bmin", 2)):
        done = cli("merge", "all.bmin", "one.bmin", other)
        assert done.returncode == status and done.stderr.count("\n") == 1, done.stderr
        assert not (chdir_tmp / "all.bmin").exists(), other
    assert cli("merge", "all.bmin", "two.bmin").returncode == 0
    # an OUT that existed before keeps what it holds
    done = cli("merge", "all.bmin", "one.bmin")
    assert done.returncode == 6
    with Archive.open(chdir_tmp / "all.bmin") as archive:
        assert [r.path for r in archive.records()] == ["b.md"]


def test_a_copy_of_a_module_is_a_near_copy_among_modules_sharing_its_header(
        cli: Cli, hashing_archive: MakeArchive) -> None:
    """Boilerplate is left out of the evidence, not the text around it: a module's copies,
    whose shared code only they hold, stay near-identical in a folder where every module holds
    the header; in CI mode too, where the new brief's shingles count with the archive's."""
    added = BILLING.replace("\n\n\ndef GetClient", "\n\n# TODO(b/123456): drop after v2.\n"
                            "\ndef GetClient").encode()
    renamed = BILLING.replace("GetMessages", "GetMessagesModule").encode()
    path = hashing_archive({"billing/utils.py": BILLING.encode(), "copy/added.py": added,
                            "copy/renamed.py": renamed,
                            "certificate_manager/api_client.py": CERTIFICATES.encode(), **FOLDER})
    groups = _dedupe(cli, path)["groups"]
    assert isinstance(groups, list)
    assert [g["paths"] for g in groups if g["kind"] == "near-identical"] == [
        ["src/billing/utils.py", "src/copy/added.py", "src/copy/renamed.py"]], groups
    new = path.parent / "new"
    new.mkdir()
    (new / "billing_copy.py").write_text(BILLING.replace("cloudbilling", "cloudbilling2"))
    (new / "certificates.py").write_text(CERTIFICATES.replace("Base API", "Base"))
    done = cli("dedupe", path, new / "billing_copy.py", new / "certificates.py", "--json")
    assert done.returncode == 0, done.stderr
    near = [g for g in json.loads(done.stdout)["groups"] if g["kind"] == "near-identical"]
    names = [[Path(p).name for p in g["paths"]] for g in near]
    assert ["utils.py", "billing_copy.py"] in names, near
    assert ["api_client.py", "certificates.py"] in names, near
    billing = {"utils.py", "added.py", "renamed.py", "billing_copy.py"}
    assert all(set(n) <= billing or set(n) == {"api_client.py", "certificates.py"}
               for n in names), near


def test_lost_vectors_stop_dedupe_and_warn_search(cli: Cli,
                                                  hashing_archive: Callable[..., Path]) -> None:
    """An audit deleted a vector segment: dedupe compared the briefs it still had vectors
    for, missed an exact copy among the others and passed a CI check (exit 0); search left
    them out silently. verify named the damage all along."""
    path = hashing_archive({"a.md": LONG.encode(), "b.md": LONG.encode(),
                            "c.md": b"Another brief on another topic.\n"})
    assert cli("dedupe", path, "--fail").returncode == 1  # the copy, before the damage
    with sqlite3.connect(path) as raw:
        raw.execute("DELETE FROM vec_segments")
    done = cli("dedupe", path, "--fail")
    assert done.returncode == 3 and "have no vectors (damage)" in done.stderr
    found = cli("search", path, "billing service")
    assert found.returncode == 0 and "vectors of stored briefs are missing" in found.stderr
    assert "vectors of stored briefs" not in cli("search", path, "billing",
                                                 "--mode", "lexical").stderr
    with Archive.open(path) as archive:
        assert not archive.verify().ok
