"""Catalogue bytes per brief: what the rows describing each brief (the `briefs` and `contents`
tables and their indexes) cost beyond the brief's path, measured with SQLite's dbstat on an
archive of Debian package descriptions built with the hashing encoder (storage only: the
model plays no part). Goal (issue 15): at most 80 bytes per brief beyond its path.

The figure for format 3 (before this layout: 256.8 B on 5,000 of these files, 240 B in the
issue) was measured with the code of that format; it cannot be rebuilt in the same run."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import ensure_corpora, log, parse_args, sample, scratch, section, table, text_files

from briefmin import Archive, add, iter_sources

CATALOGUE = ("briefs", "contents", "briefs_path", "briefs_content", "contents_sha")
GOAL = 80


def measure(files: list[Path], parent: Path) -> list[list[object]]:
    work = scratch("catalogue")
    cwd = os.getcwd()
    os.chdir(parent)  # names as a user adding docs/ would store them
    try:
        path = work / "a.bmin"
        with Archive.open(path, write=True, create=True, model="hashing:384") as archive:
            add(archive, iter_sources([str(f.relative_to(parent)) for f in files]))
            space = archive.space()
            names = [r.path for r in archive.records()]
    finally:
        os.chdir(cwd)
        shutil.rmtree(work, ignore_errors=True)
    n = len(names)
    mean_path = sum(len(p.encode()) for p in names) / n
    rows: list[list[object]] = [[name, space.get(name, 0), space.get(name, 0) / n]
                                for name in CATALOGUE]
    total = sum(space.get(name, 0) for name in CATALOGUE)
    rows.append(["**catalogue**", total, total / n])
    rows.append(["  of which the paths themselves", round(mean_path * n), mean_path])
    rows.append([f"**beyond the path** (goal <= {GOAL})", round(total - mean_path * n),
                 total / n - mean_path])
    return rows


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    ensure_corpora(args.data)
    corpus = args.data / "debian-descriptions"
    files = sample(text_files(corpus / "docs"), 3000 if args.quick else 20_000)
    log(f"catalogue of {len(files):,} Debian descriptions")
    rows = measure(files, corpus)
    print(section(f"Catalogue bytes per brief ({len(files):,} Debian descriptions)", [
        table(["table or index", "bytes", "bytes per brief"], rows),
        "Pages of each table and index (SQLite dbstat), divided by the number of briefs."]))


if __name__ == "__main__":
    main()
