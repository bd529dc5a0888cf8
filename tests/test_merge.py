"""`briefmin merge`: archives built apart equal the archive built at once, without
re-encoding; history kept in time order; idempotent; other models or profiles refused."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from briefmin import Archive, BriefRecord, ExitStatus, add, iter_sources
from briefmin.encoder import Encoder
from briefmin.search import Searcher, search_texts
from briefmin.store import rows
from briefmin.store.merge import merge

from . import surgery
from .conftest import (
    HASHING,
    Cli,
    cached_encoder,
    fixture_like_briefs,
    min_row_cosine,
    vector_rows,
)


def build(path: Path, root: Path, inputs: list[str], model: str | None = None,
          profile: str | None = None,
          encoder_factory: Callable[[str], Encoder] = cached_encoder) -> None:
    cwd = os.getcwd()
    os.chdir(root)
    try:
        with Archive.open(path, write=True, create=True, model=model, profile=profile) as arch:
            add(arch, iter_sources(inputs, include=["*"]), encoder_factory=encoder_factory)
    finally:
        os.chdir(cwd)


def listing(path: Path) -> list[tuple[str, int, int, str, int, str]]:
    """What `ls --all-versions` shows, but the stored size (blocks are re-packed) and the
    time (each build ran at its own)."""
    with Archive.open(path) as arch:
        return [(r.path, r.version, r.versions, r.sha256, r.size, r.encoding)
                for r in arch.records(all_versions=True)]


class _Remembering:
    """An encoder that encodes each text once and then gives its vector again: an archive
    of all briefs and four of a quarter each hold the same texts, and encoding them twice
    was most of this module's time (213 s of a 28-minute CI run). Merge carries vectors;
    how they were computed is not what it is tested for."""

    def __init__(self, inner: Encoder) -> None:
        self.inner, self.model_id = inner, inner.model_id
        self.dim, self.max_tokens = inner.dim, inner.max_tokens
        self.known: dict[str, np.ndarray] = {}

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return self.inner.token_spans(text)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        new = [t for t in dict.fromkeys(texts) if t not in self.known]
        if new:
            self.known.update(zip(new, self.inner.encode(new), strict=True))
        return (np.stack([self.known[t] for t in texts]) if texts
                else np.zeros((0, self.dim), np.float32))


@pytest.mark.model
def test_four_quarters_merged_equal_one_archive_of_all(tmp_path: Path, cli: Cli) -> None:
    root = tmp_path / "corpus"
    folder = fixture_like_briefs(root, 345)
    files = sorted(str(p.relative_to(root)) for p in folder.rglob("*") if p.is_file())
    remembering: dict[str, _Remembering] = {}

    def once(model_id: str) -> Encoder:
        return remembering.setdefault(model_id, _Remembering(cached_encoder(model_id)))

    whole = tmp_path / "all.bmin"
    build(whole, root, files, encoder_factory=once)
    quarters = [tmp_path / f"q{k}.bmin" for k in range(4)]
    for k, quarter in enumerate(quarters):
        build(quarter, root, files[k::4], encoder_factory=once)
    assert remembering and all(r.known for r in remembering.values())  # the real model's
    merged = tmp_path / "merged.bmin"
    done = cli("merge", merged, *quarters, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["versions_added"] == len(listing(whole)) > 390
    assert listing(merged) == listing(whole)
    with Archive.open(merged) as arch:
        assert arch.verify().ok
    # vectors carried over, not re-encoded: the same scan codes; the rescoring codes went
    # through a second rounding (each quarter was calibrated on its own first batch)
    assert {k: bits for k, (bits, _) in vector_rows(merged).items()} == \
        {k: bits for k, (bits, _) in vector_rows(whole).items()}
    assert min_row_cosine(merged, whole) >= 0.999

    queries = [line.split("\n", 1)[0].lstrip("# ") for line in
               (p.read_text(errors="replace") for p in sorted(folder.rglob("*.md"))[:60])]
    queries += ["pricing change for EU customers", "crash on startup", "licence audit"]
    vectors = cached_encoder(listing_model(whole)).encode(queries)
    with Archive.open(whole) as a, Archive.open(merged) as b:
        sa, sb = Searcher(a), Searcher(b)
        for query, vector in zip(queries, vectors, strict=True):
            ha = {h.path: h.score for h in sa.search(vector, 10)}
            hb = {h.path: h.score for h in sb.search(vector, 10)}
            # the same hits, at the same scores within the codes' rounding; a hit may trade
            # places with another only at the edge of the top 10 (a near-tie there)
            edge = min(min(ha.values()), min(hb.values())) + 0.005
            assert all(abs(ha[p] - hb[p]) <= 0.005 for p in ha.keys() & hb.keys()), query
            assert all(max(ha.get(p, 0), hb.get(p, 0)) <= edge
                       for p in ha.keys() ^ hb.keys()), query

    # the lexical index is built for the merged contents too: the same words, the same hits
    worded = [q for q in queries if any(c.isalnum() for c in q)]
    with Archive.open(whole) as a, Archive.open(merged) as b:
        for hits_a, hits_b in zip(search_texts(a, worded, 10, mode="lexical"),
                                  search_texts(b, worded, 10, mode="lexical"), strict=True):
            assert len(hits_a) == len(hits_b)
            if hits_a:  # above the 10th score, no tie can reorder the two lists
                cut = hits_a[-1].score
                assert {h.path: round(h.score, 6) for h in hits_a if h.score > cut} == \
                    {h.path: round(h.score, 6) for h in hits_b if h.score > cut}
        assert sum(len(h) for h in search_texts(b, worded, 10, mode="lexical")) > 0

    again = cli("merge", merged, *quarters, "--json")
    assert json.loads(again.stdout)["versions_added"] == 0
    assert listing(merged) == listing(whole)


def listing_model(path: Path) -> str:
    with Archive.open(path) as arch:
        return arch.meta.model_id


def test_versions_from_several_archives_keep_their_time_order(tmp_path: Path, cli: Cli) -> None:
    root = tmp_path / "src"
    root.mkdir()
    note = root / "note.md"
    built = []
    for n, text in enumerate(["first draft\n", "second draft\n", "first draft\n"]):
        note.write_text(text)
        (root / f"only-{n}.md").write_text(f"brief only in archive {n}\n")
        built.append(tmp_path / f"host{n}.bmin")
        build(built[-1], tmp_path, ["src"], model=HASHING)
        time.sleep(1.1)  # added_at has whole seconds
    out = tmp_path / "out.bmin"
    # the inputs in any order: versions follow their times, not the command line
    assert cli("merge", out, built[2], built[0], built[1]).returncode == 0
    with Archive.open(out) as arch:
        history = arch.records(["src/note.md"], all_versions=True)
        assert [(r.version, arch.read(r)) for r in history] == \
            [(1, b"first draft\n"), (2, b"second draft\n"), (3, b"first draft\n")]
        assert [r.added_at for r in history] == sorted(r.added_at for r in history)
        assert len(arch.records()) == 4 and arch.verify().ok
        contents = {r.sha256 for r in arch.records(all_versions=True)}
    # the third host's note is the first's bytes: stored once
    assert len(contents) == 5
    assert json.loads(cli("merge", out, *built, "--json").stdout)["versions_added"] == 0


def test_an_older_version_merged_after_a_newer_one_does_not_become_latest(
        tmp_path: Path, cli: Cli) -> None:
    root = tmp_path / "src"
    root.mkdir()
    note = root / "note.md"
    built = []
    for n, text in enumerate(["old text\n", "new text\n"]):
        note.write_text(text)
        built.append(tmp_path / f"host{n}.bmin")
        build(built[-1], tmp_path, ["src"], model=HASHING)
        time.sleep(1.1)  # added_at has whole seconds
    out = tmp_path / "out.bmin"
    # two merge runs: the newer host first, the older one after it
    assert cli("merge", out, built[1]).returncode == 0
    assert cli("merge", out, built[0]).returncode == 0
    with Archive.open(out) as arch:
        [latest] = arch.records(["src/note.md"])
        assert arch.read(latest) == b"new text\n" and latest.version == 2
        history = arch.records(["src/note.md"], all_versions=True)
        assert [arch.read(r) for r in history] == [b"old text\n", b"new text\n"]
        assert [r.added_at for r in history] == sorted(r.added_at for r in history)
        assert arch.verify().ok
    restored = tmp_path / "restored"
    assert cli("restore", out, "src/note.md", "--to", restored).returncode == 0
    assert (restored / "src/note.md").read_bytes() == b"new text\n"


@pytest.mark.parametrize("downgrade", [surgery.write_format_3, surgery.write_format_4,
                                       surgery.write_format_5])
def test_inputs_of_an_older_format_are_merged_as_they_are(
        tmp_path: Path, cli: Cli, downgrade: Callable[[Path], None]) -> None:
    root = tmp_path / "src"
    root.mkdir()
    for n in range(6):
        (root / f"b{n}.md").write_text(f"brief number {n} about topic {n % 3}\n")
    old, current = tmp_path / "old.bmin", tmp_path / "current.bmin"
    build(old, tmp_path, [f"src/b{n}.md" for n in range(3)], model=HASHING)
    build(current, tmp_path, [f"src/b{n}.md" for n in range(3, 6)], model=HASHING)
    reference = tmp_path / "reference.bmin"  # the same merge of the input before downgrading
    assert cli("merge", reference, current, old).returncode == 0
    downgrade(old)
    before = old.read_bytes()
    out = tmp_path / "out.bmin"
    done = cli("merge", out, current, old, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["versions_added"] == 6
    assert old.read_bytes() == before  # read as it is: never upgraded by a merge
    assert listing(out) == listing(reference)
    with Archive.open(out) as arch:
        assert arch.verify().ok and len(arch.records()) == 6
    assert min_row_cosine(out, reference) > 0.99999


def test_snapshots_are_carried_over_with_their_members(
        tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    def add_night(archive: Path, folder: str, host: str) -> None:
        done = cli("add", archive, folder, "--model", HASHING, "--host", host, "-q")
        assert done.returncode == 0, done.stderr
        time.sleep(1.1)  # added_at and snapshot times have whole seconds

    (tmp_path / "src").mkdir()
    (tmp_path / "docs").mkdir()
    one, two, out = tmp_path / "one.bmin", tmp_path / "two.bmin", tmp_path / "out.bmin"
    (tmp_path / "src/a.md").write_text("alpha, first draft\n")
    (tmp_path / "src/b.md").write_text("beta\n")
    add_night(one, "src", "h1")
    (tmp_path / "docs/c.md").write_text("gamma\n")
    add_night(two, "docs", "h2")
    (tmp_path / "src/a.md").write_text("alpha, second draft\n")
    (tmp_path / "src/b.md").unlink()
    add_night(one, "src", "h1")
    merged = json.loads(cli("merge", out, two, one, "--json").stdout)
    assert merged["snapshots_added"] == 3
    snaps = json.loads(cli("snapshots", out, "--json").stdout)["snapshots"]
    assert [(s["host"], s["files"]) for s in snaps] == [("h1", 2), ("h2", 1), ("h1", 1)]
    first, second = [s["id"] for s in snaps if s["host"] == "h1"]
    for snapshot, want in [(first, {"src/a.md": b"alpha, first draft\n", "src/b.md": b"beta\n"}),
                           (second, {"src/a.md": b"alpha, second draft\n"})]:
        target = tmp_path / f"restored-{snapshot}"
        done = cli("restore", out, "--snapshot", str(snapshot), "--to", target)
        assert done.returncode == 0, done.stderr
        got = {str(p.relative_to(target)): p.read_bytes()
               for p in target.rglob("*") if p.is_file()}
        assert got == want
    # the same again adds nothing
    again = json.loads(cli("merge", out, one, two, "--json").stdout)
    assert again["snapshots_added"] == 0 and again["versions_added"] == 0
    with Archive.open(out) as arch:
        assert len(arch.snapshots()) == 3 and arch.verify().ok


def night(cli: Cli, archive: Path, folder: str, text: str, day: int) -> None:
    """`add` of FOLDER/a.md holding TEXT, at 02:00 on 2026-01-DAY (the cwd is tmp_path)."""
    Path(folder).mkdir(exist_ok=True)
    (Path(folder) / "a.md").write_text(text)
    done = cli("add", archive, folder, "--model", HASHING, "-q", "--time",
               f"2026-01-0{day}T02:00:00Z")
    assert done.returncode == 0, done.stderr


def test_nightly_merges_of_a_growing_archive_continue_one_history(
        tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """A central archive that merges a host's archive every night: each merge started a new
    chain for the night it carried, so each night was some chain's newest. `tier` keeps the
    codes of what the newest snapshot of each folder holds, so it re-encoded nothing there
    (in the host's own archive, every old night), and every night wrote a span per file
    again. A night whose previous one OUT holds as its chain's newest now continues that
    chain: OUT tiers as the host's archive does, its spans grow by what changed, and every
    night restores as it was archived, with `add` on OUT and another merge after it."""
    monkeypatch.chdir(tmp_path)
    host, out = tmp_path / "host.bmin", tmp_path / "out.bmin"
    Path("f").mkdir()
    for k in range(12):
        Path("f", f"same{k}.md").write_text(f"A file no night changes, number {k}.\n")
    texts = {}
    for day in range(1, 6):
        texts[day] = f"Night {day}: the rota has {day} names on it.\n"
        night(cli, host, "f", texts[day], day)
        if day == 3:
            Path("f", "same0.md").unlink()  # a deletion carried too
        assert cli("merge", out, host, "-q").returncode == 0

    def dry_tier(archive: Path) -> Any:
        done = cli("tier", archive, "--older-than", "0h", "--codes", "binary", "--dry-run",
                   "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)["rows"]

    assert dry_tier(out) == dry_tier(host) == 4  # a.md's nights 1-4; before: 0 in OUT
    with Archive.open(out) as arch:
        chains, = arch._db.query("SELECT COUNT(DISTINCT chain) FROM snapshots")
        spans, = arch._db.query("SELECT COUNT(*) FROM snapshot_spans")
    assert chains == (1,)
    assert spans == (13 + 4,)  # the first night's 13 files, then a.md's new version nightly
    listed = json.loads(cli("snapshots", out, "--json").stdout)["snapshots"]
    assert [s["time"][:10] for s in listed] == [f"2026-01-0{d}" for d in range(1, 6)]
    for snapshot, day in zip(listed, range(1, 6), strict=True):
        shown = cli("restore", out, "f/a.md", "--snapshot", str(snapshot["id"]), "--stdout")
        assert shown.stdout == texts[day], (day, shown.stderr)
        restored = cli("restore", out, "--snapshot", str(snapshot["id"]), "--to", f"r{day}")
        assert restored.returncode == 0, restored.stderr
        assert (tmp_path / f"r{day}" / "f" / "same0.md").exists() == (day < 4)
        assert len(list((tmp_path / f"r{day}" / "f").iterdir())) == (13 if day < 4 else 12)
    night(cli, out, "f", "Night 6, archived in OUT itself.\n", 6)
    texts[6] = "Night 7: back on the host.\n"
    night(cli, host, "f", texts[6], 7)
    assert cli("merge", out, host, "-q").returncode == 0
    latest = cli("restore", out, "f/a.md", "--snapshot", "latest", "--stdout")
    assert latest.stdout == texts[6], latest.stderr
    assert cli("verify", out, "-q").returncode == 0
    again = cli("merge", out, host, "--json")  # run again: nothing to carry
    assert json.loads(again.stdout)["snapshots_added"] == 0, again.stdout
    # a night OUT forgot comes again with the next one (the input still holds it): the new
    # night goes on after the one before it all the same, the old one on a chain of its own
    assert cli("forget", out, str(listed[1]["id"]), "-q").returncode == 0
    night(cli, host, "f", "Night 8.\n", 8)
    assert cli("merge", out, host, "-q").returncode == 0
    with Archive.open(out) as arch:
        chain_of = dict(arch._db.query("SELECT time, chain FROM snapshots"))
    assert chain_of["2026-01-08T02:00:00+00:00"] == chain_of["2026-01-07T02:00:00+00:00"] \
        != chain_of["2026-01-02T02:00:00+00:00"]
    assert cli("verify", out, "-q").returncode == 0


def test_an_add_on_out_after_a_merge_records_what_it_reads(
        tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """A merged night claimed to hold every path's latest version in OUT (its `top` was
    OUT's highest brief id), so an unchanged `add` on OUT took `repeat`'s shortcut and copied
    it: the night held the host's older a.md, OUT's own add had changed it, and `restore
    --snapshot latest` wrote the host's bytes (a review's finding)."""
    monkeypatch.chdir(tmp_path)
    host, out = tmp_path / "host.bmin", tmp_path / "out.bmin"
    Path("f").mkdir()
    Path("f", "k.md").write_text("Kept as it is.\n")
    night(cli, host, "f", "The host's text.\n", 1)
    assert cli("merge", out, host, "-q").returncode == 0
    night(cli, out, "f", "Edited on OUT's machine.\n", 2)
    Path("f", "a.md").write_text("The host's text.\n")
    night(cli, host, "f", "The host's text.\n", 3)
    assert cli("merge", out, host, "-q").returncode == 0
    night(cli, out, "f", "Edited on OUT's machine.\n", 4)  # what OUT's folder holds
    latest = cli("restore", out, "f/a.md", "--snapshot", "latest", "--stdout")
    assert latest.stdout == "Edited on OUT's machine.\n", latest.stderr
    assert cli("verify", out, "-q").returncode == 0


def test_a_snapshot_of_the_same_names_but_other_bytes_is_carried_over(
        tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two machines of one host name archive the same folder at the same `--time`: their
    snapshots share time, host, roots and path names, not bytes. Merge dropped the second
    as already present, and a prune then deleted the version only it held (an audit's
    finding); and which of two such snapshots survived depended on the inputs' order."""
    monkeypatch.chdir(tmp_path)
    one, two = tmp_path / "one.bmin", tmp_path / "two.bmin"

    def add_at(archive: Path, day: int) -> None:
        done = cli("add", archive, "d", "--model", HASHING, "--host", "srv", "-q", "--time",
                   f"2026-02-0{day}T02:00:00Z")
        assert done.returncode == 0, done.stderr

    Path("d").mkdir()
    Path("d/a.md").write_text("one pricing\n")
    Path("d/b.md").write_text("two legal\n")
    add_at(one, 1)
    Path("d/b.md").write_text("two legal CHANGED\n")
    add_at(two, 1)
    merged = json.loads(cli("merge", one, two, "--json").stdout)
    assert merged["snapshots_added"] == 1
    Path("d/b.md").write_text("night two\n")
    add_at(one, 2)
    pruned = cli("prune", one, "--json")
    assert pruned.returncode == 0, pruned.stderr
    assert json.loads(pruned.stdout)["versions"] == 0  # every version a snapshot holds
    held = set()
    for snapshot in json.loads(cli("snapshots", one, "--json").stdout)["snapshots"]:
        target = tmp_path / f"r{snapshot['id']}"
        done = cli("restore", one, "--snapshot", str(snapshot["id"]), "--to", target)
        assert done.returncode == 0, done.stderr
        held.add((target / "d/b.md").read_bytes())
    assert held == {b"two legal\n", b"two legal CHANGED\n", b"night two\n"}
    # the same again adds nothing: the digest of what each holds matches
    again = json.loads(cli("merge", one, two, "--json").stdout)
    assert again["snapshots_added"] == 0 and again["versions_added"] == 0
    # a copy with a path rm'd holds fewer of the same under the same key: in either order
    # of the inputs the whole night stays restorable (merged first, the copy's night is
    # carried too: two snapshots, one holding less)
    copy = tmp_path / "copy.bmin"
    shutil.copyfile(two, copy)
    assert cli("rm", copy, "d/a.md").returncode == 0
    for k, order in enumerate(((two, copy), (copy, two))):
        out = tmp_path / f"out{k}.bmin"
        assert cli("merge", out, *order, "-q").returncode == 0
        snaps = json.loads(cli("snapshots", out, "--json").stdout)["snapshots"]
        assert 2 in [s["files"] for s in snaps], (order, snaps)
    # an input whose path was rm'd after OUT took its snapshots: the nights are not carried
    # again (a review's finding: each rm added a second copy of every night)
    assert cli("rm", two, "d/a.md").returncode == 0
    again = json.loads(cli("merge", one, two, "--json").stdout)
    assert again["snapshots_added"] == 0 and again["versions_added"] == 0


