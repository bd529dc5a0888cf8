"""The `briefmin` command's entry point. It only imports the CLI, so that a Ctrl-C while
typer, click and the CLI's modules are still loading (a few hundred milliseconds on a cold
start) ends the way one during a command does: one line and exit 130, not a traceback."""

from __future__ import annotations

import sys


def main() -> int:
    try:
        from .cli import main as run_cli

        return run_cli()
    except KeyboardInterrupt:  # before the CLI's own handling took over, or after it ended
        sys.stderr.write("briefmin: error: interrupted\n")
        return 130  # errors.ExitStatus.INTERRUPTED, not imported: it may be what was cut short
