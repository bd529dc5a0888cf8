"""Tiers (issue 16): `briefmin tier` re-encodes only the vector rows of old brief versions
(not a latest version, not in any chain's newest snapshot, stored before the cutoff), to 4-bit
codes or to none; every snapshot still restores byte-exact, `verify` covers the new layout,
the file shrinks, a kill at any moment leaves a good archive, and search and dedupe with the
real model still find the tiered briefs."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from briefmin import Archive
from briefmin.dedupe import find_duplicates
from briefmin.errors import ExitStatus
from briefmin.ingest import SnapshotSpec, add
from briefmin.search import search_texts
from briefmin.sources import Source
from briefmin.store import rows

from .conftest import HASHING, Cli, cached_encoder, vector_rows
from .test_dedupe import PLANTED
from .test_reliability import briefmin_proc
from .test_search import PARAPHRASED_QUERIES, TWINS
from .test_snapshots import Night, assert_restores, run_nights, simulate, snapshot_bytes

KILLS = int(os.environ.get("BRIEFMIN_TIER_KILLS", "20"))


def old_digests(archive: Path) -> set[str]:
    """The sha256 of every content that only old versions hold (computed here from the
    catalogue and the snapshots, independently of store/tiers.py)."""
    with Archive.open(archive) as arch:
        every = arch.records(all_versions=True)
        latest = {(r.path, r.version) for r in arch.records()}
        newest: dict[tuple[str, tuple[str, ...]], Any] = {}
        for snap in arch.snapshots():
            key = (snap.host, snap.roots)
            if key not in newest or snap.id > newest[key].id:
                newest[key] = snap
        held = set().union(*(arch.snapshot_members(s) for s in newest.values()))
    young = {r.sha256 for r in every if (r.path, r.version) in latest | held}
    return {r.sha256 for r in every} - young


def frozen(found: dict[Any, tuple[bytes, Any]]) -> dict[Any, tuple[bytes, bytes]]:
    """vector_rows, comparable with ==."""
    return {key: (bits, codes.tobytes()) for key, (bits, codes) in found.items()}


def code_bits(archive: Path) -> dict[str, int]:
    with Archive.open(archive) as arch:
        counts: dict[str, int] = arch.info()["vectors_by_code_bits"]
    return counts


def edit_half(tmp: Path, archive: Path, plan: list[Night]) -> None:
    """One more night (appended to `plan`) that edits every other file: many old versions."""
    state = dict(plan[-1].state)
    for name in sorted(state)[::2]:
        state[name] += b"\nedited once more\n"
    plan.append(Night(plan[-1].time + timedelta(days=1), state=state))
    run_nights(tmp, archive, plan[-1:], before=plan[-2].state)


def test_tier_reencodes_only_old_rows_and_every_snapshot_restores(
        tmp_path: Path, chdir_tmp: Path, cli: Cli) -> None:
    plan = simulate(tmp_path / "f", 12, start=100, words=30)
    archive = tmp_path / "a.bmin"
    run_nights(tmp_path, archive, plan)
    edit_half(tmp_path, archive, plan)
    old = old_digests(archive)
    before = vector_rows(archive)
    assert old and len(old) < len({key[0] for key in before})

    # nothing is old enough yet: the briefs were all stored moments ago
    recent = json.loads(cli("tier", archive, "--older-than", "1d", "--codes", "small",
                            "--json").stdout)
    assert recent["rows"] == 0 and recent["contents"] == 0
    dry = json.loads(cli("tier", archive, "--older-than", "0h", "--codes", "small",
                         "--dry-run", "--json").stdout)
    assert frozen(vector_rows(archive)) == frozen(before) and dry["bytes_after"] is None
    old_rows = {key for key in before if key[0] in old}
    assert dry["rows"] == len(old_rows) and dry["contents"] == len(old)
    assert dry["code_bytes_after"] * 2 == dry["code_bytes_before"]

    size = archive.stat().st_size
    done = json.loads(cli("tier", archive, "--older-than", "0h", "--codes", "small",
                          "--json").stdout)
    assert {k: done[k] for k in ("rows", "contents", "code_bytes_before")} == \
        {k: dry[k] for k in ("rows", "contents", "code_bytes_before")}
    assert done["bytes_before"] == size and done["bytes_after"] < size == done["bytes_before"]
    assert code_bits(archive) == {"8": len(before) - len(old_rows), "4": len(old_rows)}
    after = vector_rows(archive)
    assert after.keys() == before.keys()
    with Archive.open(archive) as arch:
        step, four_step = arch.meta.int8_step, 3.0 / np.sqrt(arch.meta.dim) / 7.0
    for key, (bits, codes) in after.items():
        assert bits == before[key][0]  # the binary codes never change
        if key in old_rows:
            # the int8 code rounded to the 4-bit grid (the small profile's fixed step,
            # 3 / sqrt(dim) / 7), read back in the int8 scale
            four = np.clip(np.rint(before[key][1] * step / four_step), -7, 7)
            assert np.array_equal(codes, np.clip(np.rint(four * four_step / step),
                                                 -127, 127)), key
        else:
            assert np.array_equal(codes, before[key][1]), key
    with Archive.open(archive) as arch:
        assert arch.verify().ok
    assert_restores(cli, archive, tmp_path / "out-small", plan)

    # then binary: the same rows lose their codes; the latest ones still keep theirs
    done = json.loads(cli("tier", archive, "--older-than", "0h", "--codes", "binary",
                          "--json").stdout)
    assert done["rows"] == len(old_rows) and done["code_bytes_after"] == 0
    assert done["bytes_after"] < done["bytes_before"]
    assert code_bits(archive) == {"8": len(before) - len(old_rows), "0": len(old_rows)}
    binary = vector_rows(archive)
    for key in before.keys() - old_rows:
        assert np.array_equal(binary[key][1], before[key][1]), key
    with Archive.open(archive) as arch:
        assert arch.verify().ok
    assert_restores(cli, archive, tmp_path / "out-binary", plan)
    again = json.loads(cli("tier", archive, "--older-than", "0h", "--codes", "small",
                           "--json").stdout)
    assert again["rows"] == 0  # codes only get coarser

    # the next night makes more versions old; only they are re-encoded
    more = simulate(tmp_path / "f", 14, start=100, words=30)[12:]
    for night in more:  # after the extra night (the simulated folder never had its edits)
        night.time += timedelta(days=1)
    run_nights(tmp_path, archive, more, before=plan[-1].state)
    now = vector_rows(archive)
    # a path back at bytes made binary is a latest version again: `add` encoded them anew,
    # to the very codes they had
    recoded = {key for key in old_rows if not np.array_equal(now[key][1], binary[key][1])}
    assert recoded  # the simulated folder never had the edits: some paths went back
    for key in recoded:
        assert np.array_equal(now[key][1], before[key][1]), key
    newly = {key for key in now if key[0] in old_digests(archive)} - (old_rows - recoded)
    done = json.loads(cli("tier", archive, "--older-than", "0h", "--codes", "binary",
                          "--json").stdout)
    assert newly and done["rows"] == len(newly)
    with Archive.open(archive) as arch:
        assert arch.verify().ok
    assert_restores(cli, archive, tmp_path / "out-more", plan + more)


def test_tier_usage_errors(tmp_path: Path, chdir_tmp: Path, cli: Cli) -> None:
    plan = simulate(tmp_path / "f", 2, start=5, words=10)
    archive = tmp_path / "a.bmin"
    run_nights(tmp_path, archive, plan)
    for args in (("--codes", "tiny", "--older-than", "1d"),
                 ("--codes", "small", "--older-than", "soon"),
                 ("--codes", "small", "--older-than", "-3d"),
                 ("--codes", "small")):
        result = cli("tier", archive, *args)
        assert result.returncode == ExitStatus.USAGE, (args, result.stderr)
        assert "Traceback" not in result.stderr
    missing = cli("tier", tmp_path / "none.bmin", "--codes", "small", "--older-than", "1d")
    assert missing.returncode == ExitStatus.ARCHIVE


def test_tier_keeps_the_codes_of_the_newest_snapshot_in_time(chdir_tmp: Path, cli: Cli
                                                              ) -> None:
    """The snapshot `restore --snapshot latest` reads is the newest in time: after a run
    dated back with `--time` it is not the last recorded, whose versions `tier` kept before
    while it re-encoded the latest's (a session-43 audit)."""
    folder = chdir_tmp / "src"
    folder.mkdir()
    for text, when in (("version one text", "2026-01-02T02:00:00Z"),
                       ("version two text", "2026-01-01T02:00:00Z")):
        (folder / "a.md").write_text(text + "\n")
        done = cli("add", "t.bmin", "src", "--model", HASHING, "-q", "--time", when)
        assert done.returncode == 0, done.stderr
    listed = cli("ls", "t.bmin", "--snapshot", "latest", "--json")
    assert [(r["path"], r["version"]) for r in json.loads(listed.stdout)] == [("src/a.md", 1)]
    dry = cli("tier", "t.bmin", "--older-than", "0h", "--codes", "small", "--dry-run",
              "--json")
    assert dry.returncode == 0, dry.stderr
    # version 2 is the path's latest, version 1 what "latest" restores: neither is tiered
    assert json.loads(dry.stdout)["contents"] == 0


