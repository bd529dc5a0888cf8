"""briefmin: archive folders of text briefs with byte-exact storage, semantic search, dedupe
and minify, in one file. The library API works without the CLI:

    from briefmin import Archive, add, iter_sources
    with Archive.open("briefs.bmin", write=True, create=True) as archive:
        report = add(archive, iter_sources(["briefs/"]))
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .errors import BriefminError, ExitStatus
    from .ingest import AddReport, add
    from .sources import Source, iter_sources
    from .store import Archive, BriefRecord, Problem, VerifyReport
    from .text import Skipped

__all__ = ["AddReport", "Archive", "BriefRecord", "BriefminError", "ExitStatus", "Problem",
           "Skipped", "Source", "VerifyReport", "add", "iter_sources"]
__version__ = "0.1.0"

# Imported on first use (PEP 562), so `briefmin --version` or `restore` do not pay for the
# encoder and numpy that `add` needs.
_HOMES = {"BriefminError": "errors", "ExitStatus": "errors", "AddReport": "ingest",
          "add": "ingest", "Source": "sources", "iter_sources": "sources", "Archive": "store",
          "BriefRecord": "store", "Problem": "store", "VerifyReport": "store", "Skipped": "text"}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'briefmin' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
