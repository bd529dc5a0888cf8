"""What checking the lexical index adds to `verify`: the same archive verified with the check
and without it (the index skipped, as for an archive of a format before it), alternating, in
one run. The check rebuilds the index in memory from the texts verify already inflates and
compares the two (store/lexical.py, `Rebuilt`). Archive of Debian package descriptions built
with the hashing encoder (storage only: the model plays no part)."""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import ensure_corpora, log, parse_args, sample, scratch, section, table, text_files

from briefmin import Archive, add, iter_sources
from briefmin.store import lexical

ROUNDS = 3


def measure(files: list[Path], parent: Path) -> list[list[object]]:
    work = scratch("verify")
    cwd = os.getcwd()
    os.chdir(parent)
    checking = lexical.complete
    try:
        path = work / "a.bmin"
        with Archive.open(path, write=True, create=True, model="hashing:384") as archive:
            add(archive, iter_sources([str(f.relative_to(parent)) for f in files]))
            index = archive.info()["lexical_index_bytes"]
        times: dict[bool, list[float]] = {True: [], False: []}
        checked = 0
        for _ in range(ROUNDS):
            for on in (True, False):
                # without: verify sees no lexical index (as in an archive before format 6)
                lexical.complete = checking if on else (lambda db: False)  # type: ignore
                start = time.perf_counter()
                with Archive.open(path) as archive:
                    report = archive.verify()
                times[on].append(time.perf_counter() - start)
                assert report.ok, report.problems
                checked = report.checked
    finally:
        lexical.complete = checking  # type: ignore
        os.chdir(cwd)
        shutil.rmtree(work, ignore_errors=True)
    without, with_ = statistics.median(times[False]), statistics.median(times[True])
    return [["verify without the lexical check", without, 1.0],
            ["verify with it", with_, with_ / without],
            ["stored items verified", checked, ""], ["lexical index bytes", index, ""]]


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    ensure_corpora(args.data)
    corpus = args.data / "debian-descriptions"
    files = sample(text_files(corpus / "docs"), 3000 if args.quick else 20_000)
    log(f"verify of {len(files):,} Debian descriptions")
    rows = measure(files, corpus)
    print(section(f"verify and the lexical index ({len(files):,} Debian descriptions)", [
        table(["", "seconds (median of 3)", "x without"], rows),
        "Both in the same run, alternating. The check's cost is mostly taking stop words out "
        "of each text and indexing it again (what `add` pays once), then comparing the two "
        "indexes term by term."]))


if __name__ == "__main__":
    main()
