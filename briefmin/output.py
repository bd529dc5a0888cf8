"""Rendering: rich tables and messages for people, one JSON document for machines.

Messages and progress go to stderr; results go to stdout, so `--json` output and pipes stay
clean. When stdout is not a terminal, tables print as tab-separated lines for grep and cut."""

from __future__ import annotations

import errno
import functools
import io
import json
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

from .errors import OutputError, printable

if TYPE_CHECKING:
    from rich.console import Console

# rich is imported on first use: a table or progress bar on a terminal, a coloured warning or
# error. Plain messages and piped tables never need it, so `restore` and `ls | ...` start
# without it.


@functools.cache
def _stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def stdout() -> Console:
    # built per call so tests that swap sys.stdout (CliRunner) are honoured
    from rich.console import Console

    return Console(file=sys.stdout, highlight=False, soft_wrap=True)


def _maybe_terminal(stream: Any) -> bool:
    """False when rich would surely call `stream` no terminal (so no need to ask it)."""
    forced = any(os.environ.get(v) for v in ("FORCE_TERMINAL", "TTY_INTERACTIVE", "FORCE_COLOR"))
    isatty = getattr(stream, "isatty", None)
    return forced or bool(isatty and isatty())


@contextmanager
def writing() -> Iterator[None]:
    """Around each write to stdout: a failure there (a full disk, EIO) is the output's, not
    the archive's, so it is an OutputError (one line, exit 74), never "internal error". A
    reader gone away (EPIPE) stays BrokenPipeError, which the CLI ends quietly."""
    try:
        yield
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise output_lost(exc) from None


def output_lost(exc: OSError) -> OutputError:
    return OutputError(f"cannot write the output ({exc.strerror or exc})")


class _ClosedDescriptor(io.BufferedIOBase):
    name = "<stdout>"

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        raise OSError(errno.EBADF, "stdout is closed")


class _Diagnostics(io.TextIOBase):
    """Stderr that cannot fail: once a write or a flush fails (`2>/dev/full`, a closed
    descriptor, `2>&-`), later ones are dropped. A warning that cannot be shown must not turn
    into an internal error whose exit status (1 then, from the interpreter) reads as
    `verify`'s "damage found"; the command's own status stands."""

    def __init__(self, inner: TextIO | None) -> None:
        self._inner = inner
        self._lost = inner is None

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]  # read-only here
        return getattr(self._inner, "encoding", None) or "utf-8"

    def isatty(self) -> bool:
        try:
            return not self._lost and self._inner is not None and self._inner.isatty()
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        if self._inner is None:
            raise io.UnsupportedOperation("stderr is closed")
        return self._inner.fileno()

    def write(self, text: str) -> int:
        if not self._lost and self._inner is not None:
            try:
                self._inner.write(text)
            except (OSError, ValueError):
                self._lost = True
        return len(text)

    def flush(self) -> None:
        if not self._lost and self._inner is not None:
            try:
                self._inner.flush()
            except (OSError, ValueError):
                self._lost = True


def diagnostics(stderr: TextIO | None) -> TextIO:
    """`stderr` as a process of its own writes its warnings and errors: see `_Diagnostics`."""
    return stderr if isinstance(stderr, _Diagnostics) else _Diagnostics(stderr)  # type: ignore[return-value]


def closed_stdout() -> TextIO:
    """Stdout for a process started without one (`briefmin ls A >&-`, where Python leaves
    sys.stdout None): each write fails as one to a closed descriptor does, so a command that
    prints says so in one line, and one that prints nothing (`add -q`) runs as usual."""
    return io.TextIOWrapper(_ClosedDescriptor(), encoding="utf-8", write_through=True)


def emit_json(document: Any) -> None:
    # indented for a person at a terminal; one line otherwise, so `--json >> log.jsonl` (the
    # cron example) appends one line per run
    indent = 2 if sys.stdout.isatty() else None
    with writing():
        text = json.dumps(document, ensure_ascii=False, indent=indent)
        if _SURROGATE.search(text):
            # a path whose bytes are not UTF-8 (Python holds them as lone surrogates): JSON's
            # own escape `\udcff` keeps the output UTF-8, and json.loads gives the name back
            text = json.dumps(document, indent=indent)
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def info(text: str, quiet: bool = False) -> None:
    if quiet:
        return
    text = _message_bytes(text)
    if _maybe_terminal(sys.stderr):
        _stderr().print(text, markup=False, soft_wrap=True)
    else:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()


def warn(text: str) -> None:
    from rich.markup import escape

    _stderr().print(f"[yellow]briefmin: warning:[/] {escape(_one_line(text))}", soft_wrap=True)


def error(text: str) -> None:
    from rich.markup import escape

    _stderr().print(f"[bold red]briefmin: error:[/] {escape(_one_line(text))}", soft_wrap=True)


