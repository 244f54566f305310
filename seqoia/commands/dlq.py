"""``seqoia dlq list | show ID | requeue ID|--all | purge ID|--all``: the dead letters.

Each letter is joined with seqoia's failure record of its ``(stage, subject)``, which holds
the error of the last attempt (the broker's copy of a message that failed on its first
attempt carries no traceback). Requeueing a stage also clears that failure record and
reopens its runs, otherwise the runner would skip the same permanent failure again.
On ``memory://`` the dead letters live in the process that runs the workers: only a
process that attached its embedded workers can see them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.table import Table

from seqoia.admin.targets import runs_of
from seqoia.commands.admin_common import (
    DEFAULT,
    AdminInputError,
    JsonOption,
    PipelineOption,
    ReasonOption,
    attached_actors,
    audit_log,
    console,
    guarded,
    is_memory,
    print_json,
    require_reason,
    runtime_of,
)
from seqoia.engine.runtime import Runtime
from seqoia.workers.actors import declare_actors
from seqoia.workers.broker import build_broker
from seqoia.workers.deadletters import DeadLetter, DeadLetterQueues, dead_letter_queues

dlq_app = typer.Typer(help="Dead letters: messages the workers gave up on.", no_args_is_help=True)

IdArgument = Annotated[
    str | None, typer.Argument(metavar="[ID]", help="Letter id (a unique prefix is enough)")
]
AllOption = Annotated[bool, typer.Option("--all", metavar="", help="Every dead letter")]


@contextmanager
def _letters(ctx: typer.Context, pipeline: str) -> Iterator[tuple[Runtime, DeadLetterQueues]]:
    rt = runtime_of(ctx, pipeline)
    actors = attached_actors()
    owned = None
    if actors is None:
        if is_memory(rt.settings):
            typer.echo(
                "note: memory:// keeps dead letters inside the process running the workers; "
                "this process has none",
                err=True,
            )
        actors = owned = declare_actors(build_broker(rt.settings), rt)
    try:
        yield rt, dead_letter_queues(actors.broker, actors.queues())
    finally:
        if owned is not None:
            owned.broker.close()


def _joined(rt: Runtime, letters: list[DeadLetter]) -> list[DeadLetter]:
    for letter in letters:
        if letter.pair is not None and letter.pair[0] in rt.pipeline.stages:
            record = rt.failures.read(*letter.pair)  # validated; joined as its JSON
            letter.failure = record.model_dump(mode="json") if record else None
    return letters


def _chosen(queues: DeadLetterQueues, ident: str | None, every: bool) -> list[DeadLetter]:
    if every == (ident is not None):
        raise AdminInputError("give one letter ID or --all")
    return queues.letters() if every else [queues.find(ident)]  # type: ignore[arg-type]


@dlq_app.command("list")
@guarded
def list_letters(
    ctx: typer.Context, pipeline: PipelineOption = DEFAULT, json_output: JsonOption = False
) -> None:
    """Every dead letter: queue, actor, arguments, when it died, the error."""
    with _letters(ctx, pipeline) as (rt, queues):
        letters = _joined(rt, queues.letters())
    if json_output:
        print_json([d.to_json() for d in letters])
        return
    table = Table(title=f"dead letters ({len(letters)})", title_justify="left")
    for column in ("id", "queue", "actor", "arguments", "died", "retries", "error"):
        table.add_column(column, overflow="fold")
    for d in letters:
        data = d.to_json()
        table.add_row(
            d.id[:12],
            d.queue,
            d.actor,
            " ".join(map(str, d.args[:2])),
            data["dead_at"] or "-",
            str(data["retries"]),
            d.error.splitlines()[0][:100] if d.error else "",
        )
    console().print(table)


@dlq_app.command("show")
@guarded
def show(
    ctx: typer.Context,
    ident: Annotated[
        str, typer.Argument(metavar="ID", help="Letter id (a unique prefix is enough)")
    ],
    pipeline: PipelineOption = DEFAULT,
    json_output: JsonOption = False,
) -> None:
    """One dead letter in full: the message, seqoia's failure record and the traceback."""
    with _letters(ctx, pipeline) as (rt, queues):
        letter = _joined(rt, [queues.find(ident)])[0]
    data = letter.to_json(full=True)
    if json_output:
        print_json(data)
        return
    out = console()
    out.print(
        f"[bold]{letter.id}[/bold] on queue {letter.queue}: {letter.actor}{tuple(letter.args)}"
    )
    out.print(f"died: {data['dead_at'] or 'unknown'}; retries: {data['retries']}")
    if letter.failure:
        f = letter.failure
        out.print(
            f"failure record: {f.get('error_type', '')} at {f.get('at', '?')} "
            f"on {f.get('worker', '?')}, "
            f"{'permanent' if f.get('permanent') else 'transient'}"
        )
    out.print("error:", letter.error, markup=False)
    out.print("traceback:", markup=False)
    out.print(letter.traceback or "(none recorded)", markup=False, highlight=False)


@dlq_app.command("requeue")
@guarded
def requeue(
    ctx: typer.Context,
    ident: IdArgument = None,
    every: AllOption = False,
    reason: ReasonOption = None,
    pipeline: PipelineOption = DEFAULT,
) -> None:
    """Send dead letters again (their stage's failure record is cleared first)."""
    reason = require_reason(reason)
    with _letters(ctx, pipeline) as (rt, queues):
        letters = _joined(rt, _chosen(queues, ident, every))
        for letter in letters:
            if letter.pair is not None and letter.pair[0] in rt.pipeline.stages:
                stage, subject = letter.pair
                rt.failures.reopen(
                    [letter.pair], runs_of(rt, rt.pipeline.stages[stage].kind, subject)
                )
        done = queues.requeue(letters)
    audit_log(rt).record(
        "dlq requeue",
        ident or "all",
        reason,
        triggered={"requeued": [[d.id, d.actor, *map(str, d.args[:2])] for d in done]},
    )
    typer.echo(f"requeued {len(done)} dead letter(s)")


@dlq_app.command("purge")
@guarded
def purge(
    ctx: typer.Context,
    ident: IdArgument = None,
    every: AllOption = False,
    reason: ReasonOption = None,
    pipeline: PipelineOption = DEFAULT,
) -> None:
    """Delete dead letters for good (failure records stay: status still shows the failure)."""
    reason = require_reason(reason)
    with _letters(ctx, pipeline) as (rt, queues):
        done = queues.remove(_chosen(queues, ident, every))
    audit_log(rt).record(
        "dlq purge",
        ident or "all",
        reason,
        triggered={"purged": [[d.id, d.actor, *map(str, d.args[:2])] for d in done]},
    )
    typer.echo(f"purged {len(done)} dead letter(s)")
