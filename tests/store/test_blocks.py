"""store/blocks.py: solid blocks and their dictionary."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest

from briefmin import Archive, Source, add, codec
from briefmin.ingest import AddReport
from briefmin.store import blocks

from ..conftest import HASHING
from ..surgery import execute, flip_stored_byte


def open_new(path: Path) -> Archive:
    return Archive.open(path, write=True, create=True, model=HASHING)


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


def test_a_rejected_dictionary_is_tried_again_only_once_the_archive_has_doubled(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Random text: zstd's dictionary does not pay for itself, so none is kept. The next
    adds, each a process of its own (a new Archive), must not train again until the
    contents pass the next power of two times 32 (64 here)."""
    tries: list[int] = []
    train = codec.train_dictionary

    def counted(samples: list[bytes]) -> bytes | None:
        tries.append(len(samples))
        return train(samples)

    monkeypatch.setattr(codec, "train_dictionary", counted)
    rng = random.Random(3)
    path = tmp_path / "a.bmin"

    def add_random(start: int, stop: int) -> None:
        with Archive.open(path, write=True, create=True, model=HASHING) as archive:
            add(archive, [Source(f"b{i}.txt", None, bytes(rng.choice(b"abcdefghij klmnop\n")
                                                           for _ in range(6000)))
                          for i in range(start, stop)])
            assert archive.info()["dictionaries"] == 0

    add_random(0, 40)  # past 32 briefs and 192 KiB of text: tried, rejected
    assert len(tries) == 1
    for start, stop in ((40, 48), (48, 56), (56, 63)):  # three more adds below 64: no try
        add_random(start, stop)
    assert len(tries) == 1
    add_random(63, 70)  # the 64th content reaches 64: tried again
    assert len(tries) == 2


def test_a_forked_child_writes_blocks_with_its_own_worker_thread(tmp_path: Path) -> None:
    """Blocks are compressed in a worker thread; a child forked after it started has no such
    thread, and must start its own instead of waiting forever."""
    files = [Source(f"b{i}.md", None, f"brief {i} about the launch plan\n".encode() * 20)
             for i in range(10)]
    with open_new(tmp_path / "parent.bmin") as archive:
        add(archive, files[:5])
    pid = os.fork()
    if pid == 0:  # the child: exit status says whether its add stored the briefs
        code = 1
        try:
            with open_new(tmp_path / "child.bmin") as archive:
                add(archive, files[5:])
                code = 0 if len(archive.records()) == 5 and archive.verify().ok else 1
        finally:
            os._exit(code)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError("the forked child's add did not finish in 60 s")


def test_block_cache_keeps_its_size_bound_and_the_newest() -> None:
    from briefmin.store.blocks import BLOCK_CACHE_BYTES, _LastBlocks

    cache = _LastBlocks()
    big = BLOCK_CACHE_BYTES // 3 + 1
    for block_id in range(5):
        cache.put(block_id, (b"x" * big, None))
    assert [cache.get(i) is not None for i in range(5)] == [False, False, False, True, True]
    cache.put(9, (b"y" * (2 * BLOCK_CACHE_BYTES), None))  # larger than the bound: kept alone
    assert cache.get(9) is not None and cache.get(4) is None
    cache.put(9, (b"z", None))  # replacing a block counts its new size only
    cache.put(1, (b"w" * big, None))
    assert cache.get(9) == (b"z", None) and cache.get(1) is not None
    cache.clear()
    assert cache.get(1) is None


@pytest.mark.parametrize("count", [0, 1, 2, 5, 64])
def test_shared_compression_keeps_the_order(count: int) -> None:
    # the worker thread takes every other item: the frames must come back in item order
    rng = random.Random(count)
    words = ["plan", "budget", "launch", "review", "legal", "team", "cost", "risk", "date"]
    items = [" ".join(rng.choice(words) for _ in range(k + 3)).encode() for k in range(count)]
    dictionary = codec.train_dictionary([" ".join(rng.choice(words) for _ in range(400))
                                         .encode() for _ in range(64)])
    assert dictionary is not None
    for work in (blocks._compress, blocks._compress_each):
        assert blocks._shared(work, items, dictionary) == work(items, dictionary)


def _briefs(count: int, seed: int) -> list[Source]:
    """Briefs of related text, ~600 B each: a dictionary pays for them (trained in the 4th
    batch of 64), and the window of 1,024 briefs the add encodes ahead holds several batches
    after it."""
    rng = random.Random(seed)
    words = ["plan", "budget", "launch", "risk", "owner", "scope", "legal", "design", "user",
             "review", "date", "cost", "team", "goal", "metric", "release"]
    return [Source(f"d{i // 100}/b{i:04d}.md", None,
                   (f"# Brief {i}\n\n" + " ".join(rng.choice(words) for _ in range(90))
                    + f"\nOwner: team {i % 7}.\n").encode()) for i in range(count)]


def _stored(path: Path) -> list[list[tuple[object, ...]]]:
    """What the solid blocks, dictionaries and contents hold, frames byte for byte."""
    return [execute(path, "SELECT id, dict_id, size, data FROM blocks ORDER BY id"),
            execute(path, "SELECT id, data FROM dicts ORDER BY id"),
            execute(path, "SELECT id, sha256, size, block, block_offset FROM contents "
                          "ORDER BY id")]


