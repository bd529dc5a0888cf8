"""Snapshots (issue 16): 60 simulated nights of a cron `add` with --time over a folder with
additions, edits, deletions, renames and a file that comes back; restore of every snapshot,
diff of consecutive nights, restic's forget policy on those dates, prune, and kills during
`forget --prune`. Storage behaviour only: the hashing encoder stands in for the model."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from briefmin import Archive
from briefmin.errors import ArchiveBusyError, ExitStatus
from briefmin.ingest import SnapshotSpec, add
from briefmin.sources import iter_sources
from briefmin.store import catalogue

from .conftest import HASHING, Cli
from .test_reliability import briefmin_proc

FIRST_NIGHT = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)  # a Thursday
KILLS = int(os.environ.get("BRIEFMIN_SNAPSHOT_KILLS", "20"))


TEMPLATE = ("## Context\n\nThis brief belongs to the nightly archive of the team's notes. "
            "Owner: the platform group. Review cycle: weekly. Status: draft unless marked "
            "final.\n\n## Decision\n\nSee the sections below for the details of the "
            "request, the constraints, and the agreed next steps.")


@dataclass
class Night:
    """What the test did to the folder before one night's add, and what it then held."""

    time: datetime
    added: set[str] = field(default_factory=set)
    changed: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)
    state: dict[str, bytes] = field(default_factory=dict)


def _text(rng: random.Random, words: int) -> bytes:
    vocabulary = ["brief", "archive", "night", "folder", "version", "snapshot", "restore",
                  "policy", "daily", "weekly", "cron", "meaning", "vector", "block"]
    body = " ".join(rng.choice(vocabulary) + str(rng.randrange(1000)) for _ in range(words))
    # briefs share a template, as real ones do: the archive's zstd dictionary is then kept
    # (without one, the store retrains it on every add, seconds each)
    return f"# note {rng.randrange(10**9)}\n\n{TEMPLATE}\n\n{body}\n".encode()


def simulate(folder: Path, nights: int, *, start: int = 40, words: int = 300,
             seed: int = 16) -> list[Night]:
    """Change `folder` night by night (the first night creates it) and return the plan; the
    caller adds the folder after each night. Every night from the second does each kind of
    change on distinct files; every fifth night a file deleted earlier comes back with its old
    bytes."""
    rng = random.Random(seed)
    live: dict[str, bytes] = {}
    gone: dict[str, bytes] = {}
    plan: list[Night] = []
    counter = 0

    def new_name() -> str:
        nonlocal counter
        counter += 1
        return f"{folder.name}/d{counter % 4}/n{counter:04d}.md"

    for night in range(nights):
        step = Night(FIRST_NIGHT + timedelta(days=night))
        if night == 0:
            for _ in range(start):
                name = new_name()
                live[name] = _text(rng, words)
                step.added.add(name)
        else:
            untouched = sorted(live)
            rng.shuffle(untouched)
            edit, delete, rename = untouched[0], untouched[1], untouched[2]
            live[edit] = live[edit] + _text(rng, 20)
            step.changed.add(edit)
            gone[delete] = live.pop(delete)
            step.deleted.add(delete)
            target = new_name()
            live[target] = live.pop(rename)
            step.deleted.add(rename)
            step.added.add(target)
            for _ in range(rng.randrange(1, 3)):
                name = new_name()
                live[name] = _text(rng, words)
                step.added.add(name)
            back = sorted(set(gone) - set(live) - step.deleted)
            if night % 5 == 0 and back:
                name = rng.choice(back)
                live[name] = gone.pop(name)
                step.added.add(name)
        step.state = dict(live)
        plan.append(step)
    return plan


def write_state(folder: Path, state: dict[str, bytes], before: dict[str, bytes]) -> None:
    """Make the folder (its parent is the archive names' root) go from `before` to `state`,
    touching only what differs (file creation is slow on a shared disk)."""
    for name in before.keys() - state.keys():
        (folder.parent / name).unlink()
    for name, data in state.items():
        if before.get(name) != data:
            path = folder.parent / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)


def run_nights(tmp: Path, archive: Path, plan: list[Night],
               before: dict[str, bytes] | None = None) -> None:
    """One library `add` per night, as the cron job's CLI run does (cwd = tmp)."""
    roots = (str(tmp / "f"),)
    before = before or {}
    for step in plan:
        write_state(tmp / "f", step.state, before)
        before = step.state
        with Archive.open(archive, write=True, create=True, model=HASHING) as arch:
            add(arch, iter_sources(["f"], include=["*"]),
                snapshot=SnapshotSpec(step.time, "cronhost", roots))


def folder_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in root.rglob("*") if p.is_file()}


def assert_restores(cli: Cli, archive: Path, out: Path, plan: list[Night],
                    ids: list[int] | None = None) -> None:
    """Each snapshot (id = night + 1 unless `ids` says which) restores its night byte-exact,
    deleted files absent."""
    with Archive.open(archive) as arch:
        present = {s.id for s in arch.snapshots()}
    for night, step in enumerate(plan):
        snapshot_id = night + 1
        if ids is not None and snapshot_id not in ids:
            continue
        assert snapshot_id in present
        target = out / f"night{night}"
        result = cli("restore", archive, "--snapshot", snapshot_id, "--to", target, "-q")
        assert result.returncode == 0, result.stderr
        assert folder_files(target) == step.state, f"night {night}"


@pytest.fixture(scope="module")
def sixty_nights(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Night]]:
    tmp = tmp_path_factory.mktemp("nights")
    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        plan = simulate(tmp / "f", 60, words=40)
        run_nights(tmp, tmp / "a.bmin", plan)
    finally:
        os.chdir(cwd)
    return tmp / "a.bmin", plan


def test_sixty_nights_restore_byte_exact(sixty_nights: tuple[Path, list[Night]], cli: Cli,
                                         tmp_path: Path) -> None:
    archive, plan = sixty_nights
    listing = json.loads(cli("snapshots", archive, "--json").stdout)["snapshots"]
    assert [s["id"] for s in listing] == list(range(1, 61))
    assert [datetime.fromisoformat(s["time"]) for s in listing] == [p.time for p in plan]
    assert [s["files"] for s in listing] == [len(p.state) for p in plan]
    assert {s["host"] for s in listing} == {"cronhost"}
    assert_restores(cli, archive, tmp_path, plan)
    # without a snapshot, restore keeps its meaning: every path's latest version, deleted
    # files included; `--snapshot latest` is the folder as of the last run
    everything = cli("restore", archive, "--to", tmp_path / "all", "-q")
    assert everything.returncode == 0
    assert set(folder_files(tmp_path / "all")) > set(plan[-1].state)
    assert cli("restore", archive, "--snapshot", "latest", "--to", tmp_path / "latest",
               "-q").returncode == 0
    assert folder_files(tmp_path / "latest") == plan[-1].state
    # --as-of a date: the newest snapshot taken by the end of that day
    assert cli("restore", archive, "--as-of", "2026-01-10", "--to", tmp_path / "asof",
               "-q").returncode == 0
    assert folder_files(tmp_path / "asof") == plan[9].state


def test_diff_of_consecutive_nights_is_what_the_test_did(
        sixty_nights: tuple[Path, list[Night]], cli: Cli) -> None:
    archive, plan = sixty_nights
    returned = 0
    for night in range(1, len(plan)):
        result = cli("diff", archive, night, night + 1, "--json")
        assert result.returncode == 0, result.stderr
        got = json.loads(result.stdout)
        step = plan[night]
        assert got["added"] == sorted(step.added - step.deleted), night
        assert got["changed"] == sorted(step.changed), night
        assert got["deleted"] == sorted(step.deleted - step.added), night
        returned += any(name in plan[0].state for name in step.added)
    assert returned  # a file came back at least once


def test_ls_search_dedupe_see_only_the_snapshot(sixty_nights: tuple[Path, list[Night]],
                                                cli: Cli) -> None:
    archive, plan = sixty_nights
    first = json.loads(cli("ls", archive, "--snapshot", "1", "--json").stdout)
    assert {r["path"] for r in first} == set(plan[0].state)
    assert all(r["version"] == 1 for r in first)
    gone = sorted(set(plan[0].state) - set(plan[-1].state))[0]
    query = plan[0].state[gone].decode().strip().split("\n")[-1]  # its own words
    hits = json.loads(cli("search", archive, query, "--snapshot", "1", "-k", "50",
                          "--json").stdout)
    assert hits and {h["path"] for h in hits} <= set(plan[0].state)
    assert hits[0]["path"] == gone
    latest = json.loads(cli("search", archive, query, "--snapshot", "latest", "-k", "50",
                            "--json").stdout)
    assert gone not in {h["path"] for h in latest}
    dedupe = json.loads(cli("dedupe", archive, "--snapshot", "1", "--json").stdout)
    assert dedupe["briefs"] == len(plan[0].state)


def _nightly_kept_by_hand() -> set[date]:
    # 60 nights, 2026-01-01 .. 2026-03-01 (a Sunday). On a calendar: --keep-daily 7 keeps
    # 23 Feb .. 1 Mar; --keep-weekly 4 the newest of ISO weeks 9 (1 Mar), 8 (22 Feb),
    # 7 (15 Feb), 6 (8 Feb); --keep-monthly 3 the newest of March (1 Mar), February
    # (28 Feb), January (31 Jan)
    return ({date(2026, 1, 31), date(2026, 2, 8), date(2026, 2, 15), date(2026, 2, 22)}
            | {date(2026, 2, 23) + timedelta(days=n) for n in range(7)})


