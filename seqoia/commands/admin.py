"""Admin commands: status, sample, reprocess, retry, lineage, watch, gc and audit.

Listings print Rich tables, or JSON with ``--json``. Commands that change anything need
``--reason`` and append an audit record (who, when, what, why, what it triggered). A
mistaken or hostile argument (unknown target, stage name with a typo, parameter that
fails its model) prints one line on stderr, exits with code 2 and changes nothing: every
name and value is checked before the first write. ``seqoia dlq`` lives in ``dlq.py``.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.live import Live
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from seqoia.admin.audit import current_user
from seqoia.admin.gc import DEFAULT_GRACE_S, Collector, human_bytes, summary_line
from seqoia.admin.lineage import LineageNode, LineageReader
from seqoia.admin.reprocess import Reprocessor, parse_assignments
from seqoia.admin.retry import find_failures, retry_failures
from seqoia.admin.state import RunState, StageState, StateReader
from seqoia.admin.targets import resolve_stage, resolve_subject, resolve_target
from seqoia.commands.admin_common import (
    DEFAULT,
    AdminInputError,
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
from seqoia.commands.dlq import dlq_app
from seqoia.engine.runtime import Runtime
from seqoia.storage.counting import CountingStore

__all__ = ["ADMIN_COMMANDS", "dlq_app"]

_STATE_STYLE = {
    "done": "green",
    "running": "cyan",
    "failed": "bold red",
    "retrying": "yellow",
    "due": "blue",
    "waiting": "dim",
    "blocked": "red",
}


# -- formatting ---------------------------------------------------------------------------
def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d}"
    return f"{seconds // 86400} d {seconds % 86400 // 3600} h"


def _when(at: datetime | None) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if at else "-"


def _note(state: StageState) -> str:
    if state.failure:
        return state.failure.headline(120) or "failed"
    if state.state in ("waiting", "blocked"):
        return "waiting for " + "; ".join(state.waiting_for)[:120]
    if state.state == "running" and state.lease:
        pending = " (completing publication)" if state.publication_pending else ""
        return f"on {state.lease.get('worker', '?')}{pending}"
    parts = []
    if state.qc_passed is not None:
        failed = ", ".join(state.qc_failed_checks)
        parts.append("QC passed" if state.qc_passed else f"QC FAILED: {failed or '?'}")
    if state.composition:
        parts.append(state.composition[:120])
    if state.stale:
        parts.append("stale: a new generation is due")
    if state.publication_pending:
        parts.append("publication pending: committed, its files not all published yet")
    if state.reason and state.reason.startswith(("reprocess", "retry", "dlq")):
        parts.append(state.reason[:80])  # an admin's action, not a routine event
    return "; ".join(parts)


def _state_cell(state: StageState) -> Text:
    """The state word; a committed QC gate that failed the sample says so, in red."""
    if state.state == "done" and state.qc_passed is False:
        return Text("done, QC failed", style="bold red")
    return Text(state.state, style=_STATE_STYLE.get(state.state, ""))


def _stage_table(title: str, states: list[StageState]) -> Table:
    # Stage names never wrap; ids and free text fold onto more lines, whole (a run id cut
    # with an ellipsis is useless), and the note takes what room is left.
    table = Table(title=title, title_justify="left")
    table.add_column("stage", no_wrap=True)
    table.add_column("subject", overflow="fold", ratio=2)
    table.add_column("state", overflow="fold")
    table.add_column("gen", overflow="fold")
    table.add_column("committed · worker · took", overflow="fold", ratio=2)
    table.add_column("note", overflow="fold", ratio=3)
    for s in states:
        when = f"{_when(s.committed_at)} · {s.worker or '-'} · {_duration(s.duration_s)}"
        table.add_row(
            s.stage,
            s.subject,
            _state_cell(s),
            str(s.generation or "-"),
            when if s.committed_at else "-",
            _note(s),
        )
    return table


def _counts_cell(counts: dict[str, int]) -> Text:
    total = sum(counts.values())
    text = Text(f"{counts.get('done', 0)}/{total}")
    for state, mark in (
        ("running", "▶"),
        ("failed", "✗"),
        ("retrying", "↻"),
        ("due", "…"),
        ("blocked", "⊘"),
    ):
        if counts.get(state):
            text.append(f" {mark}{counts[state]}", style=_STATE_STYLE[state])
    return text


def _stages_cell(counts: dict[str, dict[str, int]], stage_names: list[str]) -> Text:
    """Every stage's ``name done/total`` in one cell that wraps between stages.

    One column per stage cut every header at 80-120 columns; this cell folds instead.
    """
    text = Text()
    for name in stage_names:
        if name not in counts:
            continue
        if text:
            text.append("  ")
        text.append(f"{name} ", style="bold")
        text.append_text(_counts_cell(counts[name]))
    return text


def _outcome_cell(run: RunState) -> Text:
    """The run's outcome; samples that the QC gate failed are counted beside ``done``."""
    text = Text(run.outcome, style=_STATE_STYLE.get(run.outcome, ""))
    failed = run.qc_failed_samples
    if failed:
        text.append(f", {len(failed)} QC failed", style="bold red")
    return text


