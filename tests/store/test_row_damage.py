"""Damage to one catalogue row, or a catalogue emptied or thinned by `rm`: readers keep
listing and restoring every other brief, a restore never writes a brief its row does not
vouch for, and the listings count what is stored."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from briefmin import Archive, Source, add
from briefmin.errors import ArchiveError, IntegrityError
from briefmin.ingest import SnapshotSpec
from briefmin.sources import iter_sources

from .. import surgery
from ..conftest import HASHING, Cli

MakeArchive = Callable[..., Path]

FILES = {"a/one.md": b"# One\n\nthe first brief\n", "a/two.md": b"# Two\n\nthe second one\n",
         "b/three.md": b"# Three\n\nand a third\n"}


def test_an_archive_emptied_by_rm_verifies_clean(hashing_archive: MakeArchive,
                                                 cli: Cli) -> None:
    """FTS5 writes its counts record at the first insert: emptied, it holds zeros where a
    rebuilt empty index holds none (verify called that damage)."""
    path = hashing_archive(FILES)
    assert cli("rm", path, "src").returncode == 0
    result = cli("verify", path, "--json")
    assert result.returncode == 0, result.stdout
    assert json.loads(result.stdout)["ok"]


def test_a_changed_counts_record_is_still_found(hashing_archive: MakeArchive,
                                                cli: Cli) -> None:
    path = hashing_archive(FILES)
    (block,), = surgery.execute(path, "SELECT block FROM lexical_data WHERE id = 1")
    surgery.execute(path, "UPDATE lexical_data SET block = ? WHERE id = 1",
                    (bytes([block[0] + 1]) + block[1:],))
    result = cli("verify", path, "--json")
    assert result.returncode == 1
    assert any("counts record" in p["message"]
               for p in json.loads(result.stdout)["problems"])


def flip_type_to_text(path: Path, brief: str) -> None:
    """What one flipped bit of a record header does to a blob cell: the same bytes, typed
    text (here not UTF-8)."""
    surgery.execute(path, "UPDATE contents SET sha256 = CAST(sha256 AS TEXT) WHERE id = "
                          "(SELECT content FROM briefs WHERE path = ?)", (brief,))


def test_a_sha256_typed_text_damages_only_its_brief(hashing_archive: MakeArchive,
                                                    tmp_path: Path, cli: Cli) -> None:
    path = hashing_archive(FILES)
    # a digest that is not UTF-8 (sqlite3 cannot even read the row as text) and holds a
    # control byte, as the damaged one does in SQLite's message
    surgery.execute(path, "UPDATE contents SET sha256 = ? WHERE id = (SELECT content FROM "
                          "briefs WHERE path = 'src/a/two.md')", (b"\xff\x1a" + bytes(30),))
    flip_type_to_text(path, "src/a/two.md")
    listed = cli("ls", path, "--json")
    assert listed.returncode == 0, listed.stderr
    assert [r["path"] for r in json.loads(listed.stdout)] == sorted(f"src/{p}" for p in FILES)
    for name in ("src/a/one.md", "src/b/three.md"):
        result = cli("restore", path, name, "--stdout")
        assert result.returncode == 0, result.stderr
        assert result.stdout.encode() == FILES[name[4:]]
    damaged = cli("restore", path, "src/a/two.md", "--stdout")
    assert damaged.returncode == 3 and "src/a/two.md" in damaged.stderr
    everything = cli("restore", path, "--to", tmp_path / "out")
    assert everything.returncode == 3 and "src/a/two.md" in everything.stderr
    assert not (tmp_path / "out" / "src/a/two.md").exists()
    verified = cli("verify", path, "--json")
    assert verified.returncode == 1
    assert {p for problem in json.loads(verified.stdout)["problems"]
            for p in problem["paths"]} == {"src/a/two.md"}


def test_an_error_quoting_damaged_text_holds_no_control_byte(hashing_archive: MakeArchive,
                                                             cli: Cli) -> None:
    path = hashing_archive(FILES)
    surgery.execute(path, "UPDATE contents SET sha256 = ? WHERE id = (SELECT content FROM "
                          "briefs WHERE path = 'src/a/two.md')", (b"\xff\x1a" + bytes(30),))
    flip_type_to_text(path, "src/a/two.md")
    # `info` sums the catalogue in SQL and reads no sha256: search's candidate lookup does
    with Archive.open(path) as archive, pytest.raises(ArchiveError) as raised:
        archive.latest_digests()
    assert "\\x1a" in str(raised.value)
    assert not any(ch < " " for ch in str(raised.value))


def test_a_brief_whose_row_fails_its_checksum_is_not_restored(
        hashing_archive: MakeArchive, tmp_path: Path, cli: Cli) -> None:
    """A changed path is still valid UTF-8 and its bytes still match their sha256: only the
    row's checksum tells that the name is not the one stored."""
    path = hashing_archive(FILES)
    surgery.execute(path, "UPDATE briefs SET path = 'src/a/twO.md' "
                          "WHERE path = 'src/a/two.md'")
    out = tmp_path / "out"
    result = cli("restore", path, "--to", out)
    assert result.returncode == 3
    assert "src/a/twO.md" in result.stderr and "catalogue row" in result.stderr
    restored = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert restored == ["src/a/one.md", "src/b/three.md"]  # the intact ones, byte-exact
    assert all((out / name).read_bytes() == FILES[name[4:]] for name in restored)
    stdout = cli("restore", path, "src/a", "--stdout")
    assert stdout.returncode == 3 and "twO.md" in stdout.stderr
    with Archive.open(path) as archive, pytest.raises(IntegrityError, match="catalogue row"):
        list(archive.in_order(archive.records(["src/a/twO.md"])))


