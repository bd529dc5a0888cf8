"""`briefmin merge OUT IN...`: archives of one model and profile combined into one, without
re-encoding: each content is stored once (by sha256), its bytes re-packed into OUT's blocks
and dictionary, its vectors carried over; each (path, version) keeps its time, and versions
are appended in time order. Merging an input again adds nothing (a version whose path,
sha256 and time OUT holds already is skipped), and neither does a version whose bytes are
those of the path's previous version in time (two hosts archiving the same file)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ..errors import IntegrityError, ModelError, UsageError
from ..modelid import CHUNK_OVERLAP_TOKENS
from ..text import decode_text
from . import catalogue, lexical, rows, schema, segments
from . import snapshots as snaps
from .archive import Archive
from .catalogue import BriefRecord
from .segments import BRIEF_KINDS, KIND_CHUNK, Rows

if TYPE_CHECKING:
    from ..quantize import BinaryDecoder

MERGE_BATCH = 256  # versions per transaction: what a killed merge can lose
ALL_KINDS = (*BRIEF_KINDS, KIND_CHUNK)


@dataclass
class MergeReport:
    inputs: int = 0
    versions_added: int = 0
    versions_skipped: int = 0  # already in OUT, or the bytes of the path's previous version
    contents_added: int = 0
    snapshots_added: int = 0
    # why the pages this merge freed stay in the file (a full disk after the last commit)
    space_not_released: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"inputs": self.inputs, "versions_added": self.versions_added,
                "versions_skipped": self.versions_skipped,
                "contents_added": self.contents_added,
                "snapshots_added": self.snapshots_added}


def check_compatible(out: Archive, source: Archive) -> None:
    """Refuse inputs whose vectors cannot sit beside OUT's: another model (exit 6), another
    profile or format (exit 2)."""
    have, got = out.meta, source.meta
    if got.model_id != have.model_id:
        raise ModelError(f"{source.path} was made with model {got.model_id!r}, {out.path} with "
                         f"{have.model_id!r}; archives of different models cannot be merged")
    if got.rescore_bits != have.rescore_bits:
        raise UsageError(f"{source.path} has profile {got.profile!r}, {out.path} "
                         f"{have.profile!r}; archives of different profiles cannot be merged")
    # an input of an older format is read as it is (readers never migrate; store/schema.py
    # shows formats from OLDEST_READABLE on as the current one); a newer one is refused
    if got.format_version > have.format_version:
        raise UsageError(f"{source.path} is archive format {got.format_version}, newer than "
                         f"{out.path}'s {have.format_version}; merge with the briefmin that "
                         "wrote it")
    if have.dim and got.dim and (got.dim, got.chunk_tokens) != (have.dim, have.chunk_tokens):
        raise ModelError(f"{source.path} holds {got.dim}-d vectors of {got.chunk_tokens}-token "
                         f"chunks, {out.path} {have.dim}-d of {have.chunk_tokens}")


class _SourceVectors:
    """An input's vector rows, grouped by content, as floats (its codes decoded), with the
    bits per dimension each row's rescoring codes had (tiered rows stay tiered in OUT)."""

    def __init__(self, source: Archive) -> None:
        stored = source.vectors(ALL_KINDS)
        codes = source.all_int8(ALL_KINDS)
        self.meta = source.meta
        self.decoder = stored.decoder
        self._tiers = stored.tiers
        floats = self.meta.codes.scale(self.meta.int8_step).decode(codes)
        # a code of 0 loses its sign, which the scan codes (sign bits) keep: a tiny positive
        # value where the stored bit is 1 re-creates the same bit and rounds to the same 0
        signs = np.unpackbits(stored.bits, axis=1)[:, :self.meta.dim].astype(bool)
        floats[(floats == 0) & signs] = np.float32(1e-9)
        self._floats = floats
        self._kinds, self._spans = stored.kinds, stored.spans
        order = np.argsort(stored.content_ids, kind="stable")
        ids = stored.content_ids[order]
        self._rows: dict[int, npt.NDArray[np.int64]] = {}
        for cid in np.unique(ids):
            lo, hi = np.searchsorted(ids, cid, "left"), np.searchsorted(ids, cid, "right")
            self._rows[int(cid)] = order[lo:hi]

    def count(self, source_id: int) -> int:
        return len(self._rows.get(source_id, ()))

    def add_to(self, by_bits: dict[int, Rows], content_id: int, source_id: int) -> int:
        """Append this content's rows (under OUT's id) to the rows of their tier; returns
        how many of them are binary-tier rows (whose decoder OUT must adopt)."""
        picked = self._rows.get(source_id, np.zeros(0, np.int64))
        found = 0
        for row in picked:
            bits = self.meta.rescore_bits if self._tiers is None else int(self._tiers[row])
            by_bits.setdefault(bits, Rows([], [], [], [])).add(
                content_id, int(self._kinds[row]),
                (int(self._spans[row][0]), int(self._spans[row][1])), self._floats[row])
            found += bits == 0
        return found


