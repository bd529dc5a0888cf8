"""The `briefmin` command's entry point. It only imports the CLI, so that a Ctrl-C while
typer, click and the CLI's modules are still loading (a few hundred milliseconds on a cold
start) ends the way one during a command does: one line and exit 130, not a traceback."""

from __future__ import annotations

import signal
import sys


def main() -> int:
    # first, before the CLI's imports: a process that inherited SIGINT ignored (a job started
    # with `&` from a non-interactive shell) lost a `kill -INT` sent in those ~0.4 s, and ran
    # to its end with exit 0. The CLI's main does the same (for callers that skip this one)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    try:
        from .cli import main as run_cli

        status = run_cli()
    except KeyboardInterrupt:  # before the CLI's own handling took over, or after it ended
        sys.stderr.write("briefmin: error: interrupted\n")
        status = 130  # errors.ExitStatus.INTERRUPTED, not imported: it may be what was cut short
    # the outcome is decided and said: a Ctrl-C from here to the process's end (its exit
    # takes ~20 ms) killed it by SIGINT, with no line said and status -2 to its caller
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return status