def test_a_path_cell_that_is_not_utf8_damages_only_its_brief(
        hashing_archive: MakeArchive, tmp_path: Path, cli: Cli) -> None:
    """sqlite3 cannot read such a cell as text at all: `ls`, `search` and `restore` failed as
    a whole (exit 3), and `rm` could not remove it, so no `add` ran again either."""
    path = hashing_archive(FILES)
    surgery.execute(path, "UPDATE briefs SET path = CAST(? AS TEXT) WHERE path = "
                          "'src/a/two.md'", (b"src/a/tw\xff.md",))
    damaged = "src/a/tw\ufffd.md"  # as read: U+FFFD for the byte that is not UTF-8
    listed = cli("ls", path, "--json")
    assert listed.returncode == 0, listed.stderr
    assert [r["path"] for r in json.loads(listed.stdout)] == [
        "src/a/one.md", damaged, "src/b/three.md"]
    found = cli("search", path, "the first brief", "--json", "--model", HASHING)
    assert found.returncode == 0, found.stderr
    assert {r["path"] for r in json.loads(found.stdout)} >= {"src/a/one.md", damaged}
    out = tmp_path / "out"
    restored = cli("restore", path, "--to", out)
    assert restored.returncode == 3 and damaged in restored.stderr
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "src/a/one.md", "src/b/three.md"]
    digest = next(r["sha256"] for r in json.loads(listed.stdout) if r["path"] == damaged)
    assert cli("verify", path).returncode == 1
    removed = cli("rm", path, digest[:12])
    assert removed.returncode == 0, removed.stderr
    assert cli("verify", path).returncode == 0
    assert cli("add", path, tmp_path / "out", "--model", HASHING).returncode == 0


def night(day: int) -> SnapshotSpec:
    return SnapshotSpec(datetime(2026, 3, day, 2, 0, tzinfo=UTC), "host", ("vv",), ())


def three_versions(path: Path) -> None:
    with Archive.open(path, write=True, create=True, model=HASHING) as archive:
        for day, text in enumerate((b"one\n", b"two two\n", b"three three three\n"), 1):
            add(archive, [Source("vv/a.md", None, text)], snapshot=night(day))


@pytest.mark.parametrize("how", ["rm", "forget --prune"])
def test_listings_count_the_versions_left(tmp_path: Path, cli: Cli, how: str) -> None:
    path = tmp_path / "v.bmin"
    three_versions(path)
    if how == "rm":
        assert cli("rm", path, "vv/a.md", "--version", "2").returncode == 0
    else:
        assert cli("forget", path, "2", "--prune").returncode == 0
    info = json.loads(cli("info", path, "--json").stdout)
    listed = json.loads(cli("ls", path, "--all-versions", "--json").stdout)
    assert info["versions"] == 2 and [r["version"] for r in listed] == [1, 3]
    assert [r["versions"] for r in listed] == [2, 2]
    assert [r["versions"] for r in json.loads(cli("ls", path, "--json").stdout)] == [2]
    with Archive.open(path) as archive:
        (holder,), = archive.records_of_contents(
            [r.content_id for r in archive.records()]).values()
        assert (holder.version, holder.versions) == (3, 2)