def test_forget_keeps_restics_set_then_prune_shrinks(sixty_nights: tuple[Path, list[Night]],
                                                      cli: Cli, tmp_path: Path) -> None:
    source, plan = sixty_nights
    archive = tmp_path / "a.bmin"
    shutil.copyfile(source, archive)
    policy = ["--keep-daily", "7", "--keep-weekly", "4", "--keep-monthly", "3"]
    dry = json.loads(cli("forget", archive, *policy, "--dry-run", "--json").stdout)
    kept = {datetime.fromisoformat(s["time"]).date(): s["reasons"] for s in dry["keep"]}
    assert set(kept) == _nightly_kept_by_hand()
    assert kept[date(2026, 3, 1)] == ["daily snapshot", "weekly snapshot", "monthly snapshot"]
    assert kept[date(2026, 1, 31)] == ["monthly snapshot"]
    assert len(dry["remove"]) == 60 - 11
    assert len(json.loads(cli("snapshots", archive, "--json").stdout)["snapshots"]) == 60

    before = archive.stat().st_size
    done = cli("forget", archive, *policy, "--prune", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)["prune"]
    after = archive.stat().st_size
    assert report["versions"] > 0 and report["bytes_after"] == after < before
    ids = [s["id"] for s in json.loads(cli("snapshots", archive, "--json").stdout)["snapshots"]]
    assert {plan[i - 1].time.date() for i in ids} == _nightly_kept_by_hand()
    assert cli("verify", archive).returncode == 0
    assert_restores(cli, archive, tmp_path / "out", plan, ids)
    # the latest version of every path stays, deleted files included
    with Archive.open(archive) as arch:
        latest = {r.path: arch.read(r) for r in arch.records()}
    for step in plan:
        for name in step.deleted - set(plan[-1].state):
            assert name in latest


def test_forget_keep_within_daily_and_weekly(sixty_nights: tuple[Path, list[Night]],
                                             cli: Cli) -> None:
    """Nights 2026-01-01..03-01 at 02:00 (03-01 is a Sunday). --keep-within-daily 7d: after
    02-22 02:00, the seven nights 02-23..03-01, one a day. --keep-within-weekly 1m: after
    02-01 02:00, the newest of each ISO week: 03-01, 02-22, 02-15, 02-08."""
    archive, _ = sixty_nights
    dry = json.loads(cli("forget", archive, "--keep-within-daily", "7d",
                         "--keep-within-weekly", "1m", "--dry-run", "--json").stdout)
    kept = {datetime.fromisoformat(s["time"]).date(): s["reasons"] for s in dry["keep"]}
    week = ["weekly within 1m"]
    assert kept == {**{date(2026, 2, 23) + timedelta(days=n): ["daily within 7d"]
                       for n in range(7)},
                    date(2026, 3, 1): ["daily within 7d", *week], date(2026, 2, 22): week,
                    date(2026, 2, 15): week, date(2026, 2, 8): week}
    assert dry["policy"] == "keep daily snapshots within 7d, weekly snapshots within 1m"


def test_unchanged_nights_cost_a_row_each(tmp_path: Path, chdir_tmp: Path) -> None:
    plan = simulate(tmp_path / "f", 1, start=300, words=100)
    run_nights(tmp_path, tmp_path / "a.bmin", plan)
    size = (tmp_path / "a.bmin").stat().st_size
    again = [Night(plan[0].time + timedelta(days=n), state=plan[0].state) for n in range(1, 51)]
    run_nights(tmp_path, tmp_path / "a.bmin", again, before=plan[0].state)
    grown = (tmp_path / "a.bmin").stat().st_size - size
    with Archive.open(tmp_path / "a.bmin") as arch:
        snapshots = arch.snapshots()
        assert len(snapshots) == 51
        assert {s.files for s in snapshots} == {300}
        assert arch.info()["snapshots"] == 51
    # 50 snapshot rows of ~200 bytes (times, roots, a 32-byte digest of the paths); nothing
    # per brief (a span per brief would be >= 3 KB a night, 150 KB in all)
    assert grown <= 50 * 300, grown


def test_a_skipped_file_keeps_its_previous_version_in_the_snapshot(
        tmp_path: Path, chdir_tmp: Path, cli: Cli) -> None:
    """A brief that turns binary (skipped) is not deleted in that night's snapshot: it keeps
    its previous version, and the add summary says so. A binary file never archived, or one
    whose path the previous night did not hold, is simply skipped."""
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "a.md").write_bytes(b"alpha brief\n")
    (folder / "b.md").write_bytes(b"beta brief\n")
    (folder / "gone.md").write_bytes(b"deleted on night 2\n")

    def night(day: int) -> dict[str, Any]:
        result = cli("add", "a.bmin", "f", "--model", HASHING, "--json", "--time",
                     f"2026-05-0{day}T02:00:00+00:00")
        assert result.returncode == 0, result.stderr
        return dict(json.loads(result.stdout))

    night(1)
    (folder / "b.md").write_bytes(b"\x00\x01binary now\x00")
    (folder / "new.bin.md").write_bytes(b"\x00never text\x00")
    (folder / "gone.md").unlink()
    second = night(2)
    assert {s["path"]: s["kept_previous"] for s in second["skipped"]} == {
        "f/b.md": True, "f/new.bin.md": False}
    assert second["snapshot"]["deleted"] == 1  # gone.md only
    (folder / "gone.md").write_bytes(b"\x00back, but binary\x00")
    third = night(3)
    assert {s["path"]: s["kept_previous"] for s in third["skipped"]} == {
        "f/b.md": True, "f/new.bin.md": False, "f/gone.md": False}
    changes = json.loads(cli("diff", "a.bmin", "1", "2", "--json").stdout)
    assert (changes["deleted"], changes["changed"]) == (["f/gone.md"], [])
    for snapshot, names in ((2, {"f/a.md", "f/b.md"}), (3, {"f/a.md", "f/b.md"})):
        out = tmp_path / f"out{snapshot}"
        assert cli("restore", "a.bmin", "--snapshot", str(snapshot), "--to", out,
                   "-q").returncode == 0
        assert folder_files(out) == {n: {"f/a.md": b"alpha brief\n",
                                         "f/b.md": b"beta brief\n"}[n] for n in names}
    human = cli("add", "a.bmin", "f", "--model", HASHING, "--time", "2026-05-04T02:00:00Z")
    assert "f/b.md: binary" in human.stderr and "keeps its previous version" in human.stderr


def test_forget_usage_errors_and_explicit_ids(sixty_nights: tuple[Path, list[Night]],
                                              cli: Cli, tmp_path: Path) -> None:
    archive = tmp_path / "a.bmin"
    shutil.copyfile(sixty_nights[0], archive)
    assert cli("forget", archive).returncode == ExitStatus.USAGE
    assert cli("forget", archive, "3", "--keep-last", "1").returncode == ExitStatus.USAGE
    assert cli("forget", archive, "--keep-within", "7w").returncode == ExitStatus.USAGE
    # a negative duration kept nothing and so forgot (and pruned) every snapshot
    for option in ("--keep-within", "--keep-within-daily"):
        refused = cli("forget", archive, option, "-1d", "--prune")
        assert refused.returncode == ExitStatus.USAGE
        assert f"{option} '-1d': a duration cannot be negative" in refused.stderr
    # beyond what a date can hold: everything is within it, nothing is older
    huge = json.loads(cli("forget", archive, "--keep-within", "99999999y", "--dry-run",
                          "--json").stdout)
    assert len(huge["keep"]) == 60 and huge["remove"] == []
    assert cli("ls", archive, "--as-of", "0001-01-01").returncode == ExitStatus.USAGE
    assert cli("forget", archive, "999").returncode == ExitStatus.USAGE
    assert cli("restore", archive, "--snapshot", "2", "--as-of", "2026-01-01",
               "--stdout").returncode == ExitStatus.USAGE
    assert cli("restore", archive, "--as-of", "2025-12-31", "--stdout").returncode == \
        ExitStatus.USAGE
    assert cli("restore", archive, "--as-of", "yesterday", "--stdout").returncode == \
        ExitStatus.USAGE
    assert cli("forget", archive, "3", "5").returncode == 0
    ids = [s["id"] for s in json.loads(cli("snapshots", archive, "--json").stdout)["snapshots"]]
    assert 3 not in ids and 5 not in ids and len(ids) == 58
    within = json.loads(cli("forget", archive, "--keep-within", "3d", "--dry-run",
                            "--json").stdout)
    assert [s["id"] for s in within["keep"]] == [60, 59, 58]


def test_rm_takes_briefs_out_of_snapshots(sixty_nights: tuple[Path, list[Night]], cli: Cli,
                                          tmp_path: Path) -> None:
    archive = tmp_path / "a.bmin"
    shutil.copyfile(sixty_nights[0], archive)
    name = sorted(sixty_nights[1][0].state)[0]
    assert cli("rm", archive, name).returncode == 0
    first = json.loads(cli("ls", archive, "--snapshot", "1", "--json").stdout)
    assert name not in {r["path"] for r in first}
    assert cli("verify", archive).returncode == 0


