"""Rich tables of stage states: one run's or sample's stages, the active runs, a watched run.

Shared by ``seqoia status``, ``seqoia sample`` and ``seqoia watch`` (status.py).
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from seqoia.admin.state import RunState, StageState
from seqoia.commands.admin_common import human_duration, human_time

_STATE_STYLE = {
    "done": "green",
    "running": "cyan",
    "failed": "bold red",
    "retrying": "yellow",
    "due": "blue",
    "waiting": "dim",
    "blocked": "red",
}


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


def stage_table(title: str, states: list[StageState]) -> Table:
    """One row per stage and subject: state, generation, commit, note."""
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
        when = f"{human_time(s.committed_at)} · {s.worker or '-'} · {human_duration(s.duration_s)}"
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


def overview_table(runs: list[RunState], stage_names: list[str]) -> Table:
    """One row per active run: its outcome and each stage's done/total."""
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
            f" · age {human_duration(run.age_s)}"
            f" · turnaround {human_duration(run.turnaround_s)}"
        )
        table.add_row(run.run, about, _stages_cell(run.counts(), stage_names))
    return table


def watch_table(state: RunState) -> Table:
    """A watched run's stages: done/total, running, due, waiting, failed."""
    table = Table(
        title=f"run {state.run}: {state.outcome}, age {human_duration(state.age_s)}",
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