def test_a_snapshot_lists_what_it_still_holds(tmp_path: Path, cli: Cli) -> None:
    path = tmp_path / "v.bmin"
    three_versions(path)
    assert cli("rm", path, "vv/a.md", "--version", "2").returncode == 0
    snapshots = json.loads(cli("snapshots", path, "--json").stdout)["snapshots"]
    assert [(s["id"], s["files"], s["bytes"]) for s in snapshots] == [
        (1, 1, 4), (2, 0, 0), (3, 1, 18)]
    assert json.loads(cli("ls", path, "--snapshot", "2", "--json").stdout) == []
    assert cli("verify", path).returncode == 0  # the rows were put with their checksums


def test_a_lost_contents_row_is_named_not_skipped(hashing_archive: MakeArchive,
                                                  tmp_path: Path, cli: Cli) -> None:
    """A brief row pointing at a contents row that is gone dropped out of the catalogue's
    join: `ls` left it out and `restore` exited 0 without it."""
    path = hashing_archive(FILES)
    surgery.execute(path, "DELETE FROM contents WHERE id = "
                          "(SELECT content FROM briefs WHERE path = 'src/a/two.md')")
    listed = cli("ls", path, "--json")
    assert listed.returncode == 3 and "src/a/two.md" in listed.stderr, listed.stderr
    assert "missing" in listed.stderr and "Traceback" not in listed.stderr
    one = cli("ls", path, "src/a/one.md", "--json")
    assert one.returncode == 0, one.stderr
    assert [r["path"] for r in json.loads(one.stdout)] == ["src/a/one.md"]
    info = cli("info", path, "--json")
    assert info.returncode == 0 and json.loads(info.stdout)["briefs"] == 3
    everything = cli("restore", path, "--to", tmp_path / "out")
    assert everything.returncode == 3 and "src/a/two.md" in everything.stderr
    for name in ("src/a/one.md", "src/b/three.md"):  # the others are written all the same
        assert (tmp_path / "out" / name).read_bytes() == FILES[name[4:]]
    assert not (tmp_path / "out" / "src/a/two.md").exists()
    streamed = cli("restore", path, "src/a/", "--stdout")
    assert streamed.returncode == 3 and "src/a/two.md" in streamed.stderr
    alone = cli("restore", path, "src/b/three.md", "--stdout")
    assert alone.returncode == 0 and alone.stdout.encode() == FILES["b/three.md"]
    verified = cli("verify", path, "--json")
    assert verified.returncode == 1
    assert any(problem["paths"] == ["src/a/two.md"] and "missing from the catalogue"
               in problem["message"] for problem in json.loads(verified.stdout)["problems"])


