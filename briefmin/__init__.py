"""briefmin: archive folders of text briefs with byte-exact storage, semantic search, dedupe
and minify, in one file. The library API works without the CLI:

    from briefmin import Archive, add, iter_sources
    with Archive.open("briefs.bmin", write=True, create=True) as archive:
        report = add(archive, iter_sources(["briefs/"]))
"""

from .errors import BriefminError, ExitStatus
from .ingest import AddReport, add
from .sources import Source, iter_sources
from .store import Archive, BriefRecord, Problem, VerifyReport
from .text import Skipped

__all__ = ["AddReport", "Archive", "BriefRecord", "BriefminError", "ExitStatus", "Problem",
           "Skipped", "Source", "VerifyReport", "add", "iter_sources"]
__version__ = "0.1.0"
