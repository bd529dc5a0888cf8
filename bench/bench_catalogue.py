"""Catalogue bytes per brief: what the rows describing each brief (briefs, contents, their
indexes) cost beyond the brief's path, measured with SQLite's dbstat on an archive of Debian
package descriptions built with the hashing encoder (storage only: the model plays no part).

    python bench/bench_catalogue.py [--n 20000]

Catalogue = pages of the tables `briefs` and `contents` and of every index on them, divided
by the number of briefs, minus the mean UTF-8 length of the stored paths. Goal (issue 15):
at most 80 bytes."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from briefmin import Archive, add, iter_sources

DOCS = Path(__file__).resolve().parent / "data" / "debian-descriptions" / "docs"
CATALOGUE = ("briefs", "contents", "briefs_path", "briefs_content", "contents_sha",
             # format 3's names, to measure an older briefmin the same way
             "sqlite_autoindex_briefs_1", "sqlite_autoindex_contents_1", "contents_block")


def measure(n: int) -> dict[str, float]:
    files = sorted(DOCS.iterdir())[:n]
    work = Path(tempfile.mkdtemp(prefix="bench-catalogue-"))
    try:
        path = work / "a.bmin"
        start = time.perf_counter()
        with Archive.open(path, write=True, create=True, model="hashing:384") as archive:
            add(archive, iter_sources([str(f) for f in files]))
            seconds = time.perf_counter() - start
            space = archive.space()
            names = [r.path for r in archive.records()]
        catalogue = sum(size for name, size in space.items() if name in CATALOGUE)
        path_bytes = sum(len(p.encode()) for p in names) / len(names)
        return {"briefs": len(names), "catalogue_bytes": catalogue,
                "per_brief": catalogue / len(names), "mean_path": path_bytes,
                "beyond_path": catalogue / len(names) - path_bytes, "add_seconds": seconds}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20000)
    result = measure(parser.parse_args().n)
    print(f"{result['briefs']:,} briefs: catalogue {result['catalogue_bytes']:,} B = "
          f"{result['per_brief']:.1f} B/brief; mean path {result['mean_path']:.1f} B; "
          f"beyond the path {result['beyond_path']:.1f} B/brief (goal <= 80)")


if __name__ == "__main__":
    main()