def test_a_lost_contents_row_of_a_latest_version_hides_no_older_one(
        hashing_archive: MakeArchive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The library reports the lost version; the older one stays readable by number."""
    path = hashing_archive(FILES)
    (tmp_path / "src" / "a" / "one.md").write_bytes(b"# One\n\nrewritten\n")
    monkeypatch.chdir(tmp_path)
    with Archive.open(path, write=True) as arch:
        add(arch, iter_sources(["src"], include=["*"]))
    surgery.execute(path, "DELETE FROM contents WHERE id = (SELECT content FROM briefs "
                          "WHERE path = 'src/a/one.md' AND version = 2)")
    with Archive.open(path) as arch:
        with pytest.raises(IntegrityError, match=r"src/a/one\.md"):
            arch.records(["src/a/one.md"])
        (older,) = arch.records(["src/a/one.md"], version=1)
        assert arch.read(older) == FILES["a/one.md"]


def test_an_add_stores_a_brief_whose_contents_row_is_lost_again(
        hashing_archive: MakeArchive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`add` took such a brief for new and stored a second row of its version 1."""
    path = hashing_archive(FILES)
    surgery.execute(path, "DELETE FROM contents WHERE id = "
                          "(SELECT content FROM briefs WHERE path = 'src/a/two.md')")
    monkeypatch.chdir(tmp_path)
    with Archive.open(path, write=True) as arch:
        report = add(arch, iter_sources(["src"], include=["*"]))
        assert report.unchanged == 2
    assert sorted(surgery.execute(path, "SELECT version FROM briefs WHERE path = "
                                        "'src/a/two.md'")) == [(1,), (2,)]
    with Archive.open(path) as arch:
        (again,) = arch.records(["src/a/two.md"])
        assert again.version == 2 and arch.read(again) == FILES["a/two.md"]


def test_an_add_never_links_a_brief_to_a_damaged_contents_row(
        hashing_archive: MakeArchive, tmp_path: Path, cli: Cli,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A lost contents row, and another row holding its sha256 (as a flipped id does): `add`
    found the brief's bytes by that sha256 and linked its new version to the damaged row,
    exit 0, so the brief stayed unrestorable (with a flipped id, `restore` wrote another
    brief's bytes under its name, exit 0). Now `add` refuses: exit 3, nothing added."""
    path = hashing_archive(FILES)
    (lost, digest), = surgery.execute(path, "SELECT c.id, c.sha256 FROM contents c JOIN "
                                            "briefs b ON b.content = c.id WHERE b.path = "
                                            "'src/a/two.md'")
    other, = [i for (i,) in surgery.execute(path, "SELECT id FROM contents") if i != lost][:1]
    surgery.execute(path, f"DELETE FROM contents WHERE id = {lost}")
    surgery.execute(path, "UPDATE contents SET sha256 = ? WHERE id = ?", (digest, other))
    before = surgery.execute(path, "SELECT id, path, version, content FROM briefs")
    monkeypatch.chdir(tmp_path)
    done = cli("add", path, "src")
    assert done.returncode == 3, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"briefmin: error: {path}: src/a/two.md: its bytes are stored as item {other}, whose "
        "catalogue entry is damaged, so it cannot be linked to them; nothing of this batch "
        f"was added; run `briefmin verify {path}` and `rm` the briefs it names, then add "
        "again")
    assert surgery.execute(path, "SELECT id, path, version, content FROM briefs") == before


def test_rm_removes_a_brief_whose_contents_row_is_lost(hashing_archive: MakeArchive,
                                                       cli: Cli) -> None:
    path = hashing_archive(FILES)
    surgery.execute(path, "DELETE FROM contents WHERE id = "
                          "(SELECT content FROM briefs WHERE path = 'src/a/two.md')")
    removed = cli("rm", path, "src/a/two.md", "--json")
    assert removed.returncode == 0, removed.stderr
    assert [(r["path"], r["sha256"]) for r in json.loads(removed.stdout)] == [
        ("src/a/two.md", "")]
    listed = cli("ls", path, "--json")
    assert listed.returncode == 0, listed.stderr
    assert [r["path"] for r in json.loads(listed.stdout)] == ["src/a/one.md", "src/b/three.md"]
    # its vectors and index entries went with it: nothing left over for verify to report
    verified = cli("verify", path, "--json")
    assert verified.returncode == 0, verified.stdout
    found = cli("search", path, "second", "--mode", "lexical", "--json")
    assert found.returncode == 0 and "two.md" not in found.stdout


def test_a_lost_contents_rows_id_is_never_given_to_a_new_brief(
        hashing_archive: MakeArchive, tmp_path: Path, cli: Cli,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The lost row held the highest content id: the next add gave that id to a new file,
    and the old brief row then restored the new file's bytes as its own, exit 0."""
    path = hashing_archive(FILES)
    (top,), = surgery.execute(path, "SELECT MAX(id) FROM contents")
    (owner,), = surgery.execute(path, "SELECT path FROM briefs WHERE content = ?", (top,))
    surgery.execute(path, "DELETE FROM contents WHERE id = ?", (top,))
    (tmp_path / "src" / "c").mkdir()
    (tmp_path / "src" / "c" / "new.md").write_bytes(b"# New\n\na secret new file\n")
    monkeypatch.chdir(tmp_path)
    assert cli("add", path, "src/c/new.md").returncode == 0
    old = cli("restore", path, owner, "--stdout")
    assert old.returncode == 3 and owner in old.stderr and "secret" not in old.stdout
    new = cli("restore", path, "src/c/new.md", "--stdout")
    assert new.returncode == 0 and new.stdout == "# New\n\na secret new file\n"
