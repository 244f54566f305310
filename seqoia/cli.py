"""The ``seqoia`` command: the laboratory's interface to its pipeline.

Settings are read once here (environment ``SEQOIA_*``, overridden by global options) and
passed down. Each group of commands lives in ``seqoia/commands/``.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Annotated

import typer
import typer.main
from typer._click.core import Command, Context  # typer 0.29 vendors click
from typer.core import TyperGroup

from seqoia.commands.doctor import doctor
from seqoia.commands.engine import config, intake, notify, reconcile, up, worker
from seqoia.errors import SeqoiaError
from seqoia.logs import configure_logging
from seqoia.settings import load_settings

#: Commands whose module is imported only when one of them runs or help lists them, as
#: (command, module, attribute): a worker started to replace a dead one should not spend
#: its first second importing the admin tools, PDF reports and demultiplexer.
LAZY_COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("validate", "seqoia.commands.validate", "validate"),
    ("demux", "seqoia.commands.demux", "demux"),
    ("demo", "seqoia.commands.demo", "demo"),
    *((name, "seqoia.commands.status", name) for name in ("status", "sample")),
    *((name, "seqoia.commands.reprocess", name) for name in ("reprocess", "retry")),
    ("lineage", "seqoia.commands.lineage", "lineage"),
    ("watch", "seqoia.commands.status", "watch"),
    ("gc", "seqoia.commands.gc", "gc"),
    ("audit", "seqoia.commands.audit", "audit"),
    ("outputs", "seqoia.commands.outputs", "outputs"),
    ("release", "seqoia.commands.release", "release"),
    ("dlq", "seqoia.commands.dlq", "dlq_app"),
    ("notifications", "seqoia.commands.notifications", "notifications"),
)


class _LazyCommands(TyperGroup):
    """The root group: adds a lazy command the first time it is asked for."""

    def list_commands(self, ctx: Context) -> list[str]:
        eager = super().list_commands(ctx)
        return eager + [name for name, _, _ in LAZY_COMMANDS if name not in eager]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in {name for name, _, _ in LAZY_COMMANDS}:
            command = load_command(cmd_name)
            self.add_command(command, cmd_name)
        return command


def load_command(name: str) -> Command:
    """Import a lazy command's module and build its click command."""
    module, attribute = next((m, a) for n, m, a in LAZY_COMMANDS if n == name)
    target = getattr(importlib.import_module(module), attribute)
    if isinstance(target, typer.Typer):
        group = typer.main.get_group(target)
        group.name = name  # as add_typer(name=...) would
        return group
    single = typer.Typer()
    single.command(name)(target)
    return typer.main.get_command(single)


app = typer.Typer(
    name="seqoia",
    cls=_LazyCommands,
    help="Clinical genome sequencing pipelines: run folders in, FHIR reports and CRAM/VCF out.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(
    ctx: typer.Context,
    store: Annotated[str | None, typer.Option(help="Store URL (SEQOIA_STORE_URL)")] = None,
    broker: Annotated[str | None, typer.Option(help="Broker URL (SEQOIA_BROKER_URL)")] = None,
    scratch: Annotated[
        Path | None, typer.Option(help="Scratch folder (SEQOIA_SCRATCH_DIR)")
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", metavar="", help="Log at INFO level")
    ] = False,
    log_json: Annotated[
        bool, typer.Option("--log-json", metavar="", help="Log JSON lines (SEQOIA_LOG_JSON)")
    ] = False,
) -> None:
    """Global options apply to every command."""
    try:
        ctx.obj = load_settings(
            store_url=store, broker_url=broker, scratch_dir=scratch, log_json=log_json or None
        )
    except Exception as err:  # pydantic's ValidationError: bad environment or option
        typer.echo(f"error: invalid configuration: {err}", err=True)
        raise typer.Exit(2) from err
    configure_logging(verbose=verbose, json_lines=ctx.obj.log_json)


for command in (up, worker, intake, reconcile, notify, config):
    app.command()(command)
app.command("doctor")(doctor)


def run() -> None:
    """Console entry point: one-line errors and exit code 2 for seqoia's own errors."""
    try:
        app()
    except SeqoiaError as err:
        typer.echo(f"error: {err}", err=True)
        raise SystemExit(2) from err


if __name__ == "__main__":
    run()