def snapshot_bytes(archive: Path) -> dict[int, dict[str, bytes]]:
    """Every snapshot's briefs as the library reads them (sha256-checked), by snapshot id."""
    with Archive.open(archive) as arch:
        return {s.id: {r.path: arch.read(r) for r in arch.records(snapshot=s)}
                for s in arch.snapshots()}


def test_sigkill_during_forget_prune(tmp_path: Path, chdir_tmp: Path) -> None:
    """SIGKILL `forget --prune` at moments spread over its run (seeded); after each kill the
    archive opens and verifies, holds either every snapshot or exactly the kept ones, and each
    of them holds its night's briefs byte-exact."""
    plan = simulate(tmp_path / "f", 12, start=1500, words=20)
    pristine = tmp_path / "pristine.bmin"
    run_nights(tmp_path, pristine, plan)
    archive = tmp_path / "a.bmin"
    policy = ("--keep-daily", "3")
    shutil.copyfile(pristine, archive)
    started = time.monotonic()
    assert briefmin_proc("forget", archive, *policy, "--prune", "-q", cwd=tmp_path).wait() == 0
    full = time.monotonic() - started
    kept = set(snapshot_bytes(archive))
    assert kept == {10, 11, 12}
    rng = random.Random(20)
    outcomes = {"before": 0, "after": 0}
    for kill in range(KILLS):
        shutil.copyfile(pristine, archive)
        proc = briefmin_proc("forget", archive, *policy, "--prune", "-q", cwd=tmp_path)
        time.sleep(full * (0.3 + 0.7 * (kill + rng.random()) / KILLS))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with Archive.open(archive) as arch:
            assert arch.verify().ok
        held = snapshot_bytes(archive)
        assert set(held) in (set(range(1, 13)), kept)
        outcomes["after" if set(held) == kept else "before"] += 1
        for snapshot_id, briefs in held.items():
            assert briefs == plan[snapshot_id - 1].state, (kill, snapshot_id)
    print(f"forget --prune killed {KILLS} times over {full:.2f} s runs: {outcomes}")


def test_verify_names_snapshot_entries_of_missing_briefs(
        sixty_nights: tuple[Path, list[Night]], tmp_path: Path) -> None:
    import sqlite3

    archive = tmp_path / "a.bmin"
    shutil.copyfile(sixty_nights[0], archive)
    with sqlite3.connect(archive) as raw:  # damage: a brief row vanishes behind our back
        raw.execute("DELETE FROM briefs WHERE id = (SELECT MAX(brief_id) FROM snapshot_spans)")
    with Archive.open(archive) as arch:
        report = arch.verify()
    assert any("snapshot entries" in p.message for p in report.problems)


def test_a_lost_snapshot_entry_is_found_and_stops_prune(
        sixty_nights: tuple[Path, list[Night]], tmp_path: Path, cli: Cli) -> None:
    """An audit deleted one snapshot entry: every checksum still passed, so verify said ok,
    and `forget --keep-last 3 --prune` deleted the version that snapshot held."""
    import sqlite3

    archive = tmp_path / "a.bmin"
    shutil.copyfile(sixty_nights[0], archive)
    with sqlite3.connect(archive) as raw:  # an old version, held by snapshots only
        brief, first, last = raw.execute(
            "SELECT s.brief_id, s.first, s.last FROM snapshot_spans s JOIN briefs b "
            "ON b.id = s.brief_id WHERE s.last IS NOT NULL AND EXISTS (SELECT 1 FROM briefs "
            "n WHERE n.path = b.path AND n.version > b.version) ORDER BY s.brief_id "
            "LIMIT 1").fetchone()
        raw.execute("DELETE FROM snapshot_spans WHERE brief_id = ?", (brief,))
        version = raw.execute("SELECT path, version FROM briefs WHERE id = ?",
                              (brief,)).fetchone()
    with Archive.open(archive) as arch:
        messages = [p.message for p in arch.verify().problems]
    assert f"snapshot {first} lists" in " ".join(messages), messages
    kept = cli("forget", archive, "--keep-last", "-1", "--prune")
    assert kept.returncode == ExitStatus.ARCHIVE and "nothing was pruned" in kept.stderr
    with Archive.open(archive) as arch:
        assert version in {(r.path, r.version) for r in arch.records(all_versions=True)}
    # the way out the message gives: forget the snapshots that lost it, then prune
    ids = [str(i) for i in range(first, last + 1)]
    assert cli("forget", archive, *ids, "--prune").returncode == 0
    with Archive.open(archive) as arch:
        assert arch.verify().ok
        assert version not in {(r.path, r.version) for r in arch.records(all_versions=True)}


def _prunable_versions(archive: Path) -> tuple[int, set[tuple[str, int]]]:
    """A snapshot that alone holds an old version, and the (path, version)s only it holds."""
    with Archive.open(archive) as arch:
        latest = {r.path: r.version for r in arch.records()}
        held = {s.id: arch.snapshot_members(s) for s in arch.snapshots()}
    for snapshot_id, members in held.items():
        alone = {m for m in members if latest[m[0]] != m[1]
                 and not any(m in other for i, other in held.items() if i != snapshot_id)}
        if alone:
            return snapshot_id, alone
    raise AssertionError("no snapshot alone holds an old version")


def test_a_deleted_snapshot_row_is_found_and_stops_prune(
        sixty_nights: tuple[Path, list[Night]], tmp_path: Path, cli: Cli) -> None:
    """A snapshot row deleted behind the archive's back left no checksum to fail: verify
    said ok, and prune deleted the old versions only that snapshot held."""
    import sqlite3

    archive = tmp_path / "a.bmin"
    shutil.copyfile(sixty_nights[0], archive)
    snapshot_id, alone = _prunable_versions(archive)
    with Archive.open(archive) as arch:
        taken = arch.snapshot(str(snapshot_id)).time
    with sqlite3.connect(archive) as raw:
        raw.execute("DELETE FROM snapshots WHERE id = ?", (snapshot_id,))
    checked = cli("verify", archive)
    assert checked.returncode == ExitStatus.FINDINGS
    assert f"snapshot {snapshot_id} was deleted outside briefmin" in checked.stdout
    pruned = cli("prune", archive)
    assert pruned.returncode == ExitStatus.ARCHIVE and "nothing was changed" in pruned.stderr
    # nor does a forget that leaves the spans of the deleted one covering nothing clear it
    assert cli("forget", archive, "--keep-last", "-1").returncode == 0
    assert cli("prune", archive).returncode == ExitStatus.ARCHIVE
    with Archive.open(archive) as arch:
        assert alone <= {(r.path, r.version) for r in arch.records(all_versions=True)}
    # nor does tier drop the codes of its versions, nor a restore name it or take another
    assert cli("tier", archive, "--older-than", "0d", "--codes", "binary").returncode == \
        ExitStatus.ARCHIVE
    named = cli("restore", archive, "--snapshot", str(snapshot_id), "--to", tmp_path / "o")
    assert named.returncode == ExitStatus.ARCHIVE and "deleted outside" in named.stderr
    dated = cli("restore", archive, "--as-of", taken.isoformat(), "--to", tmp_path / "o")
    assert dated.returncode == ExitStatus.ARCHIVE and "may be gone" in dated.stderr
    # nor does a merge copy the others as if it had never been (OUT would prune its versions)
    merged = cli("merge", tmp_path / "m.bmin", archive)
    assert merged.returncode == ExitStatus.ARCHIVE and "deleted outside" in merged.stderr
    # the way out the message gives: accept the loss, then prune deletes those versions
    accepted = cli("verify", archive, "--forget-missing")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert f"({snapshot_id})" in accepted.stderr
    assert cli("prune", archive).returncode == 0
    with Archive.open(archive) as arch:
        assert arch.verify().ok
        assert not alone & {(r.path, r.version) for r in arch.records(all_versions=True)}


def test_forget_merge_and_migration_keep_the_snapshot_ledger(
        sixty_nights: tuple[Path, list[Night]], tmp_path: Path, cli: Cli) -> None:
    """Every writer of snapshot rows keeps the ledger: verify stays ok after forget and a
    merge, and an archive of format 10 gets its ledger from its rows when a writer
    upgrades it."""
    from briefmin.store import schema

    from . import surgery

    archive = tmp_path / "a.bmin"
    shutil.copyfile(sixty_nights[0], archive)
    assert cli("forget", archive, "--keep-daily", "3", "--keep-weekly", "6").returncode == 0
    ids = [s["id"] for s in json.loads(cli("snapshots", archive, "--json").stdout)[
        "snapshots"]]
    assert 3 < len(ids) < max(ids) - min(ids) + 1  # not one range: the ledger has gaps
    assert cli("verify", archive, "-q").returncode == 0
    assert schema.ledger_ids(surgery.execute(archive, "SELECT value FROM meta WHERE key = ?",
                                             (schema.SNAPSHOT_LEDGER,))[0][0]) == set(ids)
    merged = tmp_path / "m.bmin"
    assert cli("merge", merged, archive, sixty_nights[0], "-q").returncode == 0
    assert cli("verify", merged, "-q").returncode == 0
    surgery.write_format_10(archive)
    assert cli("verify", archive, "-q").returncode == 0  # read as it is
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "n.md").write_text("a brief of another folder\n")
    assert cli("add", archive, tmp_path / "g", "-q").returncode == 0  # migrates
    with Archive.open(archive) as arch:
        assert arch.meta.format_version == schema.FORMAT_VERSION and arch.verify().ok
        assert len(arch.snapshots()) == len(ids) + 1