def _in_their_batches(path: Path, sources: list[Source]) -> AddReport:
    """An add as before blocks were compressed ahead and the dictionary trained in the
    background: each batch's blocks compressed in its batch, the training in its batch."""
    train = blocks.Blocks.maybe_train_dictionary
    with open_new(path) as archive, pytest.MonkeyPatch.context() as patch:
        patch.setattr(blocks.Blocks, "compress_ahead", lambda self, items: None)
        patch.setattr(blocks.Blocks, "maybe_train_dictionary",
                      lambda self, background=False: train(self))
        return add(archive, sources)


@pytest.mark.parametrize(("worker", "count"), [("free", 900), ("busy", 900), ("free", 420)])
def test_blocks_compressed_ahead_are_the_blocks_compressed_in_their_batch(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, worker: str, count: int) -> None:
    """The add compresses the blocks of coming batches ahead in the worker thread, trains
    the first dictionary there while it stores the next batches (their blocks as quick
    frames, rewritten once the dictionary is in), and the main thread compresses batches
    itself when the worker is behind ("busy": held until half the briefs are committed, so
    the training waits too, and every batch until then is the main thread's). 420 briefs:
    the training starts in the 6th batch of 7, and the add may end before it is done (then it
    waits for it). Same frames, dictionary and
    catalogue as an add that compresses and trains in each batch."""
    sources = _briefs(count, 1)
    each = _in_their_batches(tmp_path / "each.bmin", sources)
    batches: list[tuple[bool, bool]] = []  # (took frames compressed ahead, while training)
    take = blocks.Blocks._take_ahead

    def counted(self: blocks.Blocks, digests: list[bytes], dict_id: int | None
                ) -> object:
        found = take(self, digests, dict_id)
        batches.append((found is not None, self._training is not None))
        return found

    monkeypatch.setattr(blocks.Blocks, "_take_ahead", counted)
    release = __import__("threading").Event()
    if worker == "busy":
        blocks._worker().submit(release.wait, 60)
    stored: list[str] = []

    def committed(names: list[str]) -> None:
        stored.extend(names)
        if len(stored) >= len(sources) // 2:
            release.set()

    with open_new(tmp_path / "ahead.bmin") as archive:
        report = add(archive, sources, on_commit=committed)
        assert archive.info()["dictionaries"] == 1
        assert archive.verify().ok
    release.set()
    assert _stored(tmp_path / "ahead.bmin") == _stored(tmp_path / "each.bmin")
    assert report.bytes_stored == each.bytes_stored
    # every batch took frames compressed ahead but those stored while the dictionary trained
    assert len(batches) == -(-count // 64)
    assert all(ahead or training for ahead, training in batches)
    assert any(training for _, training in batches)
    if worker == "busy":
        assert sum(training for _, training in batches) >= len(batches) // 2


def test_an_add_stopped_while_the_dictionary_trains_keeps_readable_blocks(
        tmp_path: Path) -> None:
    """Interrupted before the training is settled: the batches committed meanwhile keep
    their quick frames (no dictionary yet), every brief reads back, and the next add goes
    on as after a rejected dictionary."""
    sources = _briefs(700, 3)
    release = __import__("threading").Event()
    blocks._worker().submit(release.wait, 60)  # the training cannot finish
    stored: list[str] = []

    def committed(names: list[str]) -> None:
        stored.extend(names)
        if len(stored) >= 384:
            raise KeyboardInterrupt

    path = tmp_path / "a.bmin"
    with pytest.raises(KeyboardInterrupt), open_new(path) as archive:
        add(archive, sources, on_commit=committed)
    release.set()
    with Archive.open(path) as archive:
        assert len(archive.records()) == 384 and archive.verify().ok
        assert archive.info()["dictionaries"] == 0
        data = {s.name: s.read() for s in sources}
        assert all(archive.read(r) == data[r.path] for r in archive.records())
    with open_new(path) as archive:
        add(archive, sources)
        assert len(archive.records()) == 700 and archive.verify().ok
        assert archive.info()["dictionaries"] == 1  # tried again at 512 contents


def test_a_batch_that_does_not_match_the_blocks_ahead_is_compressed_in_its_batch(
        tmp_path: Path) -> None:
    sources = _briefs(100, 2)
    with open_new(tmp_path / "a.bmin") as archive:
        store = archive._blocks
        archive.compress_ahead([(codec.sha256(b"never stored"), b"never stored")])
        add(archive, sources[:50])
        assert not store._ahead
        archive.compress_ahead([(codec.sha256(s.read()), s.read()) for s in sources[50:]])
        archive.compress_ahead([(codec.sha256(b"left"), b"left")])
        assert len(store._ahead) == 2
    # closing drops (and cancels) what was compressed ahead and never stored
    assert not store._ahead
    with Archive.open(tmp_path / "a.bmin") as archive:
        assert len(archive.records()) == 50 and archive.verify().ok
