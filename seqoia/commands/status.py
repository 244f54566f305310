"""``seqoia status``, ``seqoia sample`` and ``seqoia watch``: where runs and samples stand.

They only read the store; the tables are drawn by state_tables.py.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Annotated

import typer
from rich.live import Live

from seqoia.admin.state import RunState, StateReader
from seqoia.admin.targets import resolve_subject
from seqoia.commands.admin_common import (
    DEFAULT,
    JsonOption,
    PipelineOption,
    console,
    guarded,
    human_duration,
    print_json,
    runtime_of,
)
from seqoia.commands.state_tables import overview_table, stage_table, watch_table
from seqoia.engine.runtime import Runtime
from seqoia.storage.counting import CountingStore


def _requests(rt: Runtime) -> int:
    """Store requests made so far by a runtime opened with ``counting=True``."""
    return rt.store.requests if isinstance(rt.store, CountingStore) else 0


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
            f"{len(state.families)} family(ies); age {human_duration(state.age_s)}, "
            f"turnaround {human_duration(state.turnaround_s)}"
        )
        out.print(stage_table(f"run {state.run}", state.stages))
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
    console().print(overview_table(runs, list(rt.pipeline.stages)))
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
        stage_table(
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
    with Live(watch_table(state), console=out, refresh_per_second=4, transient=False) as live:
        while state.outcome not in ("done", "failed"):
            if deadline is not None and time.monotonic() >= deadline:
                break
            time.sleep(interval)
            state = reader.run(run)
            live.update(watch_table(state))
    if state.outcome == "done":
        out.print(f"run {run} is done (turnaround {human_duration(state.turnaround_s)})")
        return
    if state.outcome == "failed":
        failed = [f"{s.stage}/{s.subject}" for s in state.stages if s.state == "failed"]
        out.print(f"run {run} failed: {', '.join(failed) or 'blocked'}")
        raise typer.Exit(1)
    out.print(f"run {run} still {state.outcome} after {timeout:.0f} s")
    raise typer.Exit(3)
