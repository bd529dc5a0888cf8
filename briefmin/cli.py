"""The `briefmin` command: parse arguments, call the library, render the result.

No SQL and no vector maths here. Every command goes through `@command`, the one place that
turns a BriefminError into its one-line message and exit code."""

from __future__ import annotations

import functools
import os
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import click
import typer

from . import output
from .archive import AddReport, Archive, BriefRecord
from .errors import BriefminError, ExitStatus, UsageError
from .sources import (
    DEFAULT_INCLUDE,
    DEFAULT_MAX_BYTES,
    iter_sources,
    read_path_list,
    read_queries,
)

app = typer.Typer(
    name="briefmin", no_args_is_help=True, add_completion=False,
    pretty_exceptions_enable=False, rich_markup_mode=None,
    help="Archive folders of text briefs: byte-exact storage, semantic search, dedupe, minify.",
)

F = TypeVar("F", bound=Callable[..., Any])

ArchiveArg = Annotated[Path, typer.Argument(help="The archive file (.bmin).",
                                            show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No messages on stderr.")]
WaitOpt = Annotated[float, typer.Option(
    "--wait", min=0, help="Seconds to wait for another briefmin writing the archive.")]
VersionOpt = Annotated[int | None, typer.Option("--version", min=1,
                                                help="Version N instead of the latest.")]


def command(name: str | None = None) -> Callable[[F], F]:
    """Register a command whose expected failures become a message and an exit code."""
    def register(func: F) -> F:
        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except BriefminError as exc:
                output.error(str(exc))
                raise typer.Exit(int(exc.exit_status)) from None
            except sqlite3.DatabaseError as exc:
                # a damaged archive can fail in any query; never show a traceback for it
                output.error(f"archive is damaged or unreadable ({exc}); run `briefmin verify`")
                raise typer.Exit(int(ExitStatus.ARCHIVE)) from None
            except KeyboardInterrupt:
                output.error("interrupted; everything committed before stays in the archive")
                raise typer.Exit(int(ExitStatus.INTERRUPTED)) from None

        app.command(name)(run)
        return func
    return register


def _waiting(archive: Path, quiet: bool) -> Callable[[], None]:
    return lambda: output.info(f"waiting for another briefmin writing {archive}…", quiet)


# -- add -------------------------------------------------------------------------------------

@command("add")
def add_command(
    archive: ArchiveArg,
    paths: Annotated[list[str] | None, typer.Argument(
        help="Files, folders (recursive) or - for one brief on stdin.", show_default=False)]
        = None,
    from_file: Annotated[str | None, typer.Option(
        "--from", help="Read a newline-separated path list from FILE (- = stdin).")] = None,
    name: Annotated[str, typer.Option(help="Archive name for the brief read from stdin.")]
        = "stdin.txt",
    include: Annotated[list[str] | None, typer.Option(
        help=f"Glob of folder members to take (default: {' '.join(DEFAULT_INCLUDE)}).")]
        = None,
    exclude: Annotated[list[str] | None, typer.Option(help="Glob of paths to leave out.")]
        = None,
    model: Annotated[str | None, typer.Option(
        help="Model for a new archive: a sentence-transformers name or folder "
             "(default: the bundled all-MiniLM-L6-v2).")] = None,
    max_size: Annotated[int, typer.Option(
        "--max-size", min=1, help="Skip files larger than this many bytes.")]
        = DEFAULT_MAX_BYTES,
    wait: WaitOpt = 3600.0,
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Name each brief on stderr once it is committed.")] = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Add briefs to ARCHIVE (created if missing). Unchanged files cost no model load; a
    changed file becomes a new version."""
    inputs = list(paths or [])
    if from_file is not None:
        inputs += read_path_list(from_file)
    if not inputs:
        raise UsageError("nothing to add: give files, folders, - (stdin) or --from FILE")
    if inputs.count("-") + (from_file == "-") > 1:
        raise UsageError("stdin can be read only once: use - or --from - , not both")
    sources = list(iter_sources(inputs, include=include or DEFAULT_INCLUDE,
                                exclude=exclude or (), stdin_name=name, max_bytes=max_size))
    with Archive.open(archive, write=True, create=True, model=model, wait=wait,
                      on_wait=_waiting(archive, quiet)) as arch, \
            output.progress(len(sources), "adding", quiet or json_out) as advance:
        report = arch.add(sources, progress=advance,
                          on_commit=_print_committed if verbose else None)
    _render_add(report, json_out, quiet)


def _print_committed(names: list[str]) -> None:
    for name in names:
        output.info(f"committed {output.escape_name(name)}")


def _render_add(report: AddReport, json_out: bool, quiet: bool) -> None:
    for skipped in report.skipped:
        if not quiet and not json_out:
            output.warn(f"skipped {output.escape_name(skipped.name)}: {skipped.reason}")
    for path, encoding in report.fallback_decoded:
        if not quiet and not json_out:
            output.warn(f"{path} is not UTF-8; stored byte-exact, decoded as {encoding} "
                        "for the model")
    if json_out:
        output.emit_json(report.to_json())
        return
    output.info(
        f"added {len(report.added)}, new versions {len(report.new_versions)}, "
        f"unchanged {report.unchanged}, skipped {len(report.skipped)}; "
        f"{output.human_bytes(report.bytes_in)} in, "
        f"{output.human_bytes(report.bytes_stored)} stored", quiet)


# -- search ----------------------------------------------------------------------------------

@command("search")
def search_command(
    archive: ArchiveArg,
    query: Annotated[str | None, typer.Argument(help="What to look for, in plain words.",
                                                show_default=False)] = None,
    k: Annotated[int, typer.Option("-k", help="How many briefs to show (1 or more).")] = 10,
    min_score: Annotated[float | None, typer.Option(
        "--min-score", help="Hide hits whose cosine score is below this (-1 to 1).")] = None,
    queries: Annotated[str | None, typer.Option(
        "--queries", help="Read one query per line from FILE (- = stdin).")] = None,
    all_versions: Annotated[bool, typer.Option(
        "--all-versions", help="Search older versions too.")] = False,
    exact: Annotated[bool, typer.Option(
        "--exact", help="Rescore every vector instead of Hamming candidates (slower).")]
        = False,
    model: Annotated[str | None, typer.Option(
        help="Refuse unless the archive was made with this model.")] = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Semantic search: the briefs whose meaning is closest to QUERY, best first."""
    from .search import check_k, search_texts

    check_k(k)
    if min_score is not None and not -1.0 <= min_score <= 1.0:
        raise UsageError(f"--min-score must be between -1 and 1, not {min_score}")
    if (query is None) == (queries is None):
        raise UsageError("give one QUERY, or --queries FILE (one query per line), not both")
    texts = [query] if query is not None else read_queries(queries or "-")
    with Archive.open(archive, model=model) as arch:
        results = search_texts(arch, texts, k, min_score=min_score, all_versions=all_versions,
                               exact=exact)
    if json_out:
        output.emit_json([h.to_json() for h in results[0]] if query is not None else
                         [{"query": q, "hits": [h.to_json() for h in hits]}
                          for q, hits in zip(texts, results, strict=True)])
        return
    for text, hits in zip(texts, results, strict=True):
        if queries is not None:
            output.info(f"query: {text}", quiet)
        output.table(["score", "path", "snippet"],
                     [[f"{h.score:.3f}", h.path + ("" if h.version == 1 else f"@{h.version}"),
                       h.snippet] for h in hits], right=("score",))
        if not hits:
            output.info("no matching briefs", quiet)


# -- restore ---------------------------------------------------------------------------------

@command("restore")
def restore_command(
    archive: ArchiveArg,
    selectors: Annotated[list[str] | None, typer.Argument(
        help="Paths, folders, globs or sha256 prefixes (default: everything).",
        show_default=False)] = None,
    to: Annotated[Path | None, typer.Option("--to", help="Recreate the briefs under DIR.")]
        = None,
    to_stdout: Annotated[bool, typer.Option("--stdout", help="Write the bytes to stdout.")]
        = False,
    version: VersionOpt = None,
    force: Annotated[bool, typer.Option(help="Overwrite existing files under DIR.")] = False,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Restore briefs byte-exact (sha256-checked) into a folder or to stdout."""
    if (to is None) == (not to_stdout):
        raise UsageError("say where to restore: --to DIR or --stdout (one of them)")
    with Archive.open(archive) as arch:
        records = arch.records(selectors or [], version=version)
        if to_stdout:
            for record in records:
                sys.stdout.buffer.write(arch.read(record))
            sys.stdout.buffer.flush()
            return
        assert to is not None
        written = arch.restore(records, to, force=force)
    if json_out:
        output.emit_json([{**r.to_json(), "restored_to": str(p)}
                          for r, p in zip(records, written, strict=True)])
    else:
        output.info(f"restored {len(written)} brief(s) into {to}, sha256 checked", quiet)


# -- ls / info / verify / rm -----------------------------------------------------------------

@command("ls")
def ls_command(
    archive: ArchiveArg,
    selectors: Annotated[list[str] | None, typer.Argument(
        help="Only briefs matching these paths, folders, globs or sha256 prefixes.",
        show_default=False)] = None,
    all_versions: Annotated[bool, typer.Option("--all-versions",
                                               help="One row per version.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """List archived briefs: path, versions, size, stored size, when added."""
    with Archive.open(archive) as arch:
        records = arch.records(selectors or [], all_versions=all_versions)
    if json_out:
        output.emit_json([r.to_json() for r in records])
        return
    output.table(["path", "version", "versions", "size", "stored", "added", "sha256"],
                 [_ls_row(r) for r in records], right=("version", "versions", "size",
                                                        "stored"))


def _ls_row(record: BriefRecord) -> list[Any]:
    return [record.path, record.version, record.versions, record.size, record.stored_size,
            record.added_at, record.sha256[:12]]


@command("info")
def info_command(archive: ArchiveArg, json_out: JsonOpt = False) -> None:
    """Counts, sizes (text / vectors / other), ratio, model and quantization."""
    with Archive.open(archive) as arch:
        info = arch.info()
    if json_out:
        output.emit_json(info)
        return
    hb = output.human_bytes
    output.table(["", ""], [
        ["briefs", f"{info['briefs']} ({info['versions']} versions, "
                   f"{info['unique_contents']} unique contents)"],
        ["raw", hb(info["raw_bytes"])],
        ["stored", f"{hb(info['stored_bytes'])} (text {hb(info['text_bytes'])}, vectors "
                   f"{hb(info['vector_bytes'])}, other {hb(info['other_bytes'])})"],
        ["ratio", f"{info['ratio']:.2f}x"],
        ["model", f"{info['model']} ({info['dim']} dimensions)"],
        ["chunking", f"{info['chunking']['tokens']} tokens, overlap "
                     f"{info['chunking']['overlap']}"],
        ["vectors", f"{info['vectors']}: binary {info['quantization']['binary_bits']} bits + "
                    f"int8 (step {info['quantization']['int8_step']:.5f})"],
        ["format", f"{info['format_version']}, created {info['created_at']}"],
    ], title=str(archive))


@command("verify")
def verify_command(archive: ArchiveArg, json_out: JsonOpt = False,
                   quiet: QuietOpt = False) -> None:
    """Check SQLite integrity, every stored item's sha256, and vector counts. Exit 1 when
    anything is damaged."""
    with Archive.open(archive) as arch:
        report = arch.verify()
    if json_out:
        output.emit_json(report.to_json())
    elif report.ok:
        output.info(f"ok: {report.checked} stored item(s) intact"
                    + (f"; {report.orphaned_items} orphaned" if report.orphaned_items else "")
                    + (f"; {output.human_bytes(report.reclaimable_bytes)} reclaimable"
                       if report.reclaimable_bytes else ""), quiet)
    else:
        output.table(["damaged brief", "problem"],
                     [[", ".join(p.paths) or "-", p.message] for p in report.problems])
        output.info(f"{len(report.problems)} problem(s) found", quiet)
    if not report.ok:
        raise typer.Exit(int(ExitStatus.FINDINGS))


@command("rm")
def rm_command(
    archive: ArchiveArg,
    selectors: Annotated[list[str], typer.Argument(
        help="Paths, folders, globs or sha256 prefixes to remove.", show_default=False)],
    version: VersionOpt = None,
    wait: WaitOpt = 3600.0,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Remove briefs (every version, or just --version N) and reclaim their space."""
    with Archive.open(archive, write=True, wait=wait, on_wait=_waiting(archive, quiet)) as arch:
        removed = arch.rm(selectors, version=version)
    if json_out:
        output.emit_json([r.to_json() for r in removed])
    else:
        output.info(f"removed {len(removed)} version(s) of "
                    f"{len({r.path for r in removed})} brief(s)", quiet)


def main(argv: list[str] | None = None) -> int:
    """Entry point for `briefmin` and `python -m briefmin`."""
    try:
        result = app(args=argv, prog_name="briefmin", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        return int(ExitStatus.USAGE)
    except click.exceptions.Abort:
        output.error("interrupted")
        return int(ExitStatus.INTERRUPTED)
    except KeyboardInterrupt:
        return int(ExitStatus.INTERRUPTED)
    except BrokenPipeError:
        # the reader went away (`briefmin ls A | head -1`): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return int(ExitStatus.OK)
    return int(result) if isinstance(result, int) else int(ExitStatus.OK)
