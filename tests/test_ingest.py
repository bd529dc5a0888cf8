"""ingest.py: the add report."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from briefmin import Archive, Source, add, iter_sources
from briefmin.store import blocks

from .conftest import HASHING, Cli


def open_new(path: Path) -> Archive:
    return Archive.open(path, write=True, create=True, model=HASHING)


def test_add_report_lists_skips(tmp_path: Path) -> None:
    (tmp_path / "e.md").write_bytes(b"")
    (tmp_path / "b.md").write_bytes(b"\x00\x01\x02binary")
    with open_new(tmp_path / "a.bmin") as archive:
        report = add(archive, iter_sources([str(tmp_path / "e.md"), str(tmp_path / "b.md")]))
    assert {(s.name.rsplit("/", 1)[-1], s.reason) for s in report.skipped} == {
        ("b.md", "binary, not text")}
    assert [name.rsplit("/", 1)[-1] for name in report.added] == ["e.md"]


def test_an_empty_file_is_stored_with_no_vectors_and_loads_no_model(tmp_path: Path) -> None:
    """A zero-byte file was skipped ("empty"), so a snapshot held its old bytes. It is a
    zero-byte content now, with no vector rows (nothing to mean: search never ranks it and
    dedupe never groups it), and a run of only empty files never loads the model. Empty
    stdin stays skipped: nothing was piped."""
    def no_model(_: str) -> object:
        raise AssertionError("the model was loaded for an empty file")

    for name in ("e.md", "f.md"):
        (tmp_path / name).write_bytes(b"")
    with open_new(tmp_path / "a.bmin") as archive:
        report = add(archive, iter_sources([str(tmp_path)]), encoder_factory=no_model)
        assert len(report.added) == 2 and report.skipped == []
        assert report.bytes_in == 0
        records = archive.records()
        assert {r.size for r in records} == {0} and len({r.content_id for r in records}) == 1
        assert archive.read(records[0]) == b""
        assert archive.info()["vectors"] == 0 and archive.verify().ok
        assert archive.vectors().missing == 0  # no vectors are called for, none lost
        (tmp_path / "g.md").write_bytes(b"words to mean\n")
        mixed = add(archive, iter_sources([str(tmp_path)]))
        assert mixed.added == [str(tmp_path / "g.md").lstrip("/")]
        assert archive.info()["vectors"] == 1 and archive.verify().ok
        piped = add(archive, [Source("in.md", None, b"")])
        assert [(s.name, s.reason) for s in piped.skipped] == [("in.md", "empty")]


def test_every_batch_takes_the_blocks_compressed_ahead_for_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The add plans each batch's new contents before the window is encoded, and the store
    compresses their blocks ahead: the plan must be what each batch then hands the store
    (a content repeated in a later batch, or stored by an earlier add, is not new again),
    or the work ahead is wasted. Random text, so no dictionary changes the frames."""
    rng = random.Random(4)

    def text(i: int) -> bytes:
        return f"brief {i} ".encode() + bytes(rng.choice(b"abcdefghij klmnop\n")
                                              for _ in range(500))

    first = [Source(f"old/b{i}.txt", None, text(i)) for i in range(100)]
    repeated = first[:30]  # stored by the first add: same bytes under new paths
    fresh = [text(i) for i in range(100, 400)]
    sources = [Source(f"new/b{i}.txt", None, data) for i, data in enumerate(fresh)]
    sources += [Source(f"again/b{i}.txt", None, s.read()) for i, s in enumerate(repeated)]
    sources += [Source(f"twice/b{i}.txt", None, data) for i, data in enumerate(fresh[::7])]
    rng.shuffle(sources)
    taken: list[bool] = []
    take = blocks.Blocks._take_ahead

    def counted(self: blocks.Blocks, digests: list[bytes], dict_id: int | None) -> object:
        found = take(self, digests, dict_id)
        taken.append(found is not None)
        return found

    with open_new(tmp_path / "a.bmin") as archive:
        add(archive, first)
        monkeypatch.setattr(blocks.Blocks, "_take_ahead", counted)
        report = add(archive, sources)
        assert archive.info()["dictionaries"] == 0 and archive.verify().ok
    assert len(report.added) == len(sources)
    # every batch with new contents found its blocks ahead (a batch of only repeated
    # contents has none to take)
    assert taken and all(taken)


