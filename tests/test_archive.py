"""The Archive API with the instant hashing encoder: storage, versions, selectors, rm, verify."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from briefmin import Archive, Source, add, iter_sources
from briefmin.errors import ArchiveError, InputError, ModelError, NewerFormatError
from briefmin.store import SEARCH_KINDS
from briefmin.text import is_binary

from . import surgery
from .conftest import HASHING
from .surgery import flip_stored_byte

MakeArchive = Callable[..., Path]


def open_new(path: Path) -> Archive:
    return Archive.open(path, write=True, create=True, model=HASHING)


def test_add_then_restore_is_byte_exact(hashing_archive: MakeArchive, tmp_path: Path) -> None:
    files = {"a.md": b"# A\n\nfirst brief\n", "sub/b.txt": b"second\r\nbrief\r\n",
             "sub/deep/c.rst": "caf\u00e9 \u20ac".encode()}
    path = hashing_archive(files)
    with Archive.open(path) as archive:
        records = archive.records()
        assert [r.path for r in records] == ["src/a.md", "src/sub/b.txt", "src/sub/deep/c.rst"]
        archive.restore(records, tmp_path / "out")
    for rel, data in files.items():
        assert (tmp_path / "out" / "src" / rel).read_bytes() == data


def test_identical_bytes_are_stored_once(hashing_archive: MakeArchive) -> None:
    path = hashing_archive({"one.md": b"same words here\n", "two.md": b"same words here\n"})
    with Archive.open(path) as archive:
        info = archive.info()
    assert info["briefs"] == 2 and info["unique_contents"] == 1


def test_changed_file_adds_a_version_and_old_stays_restorable(tmp_path: Path) -> None:
    brief = tmp_path / "brief.md"
    brief.write_bytes(b"version one of the plan\n")
    with open_new(tmp_path / "a.bmin") as archive:
        first = add(archive, iter_sources([str(brief)]))
        brief.write_bytes(b"version two of the plan, revised\n")
        second = add(archive, iter_sources([str(brief)]))
        third = add(archive, iter_sources([str(brief)]))
        assert len(first.added) == 1 and second.new_versions == [first.added[0]]
        assert third.unchanged == 1 and not third.added and not third.new_versions
        (latest,) = archive.records()
        (old,) = archive.records(version=1)
        assert (latest.version, latest.versions) == (2, 2)
        assert archive.read(old) == b"version one of the plan\n"
        assert archive.read(latest) == b"version two of the plan, revised\n"


def test_skips_empty_and_binary_with_reasons(hashing_archive: MakeArchive) -> None:
    path = hashing_archive({"empty.md": b"", "logo.md": b"\x89PNG\r\n\x1a\n\x00\x00\x01",
                            "ok.md": b"fine\n"})
    with Archive.open(path) as archive:
        assert [r.path for r in archive.records()] == ["src/ok.md"]


def test_add_report_lists_skips(tmp_path: Path) -> None:
    (tmp_path / "e.md").write_bytes(b"")
    (tmp_path / "b.md").write_bytes(b"\x00\x01\x02binary")
    with open_new(tmp_path / "a.bmin") as archive:
        report = add(archive, iter_sources([str(tmp_path / "e.md"), str(tmp_path / "b.md")]))
    assert {(s.name.rsplit("/", 1)[-1], s.reason) for s in report.skipped} == {
        ("e.md", "empty"), ("b.md", "binary, not text")}


@given(data=st.binary(min_size=1, max_size=5000))
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_arbitrary_text_bytes_round_trip(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "h.bmin"
    if path.exists():
        path.unlink()
    with open_new(path) as archive:
        report = add(archive, [Source("x.txt", None, data)])
        if is_binary(data):
            assert report.skipped and not report.added
            return
        (record,) = archive.records()
        assert archive.read(record) == data


def test_selectors_paths_folders_globs_and_sha_prefixes(hashing_archive: MakeArchive) -> None:
    path = hashing_archive({"x/a.md": b"alpha\n", "x/b.md": b"beta\n", "y/c.txt": b"gamma\n"})
    with Archive.open(path) as archive:
        names = lambda sel: [r.path for r in archive.records(sel)]  # noqa: E731
        assert names(["src/x"]) == ["src/x/a.md", "src/x/b.md"]
        assert names(["src/*/*.txt"]) == ["src/y/c.txt"]
        sha = archive.records(["src/x/b.md"])[0].sha256
        assert names([sha[:8]]) == ["src/x/b.md"]
        with pytest.raises(InputError, match="no brief matches 'nope'"):
            archive.records(["nope"])


def test_rm_removes_all_versions_and_reclaims_space(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_bytes(os.urandom(200_000).hex().encode())
    small = tmp_path / "small.txt"
    small.write_bytes(b"keep me\n")
    path = tmp_path / "a.bmin"
    with open_new(path) as archive:
        add(archive, iter_sources([str(big), str(small)]))
        big.write_bytes(os.urandom(200_000).hex().encode())
        add(archive, iter_sources([str(big)]))
    before = path.stat().st_size
    with Archive.open(path, write=True) as archive:
        removed = archive.rm([archive_name(big)])
        assert [r.version for r in removed] == [1, 2]
        assert [r.path for r in archive.records()] == [archive_name(small)]
        assert archive.verify().ok
        assert archive.info()["vectors"] == 1
    assert path.stat().st_size < before / 4


def test_rm_one_version_keeps_the_others(tmp_path: Path) -> None:
    brief = tmp_path / "b.md"
    with open_new(tmp_path / "a.bmin") as archive:
        for text in (b"one\n", b"two\n", b"three\n"):
            brief.write_bytes(text)
            add(archive, iter_sources([str(brief)]))
        archive.rm([archive_name(brief)], version=2)
        assert [r.version for r in archive.records(all_versions=True)] == [1, 3]


def archive_name(path: Path) -> str:
    from briefmin.sources import archive_name as name

    return name(str(path))


def test_long_text_gets_chunk_vectors_and_a_brief_vector(tmp_path: Path) -> None:
    long_text = " ".join(f"word{i}" for i in range(2000)).encode()
    with open_new(tmp_path / "a.bmin") as archive:
        add(archive, [Source("long.txt", None, long_text), Source("short.txt", None, b"hi\n")])
        vectors = archive.vectors()
        (long_id,) = {r.content_id for r in archive.records(["long.txt"])}
        chunks = vectors.content_ids == long_id
        assert chunks.sum() >= 8  # 2000 words in windows of 254 tokens with overlap
        starts = vectors.spans[chunks][:, 0]
        assert (starts[1:] > starts[:-1]).all()
        assert len(archive.vectors(kinds=(0, 2))) == 2  # one brief-level row each
        assert archive.verify().ok


def test_verify_names_the_damaged_brief(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.md", tmp_path / "bad.md"
    good.write_bytes(b"all good here\n" * 50)
    bad.write_bytes(b"soon broken\n" * 50)
    path = tmp_path / "a.bmin"
    with open_new(path) as archive:  # two adds: each brief in a block of its own
        add(archive, iter_sources([str(good)]))
        add(archive, iter_sources([str(bad)]))
    flip_stored_byte(path, archive_name(bad))
    with Archive.open(path) as archive:
        report = archive.verify()
        (good_record,) = archive.records([archive_name(good)])
        assert archive.read(good_record) == good.read_bytes()
    assert not report.ok
    # its block fails its checksum and its bytes their sha256: both name the bad brief only
    assert {p.paths for p in report.problems} == {(archive_name(bad),)}


def test_newer_format_is_refused(hashing_archive: MakeArchive) -> None:
    path = hashing_archive({"a.md": b"text\n"})
    surgery.execute(path, "PRAGMA user_version = 99")
    with pytest.raises(NewerFormatError, match="newer briefmin"):
        Archive.open(path)


@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty file"),
    (b"just some notes\n", "not a briefmin archive"),
    (b"PK\x03\x04" + bytes(100), "not a briefmin archive"),
])
def test_non_archives_are_refused(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "x.bmin"
    path.write_bytes(content)
    with pytest.raises(ArchiveError, match=message):
        Archive.open(path)
    assert path.read_bytes() == content


def test_foreign_sqlite_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    surgery.execute(path, "CREATE TABLE t (x)")
    with pytest.raises(ArchiveError, match="not a briefmin archive"):
        Archive.open(path, write=True)


def test_other_model_is_refused(hashing_archive: MakeArchive) -> None:
    path = hashing_archive({"a.md": b"text\n"})
    with pytest.raises(ModelError, match="was made with model 'hashing:384'"):
        Archive.open(path, write=True, model="hashing:256")


def test_hostile_names_never_escape_the_target(hashing_archive: MakeArchive,
                                               tmp_path: Path) -> None:
    path = hashing_archive({"a.md": b"payload\n"})
    target = tmp_path / "out"
    for evil in ("../x", "/etc/x", "a/../../x"):
        surgery.execute(path, "UPDATE briefs SET path = ?", (evil,))
        with Archive.open(path) as archive, pytest.raises(ArchiveError, match="escape"):
            archive.restore(archive.records(), target)
    assert not (tmp_path / "x").exists() and not list(target.rglob("x"))


def test_restore_refuses_symlinks_in_the_target(hashing_archive: MakeArchive,
                                                tmp_path: Path) -> None:
    path = hashing_archive({"dir/a.md": b"payload\n"})
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "out"
    (target / "src").mkdir(parents=True)
    (target / "src" / "dir").symlink_to(outside)
    with Archive.open(path) as archive, pytest.raises(ArchiveError, match="symlink"):
        archive.restore(archive.records(), target, force=True)
    assert list(outside.iterdir()) == []


def test_restore_does_not_overwrite_without_force(hashing_archive: MakeArchive,
                                                  tmp_path: Path) -> None:
    path = hashing_archive({"a.md": b"archived\n"})
    existing = tmp_path / "out" / "src" / "a.md"
    existing.parent.mkdir(parents=True)
    existing.write_bytes(b"mine\n")
    with Archive.open(path) as archive:
        with pytest.raises(InputError, match="--force"):
            archive.restore(archive.records(), tmp_path / "out")
        assert existing.read_bytes() == b"mine\n"
        archive.restore(archive.records(), tmp_path / "out", force=True)
    assert existing.read_bytes() == b"archived\n"


def test_dictionary_is_trained_once_enough_briefs_exist(tmp_path: Path) -> None:
    with open_new(tmp_path / "a.bmin") as archive:
        add(archive, [Source(f"b{i}.md", None,
                            (f"# Brief {i}\n\nGoal: ship feature {i} for team {i % 5}.\n"
                             "Constraints: budget, timeline, legal review.\n" * 30).encode())
                     for i in range(80)])
        info = archive.info()
        assert info["dictionaries"] == 1
        assert all(archive.read(r) for r in archive.records())
        assert archive.verify().ok


def test_format_1_archive_is_migrated_forward_and_stays_readable(tmp_path: Path) -> None:
    """A format-1 archive (one zstd frame per brief, no blocks table) opens for writing,
    migrates to the current format, and its old items still restore byte-exact."""
    from briefmin.store import schema

    path = tmp_path / "old.bmin"
    data = b"an old brief, stored by format 1\n"
    surgery.write_format_1(path, HASHING, "old.md", data)
    with pytest.raises(ArchiveError, match="older"):
        Archive.open(path)  # readers never migrate behind a writer's back
    new = tmp_path / "new.md"
    new.write_bytes(b"a new brief in a block\n")
    with Archive.open(path, write=True) as archive:
        assert archive.meta.format_version == schema.FORMAT_VERSION
        add(archive, iter_sources([str(new)]))
    with Archive.open(path) as archive:
        old_record, new_record = archive.records(["old.md", archive_name(new)])
        assert archive.read(old_record) == data
        assert archive.read(new_record) == new.read_bytes()


def test_damage_in_a_solid_block_spares_the_briefs_before_it(tmp_path: Path) -> None:
    rng = __import__("random").Random(5)
    words = ["plan", "budget", "launch", "risk", "owner", "scope", "legal", "design", "user"]
    files = {f"b{i:02d}.md": " ".join(rng.choice(words) + str(rng.randrange(999))
                                      for _ in range(400)).encode() for i in range(40)}
    path = tmp_path / "a.bmin"
    with open_new(path) as archive:
        add(archive, [Source(name, None, data) for name, data in files.items()])
    flip_stored_byte(path, "b00.md", where=0.9)
    with Archive.open(path) as archive:
        damaged = {p for problem in archive.verify().problems for p in problem.paths}
        readable = {r.path for r in archive.records() if r.path not in damaged}
        for record in archive.records():
            if record.path in readable:
                assert archive.read(record) == files[record.path]
    assert damaged and "b00.md" in readable  # the damage costs only what follows it


def test_vector_segments_are_merged_as_adds_accumulate(tmp_path: Path) -> None:
    """Many small adds leave a few large vector segments, not one per add, and searching and
    verifying still see every vector."""
    from briefmin.store import SEARCH_KINDS, SEGMENT_FANOUT

    os.chdir(tmp_path)
    with Archive.open("a.bmin", write=True, create=True, model=HASHING) as archive:
        for i in range(SEGMENT_FANOUT * 2 + 3):
            (tmp_path / f"b{i}.md").write_text(f"brief {i} about topic {i}\n")
            add(archive, iter_sources([f"b{i}.md"]))
        assert len(archive.vectors(SEARCH_KINDS)) == SEGMENT_FANOUT * 2 + 3
        assert archive.verify().ok
    sizes = surgery.segment_sizes(tmp_path / "a.bmin")
    assert sum(sizes) == SEGMENT_FANOUT * 2 + 3 and len(sizes) < SEGMENT_FANOUT


def test_restore_replaces_a_planted_leaf_symlink_and_never_follows_it(
        hashing_archive: MakeArchive, tmp_path: Path) -> None:
    path = hashing_archive({"a.md": b"archived\n"})
    outside = tmp_path / "outside.md"
    outside.write_bytes(b"not yours\n")
    (tmp_path / "out" / "src").mkdir(parents=True)
    (tmp_path / "out" / "src" / "a.md").symlink_to(outside)
    with Archive.open(path) as archive:
        archive.restore(archive.records(), tmp_path / "out", force=True)
    restored = tmp_path / "out" / "src" / "a.md"
    assert not restored.is_symlink() and restored.read_bytes() == b"archived\n"
    assert outside.read_bytes() == b"not yours\n"


def test_restore_reports_files_and_folders_in_the_way(hashing_archive: MakeArchive,
                                                      tmp_path: Path) -> None:
    path = hashing_archive({"dir/a.md": b"one\n", "b.md": b"two\n"})
    (tmp_path / "out" / "src").mkdir(parents=True)
    (tmp_path / "out" / "src" / "dir").write_bytes(b"a file where a folder goes\n")
    with Archive.open(path) as archive, pytest.raises(ArchiveError, match="not a folder"):
        archive.restore(archive.records(["src/dir/a.md"]), tmp_path / "out", force=True)
    (tmp_path / "out" / "src" / "b.md").mkdir()
    with Archive.open(path) as archive, pytest.raises(ArchiveError, match="folder is in"):
        archive.restore(archive.records(["src/b.md"]), tmp_path / "out", force=True)


def test_restore_of_many_folders_keeps_few_descriptors_open(
        hashing_archive: MakeArchive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from briefmin.safewrite import FolderWriter

    files = {f"d{i:03d}/e{i % 7}/f.md": f"brief {i}\n".encode() for i in range(300)}
    path = hashing_archive(files)
    most_open = 0
    real_folder = FolderWriter._folder

    def counting(self: FolderWriter, parts: tuple[str, ...]) -> int:
        nonlocal most_open
        fd = real_folder(self, parts)
        most_open = max(most_open, len(self._open))
        return fd

    monkeypatch.setattr(FolderWriter, "_folder", counting)
    with Archive.open(path) as archive:
        before = len(os.listdir("/proc/self/fd"))
        archive.restore(archive.records(), tmp_path / "out")
        assert len(os.listdir("/proc/self/fd")) == before  # all closed again
    assert most_open <= 4  # root, src, dNNN, eN: only the current path
    for name, data in files.items():
        assert (tmp_path / "out" / "src" / name).read_bytes() == data


def test_small_profile_stores_4_bit_codes_and_everything_still_works(tmp_path: Path) -> None:
    """`profile="small"`: half the rescoring bytes per row; codes read back as the int8 arrays
    search and dedupe use; rm and verify handle the packed rows; the profile is fixed at
    creation."""
    from briefmin.errors import UsageError

    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(12):
        (folder / f"b{i}.md").write_text(f"brief {i} about topic {i % 3}\n" * (i + 1))
    sizes = {}
    for profile in ("default", "small"):
        path = tmp_path / f"{profile}.bmin"
        with Archive.open(path, write=True, create=True, model=HASHING,
                          profile=profile) as archive:
            add(archive, iter_sources([str(folder)]))
            info = archive.info()
            assert info["quantization"]["profile"] == profile
            assert info["quantization"]["rescore_bits"] == (8 if profile == "default" else 4)
            sizes[profile] = info["vector_bytes"]
            stored = archive.vectors()
            codes = archive.all_int8(SEARCH_KINDS)
            peak = 127 if profile == "default" else 7
            assert codes.dtype == "int8" and int(abs(codes).max()) <= peak
            # reading some rows from disk gives the same codes as reading all
            rows = [0, len(stored) // 2, len(stored) - 1]
            assert (stored.int8(rows) == codes[rows]).all()
            archive.rm([archive.records()[0].path])
            assert archive.verify().ok
            assert len(archive.all_int8(SEARCH_KINDS)) == len(archive.vectors())
    # 384 int8 bytes a row become 192; ids, kinds, spans and binary codes stay
    assert sizes["small"] < 0.65 * sizes["default"]
    with pytest.raises(UsageError, match="made with profile 'small'"):
        Archive.open(tmp_path / "small.bmin", write=True, profile="default")
    with pytest.raises(UsageError, match="unknown profile"):
        Archive.open(tmp_path / "x.bmin", write=True, create=True, profile="tiny")
    assert not (tmp_path / "x.bmin").exists()


def test_a_format_2_archive_is_read_as_it_is_and_upgraded_by_a_writer(
        hashing_archive: MakeArchive) -> None:
    from briefmin.store import schema

    path = hashing_archive({"a.md": b"a brief from before profiles\n"})
    surgery.write_format_3(path)
    surgery.execute(path, "DELETE FROM meta WHERE key = 'rescore_bits'")
    surgery.execute(path, "PRAGMA user_version = 2")
    before = path.read_bytes()
    with Archive.open(path) as archive:  # readers need no migration
        assert archive.meta.profile == "default" and archive.verify().ok
        (record,) = archive.records()
        assert archive.read(record) == b"a brief from before profiles\n"
        assert record.added_at.endswith("+00:00") and record.encoding == "utf-8"
        assert len(archive.vectors()) == 1
    assert path.read_bytes() == before
    with Archive.open(path, write=True) as archive:
        assert archive.meta.format_version == schema.FORMAT_VERSION
        assert archive.meta.rescore_bits == 8
        assert archive.verify().ok
        assert archive.records()[0].added_at == record.added_at