def _overview_table(runs: list[RunState], stage_names: list[str]) -> Table:
    table = Table(
        title="active runs (done/total per stage; ▶ running ✗ failed ↻ retrying … due ⊘ blocked)",
        title_justify="left",
    )
    table.add_column("run", no_wrap=True)
    table.add_column(
        "outcome · priority · centres · samples · age · turnaround", overflow="fold", ratio=1
    )
    table.add_column("stages", overflow="fold", ratio=2)
    for run in runs:
        about = _outcome_cell(run)
        if run.priority != "routine":
            about.append(f" · {run.priority}", style="bold magenta")
        about.append(
            f" · {','.join(run.centres) or '-'} · {len(run.samples)} sample(s)"
            f" · age {_duration(run.age_s)}"
            f" · turnaround {_duration(run.turnaround_s)}"
        )
        table.add_row(run.run, about, _stages_cell(run.counts(), stage_names))
    return table


def _requests(rt: Runtime) -> int:
    """Store requests made so far by a runtime opened with ``counting=True``."""
    return rt.store.requests if isinstance(rt.store, CountingStore) else 0


# -- status, sample, watch ----------------------------------------------------------------
@guarded
def status(
    ctx: typer.Context,
    run: Annotated[
        str | None, typer.Argument(help="One run in detail (default: every active run)")
    ] = None,
    pipeline: PipelineOption = DEFAULT,
    json_output: JsonOption = False,
) -> None:
    """Where active runs stand (per stage: done, running, failed, waiting), or one run in detail.

    Only runs not yet finished are read (the inbox minus runs marked done), so the cost
    follows the active work. --json includes the number of store requests made.
    """
    rt = runtime_of(ctx, pipeline, counting=True)
    started = time.perf_counter()
    reader = StateReader(rt)
    if run is not None:
        state = reader.run(resolve_subject(rt, "run", run))
        elapsed = time.perf_counter() - started
        if json_output:
            print_json(state.to_json() | {"store_requests": _requests(rt), "elapsed_s": elapsed})
            return
        out = console()
        out.print(
            f"run {state.run} ({state.priority}): {state.outcome}; {len(state.samples)} sample(s), "
            f"{len(state.families)} family(ies); age {_duration(state.age_s)}, "
            f"turnaround {_duration(state.turnaround_s)}"
        )
        out.print(_stage_table(f"run {state.run}", state.stages))
        _print_awaiting(state.awaiting_release)
        return
    runs = reader.overview()
    elapsed = time.perf_counter() - started
    if json_output:
        print_json(
            {
                "runs": [r.summary_json() for r in runs],
                "store_requests": _requests(rt),
                "elapsed_s": elapsed,
            }
        )
        return
    if not runs:
        typer.echo("no active runs")
        return
    console().print(_overview_table(runs, list(rt.pipeline.stages)))
    _print_centres(runs)
    _print_awaiting([sample for r in runs for sample in r.awaiting_release])