def _check_rows(source: Archive) -> None:
    """Refuse an input with a damaged row before anything is written: its values would be
    stored in OUT under fresh checksums, and OUT's `verify` would vouch for them. (Stored
    items are checked against their sha256 as they are read: `_read`.)"""
    from .verify import row_problems  # only here: merge is rare, verify's module is large

    problems = row_problems(source._db, source._blocks)
    if problems:
        first = problems[0]
        briefs = f" ({', '.join(first.paths[:3])}{', …' if len(first.paths) > 3 else ''})" \
            if first.paths else ""
        more = f" and {len(problems) - 1} more problem(s)" if len(problems) > 1 else ""
        raise IntegrityError(f"{source.path}: {first.message}{briefs}{more}; run `briefmin "
                             f"verify {source.path}`; nothing was merged")


def _read(source: Archive, record: BriefRecord) -> bytes:
    """A brief's bytes from an input; damage names the input and the brief (of several
    inputs, which one is damaged is what the user must know)."""
    try:
        return source.read(record)
    except IntegrityError as exc:
        raise IntegrityError(f"{source.path}: {record.path}: {exc}; run `briefmin verify "
                             f"{source.path}`") from exc


def merge(out: Archive, sources: Sequence[Archive]) -> MergeReport:
    """Merge every input into `out` (opened for writing), in transactions of MERGE_BATCH
    versions."""
    out._require_writer()
    # each input as it was when the merge began: an rm committing between two batches
    # left the next batch reading a brief that is gone (in the default journal a writer
    # of an input waits for the merge, see Archive.reading)
    with ExitStack() as inputs:
        for source in sources:
            inputs.enter_context(source.reading())
        return _merge(out, sources)


def _merge(out: Archive, sources: Sequence[Archive]) -> MergeReport:
    out.require_snapshot_ledger(merging=True)
    for source in sources:
        check_compatible(out, source)
    for source in sources:
        _check_rows(source)
    report = MergeReport(inputs=len(sources))
    todo = _new_versions(out, sources, report)
    _one_binary_decoder(out, sources, todo)
    # what no snapshot of an input could hold stays unprunable here (snapshots.py)
    unsnapshotted = [snaps.never_in_a_snapshot(source._db) for source in sources]
    vectors: dict[int, _SourceVectors] = {}
    # each path's versions in OUT as [id, version, content, added], read once (the catalogue
    # has no index by path) and kept up to date by each batch
    held = {path: [list(row) for row in found] for path, found in
            catalogue.versions_of(out._db, {record.path for _, record in todo}).items()}
    # the versions stored that an input's snapshots hold, by input: marked unprunable until
    # those snapshots are carried, so a merge killed in between leaves none of them unheld
    awaiting: list[list[int]] = [[] for _ in sources]
    try:
        for start in range(0, len(todo), MERGE_BATCH):
            _merge_batch(out, sources, todo[start:start + MERGE_BATCH], vectors, held, report,
                         unsnapshotted, awaiting)
    finally:
        out._lookup = None  # the latest versions it holds may have moved
    for source, settled in zip(sources, awaiting, strict=True):
        report.snapshots_added += _merge_snapshots(out, source, settled)
    # after every input's unmarking: one input's folded version may be another's stored one
    stored = {(i, record.path, record.version) for i, record in todo}  # marked by batches
    for i, (source, kept) in enumerate(zip(sources, unsnapshotted, strict=True)):
        _mark_folded(out, source, {v for v in kept if (i, *v) not in stored})
    report.space_not_released = out.release_free_pages()
    return report


