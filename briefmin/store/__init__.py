"""The archive file format, and nothing else: every SQL statement of briefmin lives in this
package. It knows no model (briefmin.ingest encodes, then calls the store) and no CLI."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .archive import Archive, BatchResult, NewContent
from .catalogue import BriefRecord, LiteralSelector, selects
from .schema import FORMAT_VERSION, PROFILES, Meta
from .segments import (
    BRIEF_KINDS,
    KIND_BRIEF,
    KIND_BRIEF_AND_CHUNK,
    KIND_CHUNK,
    SEARCH_KINDS,
    SEGMENT_FANOUT,
    Rows,
    StoredVectors,
)
from .snapshots import Snapshot

if TYPE_CHECKING:
    from .verify import Problem, VerifyReport

__all__ = ["BRIEF_KINDS", "FORMAT_VERSION", "KIND_BRIEF", "KIND_BRIEF_AND_CHUNK", "KIND_CHUNK",
           "PROFILES", "SEARCH_KINDS", "SEGMENT_FANOUT", "Archive", "BatchResult",
           "BriefRecord", "LiteralSelector", "Meta", "NewContent", "Problem", "Rows",
           "Snapshot", "StoredVectors", "VerifyReport", "selects"]


def __getattr__(name: str) -> Any:
    """verify's names, imported at their first use (PEP 562): a restore or an `ls` does not
    check the archive."""
    if name in ("Problem", "VerifyReport"):
        from . import verify

        value = getattr(verify, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
