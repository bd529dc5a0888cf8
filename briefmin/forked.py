"""Half of a job in a forked child process, its failure brought back to the parent.

Restoring many small files is mostly the kernel creating them (open, write, close: what
`tar x` pays too) and per-file Python around it. One Python thread cannot overlap those with
another: every syscall gives the GIL back and taking it again waits for the other thread. A
second process can, as `zstd -d | tar x` runs in two."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .errors import BriefminError


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
def beside(work: Callable[[], None], error: type[BriefminError]) -> Iterator[None]:
    """Run `work` in a forked child while the `with` body runs here. At the end, wait for the
    child and raise what it raised (the body's own exception wins). The child never returns
    into the caller's code and runs none of its clean-up (it leaves by os._exit), and it must
    not use a database connection the parent opened."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        status = 0
        try:
            os.close(read_end)
            work()
        except BaseException as exc:  # every failure goes to the parent
            status = 1
            _send(write_end, exc)
        finally:
            os._exit(status)
    os.close(write_end)
    try:
        yield
    except BaseException:
        _collect(read_end, pid, error)  # the child finishes its half: no file left short
        raise
    failure = _collect(read_end, pid, error)
    if failure is not None:
        raise failure


def _send(fd: int, exc: BaseException) -> None:
    import pickle  # only for a failure: not on every start of the CLI

    try:
        message = pickle.dumps(exc)
    except Exception:  # one that does not pickle: its text then
        message = pickle.dumps(RuntimeError(f"{type(exc).__name__}: {exc}"))
    view = memoryview(message)
    while view:
        view = view[os.write(fd, view):]


def _collect(fd: int, pid: int, error: type[BriefminError]) -> BaseException | None:
    """Read what the child sent until it exits, then reap it: its exception, or None."""
    chunks = []
    try:
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(fd)
        _, status = os.waitpid(pid, 0)
    if chunks:
        import pickle

        failure = pickle.loads(b"".join(chunks))
        return failure if isinstance(failure, BaseException) else error(str(failure))
    code = os.waitstatus_to_exitcode(status)
    return None if code == 0 else error(f"the second process of this job ended with "
                                        f"status {code}")