def _one_binary_decoder(out: Archive, sources: Sequence[Archive],
                        todo: list[tuple[int, BriefRecord]]) -> None:
    """Refuse, before anything is stored, a merge that would copy binary-tier rows (`tier
    --codes binary`) from archives with different decoders, or into an OUT whose own binary
    rows have another: an archive holds one decoder, fitted on its own vectors, and rows
    read through another's got other cosines (an audit's finding: the second input's rows
    were read with the first's). Only rows this merge copies count: the contents OUT lacks
    of the versions it adds (a night's new versions are latest ones, never binary)."""
    digests = [bytes.fromhex(r.sha256) for _, r in todo]
    stored = out.stored_contents(digests)
    wanted: dict[int, set[int]] = {}  # per input, the ids of the contents it would copy
    for (i, record), digest in zip(todo, digests, strict=True):
        if digest not in stored:
            wanted.setdefault(i, set()).add(record.content_id)
    readers = []
    for i, copied in sorted(wanted.items()):
        source = sources[i]
        binary = {seg for seg, bits in segments.code_bits(source._db).items() if bits == 0}
        if binary and segments.contents_in(source._db, binary, copied):
            readers.append((str(source.path), segments.read_decoder(source._db)))
    if readers and (own := _binary_decoder(out._db)) is not None:
        readers.append((str(out.path), own))
    if len({json.dumps(d and d.to_json(), sort_keys=True) for _, d in readers}) > 1:
        names = ", ".join(name for name, _ in readers)
        raise UsageError(
            f"cannot merge: {names} hold versions whose codes `tier --codes binary` made "
            "binary, each read through a decoder fitted on its own archive's vectors, and "
            "one archive has one decoder; merge them before tiering, or keep them apart")


def _binary_decoder(db: Any) -> BinaryDecoder | None:
    """The archive's binary decoder if some of its rows are binary, else None."""
    if 0 not in segments.code_bits(db).values():
        return None
    return segments.read_decoder(db)


def _new_versions(out: Archive, sources: Sequence[Archive], report: MergeReport
                  ) -> list[tuple[int, BriefRecord]]:
    """The inputs' versions OUT lacks, in time order, as (input index, record). A version is
    its time, its bytes and which of its archive's versions of that time and those bytes it
    is (`_repeats`): a file changed and changed back within one second is three versions,
    and the third is not the first (merge dropped it, and OUT's latest was the middle one).
    Each path's versions are taken second by second: those OUT holds (they stay first, where
    `_place_versions` puts new ones after them), then each input's in its own order, the
    inputs by their bytes' sha256s, never by their place on the command line (`merge M A
    B` and `merge M B A` number alike). One is taken unless OUT holds it already or it
    repeats the bytes of the version it would follow (two hosts archiving the same file):
    version numbers of two archives say nothing of which came first within one second."""
    timelines: dict[str, dict[str, list[tuple[int, int, str, int, BriefRecord | None]]]] = {}
    for r, repeat in _repeats(out.records(all_versions=True)):
        timelines.setdefault(r.path, {}).setdefault(r.added_at, []).append(
            (-1, r.version, r.sha256, repeat, None))
    for i, source in enumerate(sources):
        for r, repeat in _repeats(source.records(all_versions=True)):
            timelines.setdefault(r.path, {}).setdefault(r.added_at, []).append(
                (i, r.version, r.sha256, repeat, r))
    todo: list[tuple[str, str, int, int, BriefRecord]] = []
    for path, seconds in timelines.items():
        stored = {(added_at, sha, repeat) for added_at, versions in seconds.items()
                  for i, _, sha, repeat, _ in versions if i < 0}
        last: str | None = None  # the bytes of the version a new one would follow
        for added_at in sorted(seconds):
            runs: dict[int, list[tuple[int, str, int, BriefRecord | None]]] = {}
            # (by archive and version: a damaged catalogue's repeated version must not
            # compare the records)
            for i, version, sha, repeat, record in sorted(seconds[added_at],
                                                          key=lambda v: v[:2]):
                runs.setdefault(i, []).append((version, sha, repeat, record))
            held = runs.pop(-1, [])
            if held:
                last = held[-1][1]
            for i, run in sorted(runs.items(),
                                 key=lambda item: [sha for _, sha, _, _ in item[1]]):
                for _, sha, repeat, record in run:
                    assert record is not None  # (an input's)
                    if (added_at, sha, repeat) in stored or sha == last:
                        report.versions_skipped += 1
                        continue
                    stored.add((added_at, sha, repeat))
                    todo.append((added_at, path, len(todo), i, record))
                    last = sha
    todo.sort(key=lambda v: v[:3])
    return [(i, record) for *_, i, record in todo]