def _one_line(text: str) -> str:
    """A message names paths and queries as given, and a name may hold a line break or a
    terminal's escape sequence: shown escaped, one message stays one line for whoever reads
    the log, and a name cannot drive the terminal."""
    return printable(_message_bytes(text))


def _message_bytes(text: str) -> str:
    """A message (an error, a warning, an info line) with each byte of a path that is not
    UTF-8 shown as `\\xff`, also where the message quotes it with repr (`'\\udcff'`)."""
    return _bytes_shown(_REPR_SURROGATE.sub(r"\1\\x\2", text))


# repr's escape of a lone surrogate that stands for a byte, not after an escaped backslash
# (repr writes a typed `\udcff` as `\\udcff`)
_REPR_SURROGATE = re.compile(r"(?<!\\)((?:\\\\)*)\\udc([89a-f][0-9a-f])")


# columns of free text beside a path (dedupe's word changes), and the widest they get
NOTE_COLUMNS = ("changes",)
NOTE_WIDTH = 40


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None,
          right: Sequence[str] = ()) -> None:
    console = stdout() if _maybe_terminal(sys.stdout) else None
    if console is None or not console.is_terminal:
        with writing():
            for row in rows:
                sys.stdout.write("\t".join(escape_name(c) for c in row) + "\n")
            sys.stdout.flush()
        return
    from rich.markup import escape
    from rich.table import Table

    # a free-text column with nothing in it takes no room on a terminal (piped, it stays:
    # scripts count fields)
    empty = {k for k, column in enumerate(columns)
             if column in NOTE_COLUMNS and not any(str(row[k]) for row in rows)}
    columns = [c for k, c in enumerate(columns) if k not in empty]
    rows = [[c for k, c in enumerate(row) if k not in empty] for row in rows]
    grid = Table(title=title, header_style="bold")
    for column in columns:
        # a path is folded over lines, never cut short; a narrow terminal squeezes the
        # free-text columns first
        grid.add_column(column, justify="right" if column in right else "left",
                        overflow="fold" if column == "path" else "ellipsis",
                        max_width=NOTE_WIDTH if column in NOTE_COLUMNS else None)
    for row in rows:
        grid.add_row(*(escape(escape_name(c)) for c in row))
    with writing():  # a terminal can fail too (EIO once it hangs up)
        console.print(grid)


def escape_name(value: Any) -> str:
    """Names may hold any character: show control characters escaped (as `printable` does,
    with a backslash doubled so an escape stays unambiguous), so one brief stays one line and
    a name cannot move the terminal's cursor."""
    text = str(value).replace("\\", "\\\\")
    # isprintable first: a C-level test, so ls of 64k briefs pays no regex per cell
    return text if text.isprintable() else printable(_bytes_shown(text))


def skipped_name(skipped: Any) -> str:
    """How a warning names a skipped file (briefmin.text.Skipped): its archive name, but for
    a name that is not UTF-8, which has none, the file as reached, each such byte `\\xNN`
    (its `name` holds `\\xNN` as text already, which `escape_name` would double)."""
    path = skipped.path
    if path is not None and _SURROGATE.search(path):
        return escape_name(path)
    return escape_name(skipped.name)


# a lone surrogate: in a path from the command line, a byte that is not UTF-8 (Python reads
# `bad\xff.md` as 'bad\udcff.md', its "surrogateescape")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _bytes_shown(text: str) -> str:
    """`text` with each byte that was not UTF-8 shown as `\\xNN` (`bad\\xff.md`), the way
    `ls` shows it, not as the `\\udcff` Python's error handler writes (any other lone
    surrogate as `\\uNNNN`)."""
    def shown(match: re.Match[str]) -> str:
        code = ord(match.group())
        return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"

    return _SURROGATE.sub(shown, text)


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


