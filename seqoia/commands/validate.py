"""``seqoia validate``: check a run folder (or a sample sheet alone) before it is processed.

Prints a readable report, or the :class:`~seqoia.illumina.validation.ValidationReport` as
JSON with ``--json``; exits 0 when the run is valid and 1 when it is not. Errors are
printed as ``file:line: message`` so that editors and terminals can jump to them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from seqoia.illumina.validation import ValidationReport, validate_path


def validate(
    path: Annotated[Path, typer.Argument(help="A run folder, or a SampleSheet.csv on its own.")],
    json_output: Annotated[
        bool, typer.Option("--json", metavar="", help="Print the report as JSON.")
    ] = False,
) -> None:
    """Check a run folder's RunInfo.xml, RunParameters.xml, sample sheet and data files."""
    report = validate_path(path)
    if json_output:
        typer.echo(report.model_dump_json(indent=2))
    else:
        print_report(report, Console(highlight=False, soft_wrap=True))
    raise typer.Exit(code=0 if report.ok else 1)


def print_report(report: ValidationReport, console: Console) -> None:
    """Render a report for people: verdict, summary, then errors and warnings."""
    name = report.run_id or Path(report.path).name
    verdict = "[green]valid[/green]" if report.ok else "[red]NOT valid[/red]"
    console.print(f"[bold]{escape(name)}[/bold]: {verdict}")
    summary = report.summary
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="dim")
    table.add_column()
    table.add_row("samples", str(summary.samples))
    table.add_row("lanes", str(summary.lanes))
    if summary.reads:
        table.add_row("reads", summary.reads)
    if summary.sample_sheet_version:
        table.add_row("sample sheet", f"v{summary.sample_sheet_version}")
    if summary.data:
        table.add_row("data", summary.data)
    console.print(table)
    if report.errors:
        console.print(f"[red bold]{len(report.errors)} error(s)[/red bold]")
        for issue in report.errors:
            console.print(f"  [red]{escape(str(issue))}[/red]")
    if report.warnings:
        console.print(f"[yellow]{len(report.warnings)} warning(s)[/yellow]")
        for issue in report.warnings:
            console.print(f"  [yellow]{escape(str(issue))}[/yellow]")
