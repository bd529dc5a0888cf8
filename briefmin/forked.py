"""Half of a job in a forked child process, its failure brought back to the parent.

Restoring many small files is mostly the kernel creating them (open, write, close: what
`tar x` pays too) and per-file Python around it. One Python thread cannot overlap those with
another: every syscall gives the GIL back and taking it again waits for the other thread. A
second process can, as `zstd -d | tar x` runs in two."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .errors import BriefminError


def _die_with(parent: int) -> None:
    """In a forked child: be killed when the parent dies, so a `kill` or `timeout` of
    briefmin stops the child's writing too (a killed restore's child went on filling the
    target for seconds). Linux's prctl(PR_SET_PDEATHSIG); elsewhere nothing."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # no prctl here
        return
    if os.getppid() != parent:  # the parent died before the prctl took hold
        os._exit(1)


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def can_fork() -> bool:
    """Two cores to run on, and no other thread: a child forked while another thread holds a
    lock (zstd's compression worker of an add, a caller's threads) could wait on it forever."""
    return hasattr(os, "fork") and cores() >= 2 and threading.active_count() == 1


@contextmanager
def beside(prepare: Callable[[], tuple[Callable[[], None], int]], error: type[BriefminError]
           ) -> Iterator[Callable[[], int]]:
    """Run `prepare` in a forked child while the `with` body runs here, then the work it
    returned once the body called the `go` it was given: so each side can check its own half
    (read it, check its names) before either writes anything. `go()` waits for the child's
    `prepare`, raises what it raised, and returns the count it returned beside its work (how
    many items its half holds); a body that raises before calling `go` stops the child before
    its work. At the end, wait for the child and raise what it raised (the body's own
    exception wins). The child never returns into the caller's code and runs none of its
    clean-up (it leaves by os._exit), and it must not use a database connection the parent
    opened (it may open its own)."""
    to_parent, child_end = os.pipe()
    child_start, to_child = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the child
        status = 0
        _die_with(parent)
        try:
            os.close(to_parent)
            os.close(to_child)
            work, count = prepare()
            os.write(child_end, _READY + count.to_bytes(8, "little"))
            if os.read(child_start, 1) != _GO:
                os._exit(0)  # stopped: the parent's half failed its checks
            work()
        except BaseException as exc:  # every failure goes to the parent
            status = 1
            _send(child_end, exc)
        finally:
            os._exit(status)
    os.close(child_end)
    os.close(child_start)
    gate = _Gate(to_parent, to_child, pid, error)
    try:
        yield gate.go
    except BaseException:
        gate.stop()
        gate.collect()  # the child finishes its half: no file left short
        raise
    if not gate.started:
        gate.stop()
        gate.collect()
        raise error("the second process of this job was never started")  # a caller's bug
    failure = gate.collect()
    if failure is not None:
        raise failure


# the child's "checked" (with its count, 8 bytes) and the parent's "go"; a failure the child
# sends is a pickle, which starts with b"\x80"
_READY, _GO = b"R", b"G"
_READY_BYTES = 9


class _Gate:
    """The parent's end of `beside`: the child's message pipe, the pipe that starts it."""

    def __init__(self, from_child: int, to_child: int, pid: int,
                 error: type[BriefminError]) -> None:
        self.from_child, self.to_child, self.pid, self.error = from_child, to_child, pid, error
        self.started = False
        self.head = b""  # what go() read of a failure: its start

    def go(self) -> int:
        """Wait for the child's checks; start its work and return its count, or raise its
        failure."""
        if self.started:
            raise self.error("the second process of this job was started already")
        while len(self.head) < _READY_BYTES and (
                more := os.read(self.from_child, _READY_BYTES - len(self.head))):
            self.head += more
            if self.head[:1] != _READY:  # a failure: collect() reads the rest
                break
        if self.head[:1] != _READY or len(self.head) < _READY_BYTES:
            failure = self.collect()
            raise failure if failure is not None else self.error(
                "the second process of this job ended before its checks")
        count = int.from_bytes(self.head[1:], "little")
        self.head = b""
        os.write(self.to_child, _GO)
        self.started = True
        self.stop()
        return count

    def stop(self) -> None:
        """Close the starting pipe: a child still waiting on it stops."""
        if self.to_child >= 0:
            os.close(self.to_child)
            self.to_child = -1

    def collect(self) -> BaseException | None:
        """Read what the child sent until it exits, then reap it: its exception, or None."""
        if self.pid < 0:  # reaped already
            return None
        pid, self.pid = self.pid, -1
        return _collect(self.from_child, self.head, pid, self.error)


def _send(fd: int, exc: BaseException) -> None:
    import pickle  # only for a failure: not on every start of the CLI

    try:
        message = pickle.dumps(exc)
    except Exception:  # one that does not pickle: its text then
        message = pickle.dumps(RuntimeError(f"{type(exc).__name__}: {exc}"))
    view = memoryview(message)
    while view:
        view = view[os.write(fd, view):]


def _collect(fd: int, head: bytes, pid: int, error: type[BriefminError]
             ) -> BaseException | None:
    """Read what the child sent (after `head`, read already) until it exits, then reap it:
    its exception, or None."""
    chunks = [head]
    try:
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(fd)
        _, status = os.waitpid(pid, 0)
    sent = b"".join(chunks)
    if sent[:1] == _READY:  # its checks passed, and the parent stopped it
        sent = sent[_READY_BYTES:]
    if sent:
        import pickle

        failure = pickle.loads(sent)
        return failure if isinstance(failure, BaseException) else error(str(failure))
    code = os.waitstatus_to_exitcode(status)
    return None if code == 0 else error(f"the second process of this job ended with "
                                        f"status {code}")
