"""Rendering: rich tables and messages for people, one JSON document for machines.

Messages and progress go to stderr; results go to stdout, so `--json` output and pipes stay
clean. When stdout is not a terminal, tables print as tab-separated lines for grep and cut."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

stderr = Console(stderr=True, highlight=False)


def stdout() -> Console:
    # built per call so tests that swap sys.stdout (CliRunner) are honoured
    return Console(file=sys.stdout, highlight=False, soft_wrap=True)


def emit_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()


def info(text: str, quiet: bool = False) -> None:
    if not quiet:
        stderr.print(text, markup=False, soft_wrap=True)


def warn(text: str) -> None:
    stderr.print(f"[yellow]briefmin: warning:[/] {escape(text)}", soft_wrap=True)


def error(text: str) -> None:
    stderr.print(f"[bold red]briefmin: error:[/] {escape(text)}", soft_wrap=True)


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None,
          right: Sequence[str] = ()) -> None:
    console = stdout()
    if not console.is_terminal:
        for row in rows:
            sys.stdout.write("\t".join(escape_name(c) for c in row) + "\n")
        sys.stdout.flush()
        return
    grid = Table(title=title, header_style="bold")
    for column in columns:
        grid.add_column(column, justify="right" if column in right else "left")
    for row in rows:
        grid.add_row(*(escape(escape_name(c)) for c in row))
    console.print(grid)


def escape_name(value: Any) -> str:
    """Names may hold newlines or tabs: show them escaped so one brief stays one line."""
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


@contextmanager
def progress(total: int | None, description: str, quiet: bool) -> Iterator[Any]:
    """A progress bar on stderr (count, rate, elapsed); yields `advance(n)`."""
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
