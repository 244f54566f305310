"""Observing stage attempts: the stage runner's hook for logs and metrics.

``StageRunner.execute`` runs inside ``observer.attempt(stage, subject)``, which yields an
:class:`AttemptWatch`. The runner tells the watch when the attempt really starts running
(after planning and the lease), how many bytes it moved, and the outcome; an exception
leaving the block is a failure, permanent or transient by the error's ``permanent``.

The base :class:`StageObserver` only binds the log context (stage, subject, attempt);
:class:`StageMetrics` records seqoia's stage metrics and, after a commit, the metrics that
need the manifest: the QC gate's verdicts and failures per check, and the turnaround from
the run's completion marker to the first commit of the delivery stage. Which stage is the
gate or the delivery, how to read a verdict and which files mark a run complete are the
pipeline's declarations (``role``, ``gate``, ``markers``): the engine knows no stage by
name. A metric must never fail a stage: those lookups are guarded and logged.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqoia import metrics as m
from seqoia.engine.priority import PRIORITIES
from seqoia.errors import StageBusyError
from seqoia.logs import bind, log_context
from seqoia.storage.manifest import Manifest

if TYPE_CHECKING:
    from seqoia.engine.runner import Outcome
    from seqoia.engine.runtime import Runtime
    from seqoia.tasks.stage import GateVerdict, Pipeline

log = logging.getLogger(__name__)

#: The parts of an attempt's CPU time (a bounded label): the stage process itself, the
#: tools it ran, and the worker's thread around it (downloads, checksums, uploads, commit).
CPU_PARTS = ("stage", "tools", "worker")


def delivery_stage(pipeline: Pipeline) -> str:
    """The stage declared ``role="delivery"``, else the pipeline's last declared stage."""
    stage = pipeline.with_role("delivery")
    return stage.name if stage is not None else list(pipeline.stages)[-1]


def bytes_under(folder: Path) -> int:
    """Total size of the files below ``folder`` (what an attempt downloaded)."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            with suppress(OSError):
                total += os.stat(os.path.join(root, name)).st_size
    return total


class AttemptWatch:
    """One ``execute`` call, as the runner reports it."""

    def __init__(self, stage: str, subject: str) -> None:
        self.stage = stage
        self.subject = subject
        self.attempt: str | None = None
        self.started: float | None = None
        self.read_bytes = 0
        self.written_bytes = 0
        #: CPU seconds by part ("stage", "tools", "worker"), as the runner measured them.
        self.cpu_s: dict[str, float] = {}

    def running(self, attempt: str) -> None:
        """The attempt starts to run (planned, due, leased)."""
        self.attempt = attempt
        self.started = time.monotonic()
        bind(attempt=attempt)

    def read(self, n_bytes: int) -> None:
        self.read_bytes += n_bytes

    def wrote(self, n_bytes: int) -> None:
        self.written_bytes += n_bytes

    def used_cpu(self, part: str, seconds: float) -> None:
        """``seconds`` of CPU spent by ``part`` of the attempt (see ``CPU_PARTS``)."""
        self.cpu_s[part] = self.cpu_s.get(part, 0.0) + seconds

    def finished(self, outcome: Outcome) -> None:
        """The call returned ``outcome``."""

    def failed(self, err: BaseException) -> None:
        """The call raised ``err``."""

    def close(self) -> None:
        """Always called last."""


class StageObserver:
    """Binds the log context of each attempt; records nothing."""

    watch_class: type[AttemptWatch] = AttemptWatch

    @contextmanager
    def attempt(self, stage: str, subject: str, *, reason: str = "") -> Iterator[AttemptWatch]:
        watch = self.new_watch(stage, subject)
        with log_context(stage=stage, subject=subject, reason=reason or None):
            try:
                yield watch
            except BaseException as err:
                watch.failed(err)
                raise
            finally:
                watch.close()

    def new_watch(self, stage: str, subject: str) -> AttemptWatch:
        return AttemptWatch(stage, subject)


class _MetricsWatch(AttemptWatch):
    def __init__(self, observer: StageMetrics, stage: str, subject: str) -> None:
        super().__init__(stage, subject)
        self.observer = observer
        self.outcome: str | None = None
        self.priority, self.centre = observer.describe(stage, subject)

    def running(self, attempt: str) -> None:
        super().running(attempt)
        self.observer.series(self.stage, self.priority).in_flight.inc()
        if self.centre is not None:
            m.metrics().centre_stages_in_flight.labels(self.centre).inc()

    def finished(self, outcome: Outcome) -> None:
        self.outcome = outcome.kind
        if outcome.kind == "committed" and outcome.manifest is not None:
            self.observer.committed(outcome.manifest)

    def failed(self, err: BaseException) -> None:
        if isinstance(err, StageBusyError):
            self.outcome = "busy"
        elif getattr(err, "handover", False):  # the worker's interrupt (seqoia.workers)
            self.outcome = "handed_over"
        elif getattr(err, "permanent", False):
            self.outcome = "failed_permanent"
        else:
            self.outcome = "failed_transient"

    def close(self) -> None:
        series = self.observer.series(self.stage, self.priority)
        if self.started is not None:
            series.in_flight.dec()
            if self.centre is not None:
                m.metrics().centre_stages_in_flight.labels(self.centre).dec()
            series.duration.observe(time.monotonic() - self.started)
        if self.read_bytes:
            series.bytes_read.inc(self.read_bytes)
        if self.written_bytes:
            series.bytes_written.inc(self.written_bytes)
        for part, seconds in self.cpu_s.items():
            if part in CPU_PARTS and seconds > 0:
                series.metrics.stage_cpu.labels(self.stage, part).inc(seconds)
        # No outcome and no exception: a BaseException such as a worker shutdown.
        series.outcome(self.outcome or "failed_transient").inc()


class _StageSeries:
    """One (stage, priority)'s labelled metric children, looked up once, not per attempt."""

    def __init__(self, metrics: m.SeqoiaMetrics, stage: str, priority: str) -> None:
        self.metrics = metrics
        self.stage = stage
        self.priority = priority
        self.in_flight = metrics.stages_in_flight.labels(stage, priority)
        self.duration = metrics.stage_duration.labels(stage, priority)
        self.bytes_read = metrics.stage_bytes_read.labels(stage)
        self.bytes_written = metrics.stage_bytes_written.labels(stage)
        self._outcomes: dict[str, Any] = {}

    def outcome(self, outcome: str) -> Any:
        child = self._outcomes.get(outcome)
        if child is None:
            child = self._outcomes[outcome] = self.metrics.stage_outcomes.labels(
                self.stage, outcome, self.priority
            )
        return child


