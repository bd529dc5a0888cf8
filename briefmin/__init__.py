"""briefmin: archive folders of text briefs with byte-exact storage, semantic search, dedupe
and minify, in one file. The library API works without the CLI:

    from briefmin import Archive, iter_sources
    with Archive.open("briefs.bmin", write=True, create=True) as archive:
        report = archive.add(iter_sources(["briefs/"]))
"""

from .archive import AddReport, Archive, BriefRecord, Problem, VerifyReport
from .errors import BriefminError, ExitStatus
from .sources import Skipped, Source, iter_sources

__all__ = ["AddReport", "Archive", "BriefRecord", "BriefminError", "ExitStatus", "Problem",
           "Skipped", "Source", "VerifyReport", "iter_sources"]
__version__ = "0.1.0"
