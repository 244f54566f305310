"""Retrying failures: find failure records, clear them, reopen their runs, nudge the stages.

A failure record (``work/_failures/<stage>/<subject>.json``) is how the runner remembers
that a fingerprint failed permanently, so that a replayed message does not run it again.
Retrying removes the record, removes the ``_done`` mark of the runs concerned (so the
reconciler visits them again) and enqueues the stage; the runner then plans afresh.
A record whose stage has committed since (its fingerprint is no longer the plan's) is
stale: it is removed without enqueueing anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from seqoia.admin.reprocess import Enqueue
from seqoia.admin.targets import runs_of
from seqoia.engine.runtime import Runtime
from seqoia.storage.failures import FailureRecord


@dataclass
class FailedStage:
    """One failure record and what retrying it means."""

    record: FailureRecord
    #: False when the stage has committed (or its inputs changed) since it failed.
    current: bool
    runs: list[str]

    @property
    def stage(self) -> str:
        return self.record.stage

    @property
    def subject(self) -> str:
        return self.record.subject

    def to_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "subject": self.subject,
            "current": self.current,
            "permanent": self.record.permanent,
            "at": self.record.at.isoformat() if self.record.at else None,
            "error": self.record.headline(200),
            "runs": self.runs,
        }


def find_failures(
    rt: Runtime, *, run: str | None = None, stage: str | None = None
) -> list[FailedStage]:
    """Failure records, all or of one run's subjects, optionally of one stage."""
    pipeline = rt.pipeline
    if run is not None:
        subjects = rt.manifests.subjects_of("run", run)
        pairs = [
            (s.name, subject)
            for s in pipeline
            if stage is None or s.name == stage
            for subject in subjects[s.kind]
        ]
    else:
        pairs = [pair for pair in rt.failures.pairs(stage) if pair[0] in pipeline.stages]
    found = []
    for stage_name, subject in pairs:
        record = rt.failures.read(stage_name, subject)
        if record is None:
            continue
        plan = rt.planner.plan(stage_name, subject)
        current = not plan.up_to_date and record.current_for(plan.fingerprint)
        kind = pipeline.stages[stage_name].kind
        found.append(FailedStage(record, current, runs_of(rt, kind, subject)))
    return found


def retry_failures(
    rt: Runtime, failures: list[FailedStage], enqueue: Enqueue, reason: str
) -> list[tuple[str, str]]:
    """Clear the records and done marks, and enqueue the current ones; returns what was sent."""
    current = [f for f in failures if f.current]
    for stale in failures:
        if not stale.current:
            rt.failures.clear(stale.stage, stale.subject)
    rt.failures.reopen([f.record.pair for f in current], [run for f in current for run in f.runs])
    sent = []
    for failure in current:
        enqueue(failure.stage, failure.subject, reason)
        sent.append((failure.stage, failure.subject))
    return sent
