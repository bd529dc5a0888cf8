"""Admission of one source: read its bytes, refuse what is not a brief (unreadable, empty,
binary, nameless; `add` keeps an empty file, as a content with no vectors), decode it for
the model. Every command that takes files (add, dedupe,
minify) admits them here, so they agree on what a brief is.

Bytes are always stored as they are; decoding only decides what the model reads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import codec

if TYPE_CHECKING:
    from .sources import Source

BINARY_SNIFF_BYTES = 8192


@dataclass(frozen=True)
class Skipped:
    """A source that is not stored, and why."""

    name: str
    reason: str
    # the file as it was reached (`../b/x.md`), where the skip is a file's: `minify` names it
    # so, the archive name (`b/x.md`) being no file there. Not compared: the same skip
    path: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Admitted:
    """A source that is a brief: its archive name, bytes and sha256."""

    name: str
    data: bytes
    digest: bytes


def admit(source: Source | Skipped,
          unchanged: Callable[[str, bytes], bool] | None = None, *,
          keep_empty: bool = False) -> Admitted | Skipped | None:
    """The brief `source` holds, or why it is skipped; None when `unchanged(name, sha256)`
    says the archive has these bytes under this name already (checked before the binary
    sniff: a nightly re-add is mostly unchanged files). An empty file is skipped unless
    `keep_empty` (add: a snapshot is the folder as it was, an emptied file included); empty
    stdin always is (nothing was piped: a failed producer, not a brief)."""
    if isinstance(source, Skipped):
        return source
    try:
        data = source.read()
    except PermissionError:
        return Skipped(source.name, "unreadable (permission denied)", source.fs_path)
    except OSError as exc:
        # a file may vanish or change between the walk and the read
        return Skipped(source.name, f"unreadable ({exc.strerror or exc})", source.fs_path)
    if not data and (not keep_empty or source.fs_path is None):
        return Skipped(source.name, "empty", source.fs_path)
    digest = codec.sha256(data)
    if unchanged is not None and unchanged(source.name, digest):
        return None
    if is_binary(data):
        return Skipped(source.name, "binary, not text", source.fs_path)
    if not source.name:
        return Skipped(source.name, "no usable name")
    return Admitted(source.name, data, digest)


# every byte but the control characters that text does not hold (tab, newlines, FF, ESC are fine)
_NOT_CONTROL = bytes(b for b in range(256) if b >= 32 or b in (9, 10, 12, 13, 27))


def is_binary(data: bytes) -> bool:
    """NUL bytes (outside UTF-16/32 text) or mostly control characters in the first 8 KB."""
    head = data[:BINARY_SNIFF_BYTES]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    if b"\x00" in head:
        return True
    controls = len(head.translate(None, _NOT_CONTROL))  # C speed: add sniffs every new file
    return controls > len(head) * 0.1


def decode_text(data: bytes) -> tuple[str, str]:
    """Text for the encoder and the encoding used. Bytes are always stored as they are; this
    only decides what the model reads. Latin-1 never fails, so it is the last resort."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            pass
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding), "utf-8" if encoding == "utf-8-sig" else encoding
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1"), "latin-1"