def test_a_full_disk_after_the_last_commit_is_no_failed_add(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Giving freed pages back runs after the run's commits: a full disk there made `add` exit
    3, "the archive is unchanged", with every brief and the snapshot committed (a cron line
    `add && forget` then skipped its forget). Now it is the report's note, and the add is
    done."""
    import sqlite3
    from datetime import UTC, datetime

    from briefmin.ingest import SnapshotSpec
    from briefmin.store import connection

    real = connection.Connection.script

    def full_disk(self: connection.Connection, sql: str) -> None:
        if "incremental_vacuum" in sql:  # what SQLite's full disk becomes there
            full = sqlite3.OperationalError("database or disk is full")
            raise connection.archive_error("a.bmin", full) from full
        real(self, sql)

    real_query = connection.Connection.query

    def some_free(self: connection.Connection, sql: str, *args: Any, **kwargs: Any
                  ) -> list[Any]:  # a page to give back (an empty freelist skips the vacuum)
        return [(1,)] if sql == "PRAGMA freelist_count" else real_query(self, sql, *args,
                                                                         **kwargs)

    monkeypatch.setattr(connection.Connection, "script", full_disk)
    monkeypatch.setattr(connection.Connection, "query", some_free)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.md").write_text("The rota for March.\n")
    with open_new(tmp_path / "a.bmin") as archive:
        report = add(archive, iter_sources([str(tmp_path / "d")]),
                     snapshot=SnapshotSpec(datetime.now(UTC), "h", ("d",)))
    assert report.space_not_released == "database or disk is full"
    assert len(report.added) == 1 and report.snapshot is not None
    monkeypatch.undo()
    with Archive.open(tmp_path / "a.bmin") as archive:
        assert len(archive.records()) == 1 and len(archive.snapshots()) == 1


def test_a_ctrl_c_while_tidying_after_the_last_commit_ends_a_done_add(
        chdir_tmp: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Ctrl-C while `add` gave freed pages back (after its snapshot's commit) exited 130,
    "interrupted", with the night recorded, and a cron job that ran it again recorded the
    night twice (a crash audit's finding: 8 of 8 such interrupts). The run is done: exit 0,
    its summary, and the note that the space stays until the next run."""
    from briefmin.store import connection

    real, real_query = connection.Connection.script, connection.Connection.query

    def interrupted(self: connection.Connection, sql: str) -> None:
        if "incremental_vacuum" in sql:
            raise KeyboardInterrupt
        real(self, sql)

    def some_free(self: connection.Connection, sql: str, *args: Any, **kwargs: Any
                  ) -> list[Any]:
        return [(1,)] if sql == "PRAGMA freelist_count" else real_query(self, sql, *args,
                                                                         **kwargs)

    (chdir_tmp / "d").mkdir()
    (chdir_tmp / "d" / "a.md").write_text("The rota for March.\n")
    monkeypatch.setattr(connection.Connection, "script", interrupted)
    monkeypatch.setattr(connection.Connection, "query", some_free)
    done = cli("add", "a.bmin", "d", "--model", HASHING, "--json")
    monkeypatch.undo()
    assert done.returncode == 0, done.stderr
    assert "stays in the archive file (interrupted)" in done.stderr, done.stderr
    assert json.loads(done.stdout)["snapshot"]["files"] == 1
    with Archive.open(chdir_tmp / "a.bmin") as archive:
        assert len(archive.records()) == 1 and len(archive.snapshots()) == 1