def test_a_file_reverted_to_tiered_bytes_gets_full_codes_again(chdir_tmp: Path, cli: Cli
                                                               ) -> None:
    """Tiers are kept per stored content, and `add` links a new version to stored bytes: a
    file reverted to what `tier` had made binary was a latest version with binary codes
    (search ranked it lower, dedupe grouped it otherwise; an audit's finding). `add` now
    encodes such a content again; a copy of an old file under a new path too."""
    folder = chdir_tmp / "src"
    folder.mkdir()
    first = "The quarterly budget review moves to the second Tuesday of each month.\n"
    for k in range(4):
        (folder / f"b{k}.md").write_text(f"Brief {k} on the rota of desk {k}.\n")
    (folder / "a.md").write_text(first)

    def add() -> None:
        done = cli("add", "t.bmin", "src", "--model", HASHING, "-q")
        assert done.returncode == 0, done.stderr

    def code_bits() -> dict[str, int]:
        info = json.loads(cli("info", "t.bmin", "--json").stdout)
        counts: dict[str, int] = info["vectors_by_code_bits"]
        return counts

    add()
    (folder / "a.md").write_text(first + "Edited.\n")
    add()
    done = cli("tier", "t.bmin", "--older-than", "0h", "--codes", "binary", "-q")
    assert done.returncode == 0, done.stderr
    assert code_bits().get("0") == 1  # version 1 of a.md
    (folder / "a.md").write_text(first)  # reverted: version 3 holds version 1's bytes
    add()
    assert "0" not in code_bits(), code_bits()
    with Archive.open(chdir_tmp / "t.bmin") as arch:
        assert arch.verify().ok
    # a copy of old bytes under a new path
    (folder / "a.md").write_text(first + "Edited again.\n")
    add()
    assert cli("tier", "t.bmin", "--older-than", "0h", "--codes", "binary",
               "-q").returncode == 0
    assert code_bits().get("0") == 2  # versions 2 and 3 of a.md
    (folder / "copy.md").write_text(first)
    add()
    assert code_bits().get("0") == 1, code_bits()  # version 2's bytes alone stay binary
    with Archive.open(chdir_tmp / "t.bmin") as arch:
        assert arch.verify().ok


