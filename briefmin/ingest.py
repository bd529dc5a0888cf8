"""The add pipeline: admit each source (text.py), encode new contents ahead in large calls
(the encoder), store them in small transactions (the store), and report. The only module
that drives both the encoder and the store."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .encoder import EncoderFactory, Encoding, LocalEncoding, no_vectors
from .sources import Source
from .store import Archive, Snapshot
from .store.archive import NewContent
from .text import Admitted, Skipped, admit, decode_text

BATCH_BRIEFS = 64  # briefs per transaction: what a kill can lose
BATCH_BYTES = 16 * 1024 * 1024
# raw bytes of coming batches whose blocks are compressed ahead (in the store's worker thread)
COMPRESS_AHEAD_BYTES = 4 * 1024 * 1024

@dataclass
class AddReport:
    added: list[str] = field(default_factory=list)
    new_versions: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    # skipped paths archived before: the snapshot holds their previous version, not a deletion
    kept_previous: list[str] = field(default_factory=list)
    fallback_decoded: list[tuple[str, str]] = field(default_factory=list)  # (path, encoding)
    bytes_in: int = 0  # bytes of the briefs added or versioned by this run
    bytes_stored: int = 0  # what they cost in the archive (new contents, compressed)
    snapshot: Snapshot | None = None
    # why the pages this run freed stay in the file (a full disk after the last commit)
    space_not_released: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"snapshot": self.snapshot.to_json() if self.snapshot else None,
                "added": self.added, "new_versions": self.new_versions,
                "unchanged": self.unchanged,
                "skipped": [{"path": s.name, "reason": s.reason,
                             "kept_previous": s.name in self.kept_previous}
                            for s in self.skipped],
                "fallback_decoded": [{"path": p, "encoding": e}
                                     for p, e in self.fallback_decoded],
                "bytes_in": self.bytes_in, "bytes_stored": self.bytes_stored}


@dataclass(frozen=True)
class SnapshotSpec:
    """What an add run records about itself as a snapshot (issue 16)."""

    time: datetime
    host: str
    roots: tuple[str, ...]
    tags: tuple[str, ...] = ()


def add(archive: Archive, sources: Iterable[Source | Skipped], *,
        progress: Callable[[int], None] | None = None,
        on_commit: Callable[[list[str]], None] | None = None,
        encoder_factory: EncoderFactory | None = None,
        encoding: Encoding | None = None,
        snapshot: SnapshotSpec | None = None) -> AddReport:
    """Store new briefs and new versions of changed ones; unchanged ones cost a hash. Commits
    every BATCH_BRIEFS briefs, so an interrupted add keeps what it committed; `on_commit`
    hears the names each commit made durable. The model is loaded (by `encoder_factory`,
    default `load_encoder`; or by `encoding`, e.g. on a Ray cluster) only when something new
    needs encoding. With `snapshot`, a run that completes records the paths it saw as a
    snapshot (an interrupted one records none)."""
    run = _Run(archive, encoding or LocalEncoding(archive, encoder_factory), on_commit)
    try:
        _add(archive, sources, run, progress, snapshot)
    finally:
        run.encoding.close()
    return run.report


def _add(archive: Archive, sources: Iterable[Source | Skipped], run: _Run,
         progress: Callable[[int], None] | None, snapshot: SnapshotSpec | None) -> None:
    if snapshot is not None:  # before anything is stored (see require_snapshot_ledger)
        archive.require_snapshot_ledger()
    latest = archive.latest_digests()
    seen: list[str] = []
    ahead: list[Admitted] = []
    ahead_bytes = 0
    for source in sources:
        item = admit(source, lambda name, digest: latest.get(name) == digest,
                     keep_empty=True)
        if progress:
            progress(1)
        if item is None:
            run.report.unchanged += 1
            seen.append(source.name)
            continue
        if isinstance(item, Skipped):
            run.report.skipped.append(item)
            continue
        seen.append(item.name)
        latest[item.name] = item.digest
        ahead.append(item)
        ahead_bytes += len(item.data)
        if len(ahead) >= run.encoding.ahead_briefs or ahead_bytes >= run.encoding.ahead_bytes:
            run.store_ahead(ahead)
            ahead, ahead_bytes = [], 0
    if ahead:
        run.store_ahead(ahead)
    run.report.bytes_stored += archive.settle_blocks()
    if snapshot is not None:
        # unreadable or no longer text is not deleted: a skipped path the parent snapshot
        # held stays in this one at the version it held there (not the path's latest,
        # which another host or a later-dated run may have added)
        skipped = {item.name for item in run.report.skipped} - set(seen)
        previous = archive.snapshot_versions(snapshot.host, snapshot.roots,
                                             snapshot.time) if skipped else {}
        kept = {name: previous[name] for name in sorted(skipped & previous.keys())}
        run.report.kept_previous = list(kept)
        run.report.snapshot = archive.record_snapshot(
            seen, time=snapshot.time, host=snapshot.host, roots=snapshot.roots,
            tags=snapshot.tags, kept=kept)
    run.report.space_not_released = archive.release_free_pages()


class _Run:
    def __init__(self, archive: Archive, encoding: Encoding,
                 on_commit: Callable[[list[str]], None] | None) -> None:
        self.archive = archive
        self.report = AddReport()
        self.encoding = encoding
        self._on_commit = on_commit

    def store_ahead(self, items: list[Admitted]) -> None:
        """Encode the new contents of `items` in one call, and store them in transactions of
        at most BATCH_BRIEFS briefs / BATCH_BYTES bytes, each as soon as its vectors are in
        (a remote encoding streams them back)."""
        new: dict[bytes, tuple[bytes, str, str]] = {}  # sha -> (data, text, encoding)
        stored = self.archive.stored_contents({item.digest for item in items})
        coarse = self.archive.coarse_contents(stored) if stored else set()
        if coarse:
            self._recode(coarse, items)
        for item in items:
            if item.digest not in new and item.digest not in stored:
                text, encoding = decode_text(item.data)
                if encoding not in ("utf-8", "utf-16"):
                    self.report.fallback_decoded.append((item.name, encoding))
                new[item.digest] = (item.data, text, encoding)
        batches = list(_batches(items))
        takes = _takes(batches, new)
        ahead = _CompressAhead(self.archive, [[(d, new[d][0]) for d in take] for take in takes])
        ahead.fill(0)  # before the encoding: the worker compresses while this thread encodes
        # a zero-byte content has no vectors: the model never sees it (nor loads for it)
        worded = [digest for digest, (data, _, _) in new.items() if data]
        stream = zip(worded, self.encoding.encode([new[d][1] for d in worded])
                     if worded else iter(()), strict=True)
        received: set[bytes] = set()
        contents: dict[bytes, NewContent] = {}
        for index, batch in enumerate(batches):
            ahead.fill(index)
            for b in batch:  # wait for this batch's vectors (in order: `new` is)
                if b.digest in new and not new[b.digest][0] and b.digest not in received:
                    received.add(b.digest)
                    data, text, encoding = new[b.digest]
                    contents[b.digest] = NewContent(data, encoding, no_vectors(), text)
                while b.digest in new and b.digest not in received:
                    digest, brief = next(stream)
                    received.add(digest)
                    data, text, encoding = new[digest]
                    contents[digest] = NewContent(data, encoding, brief, text)
            self._store_batch(batch, {digest: contents.pop(digest) for digest in takes[index]})

    def _recode(self, coarse: set[bytes], items: list[Admitted]) -> None:
        """Encode again the stored contents of `items` whose codes `tier` made coarse (a file
        reverted to an old version's bytes): their path's new version is a latest one,
        which keeps full codes (README, `tier`). The model loads for them; one transaction
        before the batches, so a run stopped later loses nothing."""
        texts = {item.digest: decode_text(item.data)[0] for item in items
                 if item.digest in coarse}
        vectors = self.encoding.encode(list(texts.values()))
        self.archive.recode(dict(zip(texts, vectors, strict=True)),
                            self.encoding.chunk_tokens())

    def _store_batch(self, batch: list[Admitted], new: dict[bytes, NewContent]) -> None:
        """Store a batch with the new contents it takes (encoded ahead; see _takes)."""
        # only vectors need the model's window (a batch of empty files loads no model)
        chunk_tokens = self.encoding.chunk_tokens() if any(
            c.vectors.spans for c in new.values()) else 0
        result = self.archive.store_batch([(item.name, item.digest) for item in batch], new,
                                          chunk_tokens)
        self.report.unchanged += result.unchanged
        self.report.bytes_stored += result.bytes_stored
        stored = []
        for position, version in result.stored:
            item = batch[position]
            (self.report.new_versions if version > 1 else self.report.added).append(item.name)
            self.report.bytes_in += len(item.data)
            stored.append(item.name)
        if self._on_commit and stored:
            self._on_commit(stored)


def _batches(items: list[Admitted]) -> Iterator[list[Admitted]]:
    """`items` in transactions of at most BATCH_BRIEFS briefs / BATCH_BYTES bytes."""
    batch: list[Admitted] = []
    size = 0
    for item in items:
        batch.append(item)
        size += len(item.data)
        if len(batch) >= BATCH_BRIEFS or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _takes(batches: list[list[Admitted]], new: Iterable[bytes]) -> list[list[bytes]]:
    """Per batch, the window-new contents it stores: those of its briefs that no earlier
    batch took, first occurrence first (a content repeated in a later batch is not stored
    again). One plan for both the store and the compression ahead, so each batch finds its
    blocks compressed."""
    fresh = set(new)
    takes: list[list[bytes]] = []
    for batch in batches:
        take = [d for d in dict.fromkeys(item.digest for item in batch) if d in fresh]
        fresh.difference_update(take)
        takes.append(take)
    return takes


class _CompressAhead:
    """Has the store compress the blocks of coming batches ahead, up to COMPRESS_AHEAD_BYTES:
    with the blocks compressed only during their own batch, the main thread waited for them
    at every commit (~1 s of the first 10,000 briefs' 4.3 s on two idle cores). `contents`:
    per batch, the (sha, bytes) it will hand the store (see _takes)."""

    def __init__(self, archive: Archive, contents: list[list[tuple[bytes, bytes]]]) -> None:
        self._archive = archive
        self._contents = contents
        self._sizes = [sum(len(data) for _, data in batch) for batch in self._contents]
        self._next = 0  # the first batch not handed to the store yet

    def fill(self, current: int) -> None:
        """Batches from `current` on, up to the byte budget (and at least `current`)."""
        while self._next < len(self._contents) and (
                self._next <= current or
                sum(self._sizes[current:self._next]) < COMPRESS_AHEAD_BYTES):
            if self._contents[self._next]:
                self._archive.compress_ahead(self._contents[self._next])
            self._next += 1
