"""``seqoia validate``: check a run folder (or a sample sheet alone) before it is processed.

Prints a readable report, or the :class:`~seqoia.illumina.validation.ValidationReport` as
JSON with ``--json``. Errors are printed as ``file:line: message`` so that editors and
terminals can jump to them. Everything printed comes from the files checked, so it goes
through :func:`~seqoia.commands.printable.printable` (no terminal escape sequence from a
sample sheet reaches the screen) and JSON is written in ASCII.

Exit codes: 0 valid, 1 not valid (bad input, always reported as a message, never a
traceback), 2 the check itself failed (a bug in seqoia: one line names the error).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from seqoia.commands.printable import printable
from seqoia.errors import InputError
from seqoia.illumina.validation import Issue, ValidationReport, validate_path

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_FAILED = 2


def _safe(text: str) -> str:
    """For rich: control characters escaped, then markup."""
    return escape(printable(text))


def validate(
    path: Annotated[Path, typer.Argument(help="A run folder, or a SampleSheet.csv on its own.")],
    json_output: Annotated[
        bool, typer.Option("--json", metavar="", help="Print the report as JSON.")
    ] = False,
) -> None:
    """Check a run folder's RunInfo.xml, RunParameters.xml, sample sheet and data files."""
    try:
        report = validate_path(path)
    except InputError as err:  # the parsers collect their errors; this is a safety net
        report = ValidationReport(
            path=str(path),
            ok=False,
            errors=[Issue(file=err.file or path.name, line=err.line, message=err.message)],
        )
    except Exception as err:  # noqa: BLE001 - a bug: one clean line, not a traceback
        typer.echo(
            printable(f"seqoia validate: the check failed ({type(err).__name__}: {err}); "
                      "this is a bug in seqoia, not a verdict on the run"),
            err=True,
        )  # fmt: skip
        raise typer.Exit(code=EXIT_FAILED) from None
    if json_output:
        typer.echo(json.dumps(report.model_dump(mode="json"), indent=2, ensure_ascii=True))
    else:
        print_report(report, Console(highlight=False, soft_wrap=True))
    raise typer.Exit(code=EXIT_VALID if report.ok else EXIT_INVALID)


def print_report(report: ValidationReport, console: Console) -> None:
    """Render a report for people: verdict, summary, then errors and warnings."""
    name = report.run_id or Path(report.path).name
    verdict = "[green]valid[/green]" if report.ok else "[red]NOT valid[/red]"
    console.print(f"[bold]{_safe(name)}[/bold]: {verdict}")
    summary = report.summary
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="dim")
    table.add_column()
    table.add_row("samples", str(summary.samples))
    table.add_row("lanes", str(summary.lanes))
    if summary.reads:
        table.add_row("reads", printable(summary.reads))
    if summary.sample_sheet_version:
        table.add_row("sample sheet", f"v{summary.sample_sheet_version}")
    if summary.data:
        table.add_row("data", printable(summary.data))
    console.print(table)
    if report.errors:
        console.print(f"[red bold]{len(report.errors)} error(s)[/red bold]")
        for issue in report.errors:
            console.print(f"  [red]{_safe(str(issue))}[/red]")
    if report.warnings:
        console.print(f"[yellow]{len(report.warnings)} warning(s)[/yellow]")
        for issue in report.warnings:
            console.print(f"  [yellow]{_safe(str(issue))}[/yellow]")