def test_verify_covers_the_tier_layout(tmp_path: Path, chdir_tmp: Path, cli: Cli) -> None:
    """A changed tier entry, a missing one, and a damaged decoder or calibration are each
    found."""
    plan = simulate(tmp_path / "f", 6, start=20, words=30)
    pristine = tmp_path / "pristine.bmin"
    run_nights(tmp_path, pristine, plan)
    assert cli("tier", pristine, "--older-than", "0h", "--codes", "binary").returncode == 0
    with sqlite3.connect(pristine) as conn:
        (segment, bits), = conn.execute("SELECT segment, bits FROM vec_codes").fetchall()
        (decoder,), = conn.execute("SELECT value FROM meta WHERE key = 'binary_decoder'")
    assert bits == 0
    fitted = json.loads(decoder)
    fitted["calibration"]["y"][0] = 1.5  # above the last knot
    unmonotone = json.dumps(fitted)
    damages = {
        # checksum no longer matches
        "bits": ("UPDATE vec_codes SET bits = 4", ()),
        # consistently re-checksummed, but the segment's sizes then disagree with its tier
        "resummed": ("UPDATE vec_codes SET bits = 4, checksum = ?",
                     (rows.row_sum("vec_codes", (segment, 4)),)),
        "gone": ("DELETE FROM vec_codes", ()),
        # no number at all (a page rolled back under it): searching it was exit 70
        "text": ("UPDATE vec_codes SET bits = 'x'", ()),
        "decoder": ("UPDATE meta SET value = ? WHERE key = 'binary_decoder'",
                    (decoder.replace("0.", "0.9", 1),)),
        # a calibration that is no monotone map, consistently re-checksummed
        "calibration": ("UPDATE meta SET value = ?, checksum = ? WHERE key = 'binary_decoder'",
                        (unmonotone, rows.row_sum("meta", ("binary_decoder", unmonotone)))),
    }
    for name, (sql, params) in damages.items():
        archive = tmp_path / f"{name}.bmin"
        shutil.copyfile(pristine, archive)
        with sqlite3.connect(archive) as conn:
            conn.execute(sql, params)
        conn.close()
        result = cli("verify", archive, "--json")
        assert result.returncode == ExitStatus.FINDINGS, (name, result.stderr)
        assert not json.loads(result.stdout)["ok"]
        if name == "calibration":  # found by its meaning, not by a checksum
            assert "calibration" in result.stdout, result.stdout
        if name == "text":
            found = cli("search", archive, "brief", "--mode", "lexical")
            assert found.returncode == ExitStatus.ARCHIVE, found.stderr
            assert "code widths is damaged" in found.stderr
    # the undamaged one verifies, and searching it still works
    assert cli("verify", pristine).returncode == 0