def test_a_lost_ledger_stops_writers_until_verify_writes_it_again(
        cli: Cli, chdir_tmp: Path) -> None:
    """The ledger's own meta row deleted: nothing could then tell a deleted snapshot, so
    `add` and `forget` refuse (exit 3) and verify says how to go on."""
    (chdir_tmp / "f").mkdir()
    (chdir_tmp / "f" / "a.md").write_text("brief a\n")
    assert cli("add", "s.bmin", "f", "--model", HASHING, "-q").returncode == 0
    from . import surgery

    surgery.execute("s.bmin", "DELETE FROM meta WHERE key = 'snapshot_ledger'")
    checked = cli("verify", "s.bmin")
    assert checked.returncode == ExitStatus.FINDINGS and "ledger" in checked.stdout
    (chdir_tmp / "f" / "b.md").write_text("brief b\n")
    refused = cli("add", "s.bmin", "f")
    assert refused.returncode == ExitStatus.ARCHIVE and "--forget-missing" in refused.stderr
    # refused before storing: a version stored by a run that records no snapshot would be
    # left for a prune to delete
    assert [r["path"] for r in json.loads(cli("ls", "s.bmin", "--json").stdout)] == ["f/a.md"]
    assert cli("forget", "s.bmin", "1").returncode == ExitStatus.ARCHIVE
    repaired = cli("verify", "s.bmin", "--forget-missing", "--json")
    assert repaired.returncode == 0 and json.loads(repaired.stdout)["forget_missing"] == {
        "forgotten": [], "entered": [], "rewritten": True}
    assert "wrote the lost snapshot ledger again" in repaired.stderr
    assert cli("add", "s.bmin", "f", "-q").returncode == 0
    assert cli("verify", "s.bmin", "-q").returncode == 0


def test_a_deleted_newest_snapshot_id_is_never_given_again(cli: Cli, chdir_tmp: Path) -> None:
    """The newest snapshot row and meta snapshot_seq deleted together: the next `add` gave
    the deleted id again, and the ledger then vouched for it. The ledger still lists it:
    verify names it, and `add` refuses until the loss is accepted."""
    from . import surgery

    (chdir_tmp / "f").mkdir()
    for night in (1, 2):
        (chdir_tmp / "f" / "a.md").write_text(f"brief a, night {night}\n")
        assert cli("add", "s.bmin", "f", "--model", HASHING, "-q").returncode == 0
    surgery.execute("s.bmin", "DELETE FROM snapshots WHERE id = 2")
    surgery.execute("s.bmin", "DELETE FROM meta WHERE key = 'snapshot_seq'")
    checked = cli("verify", "s.bmin")
    assert checked.returncode == ExitStatus.FINDINGS
    assert "snapshot 2 was deleted outside briefmin" in checked.stdout
    (chdir_tmp / "f" / "a.md").write_text("brief a, night 3\n")
    assert cli("add", "s.bmin", "f", "-q").returncode == ExitStatus.ARCHIVE
    with Archive.open(chdir_tmp / "s.bmin") as arch:
        from briefmin.store import snapshots

        assert snapshots.highest_id(arch._db) == 2  # the ledger's, with the row and seq gone


def test_a_deleted_newest_snapshot_stops_add_and_the_choice_of_the_latest(
        cli: Cli, chdir_tmp: Path) -> None:
    """A review: with the chain's newest row deleted, `add` continued an older snapshot's
    entries and the deleted one's open entries covered the new one too (exit 0, a path
    listed twice); and after a merge, whose ids follow no time order, `--snapshot latest`
    restored another chain's snapshot with exit 0."""
    from . import surgery

    (chdir_tmp / "f").mkdir()
    for name, text in (("A.bmin", "a1"), ("B.bmin", "b1"), ("B.bmin", "b2"), ("A.bmin", "a2")):
        (chdir_tmp / "f" / "a.md").write_text(text + "\n")
        assert cli("add", name, "f", "--model", HASHING, "-q").returncode == 0
    assert cli("merge", "M.bmin", "A.bmin", "B.bmin", "-q").returncode == 0
    newest = max(json.loads(cli("snapshots", "M.bmin", "--json").stdout)["snapshots"],
                 key=lambda s: s["time"])
    surgery.execute("M.bmin", "DELETE FROM snapshots WHERE id = ?", (newest["id"],))
    for args in (("--snapshot", "latest"), ("--as-of", "2099-01-01")):
        done = cli("restore", "M.bmin", *args, "--to", "o")
        assert done.returncode == ExitStatus.ARCHIVE and "may be gone" in done.stderr
    assert not (chdir_tmp / "o").exists()
    surgery.execute("A.bmin", "DELETE FROM snapshots WHERE id = 2")
    (chdir_tmp / "f" / "a.md").write_text("a3\n")
    refused = cli("add", "A.bmin", "f")
    assert refused.returncode == ExitStatus.ARCHIVE and "deleted outside" in refused.stderr
    assert [r["version"] for r in json.loads(cli("ls", "A.bmin", "--json").stdout)] == [2]
    # accepted, the next add records a sound snapshot
    assert cli("verify", "A.bmin", "--forget-missing", "-q").returncode == 0
    assert cli("add", "A.bmin", "f", "-q").returncode == 0
    assert cli("verify", "A.bmin", "-q").returncode == 0


def test_a_damaged_snapshot_row_and_a_lost_ledger_have_a_way_out(cli: Cli,
                                                                 chdir_tmp: Path) -> None:
    """A review: with a snapshot row damaged, `--forget-missing` refused to write a lost
    ledger again, so `add` and `forget` stayed refused for good."""
    from . import surgery

    (chdir_tmp / "f").mkdir()
    (chdir_tmp / "f" / "a.md").write_text("brief a\n")
    assert cli("add", "s.bmin", "f", "--model", HASHING, "-q").returncode == 0
    surgery.execute("s.bmin", "UPDATE snapshots SET host = 'other' WHERE id = 1")
    surgery.execute("s.bmin", "DELETE FROM meta WHERE key = 'snapshot_ledger'")
    checked = cli("verify", "s.bmin")
    assert "ledger" in checked.stdout and "snapshot 1 is damaged" in checked.stdout
    assert cli("verify", "s.bmin", "--forget-missing", "-q").returncode == \
        ExitStatus.FINDINGS  # the ledger written again; the damaged row still reported
    assert cli("forget", "s.bmin", "1").returncode == 0
    assert cli("verify", "s.bmin", "-q").returncode == 0


def test_a_snapshot_restore_names_the_versions_whose_rows_are_lost(
        cli: Cli, chdir_tmp: Path) -> None:
    """A brief row deleted behind the archive's back: `restore --snapshot` wrote the others
    and exited 0, as if the snapshot had held no more."""
    import sqlite3

    (chdir_tmp / "f").mkdir()
    for name in ("a", "b", "c"):
        (chdir_tmp / "f" / f"{name}.md").write_text(f"brief {name}\n")
    assert cli("add", "s.bmin", "f", "--model", HASHING).returncode == 0
    with sqlite3.connect(chdir_tmp / "s.bmin") as raw:
        raw.execute("DELETE FROM briefs WHERE path = 'f/b.md'")
    done = cli("restore", "s.bmin", "--snapshot", "1", "--to", "out")
    assert done.returncode == ExitStatus.ARCHIVE
    assert "snapshot 1 holds 1 brief version(s) whose catalogue rows are lost" in done.stderr
    assert sorted(p.name for p in (chdir_tmp / "out" / "f").iterdir()) == ["a.md", "c.md"]


def test_forget_host_and_tag_choose_the_snapshots_a_policy_sees(cli: Cli,
                                                                chdir_tmp: Path) -> None:
    """As restic's `forget --host/--tag`: the policy applies to the chosen snapshots only,
    and the others stay whatever it says."""
    (chdir_tmp / "f").mkdir()
    (chdir_tmp / "f" / "a.md").write_text("brief a\n")
    for day, host, tags in ((1, "h1", []), (2, "h1", ["monthly"]), (3, "h1", []),
                            (4, "h2", []), (5, "h2", [])):
        args = ["--host", host, "--time", f"2026-01-0{day}T02:00:00+00:00", "--model", HASHING]
        assert cli("add", "s.bmin", "f", *args, *[x for t in tags for x in ("--tag", t)]
                   ).returncode == 0

    def forgotten(*args: str) -> list[int]:
        done = cli("forget", "s.bmin", "--keep-last", "1", "--dry-run", "--json", *args)
        assert done.returncode == 0, done.stderr
        return sorted(s["id"] for s in json.loads(done.stdout)["remove"])

    assert forgotten() == [1, 2, 4]  # per group of host and roots
    assert forgotten("--host", "h1") == [1, 2]
    assert forgotten("--host", "h2") == [4]
    assert forgotten("--tag", "monthly") == []  # the newest of the one it chose stays
    assert forgotten("--host", "h1", "--tag", "monthly,other") == []
    assert "no snapshot matches" in cli("forget", "s.bmin", "--keep-last", "1", "--host",
                                        "h3", "--dry-run").stderr
    assert cli("forget", "s.bmin", "1", "--host", "h1").returncode == ExitStatus.USAGE
    assert cli("forget", "s.bmin", "--keep-last", "1", "--tag", "").returncode == \
        ExitStatus.USAGE


