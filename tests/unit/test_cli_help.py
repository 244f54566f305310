"""``--help`` reads cleanly: no RST markup, no ``<bool>`` beside seqoia's own flags."""

from __future__ import annotations

import typer.main
from typer.testing import CliRunner

from seqoia.cli import app

#: typer's own options, whose display seqoia does not declare.
_BUILTIN = ("--help", "--install-completion", "--show-completion")


def _command_paths() -> list[list[str]]:
    paths: list[list[str]] = [[]]
    root = typer.main.get_command(app)
    for name, command in root.commands.items():  # type: ignore[attr-defined]
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