def test_sigkill_during_tier(tmp_path: Path, chdir_tmp: Path) -> None:
    """SIGKILL `tier` at moments spread over its run (seeded); after each kill the archive
    opens and verifies, is tiered entirely or not at all, and every snapshot holds its
    night's briefs byte-exact."""
    plan = simulate(tmp_path / "f", 2, start=400, words=20)
    pristine = tmp_path / "pristine.bmin"
    run_nights(tmp_path, pristine, plan)
    edit_half(tmp_path, pristine, plan)
    untiered = code_bits(pristine)
    archive = tmp_path / "a.bmin"
    shutil.copyfile(pristine, archive)
    args = ("tier", archive, "--older-than", "0h", "--codes", "binary", "-q")
    started = time.monotonic()
    assert briefmin_proc(*args, cwd=tmp_path).wait() == 0
    full = time.monotonic() - started
    tiered = code_bits(archive)
    assert tiered != untiered and tiered["0"] > 150
    expected = snapshot_bytes(pristine)
    rng = random.Random(24)
    outcomes = {"before": 0, "after": 0}
    for kill in range(KILLS):
        shutil.copyfile(pristine, archive)
        proc = briefmin_proc(*args, cwd=tmp_path)
        time.sleep(full * (0.2 + 0.8 * (kill + rng.random()) / KILLS))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with Archive.open(archive) as arch:
            report = arch.verify()
            assert report.ok, (kill, report.problems)
        state_now = code_bits(archive)
        assert state_now in (untiered, tiered), kill
        outcomes["after" if state_now == tiered else "before"] += 1
        assert snapshot_bytes(archive) == expected, kill
    print(f"tier killed {KILLS} times over {full:.2f} s runs: {outcomes}")


# -- with the real model --------------------------------------------------------------------

NIGHT = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)


