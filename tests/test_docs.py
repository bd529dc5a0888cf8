"""The README is the user's manual: every command and every option of every command appears
in it, so a new flag cannot ship undocumented."""

from __future__ import annotations

import re

import click
import typer.main

from briefmin.cli import app

from .conftest import ROOT


def _commands() -> dict[str, click.Command]:
    group = typer.main.get_command(app)
    assert isinstance(group, click.Group)
    return dict(group.commands)


def test_every_command_and_option_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = []
    commands = _commands()
    assert len(commands) >= 10
    for name, command in commands.items():
        if not re.search(rf"briefmin {re.escape(name)}\b", readme):
            missing.append(f"command {name}")
        for param in command.params:
            for flag in param.opts if isinstance(param, click.Option) else ():
                if flag.startswith("--") and flag != "--help" and \
                        not re.search(rf"{re.escape(flag)}(?![\w-])", readme):
                    missing.append(f"{name} {flag}")
    assert missing == []
