"""What the admin commands share: runtime, one-line errors, times, where messages go.

**Where messages go.** Admin commands change the store (overrides, failure records, done
marks) and then nudge the workers with ``run_stage`` messages:

- on ``redis://`` and ``amqp://`` they are sent to the shared broker, and the cluster's
  workers run them;
- on ``memory://`` the queues live inside one process. When a process has attached its
  embedded workers (:func:`attached`, as tests and embedding applications do), messages go
  to them and dead letters are read from them; otherwise the command starts embedded
  workers itself and runs the stages in this process until they are idle (a ``seqoia up``
  elsewhere would also pick the work up at its next reconciling pass, since the store
  says it is due).
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

import typer
from rich.console import Console

from seqoia.admin.audit import AuditLog
from seqoia.engine.runtime import DEFAULT_PIPELINE, Runtime, build_runtime
from seqoia.errors import SeqoiaError
from seqoia.settings import Settings
from seqoia.storage.counting import CountingStore
from seqoia.workers.actors import Actors, declare_actors
from seqoia.workers.broker import build_broker
from seqoia.workers.embedded import EmbeddedWorkers

P = ParamSpec("P")
R = TypeVar("R")

PipelineOption = Annotated[str, typer.Option("--pipeline", help="Pipeline, as module:attribute")]
JsonOption = Annotated[
    bool, typer.Option("--json", metavar="", help="Print JSON instead of tables")
]
ReasonOption = Annotated[
    str | None,
    typer.Option("--reason", help="Why (required for changes; written to the audit log)"),
]
DEFAULT = DEFAULT_PIPELINE

_attached: list[Actors] = []


@contextmanager
def attached(actors: Actors) -> Iterator[Actors]:
    """Within this block, admin commands in this process use ``actors``' broker."""
    _attached.append(actors)
    try:
        yield actors
    finally:
        _attached.remove(actors)


def attached_actors() -> Actors | None:
    return _attached[-1] if _attached else None


class AdminInputError(SeqoiaError):
    """A mistaken command line (missing --reason, conflicting options)."""


def guarded(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn seqoia's errors into one line on stderr and exit code 2 (nothing was changed)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except SeqoiaError as err:
            text = " ".join(str(err).split()) or type(err).__name__
            typer.echo(f"error: {text}", err=True)
            raise typer.Exit(2) from None

    return wrapper


def require_reason(reason: str | None, *, dry_run: bool = False) -> str:
    """The ``--reason`` of a command that changes things (not needed for a dry run)."""
    if dry_run:
        return reason or ""
    if not reason or not reason.strip():
        raise AdminInputError("--reason is required for a command that changes things")
    return reason.strip()


def settings_of(ctx: typer.Context) -> Settings:
    settings: Settings = ctx.obj
    return settings


def runtime_of(ctx: typer.Context, pipeline: str, *, counting: bool = False) -> Runtime:
    """The runtime for a command; with ``counting``, its store counts requests."""
    runtime = build_runtime(settings_of(ctx), pipeline)
    if counting:
        return Runtime(runtime.settings, CountingStore(runtime.store), runtime.pipeline)
    return runtime


def audit_log(runtime: Runtime) -> AuditLog:
    return AuditLog(runtime.store, runtime.layout)


def console() -> Console:
    # Resolved per call, so that a test runner's captured stdout is the one written to.
    # A terminal's (or COLUMNS') width is honoured, tables fold to fit; a pipe gets 100.
    probe = Console(file=sys.stdout)
    if probe.is_terminal or os.environ.get("COLUMNS"):
        return probe
    return Console(file=sys.stdout, width=max(100, probe.width))


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=1, default=str))


def human_duration(seconds: float | None) -> str:
    """A duration as people read it (``45 s``, ``12 min``, ``3 h 05``, ``2 d 4 h``), or ``-``."""
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


def human_time(at: datetime | None) -> str:
    """A moment in UTC to the second, ``-`` if unknown."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if at else "-"


def is_memory(settings: Settings) -> bool:
    return urlsplit(settings.broker_url).scheme == "memory"


class Dispatch:
    """Sends ``run_stage`` nudges for a command (see the module docstring for memory://)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.embedded: EmbeddedWorkers | None = None
        self.owned = False
        actors = attached_actors()
        if actors is None and is_memory(runtime.settings):
            self.embedded = EmbeddedWorkers(runtime)
            self.embedded.worker.start()
            actors = self.embedded.actors
        elif actors is None:
            actors = declare_actors(build_broker(runtime.settings), runtime)
            self.owned = True
        self.actors = actors
        self.sent: list[tuple[str, str]] = []

    def enqueue(self, stage: str, subject: str, reason: str) -> None:
        self.actors.enqueue_stage(stage, subject, reason)
        self.sent.append((stage, subject))

    def finish(self, timeout_s: float = 24 * 3600.0) -> None:
        """Close the broker we opened; on a private memory:// broker, run until idle."""
        if self.embedded is not None:
            try:
                if self.sent:
                    self.embedded.wait_idle(timeout_s)
            finally:
                self.embedded.stop()
        elif self.owned:
            self.actors.broker.close()

    def __enter__(self) -> Dispatch:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:  # failing: do not run anything, just let go
            if self.embedded is not None:
                self.embedded.stop()
            elif self.owned:
                self.actors.broker.close()
            return
        self.finish()


def where_it_runs(runtime: Runtime) -> str:
    """One line for the user: who will run what was enqueued."""
    if attached_actors() is not None:
        return "sent to this process's embedded workers"
    if is_memory(runtime.settings):
        return "memory:// broker: ran in this process until idle"
    return f"sent to {urlsplit(runtime.settings.broker_url).scheme}:// workers"