def _repeats(records: Sequence[BriefRecord]) -> list[tuple[BriefRecord, int]]:
    """Each record (by path and version, as `records` gives them) with how many versions of
    its path before it have its time and its bytes (0 but for a change reverted within one
    second)."""
    seen: Counter[tuple[str, str, str]] = Counter()
    out = []
    for r in records:
        key = (r.path, r.added_at, r.sha256)
        out.append((r, seen[key]))
        seen[key] += 1
    return out


def _merge_batch(out: Archive, sources: Sequence[Archive], batch: list[tuple[int, BriefRecord]],
                 vectors: dict[int, _SourceVectors], held: dict[str, list[list[int]]],
                 report: MergeReport, unsnapshotted: list[set[tuple[str, int]]],
                 awaiting: list[list[int]]) -> None:
    """One transaction: the batch's new contents and its versions, each table's rows in one
    statement (a row at a time was a lookup, an id and an insert per version). Every version
    stored is marked unprunable; those an input's snapshot holds are added to `awaiting`."""
    digests = [bytes.fromhex(record.sha256) for _, record in batch]
    stored = out.stored_contents(digests)
    new: dict[bytes, tuple[int, BriefRecord]] = {}
    for digest, (i, record) in zip(digests, batch, strict=True):
        if digest not in stored and digest not in new:
            new[digest] = (i, record)
    data = {digest: _read(sources[i], record) for digest, (i, record) in new.items()}
    with out._db.transaction() as db:
        placed, _ = out._blocks.write(list(data.items()))
        lookup = out._lookups()
        ids = lookup.content_ids(digests)
        # versions linked to OUT's stored contents: their rows checked (catalogue.check_linked)
        catalogue.check_linked(db, {ids[digest]: (record.path, digest) for digest, (_, record)
                                    in zip(digests, batch, strict=True) if digest in stored},
                               lookup.doubled)
        vector_rows: dict[int, Rows] = {}  # by bits per dimension of their codes
        binary_from: set[int] = set()  # the inputs whose binary rows these are
        content_rows, texts = [], []
        next_content = lookup.next_content(db)
        for digest, (i, record) in new.items():
            if i not in vectors:
                vectors[i] = _SourceVectors(sources[i])
                _adopt_calibration(db, vectors[i].meta)
            ids[digest] = next_content
            content_rows.append(catalogue.content_row(
                next_content, digest, record.size, record.encoding,
                vectors[i].count(record.content_id), *placed[digest]))
            # the lexical index is derived from the text, so it is built here, not copied
            texts.append((next_content, decode_text(data[digest])[0]))
            if vectors[i].add_to(vector_rows, next_content, record.content_id):
                binary_from.add(i)
            next_content += 1
        catalogue.insert_contents(db, content_rows)
        lexical.index(db, texts)
        report.contents_added += len(content_rows)
        versions = [(record.path, _seconds(record.added_at), ids[digest])
                    for digest, (_, record) in zip(digests, batch, strict=True)]
        times = out._lookups().time_ids(db, {added for _, added, _ in versions})
        new_ids = _place_versions(db, held, versions, {**out._lookups().times, **times})
        snaps.mark_merged_pre_snapshot(db, new_ids)
        for brief, (i, record) in zip(new_ids, batch, strict=True):
            if (record.path, record.version) not in unsnapshotted[i]:
                awaiting[i].append(brief)
        report.versions_added += len(batch)
        for bits, tier_rows in sorted(vector_rows.items(), reverse=True):
            # the decoder of an input whose binary rows these are (all alike: checked)
            decoder = next((vectors[i].decoder for i in sorted(binary_from)), None)
            if bits == 0 and decoder is not None:
                # binary rows keep the estimates and calibration of their input's decoder
                # (every input's is the same, and OUT's if it has binary rows: checked)
                segments.adopt_decoder(db, decoder, replace=_binary_decoder(db) is None)
            elif bits == 0:  # an input whose decoder is missing (damage): stored as decoded
                bits = out.meta.rescore_bits
            segments.append(db, tier_rows, out.meta.chunk_tokens, CHUNK_OVERLAP_TOKENS,
                            bits=bits)
        if not out._blocks.dictionary():
            out._blocks.maybe_train_dictionary()
    out._lookups().stored(ids, {}, times)


