"""``seqoia reprocess`` and ``seqoia retry``: run stages again, with a reason on the audit log.

Every name and value is checked before the first write; the nudges go out through
``Dispatch`` (admin_common.py says where they run).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from seqoia.admin.audit import current_user
from seqoia.admin.reprocess import Reprocessor, parse_assignments
from seqoia.admin.retry import find_failures, retry_failures
from seqoia.admin.targets import resolve_stage, resolve_subject, resolve_target
from seqoia.commands.admin_common import (
    DEFAULT,
    Dispatch,
    JsonOption,
    PipelineOption,
    ReasonOption,
    audit_log,
    console,
    guarded,
    print_json,
    require_reason,
    runtime_of,
    where_it_runs,
)


@guarded
def reprocess(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="RUN, SAMPLE, FAMILY, kind:ID or STAGE/SUBJECT")],
    from_stage: Annotated[
        str | None, typer.Option("--from", help="Rerun this stage and everything downstream")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", metavar="", help="New generation even with unchanged inputs")
    ] = False,
    assignments: Annotated[
        list[str] | None, typer.Option("--set", help="STAGE.PARAM=VALUE (repeatable)")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", metavar="", help="Print what would run, change nothing")
    ] = False,
    reason: ReasonOption = None,
    pipeline: PipelineOption = DEFAULT,
    json_output: JsonOption = False,
) -> None:
    """Run a run, sample, family or one stage again, and everything that depends on it.

    Parameters set with --set stay in force for that subject (they are the subject's
    overrides). On memory:// the stages run in this process until idle; on redis:// or
    amqp:// the cluster's workers run them.
    """
    reason = require_reason(reason, dry_run=dry_run)
    rt = runtime_of(ctx, pipeline)
    resolved = resolve_target(rt, target)
    values = parse_assignments(rt, assignments or [])
    reprocessor = Reprocessor(rt)
    plan = reprocessor.plan(resolved, from_stage=from_stage, force=force, assignments=values)
    if json_output:
        print_json(plan.to_json() | {"dry_run": dry_run})
    else:
        table = Table(
            title=f"{'would run' if dry_run else 'runs'} ({len(plan.changes)})",
            title_justify="left",
        )
        for column in ("stage", "subject", "why", "sent now"):
            table.add_column(column, overflow="fold")
        for change in plan.changes:
            table.add_row(
                change.stage,
                change.subject,
                change.why,
                "yes" if change.first else "after upstream",
            )
        out = console()
        out.print(table)
        skipped = [u for u in plan.unchanged if u[2] != "up to date"]
        for stage, subject, why in skipped:
            out.print(f"not run: {stage}/{subject}: {why}")
    if dry_run:
        return
    user, host = current_user()
    with Dispatch(rt) as dispatch:
        sent = reprocessor.apply(plan, dispatch.enqueue, f"reprocess by {user}@{host}: {reason}")
        audit_log(rt).record(
            "reprocess",
            str(resolved),
            reason,
            params={"from": from_stage, "force": force, "set": values},
            triggered={
                "runs": [[c.stage, c.subject] for c in plan.changes],
                "enqueued": [list(p) for p in sent],
                "runs_reopened": plan.runs,
            },
        )
        if not json_output:
            typer.echo(f"enqueued {len(sent)} stage(s); {where_it_runs(rt)}")


@guarded
def retry(
    ctx: typer.Context,
    run: Annotated[str | None, typer.Option(help="Only this run's failures")] = None,
    stage: Annotated[str | None, typer.Option(help="Only this stage's failures")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", metavar="", help="List, change nothing")
    ] = False,
    reason: ReasonOption = None,
    pipeline: PipelineOption = DEFAULT,
    json_output: JsonOption = False,
) -> None:
    """Retry failed stages (all, one run's, one stage's): clear their failure and run them again."""
    reason = require_reason(reason, dry_run=dry_run)
    rt = runtime_of(ctx, pipeline)
    if run is not None:
        run = resolve_subject(rt, "run", run)
    if stage is not None:
        stage = resolve_stage(rt.pipeline, stage).name
    failures = find_failures(rt, run=run, stage=stage)
    if json_output:
        print_json({"dry_run": dry_run, "failures": [f.to_json() for f in failures]})
    else:
        table = Table(title=f"failed stages ({len(failures)})", title_justify="left")
        for column in ("stage", "subject", "when", "error", "retry"):
            table.add_column(column, overflow="fold")
        for f in failures:
            data = f.to_json()
            table.add_row(
                f.stage,
                f.subject,
                str(data["at"] or "-"),
                data["error"],
                "yes" if f.current else "stale record",
            )
        console().print(table)
    if dry_run:
        return
    user, host = current_user()
    with Dispatch(rt) as dispatch:
        sent = retry_failures(rt, failures, dispatch.enqueue, f"retry by {user}@{host}: {reason}")
        audit_log(rt).record(
            "retry",
            f"run {run}" if run else "all runs",
            reason,
            params={"run": run, "stage": stage},
            triggered={
                "enqueued": [list(p) for p in sent],
                "cleared": [[f.stage, f.subject] for f in failures],
            },
        )
        if not json_output:
            typer.echo(f"enqueued {len(sent)} stage(s); {where_it_runs(rt)}")
