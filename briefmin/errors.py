"""The error tree. Every expected failure is a BriefminError; the CLI maps each to its exit code
in one place (cli.main), so no traceback reaches a user for a failure we anticipated."""

from __future__ import annotations

import re
from enum import IntEnum


class ExitStatus(IntEnum):
    OK = 0
    FINDINGS = 1  # duplicates found with --fail, damage found by verify
    USAGE = 2  # bad arguments or bad input files
    ARCHIVE = 3  # the archive cannot be opened/read/written as asked
    BUSY = 4  # another briefmin process holds the archive's write lock
    NEWER_FORMAT = 5  # written by a newer briefmin
    MODEL = 6  # the model cannot be loaded or does not match the archive
    OUTPUT = 74  # stdout cannot be written (disk full, EIO, closed): sysexits' EX_IOERR
    INTERNAL = 70  # a bug (sysexits' EX_SOFTWARE): one line; BRIEFMIN_DEBUG=1 for the traceback
    INTERRUPTED = 130  # Ctrl-C; whatever was committed before it is kept


class BriefminError(Exception):
    """Base of every expected failure; `str(err)` is a one-line message for the user."""

    exit_status = ExitStatus.ARCHIVE


class UsageError(BriefminError):
    exit_status = ExitStatus.USAGE


class InputError(BriefminError):
    """A path, selector or stdin that cannot be used."""

    exit_status = ExitStatus.USAGE


class ArchiveError(BriefminError):
    """The archive is missing, not an archive, damaged, or cannot be written."""

    exit_status = ExitStatus.ARCHIVE


class ArchiveBusyError(ArchiveError):
    exit_status = ExitStatus.BUSY


class WriteFailedError(ArchiveError):
    """A write to the archive failed (a full disk, an I/O error): rolled back to the last
    commit."""


class NewerFormatError(ArchiveError):
    exit_status = ExitStatus.NEWER_FORMAT


class ModelError(BriefminError):
    exit_status = ExitStatus.MODEL


class OutputError(BriefminError):
    """Stdout cannot be written: the output is lost, the archive is not at fault."""

    exit_status = ExitStatus.OUTPUT


class InterruptedAfterCommit(BriefminError):
    """Ctrl-C after a commit, said more closely than "interrupted": what stays undone."""

    exit_status = ExitStatus.INTERRUPTED


class IntegrityError(ArchiveError):
    """A stored item does not decompress or does not match its sha256."""


# what an error met while reading a damaged archive ends with
VERIFY_ADVICE = "; run `briefmin verify`"
# what verify says instead when SQLite cannot read the file page by page
UNCHECKABLE = "it cannot be checked item by item: restore the file from a backup"


# C0 and C1 control characters, and the bidirectional controls and line and paragraph
# separators that reorder or split what a terminal shows ("Trojan Source" names): a name, a
# query or a damaged cell SQLite quotes may hold any
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(char: str) -> str:
    code = ord(char)
    return _ESCAPES.get(char, f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def printable(text: str) -> str:
    """Text for a one-line message: control characters escaped (`\\n`, `\\x1b`, `\\u202e`), so
    a name or a damaged value quoted in it cannot move the cursor, reorder or split the line."""
    return _CONTROL.sub(lambda m: _escaped(m.group()), text)