def _print_centres(runs: list[RunState]) -> None:
    """Per centre, active samples and their running and due stages: fairness at a glance."""
    totals: dict[str, Counter[str]] = {}
    for run in runs:
        for centre, counts in run.by_centre().items():
            totals.setdefault(centre, Counter()).update(counts)
    if len(totals) > 1:
        console().print(
            "centres: "
            + "; ".join(
                f"{centre} {c['samples']} sample(s), {c['running']} running, {c['due']} due"
                for centre, c in sorted(totals.items())
            )
        )


def _print_awaiting(samples: list[str]) -> None:
    """Reports a biologist has to sign off (the pipeline stops at the review area)."""
    if samples:
        console().print(
            f"awaiting release: {', '.join(samples)} "
            "(seqoia release SAMPLE|family:F --by NAME --reason TEXT)"
        )


@guarded
def sample(
    ctx: typer.Context,
    sample_id: Annotated[str, typer.Argument(metavar="SAMPLE", help="Sample id")],
    pipeline: PipelineOption = DEFAULT,
    json_output: JsonOption = False,
) -> None:
    """One sample in detail: each stage's generation, state, when, worker, duration, failure, QC."""
    rt = runtime_of(ctx, pipeline)
    state = StateReader(rt).sample(resolve_subject(rt, "sample", sample_id))
    if json_output:
        print_json(state.to_json())
        return
    console().print(
        _stage_table(
            f"sample {state.sample} (runs: {', '.join(state.runs) or '-'}; "
            f"families: {', '.join(state.families) or '-'})",
            state.stages,
        )
    )
    if state.release is not None:
        console().print(f"release: {state.release.describe()}")


@guarded
def watch(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="Run id")],
    pipeline: PipelineOption = DEFAULT,
    timeout: Annotated[float | None, typer.Option(help="Give up after this many seconds")] = None,
    interval: Annotated[float, typer.Option(help="Seconds between looks at the store")] = 2.0,
) -> None:
    """Follow a run live until it is done (exit 0) or failed (exit 1); --timeout: exit 3."""
    rt = runtime_of(ctx, pipeline)
    run = resolve_subject(rt, "run", run)
    reader = StateReader(rt)
    deadline = time.monotonic() + timeout if timeout else None
    out = console()
    state = reader.run(run)
    with Live(_watch_view(state), console=out, refresh_per_second=4, transient=False) as live:
        while state.outcome not in ("done", "failed"):
            if deadline is not None and time.monotonic() >= deadline:
                break
            time.sleep(interval)
            state = reader.run(run)
            live.update(_watch_view(state))
    if state.outcome == "done":
        out.print(f"run {run} is done (turnaround {_duration(state.turnaround_s)})")
        return
    if state.outcome == "failed":
        failed = [f"{s.stage}/{s.subject}" for s in state.stages if s.state == "failed"]
        out.print(f"run {run} failed: {', '.join(failed) or 'blocked'}")
        raise typer.Exit(1)
    out.print(f"run {run} still {state.outcome} after {timeout:.0f} s")
    raise typer.Exit(3)


def _watch_view(state: RunState) -> Table:
    table = Table(
        title=f"run {state.run}: {state.outcome}, age {_duration(state.age_s)}",
        title_justify="left",
    )
    table.add_column("stage")
    table.add_column("done/total")
    for column in ("running", "due", "waiting", "failed"):
        table.add_column(column)
    for stage, counts in state.counts().items():
        table.add_row(
            stage,
            _counts_cell(counts),
            str(counts.get("running", 0)),
            str(counts.get("due", 0) + counts.get("retrying", 0)),
            str(counts.get("waiting", 0)),
            str(counts.get("failed", 0) + counts.get("blocked", 0)),
        )
    return table


# -- reprocess, retry -----------------------------------------------------------------------
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


# -- lineage ----------------------------------------------------------------------------------
@guarded
def lineage(
    ctx: typer.Context,
    key: Annotated[
        str, typer.Argument(help="Object key in the work area, the outbox or the inbox")
    ],
    pipeline: PipelineOption = DEFAULT,
    json_output: JsonOption = False,
) -> None:
    """Where a file came from: the chain of manifests back to the run folder."""
    rt = runtime_of(ctx, pipeline)
    report = LineageReader(rt).of_key(key)
    if json_output:
        print_json(report.to_json())
        return
    head = report.key
    if report.file is not None:
        head += f"  sha256 {report.file.sha256}  {report.file.size} bytes"
    tree = Tree(head)
    shown: set[str] = set()
    for node in report.roots:
        _lineage_branch(tree, node, shown)
    console().print(tree)


