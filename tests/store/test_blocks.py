"""store/blocks.py: solid blocks and their dictionary."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest

from briefmin import Archive, Source, add, codec
from briefmin.store import blocks

from ..conftest import HASHING
from ..surgery import flip_stored_byte


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