@pytest.mark.parametrize("old_format", [3, 4])
def test_an_older_archive_has_no_snapshots_until_a_writer_upgrades_it(
        tmp_path: Path, cli: Cli, chdir_tmp: Path, old_format: int) -> None:
    """Format 3 (before checksums) and 4 (before snapshots), as older briefmins wrote them:
    read as they are, verified, and migrated by the next `add`, which records a snapshot."""
    from briefmin.store import schema

    from . import surgery

    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "a.md").write_bytes(b"a brief from before snapshots\n")
    archive = tmp_path / "a.bmin"
    assert cli("add", archive, "f", "--model", HASHING, "-q").returncode == 0
    {3: surgery.write_format_3, 4: surgery.write_format_4}[old_format](archive)
    before = archive.read_bytes()
    assert json.loads(cli("snapshots", archive, "--json").stdout) == {"snapshots": []}
    assert cli("ls", archive, "--snapshot", "latest").returncode == ExitStatus.USAGE
    assert cli("restore", archive, "--to", tmp_path / "out", "-q").returncode == 0
    assert cli("verify", archive, "-q").returncode == 0
    assert archive.read_bytes() == before  # readers never migrate
    assert cli("add", archive, "f", "-q").returncode == 0  # migrates, then records one
    assert [s["files"] for s in json.loads(cli("snapshots", archive, "--json").stdout)[
        "snapshots"]] == [1]
    with Archive.open(archive) as arch:
        assert arch.meta.format_version == schema.FORMAT_VERSION and arch.verify().ok