def mixed_archive(fixture_archive: Path, target: Path, codes: str, cli: Cli,
                  pairs_both: bool = False) -> int:
    """A copy of the fixture archive with a snapshot of its briefs (id returned), then new
    versions of the query targets, of one brief of each planted pair and of every other
    remaining brief (placeholders), then those old versions tiered to `codes`: the snapshot
    holds briefs of both tiers."""
    shutil.copyfile(fixture_archive, target)
    with Archive.open(target, write=True) as arch:
        paths = sorted(r.path for r in arch.records())
        first = arch.record_snapshot(paths, time=NIGHT, host="h", roots=("briefs",), tags=())
        wanted = {p for _, p in PARAPHRASED_QUERIES} | {
            "briefs/product/pricing-eu.md", "briefs/engineering/rate-limiter-redis.md"}
        others = [p for p in paths if p not in wanted and p not in TWINS.values()
                  and p not in set().union(*PLANTED.values())]
        changed = wanted | set(others[::2])
        if pairs_both:  # both members of the near copy and of the paraphrase pair
            changed |= PLANTED["near-copy"] | PLANTED["paraphrase"]
        # the fixtures' empty brief has no vectors: nothing of it to tier
        tiered = {p for p in changed if arch.records([p])[0].size}
        sources = [Source(p, None, f"Placeholder {i}: the notes moved to the wiki.\n".encode())
                   if p in changed else Source(p, None, arch.read(arch.records([p])[0]))
                   for i, p in enumerate(paths)]
        add(arch, sources, encoder_factory=cached_encoder,
            snapshot=SnapshotSpec(NIGHT + timedelta(days=1), "h", ("briefs",)))
        # the small profile's codes are 4-bit already: codes only get coarser
        same = arch.meta.profile == "small" and codes == "small"
    result = cli("tier", target, "--older-than", "0h", "--codes", codes, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["contents"] == (0 if same else len(tiered))
    return first.id


@pytest.mark.model
@pytest.mark.parametrize(("codes", "pairs_both"),
                         [("small", False), ("binary", False), ("binary", True)])
def test_search_and_dedupe_over_mixed_tiers_find_the_tiered_briefs(
        fixture_archive: Path, tmp_path: Path, codes: str, pairs_both: bool, cli: Cli) -> None:
    """Over the first snapshot (tiered and untiered briefs): every paraphrased query still
    ranks its brief first, and dedupe finds exactly the planted groups (one member of the
    near copy and of the paraphrase pair tiered, the other not; or both)."""
    archive = tmp_path / "mixed.bmin"
    first = mixed_archive(fixture_archive, archive, codes, cli, pairs_both)
    with Archive.open(archive) as arch:
        assert arch.verify().ok
        snapshot = arch.snapshot(str(first))
        for query, expected in PARAPHRASED_QUERIES:
            hits = search_texts(arch, [query], k=3, snapshot=snapshot, mode="semantic")[0]
            assert hits[0].path in {expected, TWINS.get(expected)}, (query, hits)
            assert hits[0].version == 1
        report = find_duplicates(arch, snapshot=snapshot)
    groups = sorted((g.kind, frozenset(m.path for m in g.members)) for g in report.groups)
    assert groups == sorted([("exact", frozenset(PLANTED["exact"])),
                             ("near-identical", frozenset(PLANTED["near-copy"])),
                             ("similar", frozenset(PLANTED["paraphrase"]))])
    # the CLI too, over the snapshot
    result = cli("search", archive, PARAPHRASED_QUERIES[2][0], "--snapshot", str(first),
                 "--json", "-k", "1", "--mode", "semantic")
    assert json.loads(result.stdout)[0]["path"] == PARAPHRASED_QUERIES[2][1]


def test_an_archive_from_before_tiers_is_read_then_upgraded(
        tmp_path: Path, chdir_tmp: Path, cli: Cli) -> None:
    """The format before vec_codes, as an older briefmin wrote it: read as it is (verify,
    search), then the next write migrates it and `tier` works."""
    from briefmin.store import schema

    from . import surgery

    plan = simulate(tmp_path / "f", 3, start=20, words=30)
    archive = tmp_path / "a.bmin"
    run_nights(tmp_path, archive, plan)
    surgery.write_format_7(archive)  # undo the later formats first
    surgery.execute(archive, "DROP TABLE vec_codes")
    surgery.execute(archive, f"PRAGMA user_version = {schema.TIERED - 1}")
    digest = json.dumps(schema.schema_digest(surgery.execute(archive, schema.SCHEMA_SQL)))
    surgery.execute(archive, "UPDATE meta SET value = ?, checksum = ? WHERE key = 'schema'",
                    (digest, rows.row_sum("meta", ("schema", digest))))
    before = archive.read_bytes()
    assert cli("verify", archive, "-q").returncode == 0
    assert cli("search", archive, "archive night", "--mode", "semantic").returncode == 0
    assert cli("tier", archive, "--older-than", "0h", "--codes", "small",
               "--dry-run").returncode == 0
    assert archive.read_bytes() == before  # readers never migrate
    done = cli("tier", archive, "--older-than", "0h", "--codes", "small", "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["rows"] > 0
    with Archive.open(archive) as arch:
        assert arch.meta.format_version == schema.FORMAT_VERSION and arch.verify().ok


@pytest.mark.model
def test_binary_pairs_read_through_the_calibration_tier_fits(
        fixture_archive: Path, tmp_path: Path) -> None:
    """`tier --codes binary` fits, beside the decoder, a map from the sign-law cosine of two
    binary rows to their int8 cosine while the int8 codes are still there: with the real
    model, the cosines dedupe reads for pairs of binary briefs then sit closer to what the
    same pairs read before tiering than the sign law alone does (which reads high)."""
    import dataclasses

    from briefmin.nearpairs import decoded
    from briefmin.store import BRIEF_KINDS

    archive = tmp_path / "binary.bmin"
    shutil.copyfile(fixture_archive, archive)
    with Archive.open(archive) as arch:
        before = arch.vectors(BRIEF_KINDS)
        codes = arch.all_int8(BRIEF_KINDS)
        exact = decoded(codes, before.lengths(codes))
        true = {(int(a), int(b)): float(exact[i] @ exact[j])
                for i, a in enumerate(before.content_ids) for j, b in
                enumerate(before.content_ids) if a < b}
    with Archive.open(archive, write=True) as arch:
        arch.tier("binary", datetime.now(UTC), only={a for a, _ in true} | {b for _, b in true})
        stored = arch.vectors(BRIEF_KINDS)
        assert arch.verify().ok
    decoder = stored.decoder
    assert decoder is not None and decoder.calibration is not None
    assert stored.tiers is not None and not stored.tiers.any()  # every row binary
    row = {int(c): r for r, c in enumerate(stored.content_ids)}
    pairs = [(a, b) for (a, b), cosine in true.items() if cosine >= 0.5]
    assert len(pairs) >= 10
    i = np.array([row[a] for a, _ in pairs])
    j = np.array([row[b] for _, b in pairs])
    target = np.array([true[p] for p in pairs])
    read = stored.pair_cosines(i, j, np.zeros(len(i), np.float32))  # what dedupe reads
    law = dataclasses.replace(decoder, calibration=None).sign_cosines(stored.bits[i],
                                                                      stored.bits[j])
    assert np.array_equal(read, decoder.sign_cosines(stored.bits[i], stored.bits[j]))
    law_bias, bias = float(np.mean(law - target)), float(np.mean(read - target))
    assert law_bias > 0.02  # the gap: the sign law reads high
    assert abs(bias) < law_bias / 2, (law_bias, bias)
    assert np.mean(np.abs(read - target)) < np.mean(np.abs(law - target))


@pytest.mark.model
def test_a_decoder_without_calibration_gets_one_at_the_next_binary_tier(
        fixture_archive: Path, tmp_path: Path) -> None:
    """A decoder an older briefmin wrote (no calibration) reads binary pairs by the sign law
    alone; the next `tier --codes binary` that finds rows to re-encode fits the calibration
    from the rows that still have int8 codes, and keeps the decoder's means and weights (the
    rows it already estimates read as before)."""
    from briefmin.quantize import BinaryDecoder
    from briefmin.store import BRIEF_KINDS

    archive = tmp_path / "older.bmin"
    shutil.copyfile(fixture_archive, archive)
    with Archive.open(archive) as arch:
        contents = sorted({int(c) for c in arch.vectors(BRIEF_KINDS).content_ids})
    with Archive.open(archive, write=True) as arch:
        arch.tier("binary", datetime.now(UTC), only=set(contents[::3]))
    with sqlite3.connect(archive) as conn:
        (value,), = conn.execute("SELECT value FROM meta WHERE key = 'binary_decoder'")
        fitted = json.loads(value)
        assert "calibration" in fitted
        del fitted["calibration"]
        older = json.dumps(fitted)
        conn.execute("UPDATE meta SET value = ?, checksum = ? WHERE key = 'binary_decoder'",
                     (older, rows.row_sum("meta", ("binary_decoder", older))))
    conn.close()
    with Archive.open(archive) as arch:
        assert arch.verify().ok
        decoder = arch.vectors(BRIEF_KINDS).decoder
        assert decoder is not None and decoder.calibration is None
    with Archive.open(archive, write=True) as arch:
        assert arch.tier("binary", datetime.now(UTC), only=set(contents[1::3])).rows
        after = arch.vectors(BRIEF_KINDS).decoder
        assert arch.verify().ok
    assert after is not None and after.calibration is not None
    assert after.weight == decoder.weight and after.shift == decoder.shift
    assert np.array_equal(after.zero, decoder.zero) and np.array_equal(after.mean,
                                                                       decoder.mean)
    assert BinaryDecoder.from_json(after.to_json()).calibration == after.calibration
