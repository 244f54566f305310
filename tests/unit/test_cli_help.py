"""``--help`` reads cleanly: no RST markup, no ``<bool>`` beside seqoia's own flags."""

from __future__ import annotations

import subprocess
import sys

import typer.main
from typer._click.core import Context  # typer 0.29 vendors click
from typer.core import TyperGroup
from typer.testing import CliRunner

from seqoia.cli import LAZY_COMMANDS, app

#: typer's own options, whose display seqoia does not declare.
_BUILTIN = ("--help", "--install-completion", "--show-completion")


def _command_paths() -> list[list[str]]:
    paths: list[list[str]] = [[]]
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    context = Context(root)
    for name in root.list_commands(context):  # lazy commands too (seqoia.cli.LAZY_COMMANDS)
        command = root.get_command(context, name)
        assert command is not None, name
        paths.append([name])
        for sub in getattr(command, "commands", {}):
            paths.append([name, sub])
    return paths


def test_every_help_page_is_free_of_rst_and_of_bool_metavars() -> None:
    runner = CliRunner()
    checked = 0
    for path in _command_paths():
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "120"})
        assert result.exit_code == 0, (path, result.output)
        assert "``" not in result.output, path
        flagged = [
            line
            for line in result.output.splitlines()
            if "<bool>" in line and not any(name in line for name in _BUILTIN)
        ]
        assert flagged == [], path
        checked += 1
    assert checked > 15  # every command and the dlq subcommands were looked at


def test_every_lazy_command_loads_under_its_own_name_and_the_cli_imports_none_of_them() -> None:
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    context = Context(root)
    for name, _, _ in LAZY_COMMANDS:
        command = root.get_command(context, name)
        assert command is not None and command.name == name
    # A fresh interpreter: a worker's start-up imports none of the lazy commands' modules.
    modules = sorted({module for _, module, _ in LAZY_COMMANDS})
    probe = f"import sys, seqoia.cli; print([m for m in {modules!r} if m in sys.modules])"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr
