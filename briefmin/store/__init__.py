"""The archive file format, and nothing else: every SQL statement of briefmin lives in this
package. It knows no model (briefmin.ingest encodes, then calls the store) and no CLI."""

from .archive import Archive, BatchResult, NewContent
from .catalogue import BriefRecord, selecting_others, selects
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
from .verify import Problem, VerifyReport

__all__ = ["BRIEF_KINDS", "FORMAT_VERSION", "KIND_BRIEF", "KIND_BRIEF_AND_CHUNK", "KIND_CHUNK",
           "PROFILES", "SEARCH_KINDS", "SEGMENT_FANOUT", "Archive", "BatchResult",
           "BriefRecord", "Meta", "NewContent", "Problem", "Rows", "Snapshot", "StoredVectors",
           "VerifyReport", "selecting_others", "selects"]