def test_unchanged_shortcut_never_records_a_wrong_snapshot(
        tmp_path: Path, cli: Cli, chdir_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unchanged night is recorded without reading the catalogue only when nothing could
    have moved: after forgetting the newest snapshot, or removing the version a span held, the
    snapshot is compared for real and still holds exactly the folder."""
    folder = tmp_path / "f"
    archive = tmp_path / "a.bmin"

    def night(state: dict[str, bytes], before: dict[str, bytes]) -> int:
        write_state(folder, state, before)
        assert cli("add", archive, "f", "--model", HASHING, "-q").returncode == 0
        with Archive.open(archive) as arch:
            latest = arch.snapshot("latest")
            assert {r.path: arch.read(r) for r in arch.records(snapshot=latest)} == state
            return latest.id

    one = {"f/a.md": b"alpha\n", "f/b.md": b"beta\n"}
    assert night(one, {}) == 1
    with monkeypatch.context() as patch:  # the shortcut: no catalogue scan
        patch.setattr(catalogue, "latest_briefs", lambda db: pytest.fail("scanned"))
        assert night(one, one) == 2
    assert cli("forget", archive, "2").returncode == 0
    assert night(one, one) == 3
    two = {**one, "f/a.md": b"alpha, edited\n", "f/c.md": b"gamma\n"}
    night(two, one)
    assert cli("rm", archive, "f/a.md", "--version", "2").returncode == 0
    back = {**two, "f/a.md": b"alpha\n"}  # the file goes back to the version still stored
    night(back, two)
    night(back, back)
    with Archive.open(archive) as arch:
        assert arch.verify().ok


def test_add_tag_with_commas_records_each_tag(cli: Cli, chdir_tmp: Path) -> None:
    """As restic's `backup --tag a,b`: `add --tag nightly,x` records the tags nightly and x
    (each once, trimmed), so forget's comma-separated lists match them and `--prune` keeps
    what they name; an empty tag is refused before anything is written."""
    (chdir_tmp / "f").mkdir()
    (chdir_tmp / "f" / "a.md").write_text("brief a\n")
    base = ["--model", HASHING, "-q"]
    assert cli("add", "s.bmin", "f", "--tag", "nightly,x", "--tag", " x ,nightly",
               "--time", "2026-01-01T02:00:00Z", *base).returncode == 0
    (chdir_tmp / "f" / "a.md").write_text("brief a, edited\n")
    assert cli("add", "s.bmin", "f", "--time", "2026-01-02T02:00:00Z", *base).returncode == 0
    listed = json.loads(cli("snapshots", "s.bmin", "--json").stdout)["snapshots"]
    assert [s["tags"] for s in listed] == [["nightly", "x"], []]
    assert "\tnightly,x\t" in cli("snapshots", "s.bmin").stdout
    done = cli("forget", "s.bmin", "--keep-last", "1", "--keep-tag", "nightly,x", "--prune",
               "--json")
    assert done.returncode == 0, done.stderr
    assert sorted(s["id"] for s in json.loads(done.stdout)["keep"]) == [1, 2]
    chosen = json.loads(cli("forget", "s.bmin", "--keep-last", "1", "--tag", "x",
                            "--dry-run", "--json").stdout)
    assert sorted((s["id"], s["reasons"]) for s in chosen["keep"]) == [
        (1, ["last snapshot"]), (2, ["not chosen (--host, --tag)"])]
    assert cli("restore", "s.bmin", "f/a.md", "--version", "1", "--stdout").stdout == \
        "brief a\n"
    before = Path("s.bmin").read_bytes()
    for bad in ("", "a,,b", "a, ,b", ","):
        refused = cli("add", "s.bmin", "f", "--tag", bad, *base)
        assert refused.returncode == ExitStatus.USAGE, bad
        assert refused.stderr.count("\n") == 1 and "an empty tag" in refused.stderr
    assert Path("s.bmin").read_bytes() == before


def test_a_tag_stored_with_a_comma_is_matched_as_its_parts(cli: Cli, chdir_tmp: Path) -> None:
    """An older briefmin stored `add --tag nightly,x` as the one tag "nightly,x": it reads as
    the tags nightly and x, so `forget --keep-tag nightly,x` (or nightly) keeps it."""
    import sqlite3

    from briefmin.store import rows

    (chdir_tmp / "f").mkdir()
    (chdir_tmp / "f" / "a.md").write_text("brief a\n")
    for day in (1, 2):
        assert cli("add", "s.bmin", "f", "--model", HASHING, "-q", "--time",
                   f"2026-01-0{day}T02:00:00Z").returncode == 0
    conn = sqlite3.connect("s.bmin", isolation_level=None)
    try:  # as the older briefmin wrote it, checksum and all
        columns = ", ".join(rows.COLUMNS["snapshots"])
        row = list(conn.execute(f"SELECT {columns} FROM snapshots WHERE id = 1").fetchone())
        row[rows.COLUMNS["snapshots"].index("tags")] = json.dumps(["nightly,x"])
        rows.put(conn, "snapshots", tuple(row))
    finally:
        conn.close()
    assert cli("verify", "s.bmin", "-q").returncode == 0
    listed = json.loads(cli("snapshots", "s.bmin", "--json").stdout)["snapshots"]
    assert listed[0]["tags"] == ["nightly", "x"]
    for wanted in ("nightly,x", "nightly", "x"):
        kept = json.loads(cli("forget", "s.bmin", "--keep-last", "1", "--keep-tag", wanted,
                              "--dry-run", "--json").stdout)["keep"]
        assert sorted(s["id"] for s in kept) == [1, 2], wanted


@pytest.mark.parametrize("marked", [True, False])
def test_versions_from_before_snapshots_are_never_pruned(tmp_path: Path, cli: Cli,
                                                         chdir_tmp: Path, marked: bool) -> None:
    """A format-4 archive's history was in no snapshot (there were none), so no policy ever
    forgot it: the upgrade's first `forget --prune`, and `prune`, keep it, while the versions
    of snapshots forgotten later are still pruned. `marked=False`: the archive was upgraded by
    a briefmin that kept no mark of what came before (the first forget works it out)."""
    from . import surgery

    archive = tmp_path / "a.bmin"
    (chdir_tmp / "f").mkdir()

    def night(text: str, day: int) -> None:
        (chdir_tmp / "f" / "a.md").write_text(text)
        assert cli("add", archive, "f", "--model", HASHING, "-q", "--time",
                   f"2026-01-0{day}T02:00:00Z").returncode == 0

    def pruned(*args: str) -> int:
        done = cli(*args, "--json")
        assert done.returncode == 0, done.stderr
        found = json.loads(done.stdout)
        return int((found.get("prune") or found)["versions"])

    night("v1\n", 1)
    night("v2\n", 2)
    surgery.write_format_4(archive)
    night("v3\n", 3)  # upgrades, then records the first snapshot
    if not marked:
        surgery.execute(archive, "DELETE FROM meta WHERE key = 'pre_snapshot_top'")
    assert pruned("forget", archive, "--keep-last", "7", "--prune") == 0
    assert pruned("prune", archive) == 0
    for version, text in ((1, "v1\n"), (2, "v2\n")):
        assert cli("restore", archive, "f/a.md", "--version", str(version),
                   "--stdout").stdout == text
    night("v4\n", 4)
    assert pruned("forget", archive, "--keep-last", "1", "--prune") == 1  # v3's snapshot
    listed = json.loads(cli("ls", archive, "--all-versions", "--json").stdout)
    assert sorted(r["version"] for r in listed) == [1, 2, 4]
    assert cli("verify", archive, "-q").returncode == 0


def test_after_rm_of_the_history_new_versions_stay_prunable(
        tmp_path: Path, cli: Cli, chdir_tmp: Path) -> None:
    """A new version never takes a row id at or below the pre-snapshot mark: after `rm` of
    an upgraded archive's history, MAX(id) + 1 gave ids the mark covers, and prune kept
    those versions for ever."""
    from . import surgery

    archive = tmp_path / "a.bmin"

    def night(folder: str, text: str, day: int) -> None:
        (chdir_tmp / folder).mkdir(exist_ok=True)
        (chdir_tmp / folder / "a.md").write_text(text)
        assert cli("add", archive, folder, "--model", HASHING, "-q", "--time",
                   f"2026-01-0{day}T02:00:00Z").returncode == 0

    night("f", "v1\n", 1)
    night("f", "v2\n", 2)
    surgery.write_format_4(archive)
    night("f", "v3\n", 3)  # upgrades: the mark is 2
    assert cli("rm", archive, "f/a.md").returncode == 0
    for day, text in ((4, "n1\n"), (5, "n2\n"), (6, "n3\n")):
        night("g", text, day)
    assert min(i for (i,) in surgery.execute(archive, "SELECT id FROM briefs")) > 2
    done = cli("forget", archive, "--keep-last", "1", "--prune", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["prune"]["versions"] == 2


def test_an_unmarked_archive_still_prunes_what_its_forget_released(
        tmp_path: Path, cli: Cli, chdir_tmp: Path) -> None:
    """An archive made with snapshots by a briefmin that kept no pre-snapshot mark: the
    versions its snapshots held are not taken for older ones, so `forget --prune` prunes
    the versions of the snapshots it forgets."""
    from . import surgery

    archive = tmp_path / "a.bmin"
    (chdir_tmp / "f").mkdir()
    for day in (1, 2, 3):
        (chdir_tmp / "f" / "a.md").write_text(f"v{day}\n")
        assert cli("add", archive, "f", "--model", HASHING, "-q", "--time",
                   f"2026-01-0{day}T02:00:00Z").returncode == 0
    surgery.execute(archive, "DELETE FROM meta WHERE key = 'pre_snapshot_top'")
    done = cli("forget", archive, "--keep-last", "1", "--prune", "--json")
    assert json.loads(done.stdout)["prune"]["versions"] == 2


@pytest.fixture
def berlin_time(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Local time is Europe/Berlin's (summer time ends 2026-10-25, starts 2026-03-29)."""
    if not Path("/usr/share/zoneinfo/Europe/Berlin").exists():
        pytest.skip("no tz database")
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_as_of_a_date_is_the_end_of_that_local_day_when_the_clocks_change(
        cli: Cli, chdir_tmp: Path, berlin_time: None) -> None:
    """`--as-of DATE` ends at the next local midnight on a day of 25 or 23 hours too: not
    at 23:59:59 with the offset of the day's midnight, an hour off."""
    (chdir_tmp / "f").mkdir()
    nights = ["2026-03-29T12:00:00", "2026-03-30T00:30:00",  # 22:30 UTC on the 29th
              "2026-10-25T12:00:00", "2026-10-25T23:30:00",  # 22:30 UTC, after 21:59:59
              "2026-10-26T00:30:00"]
    for n, local in enumerate(nights, 1):
        (chdir_tmp / "f" / "a.md").write_text(f"night {n}\n")
        assert cli("add", "s.bmin", "f", "--model", HASHING, "-q", "--time",
                   local).returncode == 0
    for day, night in (("2026-03-29", 1), ("2026-10-25", 4), ("2026-10-26", 5)):
        done = cli("restore", "s.bmin", "f/a.md", "--as-of", day, "--stdout")
        assert (done.returncode, done.stdout) == (0, f"night {night}\n"), day


def test_as_of_a_date_in_any_form_is_the_end_of_that_day(cli: Cli, chdir_tmp: Path) -> None:
    """ISO 8601's basic (20260101) and week (2026-W01-4) dates name a day as 2026-01-01 does:
    `--as-of` takes the snapshots of all that day, not only those taken at midnight."""
    (chdir_tmp / "f").mkdir()
    for n, local in enumerate(["2026-01-01T12:00:00", "2026-01-02T12:00:00"], 1):
        (chdir_tmp / "f" / "a.md").write_text(f"night {n}\n")
        assert cli("add", "s.bmin", "f", "--model", HASHING, "-q", "--time",
                   local).returncode == 0
    for day in ("2026-01-01", "20260101", "2026-W01-4", "2026W014", " 20260101 "):
        done = cli("restore", "s.bmin", "f/a.md", "--as-of", day, "--stdout")
        assert (done.returncode, done.stdout) == (0, "night 1\n"), day
    done = cli("restore", "s.bmin", "f/a.md", "--as-of", "2026-01-01T11:00:00", "--stdout")
    assert done.returncode == ExitStatus.USAGE  # a time is that moment, not its day's end


def test_after_forgetting_the_newest_snapshot_counts_are_against_the_one_left(
        cli: Cli, chdir_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The next add compares with the previous snapshot there is (README: counts are since
    the previous snapshot of the same host and roots), not with the forgotten one: its
    counts match `diff`, a skipped file that snapshot held keeps its version, and the
    snapshot after it takes the unchanged shortcut again."""
    folder = chdir_tmp / "f"

    def night(state: dict[str, bytes], before: dict[str, bytes]) -> dict[str, Any]:
        write_state(folder, state, before)
        done = cli("add", "s.bmin", "f", "--model", HASHING, "--json")
        assert done.returncode == 0, done.stderr
        return dict(json.loads(done.stdout))

    one = {"f/a.md": b"a1\n", "f/b.md": b"b1\n", "f/d.md": b"d1\n"}
    two = {"f/a.md": b"a2\n", "f/b.md": b"b1\n", "f/c.md": b"c1\n"}  # d.md deleted
    three = {"f/a.md": b"a3\n", "f/b.md": b"b1\n", "f/d.md": b"\x00binary now\x00"}
    night(one, {})
    night(two, one)
    assert cli("forget", "s.bmin", "2").returncode == 0
    third = night(three, two)
    snap = third["snapshot"]
    assert (snap["added"], snap["changed"], snap["deleted"]) == (0, 1, 0)
    assert [(s["path"], s["kept_previous"]) for s in third["skipped"]] == [("f/d.md", True)]
    changes = json.loads(cli("diff", "s.bmin", "1", "3", "--json").stdout)
    assert (changes["added"], changes["changed"], changes["deleted"]) == ([], ["f/a.md"], [])
    held = {1: one, 3: {**one, "f/a.md": b"a3\n"}}
    assert snapshot_bytes(chdir_tmp / "s.bmin") == held
    with monkeypatch.context() as patch:  # the shortcut: no catalogue scan
        patch.setattr(catalogue, "latest_briefs", lambda db: pytest.fail("scanned"))
        fourth = night(three, three)["snapshot"]
    assert (fourth["added"], fourth["changed"], fourth["deleted"]) == (0, 0, 0)
    assert snapshot_bytes(chdir_tmp / "s.bmin") == {**held, 4: held[3]}
    assert cli("verify", "s.bmin", "-q").returncode == 0


def test_two_stdin_jobs_are_two_histories(cli: Cli, chdir_tmp: Path) -> None:
    """As restic's `--stdin-filename`: a brief piped in is a root named by its `--name`, so
    two cron jobs piping two briefs are two histories. With one root `-` for both, each
    run's snapshot deleted the other's brief and `forget --keep-last 1 --prune` deleted the
    older versions of one job's brief, which its own history still needs."""
    base = ["--model", HASHING, "-q"]
    for night in (1, 2):
        for job in ("a", "b"):
            done = cli("add", "s.bmin", "-", "--name", f"{job}.txt", "--json",
                       "--time", f"2026-01-0{night}T02:0{ord(job) - 96}:00Z", *base,
                       input=f"job {job}, night {night}\n".encode())
            assert done.returncode == 0, done.stderr
            snap = json.loads(done.stdout)["snapshot"]
            assert (snap["added"], snap["changed"], snap["deleted"]) == (
                (1, 0, 0) if night == 1 else (0, 1, 0))
    listed = json.loads(cli("snapshots", "s.bmin", "--json").stdout)["snapshots"]
    assert [s["roots"] for s in listed] == [["stdin:a.txt"], ["stdin:b.txt"]] * 2
    done = cli("forget", "s.bmin", "--keep-last", "2", "--prune", "--json")
    assert done.returncode == 0, done.stderr
    assert sorted(s["id"] for s in json.loads(done.stdout)["keep"]) == [1, 2, 3, 4]
    for job in ("a", "b"):
        assert cli("restore", "s.bmin", f"{job}.txt", "--version", "1", "--stdout").stdout \
            == f"job {job}, night 1\n"


def test_a_run_that_finds_no_brief_warns_that_it_records_every_one_deleted(
        tmp_path: Path, chdir_tmp: Path, cli: Cli) -> None:
    """A nightly run over a share that failed to mount (or an --exclude matching everything)
    records a snapshot of nothing, as restic would; the user is told, and how to drop it."""
    folder = tmp_path / "f"
    folder.mkdir()
    for name in ("a.md", "b.md"):
        (folder / name).write_text(f"brief {name}\n")
    assert cli("add", "a.bmin", "f", "--model", HASHING).returncode == 0
    quiet_night = cli("add", "a.bmin", "f", "--model", HASHING)
    assert quiet_night.returncode == 0 and "warning" not in quiet_night.stderr
    empty = cli("add", "a.bmin", "f", "--model", HASHING, "--exclude", "*", "--json")
    assert empty.returncode == 0
    assert json.loads(empty.stdout)["snapshot"]["deleted"] == 2
    warning = [line for line in empty.stderr.splitlines() if "warning" in line]
    assert len(warning) == 1 and "holds no brief" in warning[0]
    assert "all 2 of the last snapshot" in warning[0] and "forget ARCHIVE 3" in warning[0]
    assert "warning" not in cli("add", "a.bmin", "f", "--model", HASHING, "-q",
                                "--exclude", "*").stderr


def test_a_policy_that_keeps_no_snapshot_of_a_group_is_refused(cli: Cli,
                                                               chdir_tmp: Path) -> None:
    """As restic's forget ("refusing to delete last snapshot of snapshot group"): a
    `--keep-tag` that no snapshot holds kept nothing, so every snapshot was forgotten and
    `--prune` deleted the versions behind them, exit 0. Now the whole request is refused
    (exit 2, dry run too) before anything is forgotten, and the error names the group."""
    folder = chdir_tmp / "f"
    folder.mkdir()
    for day in (1, 2, 3):
        (folder / "a.md").write_text(f"night {day}\n")
        assert cli("add", "k.bmin", "f", "--model", HASHING, "--time",
                   f"2026-01-0{day}T02:00:00Z", "--tag", "daily", "-q").returncode == 0
    # a second group (another host) that the policy does keep: refused as a whole anyway
    assert cli("add", "k.bmin", "f", "--model", HASHING, "--host", "other", "--tag",
               "dialy", "--time", "2026-01-04T02:00:00Z", "-q").returncode == 0
    before = snapshot_bytes(chdir_tmp / "k.bmin")
    for extra in ((), ("--dry-run",), ("--json",)):
        refused = cli("forget", "k.bmin", "--keep-tag", "dialy", "--prune", *extra)
        assert refused.returncode == ExitStatus.USAGE, refused.stderr
        assert refused.stdout == ""
        message = refused.stderr.strip()
        assert message.count("\n") == 0 and "Traceback" not in message
        assert message.startswith("briefmin: error: refusing to forget every snapshot")
        assert f"roots {folder}" in message and "nothing was forgotten" in message
    assert snapshot_bytes(chdir_tmp / "k.bmin") == before
    assert [v["version"] for v in json.loads(
        cli("ls", "k.bmin", "--all-versions", "--json").stdout)] == [1, 2, 3]
    # a policy that keeps one of each group goes on as before
    done = cli("forget", "k.bmin", "--keep-tag", "daily", "--keep-tag", "dialy", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["remove"] == []


def test_a_file_truncated_to_zero_bytes_restores_empty(cli: Cli, chdir_tmp: Path) -> None:
    """A brief emptied in the folder was skipped ("empty", kept_previous), so `restore
    --snapshot` of that night brought back its old bytes. It is stored as a zero-byte
    version now: the snapshot restores the folder as it was. Search and dedupe pass it by
    (no words, no vectors): two empty files are no duplicate group for a prune to thin."""
    folder = chdir_tmp / "f"
    folder.mkdir()
    (folder / "a.md").write_bytes(b"the plan for May\n")
    (folder / "b.md").write_bytes(b"other words entirely\n")
    base = ["--model", HASHING, "--json"]
    assert cli("add", "s.bmin", "f", *base, "--time", "2026-01-01T02:00:00Z").returncode == 0
    (folder / "a.md").write_bytes(b"")
    (folder / "c.md").write_bytes(b"")
    done = cli("add", "s.bmin", "f", *base, "--time", "2026-01-02T02:00:00Z")
    assert done.returncode == 0, done.stderr
    second = json.loads(done.stdout)
    assert second["skipped"] == [] and "empty" not in done.stderr
    assert (second["new_versions"], second["added"]) == (["f/a.md"], ["f/c.md"])
    snap = second["snapshot"]
    assert (snap["added"], snap["changed"], snap["deleted"]) == (1, 1, 0)
    held = snapshot_bytes(chdir_tmp / "s.bmin")
    assert held[2] == {"f/a.md": b"", "f/b.md": b"other words entirely\n", "f/c.md": b""}
    out = chdir_tmp / "out"
    assert cli("restore", "s.bmin", "--snapshot", "2", "--to", out, "-q").returncode == 0
    assert folder_files(out) == held[2]
    assert cli("restore", "s.bmin", "f/a.md", "--stdout").stdout == ""
    assert cli("restore", "s.bmin", "f/a.md", "--version", "1", "--stdout").stdout == \
        "the plan for May\n"
    assert cli("verify", "s.bmin", "-q").returncode == 0
    hits = json.loads(cli("search", "s.bmin", "plan words", *base).stdout)
    assert {h["path"] for h in hits} <= {"f/b.md"}
    dedupe = cli("dedupe", "s.bmin", "--prune", "--json")
    assert dedupe.returncode == 0, dedupe.stderr
    report = json.loads(dedupe.stdout)
    assert (report["briefs"], report["groups"], report["prune"]["paths"]) == (1, [], [])


def test_a_back_dated_snapshot_counts_against_the_latest_one_before_it(
        cli: Cli, chdir_tmp: Path) -> None:
    """README: a new snapshot is compared with the latest one of its host and roots in time,
    as restic picks a parent (the latest at or before the new one's time). A run dated
    before snapshots recorded earlier (`add --time`) was compared with the last one
    recorded: its +/~/- disagreed with `diff`, a skipped file was not kept at its version,
    and an unchanged run took the shortcut and counted nothing."""
    folder = chdir_tmp / "f"

    def night(state: dict[str, bytes], before: dict[str, bytes], day: int
              ) -> dict[str, Any]:
        write_state(folder, state, before)
        done = cli("add", "s.bmin", "f", "--model", HASHING, "--json", "--time",
                   f"2026-01-{day:02d}T02:00:00Z")
        assert done.returncode == 0, done.stderr
        return dict(json.loads(done.stdout))

    def counts(report: dict[str, Any]) -> tuple[int, int, int]:
        snap = report["snapshot"]
        return snap["added"], snap["changed"], snap["deleted"]

    def diffed(old: int, new: int) -> tuple[int, int, int]:
        changes = json.loads(cli("diff", "s.bmin", str(old), str(new), "--json").stdout)
        return len(changes["added"]), len(changes["changed"]), len(changes["deleted"])

    first = {"f/a.md": b"a1\n", "f/b.md": b"b1\n"}
    third = {"f/a.md": b"a3\n", "f/c.md": b"c3\n"}
    second = {"f/a.md": b"a1\n", "f/b.md": b"\x00binary now\x00", "f/d.md": b"d2\n"}
    night(first, {}, 1)  # snapshot 1
    night(third, first, 3)  # snapshot 2
    back = night(second, third, 2)  # snapshot 3, dated between them: its parent is 1
    assert [(s["path"], s["kept_previous"]) for s in back["skipped"]] == [("f/b.md", True)]
    assert counts(back) == diffed(1, 3) == (1, 0, 0)  # d added; a holds a1's bytes again
    # the folder as the last recorded snapshot saw it, dated before it: no shortcut
    again = night(third, second, 2)  # snapshot 4: parent 3 (same time, recorded later)
    assert counts(again) == diffed(3, 4) == (1, 1, 2)
    earliest = night(third, third, 1)  # snapshot 5: parent 1 (same time)
    assert counts(earliest) == diffed(1, 5) == (1, 1, 1)
    dawn = cli("add", "s.bmin", "f", "--model", HASHING, "--json", "--time",
               "2025-12-31T02:00:00Z")  # before every snapshot: no parent, all added
    assert counts(json.loads(dawn.stdout)) == (2, 0, 0)
    assert cli("verify", "s.bmin", "-q").returncode == 0


def test_a_skipped_path_keeps_the_version_its_parent_snapshot_held(cli: Cli,
                                                                   chdir_tmp: Path) -> None:
    """A path `add` skips stays at the version the parent snapshot (same host and roots,
    the latest at or before the run's time) held, not at the path's latest version: a
    session-43 audit found the laptop's snapshot holding the server's text, and the laptop's
    own version deleted by `forget --keep-last 1 --prune`; a back-dated run likewise took a
    later-dated run's version."""
    folder = chdir_tmp / "f"
    folder.mkdir()

    def run(data: bytes, *options: str) -> dict[str, Any]:
        (folder / "a.md").write_bytes(data)
        done = cli("add", "s.bmin", "f", "--model", HASHING, "--json", *options)
        assert done.returncode == 0, done.stderr
        return dict(json.loads(done.stdout))

    run(b"laptop text\n", "--host", "laptop")  # snapshot 1
    run(b"server text\n", "--host", "server")  # snapshot 2
    third = run(b"bin\x00ary", "--host", "laptop")  # snapshot 3: parent 1
    assert [(s["path"], s["kept_previous"]) for s in third["skipped"]] == [("f/a.md", True)]
    snap = third["snapshot"]
    assert (snap["added"], snap["changed"], snap["deleted"]) == (0, 0, 0)
    assert snapshot_bytes(chdir_tmp / "s.bmin")[3] == {"f/a.md": b"laptop text\n"}
    assert cli("forget", "s.bmin", "--keep-last", "1", "--prune").returncode == 0
    assert snapshot_bytes(chdir_tmp / "s.bmin") == {2: {"f/a.md": b"server text\n"},
                                                    3: {"f/a.md": b"laptop text\n"}}
    assert cli("verify", "s.bmin", "-q").returncode == 0

    (chdir_tmp / "s.bmin").unlink()
    run(b"one\n", "--time", "2026-01-01T02:00:00Z")  # snapshot 1
    run(b"three\n", "--time", "2026-01-03T02:00:00Z")  # snapshot 2
    run(b"bin\x00ary", "--time", "2026-01-02T02:00:00Z")  # snapshot 3: parent 1
    assert snapshot_bytes(chdir_tmp / "s.bmin")[3] == {"f/a.md": b"one\n"}
    # the file back as its latest version: unchanged to `add`, yet not what snapshot 3
    # holds, so not the unchanged night's shortcut (a review: it copied `one`, 0 changed)
    fourth = run(b"three\n", "--time", "2026-01-02T12:00:00Z")["snapshot"]
    assert (fourth["added"], fourth["changed"], fourth["deleted"]) == (0, 1, 0)
    assert cli("forget", "s.bmin", "1", "--prune").returncode == 0
    assert snapshot_bytes(chdir_tmp / "s.bmin") == {2: {"f/a.md": b"three\n"},
                                                    3: {"f/a.md": b"one\n"},
                                                    4: {"f/a.md": b"three\n"}}
    assert cli("verify", "s.bmin", "-q").returncode == 0


def test_forget_on_an_archive_without_snapshots_says_so(cli: Cli, chdir_tmp: Path) -> None:
    """It warned "no snapshot matches --host/--tag" though neither option was given."""
    (chdir_tmp / "a.md").write_text("a brief\n")
    assert cli("add", "s.bmin", "a.md", "--model", HASHING).returncode == 0
    assert cli("forget", "s.bmin", "1").returncode == 0
    done = cli("forget", "s.bmin", "--keep-last", "1")
    assert done.returncode == 0
    assert "the archive has no snapshot: nothing to forget" in done.stderr
    assert "--host" not in done.stderr


def test_tables_show_snapshot_times_to_the_second(tmp_path: Path, cli: Cli) -> None:
    """`snapshots` and `forget` tables show a time as restic does, to the second; --json keeps
    the microseconds that an add without --time records."""
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "a.md").write_text("a brief\n")
    archive = tmp_path / "a.bmin"
    assert cli("add", archive, tmp_path / "f", "--model", HASHING, "-q").returncode == 0
    recorded = json.loads(cli("snapshots", archive, "--json").stdout)["snapshots"][0]["time"]
    moment = datetime.fromisoformat(recorded)
    if moment.microsecond == 0:  # one run in a million: the check below would hold anyway
        pytest.skip("the clock read a whole second")
    shown = moment.isoformat(timespec="seconds")
    for args in (("snapshots", archive), ("forget", archive, "--keep-last", "1", "--dry-run")):
        table = cli(*args).stdout
        assert f"\t{shown}\t" in table and recorded not in table, (args, table)


def _forget_between(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str,
                    archive: Path, snapshot: int) -> list[str]:
    """Wrap `owner.name` so that, right after its first call, another connection tries
    `forget SNAPSHOT --prune` (as a second process would); returns what became of it."""
    original = getattr(owner, name)
    happened: list[str] = []

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        if not happened:
            try:
                with Archive.open(archive, write=True, wait=0) as other:
                    other.forget([snapshot], prune=True)
                happened.append("committed")
            except ArchiveBusyError:  # the reader holds its state: the forget waits
                happened.append("busy")
        return result

    monkeypatch.setattr(owner, name, wrapped)
    return happened


@pytest.mark.parametrize("command", ["diff", "ls", "search"])
def test_diff_ls_and_search_of_a_snapshot_see_one_state_while_forget_prunes(
        tmp_path: Path, chdir_tmp: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch,
        command: str) -> None:
    """A concurrency audit: `diff 1 2` printed `1 added, 1 changed, 1 deleted` with exit 0,
    and `ls --snapshot 2` listed part of the snapshot, when a `forget 2 --prune` committed
    between the reads of one run; `search --snapshot 2` could miss the versions it pruned.
    Their reads now see one state: the forget waits."""
    import briefmin.history

    folder = tmp_path / "f"
    folder.mkdir()
    for name in "abc":
        (folder / f"{name}.md").write_bytes(f"brief {name}, first night\n".encode())
    for night in (1, 2, 3):
        if night == 2:
            (folder / "c.md").write_bytes(b"brief c, edited on the second night\n")
            (folder / "d.md").write_bytes(b"brief d, new on the second night\n")
        if night == 3:  # c's second version: only snapshot 2 holds it, so the prune takes it
            (folder / "c.md").write_bytes(b"brief c, edited again on the third night\n")
        assert cli("add", "a.bmin", "f", "--model", HASHING, "-q", "--time",
                   f"2026-05-0{night}T02:00:00Z").returncode == 0
    if command == "diff":
        happened = _forget_between(monkeypatch, Archive, "records", tmp_path / "a.bmin", 2)
        result = cli("diff", "a.bmin", "1", "2", "--json")
        assert result.returncode == 0, result.stderr
        changes = json.loads(result.stdout)
        assert (changes["added"], changes["changed"], changes["deleted"]) == (
            ["f/d.md"], ["f/c.md"], [])
        assert happened == ["busy"]
    elif command == "ls":
        happened = _forget_between(monkeypatch, briefmin.history, "pick",
                                   tmp_path / "a.bmin", 2)
        result = cli("ls", "a.bmin", "--snapshot", "2", "--json")
        assert result.returncode == 0, result.stderr
        assert [(r["path"], r["version"]) for r in json.loads(result.stdout)] == [
            ("f/a.md", 1), ("f/b.md", 1), ("f/c.md", 2), ("f/d.md", 1)]
        assert happened == ["busy"]
    else:
        happened = _forget_between(monkeypatch, Archive, "snapshot_members",
                                   tmp_path / "a.bmin", 2)
        result = cli("search", "a.bmin", "brief", "--snapshot", "2", "--mode", "lexical",
                     "--json")
        assert result.returncode == 0, result.stderr
        assert sorted((h["path"], h["version"]) for h in json.loads(result.stdout)) == [
            ("f/a.md", 1), ("f/b.md", 1), ("f/c.md", 2), ("f/d.md", 1)]
        assert happened == ["busy"]


def test_as_of_a_time_as_snapshots_prints_it_takes_the_snapshot_of_that_second(
        cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stateful audit (session 50): a snapshot's time has fractions of a second, and
    `snapshots` prints it to the second, so `--as-of` the time as printed was before it and
    picked the snapshot before. A time names its last unit whole (the second, the minute,
    the hour it names); a time with a fraction is the moment itself."""
    monkeypatch.chdir(tmp_path)
    Path("f").mkdir()
    for text, when in (("First text.\n", "2026-03-01T09:00:00+00:00"),
                       ("Second text.\n", "2026-03-01T10:00:00.750+00:00")):
        Path("f/a.md").write_text(text)
        assert cli("add", "a.bmin", "f", "--model", HASHING, "-q", "--time", when
                   ).returncode == 0
    printed = cli("snapshots", "a.bmin").stdout.splitlines()[-1]
    assert "2026-03-01T10:00:00+00:00" in printed  # to the second

    def as_of(moment: str) -> str:
        done = cli("restore", "a.bmin", "f/a.md", "--stdout", "--as-of", moment)
        assert done.returncode == 0, done.stderr
        return done.stdout

    # (any one character parts the date from the time, as for Python; the span is added
    # less its last microsecond, so the last second of 9999 stays a time)
    for moment in ("2026-03-01T10:00:00+00:00", "2026-03-01T10:00+00:00",
                   "2026-03-01T10+00:00", "20260301T100000Z", "2026-03-01T05:00-05:00",
                   "2026-03-01t10+00:00", "2026-03-01 10:00:00+00:00",
                   "9999-12-31T23:59:59+00:00"):
        assert as_of(moment) == "Second text.\n", moment
    for moment in ("2026-03-01T09:59:59+00:00", "2026-03-01T10:00:00.5+00:00",
                   "2026-03-01T09:59+00:00"):
        assert as_of(moment) == "First text.\n", moment