def _mark_folded(out: Archive, source: Archive, folded: set[tuple[str, int]]) -> None:
    """Mark OUT's versions that hold an input's `folded` versions: those no snapshot could
    hold that this run did not store (OUT held them already, or they repeat the bytes of
    the version before); each batch marked the versions it stored. So a merge run again
    after an interrupted one, or after a briefmin that marked none, marks them all."""
    if not folded:
        return  # no scan of OUT's versions (`_version_map`)
    place = _version_map(out, source)
    with out._db.transaction() as db:
        snaps.mark_merged_pre_snapshot(db, sorted({place[v] for v in folded if v in place}))


_SNAPSHOT_KEY = "time, host, roots, names"  # what tells one snapshot from another anywhere


def _merge_snapshots(out: Archive, source: Archive, settled: list[int]) -> int:
    """Carry the input's snapshots over (after its versions): each snapshot OUT lacks gets a
    new id, in the input's id order; its members are mapped to OUT's versions (the same path
    and bytes, the latest added at or before the input's) and written as spans again. An
    input chain's snapshots go on OUT's chain whose newest snapshot is the one just before
    them in the input (a nightly merge of a growing archive: one history, as the input's),
    else on a new chain named after the first carried. In the same transaction the marks of
    the versions in `settled` (stored by this run, held by the input's snapshots) go: from
    then on OUT's snapshots hold them. Returns how many snapshots were added.

    A merge killed before this keeps those marks, and a run again stores none of those
    versions, so it cannot tell its own marks from another input's: they stay. A killed
    merge costs the space of versions no policy will prune, never a version."""
    if not snaps.present(source._db):  # format < 5: no snapshots to carry
        _settle(out, settled)
        return 0
    names, present = _missing_snapshots(out, source)
    chains: dict[int, list[snaps.Snapshot]] = {}
    if not names:
        _settle(out, settled)
        return 0
    before: dict[int, int] = {}  # an input snapshot -> the one before it in its chain
    last: dict[int, int] = {}  # an input chain -> its snapshot seen last
    for snapshot in sorted(snaps.listing(source._db), key=lambda s: s.id):
        if snapshot.id in names:
            chains.setdefault(snapshot.chain, []).append(snapshot)
        before[snapshot.id] = last.get(snapshot.chain, 0)
        last[snapshot.chain] = snapshot.id
    place = _version_map(out, source)
    with out._db.transaction() as db:
        for run in (run for chain in chains.values() for run in _runs(chain, before)):
            held = [{place[m] for m in snaps.members(source._db, s) if m in place}
                    for s in run]
            onto = snaps.chain_ending_at(db, present.get(before[run[0].id], 0))
            ids = _insert_snapshots(db, run, [names[s.id] for s in run], onto)
            snaps.write_spans(db, onto[0] if onto else ids[0], ids, held,
                              onto[1] if onto else {})
        snaps.unmark_merged_pre_snapshot(db, settled)
    return sum(len(c) for c in chains.values())


