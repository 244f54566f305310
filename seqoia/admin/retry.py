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
from seqoia.storage.manifest import read_json


@dataclass
class FailedStage:
    """One failure record and what retrying it means."""

    stage: str
    subject: str
    record: dict[str, Any]
    #: False when the stage has committed (or its inputs changed) since it failed.
    current: bool
    runs: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "subject": self.subject,
            "current": self.current,
            "permanent": bool(self.record.get("permanent")),
            "at": self.record.get("at"),
            "error": str(self.record.get("message", "")).splitlines()[0][:200]
            if self.record.get("message")
            else "",
            "runs": self.runs,
        }


def find_failures(
    rt: Runtime, *, run: str | None = None, stage: str | None = None
) -> list[FailedStage]:
    """Failure records, all or of one run's subjects, optionally of one stage."""
    layout, pipeline = rt.layout, rt.pipeline
    pairs: list[tuple[str, str]] = []
    if run is not None:
        subjects = rt.manifests.subjects_of("run", run)
        pairs = [
            (s.name, subject)
            for s in pipeline
            if stage is None or s.name == stage
            for subject in subjects[s.kind]
        ]
    else:
        prefix = layout.failures_prefix()
        for info in rt.store.list(prefix + (f"{stage}/" if stage else "")):
            name, _, file = info.key[len(prefix) :].partition("/")
            if file.endswith(".json") and name in pipeline.stages:
                pairs.append((name, file[: -len(".json")]))
    found = []
    for stage_name, subject in pairs:
        record = read_json(rt.store, layout.failure_key(stage_name, subject))
        if record is None:
            continue
        plan = rt.planner.plan(stage_name, subject)
        current = not plan.up_to_date and record.get("fingerprint") == plan.fingerprint
        kind = pipeline.stages[stage_name].kind
        found.append(FailedStage(stage_name, subject, record, current, runs_of(rt, kind, subject)))
    return found


def retry_failures(
    rt: Runtime, failures: list[FailedStage], enqueue: Enqueue, reason: str
) -> list[tuple[str, str]]:
    """Clear the records and done marks, and enqueue the current ones; returns what was sent."""
    sent = []
    reopened: set[str] = set()
    for failure in failures:
        rt.store.delete(rt.layout.failure_key(failure.stage, failure.subject))
        if not failure.current:
            continue
        for run in failure.runs:
            if run not in reopened:
                rt.store.delete(rt.layout.done_prefix() + run)
                reopened.add(run)
        enqueue(failure.stage, failure.subject, reason)
        sent.append((failure.stage, failure.subject))
    return sent