class StageMetrics(StageObserver):
    """Records stage metrics for one runtime's pipeline."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.delivery = delivery_stage(runtime.pipeline)
        self.gate = runtime.pipeline.with_role("qc_gate")
        self._series: dict[tuple[str, str], _StageSeries] = {}
        initialise_stage_series(runtime.pipeline, centres=sorted(runtime.settings.centres))

    def new_watch(self, stage: str, subject: str) -> AttemptWatch:
        return _MetricsWatch(self, stage, subject)

    def describe(self, stage: str, subject: str) -> tuple[str, str | None]:
        """``(priority, centre)`` of the stage's subject (cached lookups); never raises."""
        try:
            kind = self.rt.pipeline[stage].kind
            return self.rt.priorities.describe(kind, subject)
        except Exception:  # noqa: BLE001 - a metric label must not fail a stage
            log.debug("no priority for %s/%s", stage, subject, exc_info=True)
            return "routine", None

    def series(self, stage: str, priority: str = "routine") -> _StageSeries:
        """The (stage, priority)'s metric children, from the process's current metrics."""
        metrics = m.metrics()
        found = self._series.get((stage, priority))
        if found is None or found.metrics is not metrics:
            found = self._series[(stage, priority)] = _StageSeries(metrics, stage, priority)
        return found

    def committed(self, manifest: Manifest) -> None:
        """Metrics read from a fresh commit; never raises."""
        try:
            if self.gate is not None and self.gate.gate and manifest.stage == self.gate.name:
                verdict = self.gate.gate.verdict(manifest.summary)
                if verdict is not None:
                    record_gate_verdict(verdict)
            if manifest.stage == self.delivery and manifest.generation == 1:
                # Only the first delivery: a reprocessing months later is not a turnaround.
                seconds = self.turnaround_s(manifest)
                if seconds is not None:
                    m.metrics().turnaround.observe(seconds)
        except Exception:  # noqa: BLE001 - a metric must not fail a committed stage
            log.exception("could not record commit metrics of %s", manifest.stage)

    def turnaround_s(self, manifest: Manifest) -> float | None:
        """Seconds from the latest completion marker of the subject's run(s) to the commit."""
        runs = (
            [manifest.subject]
            if manifest.subject_kind == "run"
            else self.rt.manifests.related(manifest.subject_kind, manifest.subject, "run")
        )
        completed = [c for c in (self.completion_time(run) for run in runs) if c is not None]
        if not completed:
            return None
        return max(0.0, (manifest.finished_at - max(completed)).total_seconds())

    def completion_time(self, run: str) -> datetime | None:
        return run_completed_at(self.rt, run)


def initialise_stage_series(pipeline: Pipeline, *, centres: list[str] | None = None) -> None:
    """Create every (stage, outcome) series at zero, so that ``rate()`` sees the first one.

    A counter series that appears with the value 1 has no increase to show: the first
    failure of a stage would be invisible to the failure-ratio alert. The label sets are
    bounded (stages x outcomes), so they can all exist from the start.
    """
    metrics = m.metrics()
    for stage in pipeline.stages:
        for priority in PRIORITIES:
            for outcome in m.STAGE_OUTCOMES:
                metrics.stage_outcomes.labels(stage, outcome, priority)
            metrics.stage_duration.labels(stage, priority)
            metrics.stages_in_flight.labels(stage, priority)
    # The configured centres (bounded): per centre, and per routine queue for deferrals.
    for centre in centres or []:
        metrics.centre_stages_in_flight.labels(centre)
        for queue in pipeline.queues():
            metrics.fair_share_deferrals.labels(queue, centre)
        metrics.stage_bytes_read.labels(stage)
        metrics.stage_bytes_written.labels(stage)
    gate = pipeline.with_role("qc_gate")
    if gate is not None and gate.gate is not None:
        for verdict in ("passed", "failed"):
            metrics.qc_verdicts.labels(verdict)
        for check in gate.gate.checks:
            metrics.qc_gate_failures.labels(check)


def record_gate_verdict(verdict: GateVerdict) -> None:
    """Count the QC gate's verdict and each check it failed."""
    metrics = m.metrics()
    metrics.qc_verdicts.labels("passed" if verdict.passed else "failed").inc()
    for check in verdict.failed_checks:
        metrics.qc_gate_failures.labels(check).inc()


def run_completed_at(rt: Runtime, run: str) -> datetime | None:
    """When the run folder was complete: its most telling completion marker's time.

    The markers are the pipeline's roots' declaration (``markers``), most telling first.
    """
    prefix = rt.layout.run_prefix(run)
    for marker in rt.pipeline.completion_markers():
        info = rt.store.head(prefix + marker)
        if info is not None:
            return info.modified
    return None