def _runs(chain: list[snaps.Snapshot], before: dict[int, int]) -> list[list[snaps.Snapshot]]:
    """An input chain's snapshots to carry (in id order), split where the input has one
    between them that OUT holds already (one OUT forgot, carried again, and the new nights):
    each run goes on the chain that ends at its predecessor, or on a new one."""
    runs = [[chain[0]]]
    for snapshot in chain[1:]:
        if before[snapshot.id] == runs[-1][-1].id:
            runs[-1].append(snapshot)
        else:
            runs.append([snapshot])
    return runs


def _missing_snapshots(out: Archive, source: Archive
                       ) -> tuple[dict[int, bytes], dict[int, int]]:
    """The input's snapshots OUT lacks, each with its names digest: those with no snapshot
    of the same time, host, roots and path names in OUT that holds the same (path, bytes)
    pairs or more of them; and the others, each with the id of that snapshot in OUT.
    Keying on names alone dropped the snapshot of a second machine of
    one name archiving the same folder at the same `--time`, and a prune then deleted the
    versions only it held; a snapshot whose paths were `rm`'d in the input since is the one
    OUT has, less those paths, and is not carried again."""
    have: dict[tuple[Any, ...], list[int]] = {}
    for snapshot_id, *key in out._db.query(f"SELECT id, {_SNAPSHOT_KEY} FROM snapshots"):
        have.setdefault(tuple(key), []).append(int(snapshot_id))
    keyed = [(int(snapshot_id), tuple(key)) for snapshot_id, *key in source._db.query(
        f"SELECT id, {_SNAPSHOT_KEY} FROM snapshots")]
    alike = {snapshot_id for snapshot_id, key in keyed if key in have}
    ours = snaps.contents_digests(out._db, {i for _, key in keyed if key in have
                                            for i in have[key]})
    theirs = snaps.contents_digests(source._db, alike)

    def held_already(snapshot_id: int, key: tuple[Any, ...]) -> int | None:
        """The id of OUT's snapshot that holds what this one does, if one does."""
        same = [i for i in have[key] if ours[i] == theirs[snapshot_id]]
        if same:
            return same[0]  # the same bytes (a merge run again: the common case, no query)
        # fewer of the same: the input's paths `rm`'d since OUT took the snapshot, which
        # would otherwise come again as a second copy of the night (a review's finding)
        held = snaps.held_pairs(source._db, snapshot_id)
        return next((i for i in have[key] if held <= snaps.held_pairs(out._db, i)), None)

    missing: dict[int, bytes] = {}
    present: dict[int, int] = {}
    for snapshot_id, key in keyed:
        found = held_already(snapshot_id, key) if snapshot_id in alike else None
        if found is None:
            missing[snapshot_id] = bytes(key[-1])
        else:
            present[snapshot_id] = found
    return missing, present


def _settle(out: Archive, settled: list[int]) -> None:
    """Unmark `settled` when the input has no snapshot OUT lacks (see `_merge_snapshots`)."""
    if settled:
        with out._db.transaction() as db:
            snaps.unmark_merged_pre_snapshot(db, settled)


def _insert_snapshots(db: Any, chain: list[snaps.Snapshot], digests: list[bytes],
                      onto: tuple[int, Any] | None) -> list[int]:
    """New rows for a run of one input chain's snapshots, in order, on OUT's chain `onto`
    (else a new chain, named after the first); returns their ids. Ids continue OUT's
    sequence, never reusing a forgotten one. Their `top` is -1, as `snaps.record` writes
    for a snapshot that may hold a path's older version: OUT's latest brief id there said a
    carried night held every path's latest version, so the next unchanged `add` on OUT
    copied the night (the input's older bytes of a path OUT had changed since) instead of
    what it read (a review's finding)."""
    first = snaps.highest_id(db) + 1
    ids = list(range(first, first + len(chain)))
    rows.put_many(db, "snapshots", [
        (new_id, s.time.isoformat(), s.host, json.dumps(sorted(s.roots)), json.dumps(
            list(s.tags)), onto[0] if onto else first, s.files, s.bytes, s.added, s.changed,
            s.deleted, digest, -1)
        for new_id, s, digest in zip(ids, chain, digests, strict=True)])
    schema.write_meta(db, {"snapshot_seq": ids[-1]})
    snaps.enter_ledger(db, ids)
    return ids


