"""A whole-run writer lock, so two cron runs on one archive take turns instead of interleaving.

flock() on the archive file: independent of SQLite's own POSIX locks, released by the kernel
when the process dies (a SIGKILLed run never leaves a stale lock). The descriptor must stay
open until SQLite's connection is closed: closing any descriptor of a file drops the POSIX
locks SQLite holds on it."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable

from .errors import ArchiveBusyError

POLL_SECONDS = 0.1


class WriterLock:
    def __init__(self, path: str, wait: float | None,
                 on_wait: Callable[[], None] | None = None) -> None:
        """Take the lock, waiting up to `wait` seconds (None = forever); `on_wait` is called
        once if we have to wait, so the user learns why nothing happens."""
        self.fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        deadline = None if wait is None else time.monotonic() + wait
        told = False
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if deadline is not None and time.monotonic() >= deadline:
                    os.close(self.fd)
                    raise ArchiveBusyError(
                        f"{path}: another briefmin process is writing this archive; "
                        f"try again later or raise --wait (waited {wait:g} s)") from None
                if not told and on_wait is not None:
                    on_wait()
                    told = True
                time.sleep(POLL_SECONDS)

    def holds(self, path: str) -> bool:
        """Whether `path` still names the file this lock is on (not removed or replaced
        while we waited for it)."""
        try:
            now, locked = os.stat(path), os.fstat(self.fd)
        except OSError:
            return False
        return (now.st_dev, now.st_ino) == (locked.st_dev, locked.st_ino)

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing drops the flock
            self.fd = -1