@contextmanager
def progress(total: int | None, description: str, quiet: bool) -> Iterator[Any]:
    """A progress bar on stderr (count, rate, elapsed); yields `advance(n)`."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    stderr = _stderr()
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TaskProgressColumn(), TextColumn("[cyan]{task.fields[rate]}"),
                   TimeElapsedColumn(),
                   console=stderr, disable=quiet or not stderr.is_terminal, transient=False)
    with bar:
        task = bar.add_task(description, total=total, rate="")
        start = last = time.monotonic()
        done = 0

        def advance(n: int = 1) -> None:
            # our own rate, refreshed 5 times a second: rich's `speed` walks its samples on
            # every call, which made re-adding 64k unchanged briefs 3x slower
            nonlocal done, last
            done += n
            bar.advance(task, n)
            now = time.monotonic()
            if now - last >= 0.2:
                last = now
                bar.update(task, rate=f"{done / (now - start):.1f}/s")

        yield advance


# -- dedupe ------------------------------------------------------------------------------------

def dedupe_groups(report: Any, quiet: bool) -> None:
    """A dedupe report (briefmin.dedupe.DedupeReport): one row per member with its cosine and
    shingle Jaccard to its group's first member and, in a near-identical group, the words it
    changed; the histogram if asked, a summary line."""
    from .wordiff import summary

    for skipped in report.skipped:
        if not quiet:
            warn(f"skipped {skipped_name(skipped)}: {skipped.reason}")
    rows = []
    # in CI mode a column of its own says which members are the given briefs: a ` (new)`
    # after the path made `cut -f5` give no usable path
    given = bool(report.new)
    for number, group in enumerate(report.groups, 1):
        for k, member in enumerate(group.members):
            changed = (summary(member.changes) if k and group.kind == "near-identical"
                       else "")
            rows.append([number, group.kind, f"{member.similarity:.3f}",
                         f"{member.jaccard:.3f}", member.path,
                         *(["new" if member.new else "archived"] if given else []), changed])
    if rows:
        table(["group", "kind", "cosine", "jaccard", "path", *(["brief"] if given else []),
               "changes"], rows, right=("group", "cosine", "jaccard"))
    if report.histogram is not None:
        histogram(report.histogram, report.histogram_of, report.threshold)
    kinds = [g.kind for g in report.groups]
    t = report.thresholds
    info(f"{len(kinds)} duplicate group(s): {kinds.count('exact')} exact, "
         f"{kinds.count('normalized')} normalized, {kinds.count('near-identical')} "
         f"near-identical (jaccard ≥ {t.near_identical:.2f}), {kinds.count('similar')} similar "
         f"(cosine ≥ {t.similar:.2f}); each member is at least that close to its group's "
         f"first; {report.briefs} brief(s) compared", quiet)


def dedupe_removals(removals: Sequence[Any], kinds: Sequence[str], dry_run: bool) -> None:
    """What a prune removes (or would), each with how close it is to the brief that stays:
    a result, so on stdout, and `-q` (no messages) does not hide it."""
    from .wordiff import summary

    verb = "would remove" if dry_run else "removed"
    lines = [f"{verb} {escape_name(r.path)} ({r.kind}: jaccard {r.jaccard:.3f}, cosine "
             f"{r.similarity:.3f} to {escape_name(r.keeps)}, which stays"
             + (f"; changes: {escape_name(summary(r.changes))}"
                if r.kind == "near-identical" else "") + ")" for r in removals]
    count = len({r.path for r in removals})
    lines.append(f"{verb} {count} brief(s) from {', '.join(kinds)} groups, keeping the oldest "
                 "of each" + (" (run with --no-dry-run to remove them)" if dry_run and count
                              else ""))
    _lines(lines)


def dedupe_held(paths: Sequence[str]) -> None:
    """Paths a prune leaves whose earlier versions no other brief holds (stdout: part of
    the prune's result)."""
    _lines([f"kept {escape_name(path)}: an earlier version of it holds text no brief that "
            "stays holds, and a prune removes every version; `briefmin rm` removes it anyway"
            for path in paths])


def dedupe_left(groups: Sequence[Any], kinds: Sequence[str]) -> None:
    """The groups a prune of `kinds` left, per kind, and how to remove them once read
    (stdout: part of the prune's result)."""
    why_of = {"exact": "the same bytes", "normalized": "the same text",
              "near-identical": "copies with small edits, or siblings of one template",
              "similar": "one meaning in other words"}
    left = Counter(g.kind for g in groups)
    _lines([f"left {count} {kind} group(s) ({why_of.get(kind, kind)}): read them; "
            f"--prune-kind {','.join([*kinds, kind])} would remove their members too"
            for kind, count in left.items()])


def _lines(lines: Sequence[str]) -> None:
    if lines:
        with writing():
            sys.stdout.write("".join(line + "\n" for line in lines))
            sys.stdout.flush()


def histogram(bins: Sequence[tuple[float, int]], of: str, threshold: float) -> None:
    """Bars on stdout, one per similarity bin, the threshold's bin marked."""
    width = bins[1][0] - bins[0][0] if len(bins) > 1 else 0.025
    peak = max((c for _, c in bins), default=0) or 1
    lines = [f"similarity of {of}:"]
    for k, (lo, count) in enumerate(bins):
        label = f"< {lo + width:.3f}" if k == 0 else f"{lo:.3f}-{lo + width:.3f}"
        bar = "█" * round(40 * count / peak) or ("▏" if count else "")
        mark = "  ← threshold" if lo <= threshold < lo + width or (
            k == len(bins) - 1 and threshold >= lo) else ""
        lines.append(f"{label:>13} │{bar:<40} {count}{mark}")
    with writing():
        sys.stdout.write("\n".join(lines) + "\n")
