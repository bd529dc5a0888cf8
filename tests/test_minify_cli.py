"""`briefmin minify` on the command line: where it may write, which named paths fail the run,
what it says, and Ctrl-C at start-up (an audit's findings)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from briefmin.errors import ExitStatus

from .conftest import ROOT

# -- 4. Ctrl-C at start-up -------------------------------------------------------------------

def test_sigint_while_the_cli_loads_exits_130_even_when_inherited_ignored() -> None:
    """A job started with `&` by a non-interactive shell inherits SIGINT ignored; the CLI
    took SIGINT back only once its modules had loaded (~0.4 s), and a `kill -INT` before
    that was lost: the run went on to exit 0. Here the signal comes exactly while the CLI's
    module is being imported (a stand-in that signals itself), so no timing is involved."""
    program = textwrap.dedent("""
        import os, signal, sys, types

        class LoadingCli(types.ModuleType):
            def __getattr__(self, name):
                if name != "main":
                    raise AttributeError(name)
                os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the CLI loads
                return lambda: 0

        sys.modules["briefmin.cli"] = LoadingCli("briefmin.cli")
        from briefmin.launch import main
        sys.exit(main())
    """)
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False,
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert done.returncode == ExitStatus.INTERRUPTED, done.stderr
    assert done.stderr == b"briefmin: error: interrupted\n"