def _version_map(out: Archive, source: Archive) -> dict[tuple[str, int], int]:
    """Each input (path, version) -> the id of OUT's version of that path with the same
    bytes, added latest at or before it (a version not stored again, because it repeated the
    previous one's bytes, maps to that previous one)."""
    stored: dict[tuple[str, str], list[tuple[str, int]]] = {}
    for brief_id, path, added, sha in out._db.query(
            "SELECT b.id, b.path, t.time, c.sha256 FROM briefs b JOIN contents c "
            "ON c.id = b.content JOIN times t ON t.id = b.added"):
        stored.setdefault((str(path), bytes(sha).hex()), []).append(
            (datetime.fromtimestamp(int(added), UTC).isoformat(), int(brief_id)))
    place: dict[tuple[str, int], int] = {}
    for r, repeat in _repeats(source.records(all_versions=True)):
        candidates = sorted(stored.get((r.path, r.sha256), []))
        if candidates:
            # a change reverted within one second: the input's second version of that time
            # and bytes is OUT's second (by id, the order they were stored in)
            at = _iso(r.added_at)
            same = [c for c in candidates if c[0] == at]
            before = [c for c in candidates if c[0] <= at]
            place[(r.path, r.version)] = (same[min(repeat, len(same) - 1)] if same else
                                          (before or candidates)[-1])[1]
    return place


def _iso(added_at: str) -> str:
    return datetime.fromtimestamp(_seconds(added_at), UTC).isoformat()


def _place_versions(db: Any, held: dict[str, list[list[int]]],
                    versions: list[tuple[str, int, int]], times: dict[int, int]) -> list[int]:
    """Store (path, added, content id) versions, in this order, each at its place in time
    among the versions OUT holds (`held`, updated here): versions added later (an earlier
    merge brought a newer one) move up by one, so the newest stays the latest whatever order
    the inputs come in. Brief ids do not change, so snapshots still hold the same versions.
    `times`: the `times` id of each time these rows were added at. Returns the new rows'
    briefs.id, in the order of `versions`."""
    top = snaps.next_brief_id(db)
    next_brief, moved = top, set()
    for path, added, content in versions:
        timeline = held.setdefault(path, [])
        later = [row for row in timeline if row[3] > added]
        version = (min(row[1] for row in later) if later
                   else max((row[1] for row in timeline), default=0) + 1)
        for row in later:
            row[1] += 1
            moved.add(row[0])
        timeline.append([next_brief, version, content, added])
        next_brief += 1
    changed = sorted((brief, path, version, content, added)
                     for path in {v[0] for v in versions}
                     for brief, version, content, added in held[path]
                     if brief >= top or brief in moved)
    catalogue.insert_briefs(db, [catalogue.brief_row(*row[:4], times[row[4]])
                                 for row in changed])
    return list(range(top, next_brief))


def _seconds(added_at: str) -> int:
    """A record's time back to what the catalogue stores: unix seconds (a damaged time is
    shown as @N)."""
    if added_at.startswith("@"):
        return int(added_at[1:])
    return int(datetime.fromisoformat(added_at).timestamp())


def _adopt_calibration(db: Any, meta: schema.Meta) -> None:
    """An empty OUT takes its first input's quantization step and chunking, so that input's
    codes are carried over unchanged (others are re-quantized: within ~1e-3 in cosine)."""
    have = schema.read_meta(db)
    if not have.int8_step and meta.int8_step:
        schema.write_meta(db, {"dim": meta.dim, "int8_step": meta.int8_step,
                               "chunk_tokens": meta.chunk_tokens,
                               "chunk_overlap": meta.chunk_overlap})