def test_versions_no_snapshot_held_stay_unprunable_when_merged(
        tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """A format-4 archive's history, and an upgraded archive's versions from before its
    snapshots, were in no snapshot a policy could forget; merged into an archive with
    snapshots they stay so: `forget --prune` there deleted every version but the latest."""
    monkeypatch.chdir(tmp_path)

    old, upgraded, out = tmp_path / "old.bmin", tmp_path / "up.bmin", tmp_path / "out.bmin"
    night(cli, old, "f", "f1\n", 1)
    night(cli, old, "f", "f2\n", 2)
    surgery.write_format_4(old)  # read by merge as it is, with no snapshots
    night(cli, upgraded, "g", "g1\n", 1)
    night(cli, upgraded, "g", "g2\n", 2)
    surgery.write_format_4(upgraded)
    night(cli, upgraded, "g", "g3\n", 3)  # upgrades it; g3 is its first snapshot's
    night(cli, out, "h", "h1\n", 1)
    night(cli, out, "h", "h2\n", 2)
    done = cli("merge", out, old, upgraded, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["versions_added"] == 5
    night(cli, out, "h", "h3\n", 4)
    pruned = cli("forget", out, "--keep-last", "1", "--prune", "--json")
    assert pruned.returncode == 0, pruned.stderr
    # h1 and h2 were held only by out's own forgotten snapshots (before: f1, g1, g2 too)
    assert json.loads(pruned.stdout)["prune"]["versions"] == 2
    listed = json.loads(cli("ls", out, "--all-versions", "--json").stdout)
    assert sorted((r["path"], r["version"]) for r in listed) == [
        ("f/a.md", 1), ("f/a.md", 2), ("g/a.md", 1), ("g/a.md", 2), ("g/a.md", 3),
        ("h/a.md", 3)]
    assert cli("restore", out, "f/a.md", "--version", "1", "--stdout").stdout == "f1\n"
    assert cli("verify", out, "-q").returncode == 0


def test_a_merged_version_stored_once_is_kept_for_both_and_rm_drops_marks(
        tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """A format-4 input's version whose bytes OUT holds already as the version before it (two
    hosts archiving one file) is not stored twice: OUT's row stands for it, so prune keeps
    that row too. `rm` drops the marks of the versions it removes: a new version may get a
    removed one's row id, and must stay prunable."""
    monkeypatch.chdir(tmp_path)

    out, other = tmp_path / "out.bmin", tmp_path / "other.bmin"
    night(cli, out, "f", "x\n", 1)
    night(cli, other, "f", "x\n", 2)  # the same bytes a day later, on another host
    night(cli, out, "f", "y\n", 3)
    night(cli, other, "f", "w\n", 5)
    surgery.write_format_4(other)
    merged = json.loads(cli("merge", out, other, "--json").stdout)
    assert (merged["versions_added"], merged["versions_skipped"]) == (1, 1)
    night(cli, out, "f", "v\n", 6)
    done = cli("forget", out, "--keep-last", "1", "--prune", "--json")
    assert json.loads(done.stdout)["prune"]["versions"] == 1  # y: only out's own history
    listed = json.loads(cli("ls", out, "--all-versions", "--json").stdout)
    assert [(r["version"], r["sha256"]) for r in listed] == [
        (v, hashlib.sha256(t).hexdigest()) for v, t in ((1, b"x\n"), (3, b"w\n"), (4, b"v\n"))]
    # rm, then new versions that take the removed rows' ids
    assert cli("rm", out, "f/a.md").returncode == 0
    for day, text in ((7, "n1\n"), (8, "n2\n"), (9, "n3\n")):
        night(cli, out, "g", text, day)
    done = cli("forget", out, "--keep-last", "1", "--prune", "--json")
    assert json.loads(done.stdout)["prune"]["versions"] == 2
    assert cli("verify", out, "-q").returncode == 0


def test_a_merge_killed_before_its_snapshots_leaves_no_version_prunable(
        tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """The input's snapshots are carried after its versions, in a later transaction. Killed
    in between, OUT held versions that none of its snapshots held, and `forget --prune`
    there deleted them. Each is now marked in the transaction that stores it and unmarked
    with the carrying, so a completed merge leaves them to OUT's snapshots as before."""
    import briefmin.store.merge as merge_module

    monkeypatch.chdir(tmp_path)

    source, out, whole = tmp_path / "in.bmin", tmp_path / "out.bmin", tmp_path / "whole.bmin"
    for day, text in enumerate(("a1\n", "a2\n", "a3\n"), start=1):
        night(cli, source, "f", text, day)
    night(cli, out, "h", "h1\n", 1)
    shutil.copy(out, whole)

    def killed(*args: Any) -> int:
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr(merge_module, "_merge_snapshots", killed)
        with Archive.open(source) as src, Archive.open(out, write=True) as arch, \
                pytest.raises(KeyboardInterrupt):
            merge(out=arch, sources=[src])
    night(cli, out, "h", "h2\n", 5)
    pruned = cli("forget", out, "--keep-last", "1", "--prune", "--json")
    assert pruned.returncode == 0, pruned.stderr
    assert json.loads(pruned.stdout)["prune"]["versions"] == 1  # h1, out's own
    listed = json.loads(cli("ls", out, "--all-versions", "--json").stdout)
    assert sorted((r["path"], r["version"]) for r in listed) == [
        ("f/a.md", 1), ("f/a.md", 2), ("f/a.md", 3), ("h/a.md", 2)]
    # run again: the snapshots come over; the versions stay marked (see _merge_snapshots)
    again = json.loads(cli("merge", out, source, "--json").stdout)
    assert (again["versions_added"], again["snapshots_added"]) == (0, 3)
    assert cli("verify", out, "-q").returncode == 0
    # completed at once, the marks go with the carrying: the input's forgotten snapshots
    # leave a1 and a2 to prune
    done = cli("merge", whole, source, "--json")
    assert json.loads(done.stdout)["snapshots_added"] == 3
    night(cli, whole, "h", "h2\n", 5)
    pruned = cli("forget", whole, "--keep-last", "1", "--prune", "--json")
    assert json.loads(pruned.stdout)["prune"]["versions"] == 3  # h1, a1, a2
    assert cli("verify", whole, "-q").returncode == 0


def test_after_merging_two_archives_of_one_folder_the_next_add_follows_the_newest(
        tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two archives of one folder from one host, their nights interleaved, merged: their
    chains are carried one after the other, and the next `add` took the chain carried last
    (by id) for the newest. An unchanged night then recorded that archive's older version
    as the folder's: `restore --snapshot latest` wrote `b4` where the folder held `a5`.
    The newest in time is the parent now, as in restic."""
    monkeypatch.chdir(tmp_path)
    one, two, out = tmp_path / "one.bmin", tmp_path / "two.bmin", tmp_path / "out.bmin"
    for archive, text, day in ((one, "a1\n", 1), (two, "b2\n", 2), (one, "a3\n", 3),
                               (two, "b4\n", 4), (one, "a5\n", 5)):
        night(cli, archive, "d", text, day)
    assert cli("merge", out, one, two, "-q").returncode == 0
    night(cli, out, "d", "a5\n", 6)  # unchanged since day 5
    done = cli("restore", out, "--snapshot", "latest", "--stdout")
    assert (done.returncode, done.stdout) == (0, "a5\n")
    listed = json.loads(cli("snapshots", out, "--json").stdout)["snapshots"]
    assert [(s["added"], s["changed"], s["deleted"]) for s in listed][-1] == (0, 0, 0)
    night(cli, out, "d", "a7\n", 7)
    listed = json.loads(cli("snapshots", out, "--json").stdout)["snapshots"]
    assert [(s["added"], s["changed"], s["deleted"]) for s in listed][-1] == (0, 1, 0)
    assert cli("restore", out, "--snapshot", "latest", "--stdout").stdout == "a7\n"
    assert cli("verify", out, "-q").returncode == 0


@pytest.mark.parametrize("value", ['"x"', "Infinity", "-1", "1.5", "[[1, 2]]"])
def test_marks_that_are_no_count_or_lost_are_found_not_obeyed(
        tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """A `pre_snapshot_top` that is no count (under a valid checksum) stops prune with exit 3
    and one line, and `verify` names it; a damaged mark of a merged version is found by
    `verify` too."""
    monkeypatch.chdir(tmp_path)
    Path("f").mkdir()
    for day in (1, 2):
        Path("f/a.md").write_text(f"v{day}\n")
        assert cli("add", "a.bmin", "f", "--model", HASHING, "-q", "--time",
                   f"2026-01-0{day}T02:00:00Z").returncode == 0
    surgery.execute("a.bmin", "UPDATE meta SET value = ?, checksum = ? WHERE key = ?",
                    (value, rows.row_sum("meta", ("pre_snapshot_top", value)),
                     "pre_snapshot_top"))
    before = Path("a.bmin").read_bytes()
    done = cli("forget", "a.bmin", "--keep-last", "1", "--prune")
    assert done.returncode == ExitStatus.ARCHIVE, done.stderr
    assert done.stderr.count("\n") == 1 and "pre_snapshot_top" in done.stderr
    assert Path("a.bmin").read_bytes() == before
    found = cli("verify", "a.bmin")
    assert found.returncode == ExitStatus.FINDINGS and "holds no count" in found.stdout


def test_a_damaged_mark_of_a_merged_version_is_found(
        tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("f").mkdir()
    Path("f/a.md").write_text("old\n")
    assert cli("add", "old.bmin", "f", "--model", HASHING, "-q").returncode == 0
    surgery.write_format_4("old.bmin")
    assert cli("merge", "out.bmin", "old.bmin", "-q").returncode == 0
    assert surgery.execute("out.bmin", "SELECT brief_id FROM pre_snapshot_versions") == [(1,)]
    surgery.execute("out.bmin", "UPDATE pre_snapshot_versions SET brief_id = 7")
    found = cli("verify", "out.bmin")
    assert found.returncode == ExitStatus.FINDINGS
    assert "a mark of a version merged from before an input's snapshots is damaged" \
        in found.stdout


def test_merge_refuses_another_model_or_profile(tmp_path: Path, cli: Cli) -> None:
    root = tmp_path / "src"
    root.mkdir()
    (root / "a.md").write_text("a brief about caching\n")
    hashing, other, small = (tmp_path / f"{n}.bmin" for n in ("h", "o", "s"))
    build(hashing, tmp_path, ["src"], model=HASHING)
    build(other, tmp_path, ["src"], model="hashing:256")
    build(small, tmp_path, ["src"], model=HASHING, profile="small")
    wrong_model = cli("merge", tmp_path / "out.bmin", hashing, other)
    assert wrong_model.returncode == ExitStatus.MODEL
    assert "different models" in wrong_model.stderr
    wrong_profile = cli("merge", tmp_path / "out.bmin", hashing, small)
    assert wrong_profile.returncode == ExitStatus.USAGE
    assert "different profiles" in wrong_profile.stderr
    assert cli("merge", hashing, hashing).returncode == ExitStatus.USAGE
    assert not (tmp_path / "out.bmin").exists()  # the refusals left no new archive behind


def test_binary_rows_of_archives_with_other_decoders_are_not_merged(
        tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each archive fits its binary decoder on its own vectors; merging two tiered archives
    read the second's binary rows through the first's decoder, so their cosines changed
    (an audit's finding). Such a merge is refused before anything is stored. Only rows the
    merge copies count: a nightly merge of two tiered hosts brings their new versions,
    which are latest ones, never binary (a review's finding: a first fix refused it)."""
    monkeypatch.chdir(tmp_path)

    def night(name: str, words: str, edit: str) -> None:
        for k in range(12):
            Path(f"{name}/b{k}.md").write_text(f"{words} {k} {edit}\n")
        done = cli("add", f"{name}.bmin", name, "--model", HASHING, "-q")
        assert done.returncode == 0, done.stderr

    def tier(name: str) -> None:
        done = cli("tier", f"{name}.bmin", "--older-than", "0h", "--codes", "binary", "-q")
        assert done.returncode == 0, done.stderr

    for name, words in (("p1", "ledger invoice refund"), ("p2", "zebra orchid nebula")):
        Path(name).mkdir()
        night(name, words, "first")
        night(name, words, "second")
    tier("p1")
    assert cli("merge", "out.bmin", "p1.bmin", "p2.bmin", "-q").returncode == 0
    tier("p2")
    refused = cli("merge", "fresh.bmin", "p1.bmin", "p2.bmin")
    assert refused.returncode == ExitStatus.USAGE, refused.stderr
    assert refused.stderr.count("\n") == 1 and "decoder" in refused.stderr, refused.stderr
    assert not Path("fresh.bmin").exists()
    night("p2", "zebra orchid nebula", "third")  # p2's old versions are binary now
    before = Path("out.bmin").read_bytes()
    merged = cli("merge", "out.bmin", "p1.bmin", "p2.bmin", "--json")
    assert merged.returncode == 0, merged.stderr
    assert json.loads(merged.stdout)["versions_added"] == 12
    assert Path("out.bmin").read_bytes() != before
    with Archive.open(tmp_path / "out.bmin") as arch:
        assert arch.verify().ok and len(arch.records(all_versions=True)) == 12 * 5


def test_merge_library_call_reports_what_it_did(tmp_path: Path) -> None:
    root = tmp_path / "src"
    root.mkdir()
    (root / "a.md").write_text("one\n")
    (root / "b.md").write_text("two\n")
    source = tmp_path / "in.bmin"
    build(source, tmp_path, ["src"], model=HASHING)
    with Archive.open(source) as src, \
            Archive.open(tmp_path / "out.bmin", write=True, create=True, model=HASHING) as out:
        report = merge(out, [src])
        records: list[BriefRecord] = out.records()
        assert (report.versions_added, report.contents_added) == (2, 2)
        assert [out.read(r) for r in records] == [b"one\n", b"two\n"]


def test_tiered_rows_keep_their_tier_and_decoder(fixture_archive: Path, tmp_path: Path,
                                                 cli: Cli) -> None:
    """A tiered input's rows stay tiered in OUT: binary rows keep their sign bits and the
    decoder (with its calibration) that reads them, 4-bit rows their codes; so dedupe reads
    the same cosines in OUT as in the input (they used to become int8 codes of their
    estimates, read as exact, and the archive grew)."""
    from datetime import UTC, datetime

    import numpy as np

    from briefmin.store import BRIEF_KINDS

    source = tmp_path / "tiered.bmin"
    shutil.copyfile(fixture_archive, source)
    with Archive.open(source) as arch:
        ids = sorted({r.content_id for r in arch.records(all_versions=True)})
    with Archive.open(source, write=True) as arch:
        arch.tier("binary", datetime.now(UTC), only=set(ids[::2]))
        arch.tier("small", datetime.now(UTC), only=set(ids[1::4]))  # a no-op for "small"
    out = tmp_path / "merged.bmin"
    done = cli("merge", out, source)
    assert done.returncode == 0, done.stderr

    def tiers(path: Path) -> dict[str, int]:
        with Archive.open(path) as arch:
            found: dict[str, int] = arch.info()["vectors_by_code_bits"]
        return found

    assert tiers(out) == tiers(source) and len(tiers(source)) >= 2
    before, after = vector_rows(source), vector_rows(out)
    assert before.keys() == after.keys()
    for key, (bits, codes) in before.items():
        assert after[key][0] == bits
        # binary and int8 rows decode exactly as before; 4-bit ones are re-quantized
        assert np.abs(after[key][1] - codes).max() <= 1.0, key

    def binary_pair_cosines(path: Path) -> dict[tuple[str, ...], float]:
        with Archive.open(path) as arch:
            stored = arch.vectors(BRIEF_KINDS)
            digest = {r.content_id: r.sha256 for r in arch.records(all_versions=True)}
            assert arch.verify().ok
        assert stored.tiers is not None
        binary = np.flatnonzero(stored.tiers == 0)
        i, j = np.triu_indices(len(binary), 1)
        read = stored.pair_cosines(binary[i], binary[j], np.zeros(len(i), np.float32))
        return {tuple(sorted((digest[int(stored.content_ids[binary[a]])],
                              digest[int(stored.content_ids[binary[b]])]))): float(c)
                for a, b, c in zip(i, j, read, strict=True)}

    cosines = binary_pair_cosines(source)
    assert len(cosines) >= 10 and cosines == binary_pair_cosines(out)


def test_merge_reads_each_input_as_it_was_when_the_merge_began(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An input written while the merge ran: an rm committing between two batches made
    the second batch's read of a removed brief fail (exit 3, half merged). Each input is
    now read in one state (WAL here: the rm commits at once; in the default journal it
    waits for the merge)."""
    import briefmin.store.merge as merge_module

    root = tmp_path / "src"
    root.mkdir()
    for i in range(5):
        (root / f"b{i}.md").write_text(f"brief number {i}\n")
    source = tmp_path / "in.bmin"
    build(source, tmp_path, ["src"], model=HASHING)
    with Archive.open(source, write=True) as writer:
        writer.set_journal_mode("wal")
    monkeypatch.setattr(merge_module, "MERGE_BATCH", 2)
    real, removed = merge_module._merge_batch, []

    def batch_after_an_rm(*args: Any, **kwargs: Any) -> None:
        real(*args, **kwargs)
        if not removed:  # after the first batch: the last brief goes
            with Archive.open(source, write=True) as writer:
                removed.extend(r.path for r in writer.rm(["src/b4.md"]))

    monkeypatch.setattr(merge_module, "_merge_batch", batch_after_an_rm)
    with Archive.open(source) as src, \
            Archive.open(tmp_path / "out.bmin", write=True, create=True, model=HASHING) as out:
        report = merge(out, [src])
        assert removed == ["src/b4.md"] and report.versions_added == 5
        assert [out.read(r) for r in out.records()] == [
            f"brief number {i}\n".encode() for i in range(5)]


def test_versions_of_one_second_are_numbered_alike_whatever_the_order_of_the_inputs(
        tmp_path: Path) -> None:
    """Two inputs hold a.md with other bytes, added in the same second: `merge M A B` and
    `merge M B A` made different latest versions (the input's place broke the tie; an
    audit's find). Ties are now broken by version, then by the bytes' sha256."""
    for name, text in (("one", "first text\n"), ("two", "second text\n")):
        root = tmp_path / name
        root.mkdir()
        (root / "a.md").write_text(text)
        build(tmp_path / f"{name}.bmin", root, ["a.md"], model=HASHING)
        surgery.set_added_at(tmp_path / f"{name}.bmin", 1_764_895_321)
    orders = []
    for first, second in (("one", "two"), ("two", "one")):
        out = tmp_path / f"{first}-{second}.bmin"
        with Archive.open(tmp_path / f"{first}.bmin") as a, \
                Archive.open(tmp_path / f"{second}.bmin") as b, \
                Archive.open(out, write=True, create=True, model=HASHING) as merged:
            merge(merged, [a, b])
        orders.append([(r.version, r.sha256) for r in
                       Archive.open(out).records(all_versions=True)])
    assert orders[0] == orders[1] and len(orders[0]) == 2


def test_a_change_reverted_within_one_second_is_merged_as_three_versions(
        tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stateful audit (session 50): a.md written A, then B, then A again, each added within
    one second (a script's adds): merge took a version to be its time and bytes, so the
    third (A again) was "already stored" and OUT's latest was B, where the input's is A.
    Now all three come, OUT's latest is A, each snapshot restores as in the input, and a
    second merge adds nothing."""
    monkeypatch.chdir(tmp_path)
    Path("f").mkdir()
    for text in ("Alpha: the first text.\n", "Beta: the second text.\n",
                 "Alpha: the first text.\n"):
        Path("f/a.md").write_text(text)
        assert cli("add", "in.bmin", "f", "--model", HASHING, "-q").returncode == 0
    surgery.set_added_at(tmp_path / "in.bmin", 1_764_895_321)
    done = cli("merge", "out.bmin", "in.bmin", "--json")
    assert done.returncode == 0, done.stderr
    with Archive.open(tmp_path / "in.bmin") as source, \
            Archive.open(tmp_path / "out.bmin") as out:
        assert [(r.version, r.sha256) for r in out.records(all_versions=True)] == \
            [(r.version, r.sha256) for r in source.records(all_versions=True)]
        assert len(out.records(all_versions=True)) == 3
    for snapshot in ("1", "2", "3"):
        got = [cli("ls", archive, "--snapshot", snapshot, "--json").stdout
               for archive in ("in.bmin", "out.bmin")]
        assert [[(r["path"], r["version"], r["sha256"]) for r in json.loads(listed)]
                for listed in got] == [[(r["path"], r["version"], r["sha256"])
                                        for r in json.loads(got[0])]] * 2
    latest = cli("restore", "out.bmin", "f/a.md", "--stdout")
    assert latest.stdout == "Alpha: the first text.\n"
    again = json.loads(cli("merge", "out.bmin", "in.bmin", "--json").stdout)
    assert again["versions_added"] == 0


def test_versions_of_one_second_from_several_archives_keep_each_archives_order(
        tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """A review of the fix above: within one second the versions were interleaved across
    archives by their version numbers, which say nothing there. X holds A, B, A and H holds
    B, A, all in one second: `merge O H` then `merge O X` stored A twice in a row; W holds
    Z and Y (days before), then A, B in that second: `merge O W X` dropped X's last A, so
    O's latest was B. Each archive's versions of one second now keep their order (OUT's
    first), a version is skipped when it repeats the one it would follow, and the latest
    is the archive's own latest."""
    monkeypatch.chdir(tmp_path)
    second = 1_764_895_321
    texts = {"A": "Alpha: the first text.\n", "B": "Beta: the second text.\n",
             "Z": "Zeta: an old text.\n", "Y": "Yankee: an older text.\n"}

    def archive(name: str, letters: str, times: list[int]) -> None:
        """Versions of f/a.md, the k-th added at times[k]."""
        shutil.rmtree("f", ignore_errors=True)
        Path("f").mkdir()
        for k, letter in enumerate(letters):
            if k and times[k] != times[k - 1]:
                time.sleep(1.05)  # a `times` row of its own (one per second added)
            Path("f/a.md").write_text(texts[letter])
            assert cli("add", name, "f", "--model", HASHING, "-q").returncode == 0
        rows = len(surgery.execute(tmp_path / name, "SELECT id FROM times"))
        # (adds of one second may still cross into the next: their rows get its time too)
        surgery.set_times(tmp_path / name, times if rows == len(times) else
                          list(dict.fromkeys(times)) if rows == len(set(times)) else
                          [times[0]] * rows)

    def letters(name: str) -> str:
        by_sha = {hashlib.sha256(t.encode()).hexdigest(): k for k, t in texts.items()}
        with Archive.open(tmp_path / name) as arch:
            return "".join(by_sha[r.sha256] for r in arch.records(all_versions=True))

    archive("x.bmin", "ABA", [second] * 3)
    archive("h.bmin", "BA", [second] * 2)
    archive("w.bmin", "ZYAB", [second - 90_000, second - 40_000, second, second])
    for runs, expected in (((["h.bmin"], ["x.bmin"]), "BA"), ((["x.bmin"], ["h.bmin"]), "ABA"),
                           ((["w.bmin", "x.bmin"],), "ZYABA"),
                           ((["x.bmin", "w.bmin"],), "ZYABA")):
        out = f"o-{len(list(tmp_path.glob('o-*')))}.bmin"
        for inputs in runs:
            assert cli("merge", out, *inputs, "-q").returncode == 0
        got = letters(out)
        assert got == expected, (runs, got)
        assert all(a != b for a, b in itertools.pairwise(got))  # never twice in a row
        assert cli("restore", out, "f/a.md", "--stdout").stdout == texts["A"]  # X's latest
        again = json.loads(cli("merge", out, *runs[-1], "--json").stdout)
        assert again["versions_added"] == 0