def _lineage_branch(parent: Tree, node: LineageNode, shown: set[str]) -> None:
    """One generation; ``shown`` holds tool lists already printed (one chain shares them)."""
    m = node.manifest
    if m is None:
        parent.add(Text(f"{node.key}: manifest missing", style="red"))
        return
    label = Text(f"{m.stage}/{m.subject} g{m.generation}", style="bold")
    label.append(f"  attempt {m.attempt}  {_when(m.finished_at)} on {m.worker}")
    if node.repeated:
        label.append("  (shown above)", style="dim")
        parent.add(label)
        return
    branch = parent.add(label)
    branch.add(f"reason: {m.reason}")
    branch.add(f"stage version {m.stage_version}; fingerprint {m.fingerprint[:16]}")
    if m.parameters:
        branch.add("parameters: " + ", ".join(f"{k}={v!r}" for k, v in m.parameters.items()))
    if m.tools:
        tools = ", ".join(f"{k} {v}" for k, v in m.tools.items())
        branch.add("tools: same as above" if tools in shown else f"tools: {tools}")
        shown.add(tools)
    if m.reference is not None:
        branch.add(f"reference: {m.reference.key} (etag {m.reference.etag})")
    if node.consumed:
        files = branch.add("files read from it:")
        for ref in node.consumed:
            files.add(f"{ref.name}  sha256 {ref.sha256}  {ref.size} bytes")
    if node.sources:
        above = f", {node.sources_shown_above} more shown above" if node.sources_shown_above else ""
        sources = branch.add(f"run folder: {len(node.sources)} object(s){above}")
        for ref in node.sources[:10]:
            sources.add(f"{ref.key}  etag {ref.etag}  {ref.size} bytes")
        if len(node.sources) > 10:
            sources.add(f"... {len(node.sources) - 10} more (--json lists 20)")
    elif node.sources_shown_above:
        branch.add(f"run folder: {node.sources_shown_above} object(s), shown above")
    for upstream in node.inputs:
        _lineage_branch(branch, upstream, shown)


# -- gc, audit --------------------------------------------------------------------------------
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


def _parse_since(text: str) -> datetime:
    """``7d``, ``12h``, ``30m``, or an ISO date/time (UTC when no zone is given)."""
    units = {"d": "days", "h": "hours", "m": "minutes"}
    if text[:-1].isdigit() and text[-1:] in units:
        return datetime.now(UTC) - timedelta(**{units[text[-1]]: int(text[:-1])})
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise AdminInputError(
            f"--since {text!r}: use 7d, 12h, 30m or an ISO date such as 2025-01-31"
        ) from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


@guarded
def audit(
    ctx: typer.Context,
    since: Annotated[
        str | None, typer.Option(help="Only records since: 7d, 12h, or an ISO date")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many records", min=1)] = 50,
    pipeline: PipelineOption = DEFAULT,
    json_output: JsonOption = False,
) -> None:
    """The audit log of admin actions, newest first."""
    rt = runtime_of(ctx, pipeline)
    records = audit_log(rt).records(since=_parse_since(since) if since else None, limit=limit)
    if json_output:
        print_json([r.to_json() for r in records])
        return
    table = Table(title=f"audit log ({len(records)})", title_justify="left")
    for column in ("when", "who", "command", "target", "reason", "triggered"):
        table.add_column(column, overflow="fold")
    for r in records:
        table.add_row(_when(r.at), r.who, r.command, r.target, r.reason, _triggered(r.triggered))
    console().print(table)


def _triggered(triggered: dict[str, Any]) -> str:
    parts = []
    for name, value in triggered.items():
        parts.append(f"{name}: {len(value)}" if isinstance(value, list) else f"{name}: {value}")
    return "; ".join(parts)


ADMIN_COMMANDS = (status, sample, reprocess, retry, lineage, watch, gc, audit)
