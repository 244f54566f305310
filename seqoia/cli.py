"""The ``seqoia`` command: the laboratory's interface to its pipeline.

Settings are read once here (environment ``SEQOIA_*``, overridden by global options) and
passed down. Each group of commands lives in ``seqoia/commands/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from seqoia.commands.admin import ADMIN_COMMANDS, dlq_app
from seqoia.commands.demo import demo
from seqoia.commands.demux import demux
from seqoia.commands.doctor import doctor
from seqoia.commands.engine import config, intake, notify, reconcile, up, worker
from seqoia.commands.outputs import outputs
from seqoia.commands.release import release
from seqoia.commands.validate import validate
from seqoia.errors import SeqoiaError
from seqoia.logs import configure_logging
from seqoia.settings import load_settings

app = typer.Typer(
    name="seqoia",
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
app.command("validate")(validate)

app.command("demux")(demux)
app.command("demo")(demo)
app.command("doctor")(doctor)
for admin_command in ADMIN_COMMANDS:
    app.command()(admin_command)
app.command()(outputs)
app.command()(release)
app.add_typer(dlq_app, name="dlq")


def run() -> None:
    """Console entry point: one-line errors and exit code 2 for seqoia's own errors."""
    try:
        app()
    except SeqoiaError as err:
        typer.echo(f"error: {err}", err=True)
        raise SystemExit(2) from err


if __name__ == "__main__":
    run()
