"""``seqoia gc``: remove superseded generations' files and orphan attempts (admin/gc.py)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from seqoia.admin.gc import DEFAULT_GRACE_S, Collector, human_bytes, summary_line
from seqoia.commands.admin_common import (
    DEFAULT,
    JsonOption,
    PipelineOption,
    ReasonOption,
    audit_log,
    console,
    guarded,
    print_json,
    require_reason,
    runtime_of,
)


@guarded
def gc(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", metavar="", help="Report, delete nothing")
    ] = False,
    keep: Annotated[int, typer.Option(help="Generations kept per stage and subject", min=1)] = 1,
    grace: Annotated[
        float, typer.Option(help="Spare anything younger than this (seconds)", min=0)
    ] = DEFAULT_GRACE_S,
    reason: ReasonOption = None,
    pipeline: PipelineOption = DEFAULT,
    json_output: JsonOption = False,
) -> None:
    """Remove superseded generations' files and orphan attempts; manifests and the outbox stay."""
    reason = require_reason(reason, dry_run=dry_run)
    rt = runtime_of(ctx, pipeline)
    report = Collector(rt.manifests).collect(keep=keep, grace_s=grace, dry_run=dry_run)
    if not dry_run:
        audit_log(rt).record(
            "gc",
            rt.layout.work,
            reason,
            params={"keep": keep, "grace_s": grace},
            triggered={
                "objects": report.objects,
                "bytes": report.bytes,
                "attempts": [[c.stage, c.subject, c.attempt] for c in report.collected],
            },
        )
    if json_output:
        print_json(report.to_json())
        return
    if report.collected:
        table = Table(
            title="attempts " + ("to remove" if dry_run else "removed"), title_justify="left"
        )
        for column in ("stage", "subject", "attempt", "why", "objects", "size"):
            table.add_column(column)
        for c in report.collected:
            table.add_row(
                c.stage, c.subject, c.attempt, c.why, str(c.objects), human_bytes(c.bytes)
            )
        console().print(table)
    typer.echo(summary_line(report))
