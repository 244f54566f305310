"""Derived state: where each ``(stage, subject)`` of a run or a sample stands, from the store.

    done      the latest generation is committed with the fingerprint the planner expects
              (and, for a publishing stage, marked published)
    running   a live lease says an attempt is at work
    failed    a permanent failure record whose fingerprint is the current plan's
    retrying  a transient failure record for the current plan (the broker retries it)
    due       ready and not committed with these inputs: a message will (or should) run it;
              or committed with them but its publication never completed
              (``publication_pending``)
    waiting   not ready: upstream not committed yet (``waiting_for`` says what)
    blocked   waiting on something that failed: it will not move until a retry

Nothing here is stored: it is re-derived on each call, so it can never disagree with the
manifests. Its cost follows the active work: ``overview`` plans only the runs in the inbox
that are not marked done, and ``run``/``sample`` only one run or one sample. Within one
derivation, listings are memoised (a snapshot), so a fan-in's upstream is read once.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from seqoia.admin.family_release import REVIEW_STAGE as FAMILY_REVIEW
from seqoia.admin.family_release import awaiting_family_release
from seqoia.admin.release import ReleaseStatus, release_status
from seqoia.engine.leases import live_lease
from seqoia.engine.observe import run_completed_at
from seqoia.engine.planner import Plan, Planner, Waiting
from seqoia.engine.runtime import Runtime
from seqoia.storage.failures import FailureRecord
from seqoia.storage.manifest import ManifestSnapshot

StateName = Literal["done", "running", "failed", "retrying", "due", "waiting", "blocked"]
STATES: tuple[StateName, ...] = (
    "done",
    "running",
    "failed",
    "retrying",
    "due",
    "waiting",
    "blocked",
)

Outcome = Literal["incomplete", "in_progress", "done", "failed"]


@dataclass
class StageState:
    """One ``(stage, subject)`` as the store says it is now."""

    stage: str
    subject: str
    kind: str
    state: StateName
    fingerprint: str
    generation: int | None = None
    committed_at: datetime | None = None
    worker: str | None = None
    duration_s: float | None = None
    reason: str | None = None
    #: Committed, but with other inputs or parameters than now (a new generation is due).
    stale: bool = False
    #: Committed and up to date, but its files are not all published yet (the committer
    #: died before the copies): due, running or failed until an attempt completes them.
    publication_pending: bool = False
    waiting: list[Waiting] = field(default_factory=list)
    failure: FailureRecord | None = None
    lease: dict[str, Any] | None = None
    #: The QC gate's verdict, for the stage declared as the gate.
    qc_passed: bool | None = None
    #: A family fan-in's composition (``trio``, ``duo (no father) — left out: ...``).
    composition: str | None = None
    #: The checks the gate failed (metric names), when it failed.
    qc_failed_checks: list[str] = field(default_factory=list)

    @property
    def pair(self) -> tuple[str, str]:
        return (self.stage, self.subject)

    @property
    def waiting_for(self) -> list[str]:
        """What the pair waits for, as text for people."""
        return [str(w) for w in self.waiting]

    def to_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "subject": self.subject,
            "kind": self.kind,
            "state": self.state,
            "generation": self.generation,
            "committed_at": self.committed_at.isoformat() if self.committed_at else None,
            "worker": self.worker,
            "duration_s": self.duration_s,
            "reason": self.reason,
            "stale": self.stale,
            "publication_pending": self.publication_pending,
            "fingerprint": self.fingerprint,
            "waiting_for": self.waiting_for,
            "failure": self.failure.model_dump(mode="json") if self.failure else None,
            "lease": self.lease,
            "qc_passed": self.qc_passed,
            "composition": self.composition,
            "qc_failed_checks": self.qc_failed_checks,
        }


@dataclass
class RunState:
    """Every stage of one run's subjects."""

    run: str
    marked_done: bool
    completed_at: datetime | None
    samples: list[str]
    families: list[str]
    stages: list[StageState]
    #: Samples whose reviewed report awaits a biologist's release (``seqoia release``).
    awaiting_release: list[str] = field(default_factory=list)
    #: ``urgent`` when the run holds an urgent sample (sample sheet column ``Priority``).
    priority: str = "routine"
    #: Each sample's prescribing centre (sample sheet column ``Centre``).
    sample_centres: dict[str, str] = field(default_factory=dict)

    @property
    def centres(self) -> list[str]:
        return sorted(set(self.sample_centres.values()))

    def by_centre(self) -> dict[str, Counter[str]]:
        """Per centre, its samples' stage states (what fairness shares out) and samples."""
        result: dict[str, Counter[str]] = {}
        for centre in self.sample_centres.values():
            result.setdefault(centre, Counter())["samples"] += 1
        for state in self.stages:
            owner = self.sample_centres.get(state.subject)
            if owner is not None and state.state in ("running", "due"):
                result[owner][state.state] += 1
        return result

    @property
    def last_commit_at(self) -> datetime | None:
        times = [s.committed_at for s in self.stages if s.committed_at]
        return max(times) if times else None

    @property
    def age_s(self) -> float | None:
        """Time since the run folder was complete."""
        if self.completed_at is None:
            return None
        return (datetime.now(UTC) - self.completed_at).total_seconds()

    @property
    def turnaround_s(self) -> float | None:
        """Run folder complete -> last commit (so far, while the run is in progress)."""
        last = self.last_commit_at
        if self.completed_at is None or last is None:
            return None
        return max(0.0, (last - self.completed_at).total_seconds())

    @property
    def qc_failed_samples(self) -> list[str]:
        """Subjects whose QC gate committed a failing verdict (their stage shows ``done``)."""
        return sorted({s.subject for s in self.stages if s.qc_passed is False})

    def counts(self) -> dict[str, dict[str, int]]:
        """Per stage, how many subjects are in each state."""
        result: dict[str, Counter[str]] = {}
        for state in self.stages:
            result.setdefault(state.stage, Counter())[state.state] += 1
        return {stage: dict(counter) for stage, counter in result.items()}

    @property
    def outcome(self) -> Outcome:
        states = Counter(s.state for s in self.stages)
        if states["waiting"] == len(self.stages) and not any(s.generation for s in self.stages):
            return "incomplete"  # the run folder is not complete (or not valid) yet
        if states["running"] or states["due"] or states["retrying"] or states["waiting"]:
            return "in_progress"
        if states["failed"] or states["blocked"]:
            return "failed"
        return "done"

    def summary_json(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "outcome": self.outcome,
            "priority": self.priority,
            "centres": self.centres,
            "marked_done": self.marked_done,
            "completed_at": self.completed_at.isoformat() if self.completed_at else None,
            "age_s": self.age_s,
            "turnaround_s": self.turnaround_s,
            "last_commit_at": self.last_commit_at.isoformat() if self.last_commit_at else None,
            "samples": len(self.samples),
            "families": len(self.families),
            "qc_failed": self.qc_failed_samples,
            "stages": self.counts(),
            "awaiting_release": self.awaiting_release,
        }

    def to_json(self) -> dict[str, Any]:
        return self.summary_json() | {
            "samples": self.samples,
            "families": self.families,
            "detail": [s.to_json() for s in self.stages],
        }


@dataclass
class SampleState:
    """One sample's stages, with those of its runs and families for context."""

    sample: str
    runs: list[str]
    families: list[str]
    stages: list[StageState]
    #: Sign-off of the latest reviewed report (``None`` before deliver put one up).
    release: ReleaseStatus | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "sample": self.sample,
            "runs": self.runs,
            "families": self.families,
            "release": (
                self.release.model_dump(mode="json") | {"state": self.release.describe()}
                if self.release
                else None
            ),
            "detail": [s.to_json() for s in self.stages],
        }


class StateReader:
    """Derives run, sample and stage states for one runtime."""

    def __init__(self, runtime: Runtime, *, concurrency: int | None = None) -> None:
        self.rt = runtime
        #: Subjects of one stage are derived concurrently on a remote store: its latency is
        #: then about (stages x a few round trips), not (pairs x a few round trips).
        self.concurrency = concurrency or runtime.store_concurrency

    def _planner(self) -> Planner:
        return self.rt.planner.over(ManifestSnapshot(self.rt.manifests))

    # -- what is active ------------------------------------------------------------------
    def active_runs(self) -> list[str]:
        """Run folders in the inbox not marked done (what the reconciler visits)."""
        store, layout = self.rt.store, self.rt.layout
        done = set(store.list_children(layout.done_prefix()))
        return [run for run in store.list_children(layout.inbox_prefix()) if run not in done]

    def overview(self) -> list[RunState]:
        """The state of every active run."""
        return [self.run(run) for run in self.active_runs()]

    # -- one run, one sample ---------------------------------------------------------------
    def run(self, run: str) -> RunState:
        planner = self._planner()
        manifests = planner.manifests
        subjects = manifests.subjects_of("run", run)
        samples, families = subjects["sample"], subjects["family"]
        states = self._states(planner, subjects)
        _mark_blocked(states)
        return RunState(
            run=run,
            marked_done=self.rt.store.head(self.rt.layout.done_key(run)) is not None,
            completed_at=run_completed_at(self.rt, run),
            samples=samples,
            families=families,
            stages=states,
            awaiting_release=self._awaiting_release(states),
            priority=self.rt.priorities.of("run", run),
            sample_centres=self.rt.priorities.sample_centres(run),
        )

    def _awaiting_release(self, states: list[StageState]) -> list[str]:
        """Samples (and ``family:F``) whose reviewed report has no release yet."""
        delivery = self.rt.pipeline.with_role("delivery")
        if delivery is None:
            return []
        delivered = [s.subject for s in states if s.stage == delivery.name and s.generation]
        found = (release_status(self.rt, sample) for sample in delivered)
        out = [r.sample for r in found if r is not None and r.awaiting]
        families = [s.subject for s in states if s.stage == FAMILY_REVIEW and s.generation]
        return out + [f"family:{f}" for f in families if awaiting_family_release(self.rt, f)]

    def sample(self, sample: str) -> SampleState:
        planner = self._planner()
        manifests = planner.manifests
        subjects = manifests.subjects_of("sample", sample)
        runs, families = subjects["run"], subjects["family"]
        states = self._states(planner, subjects)
        _mark_blocked(states)
        return SampleState(
            sample=sample,
            runs=runs,
            families=families,
            stages=states,
            release=release_status(self.rt, sample),
        )

    def pair(self, stage: str, subject: str) -> StageState:
        return self._stage_state(self._planner(), stage, subject)

    # -- derivation ------------------------------------------------------------------------
    def _states(self, planner: Planner, subjects: dict[str, list[str]]) -> list[StageState]:
        """Every stage of ``subjects``, in pipeline order; one stage's subjects in parallel."""
        states: list[StageState] = []
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="status") as pool:
            for stage in self.rt.pipeline:  # upstream first, so the snapshot memo is warm
                names = subjects[stage.kind]
                stage_names = [stage.name] * len(names)
                states.extend(
                    pool.map(self._stage_state, [planner] * len(names), stage_names, names)
                )
        return states

    def _stage_state(self, planner: Planner, stage: str, subject: str) -> StageState:
        plan = planner.plan(stage, subject)
        state = StageState(
            stage=stage,
            subject=subject,
            kind=plan.stage.kind,
            state="done",
            fingerprint=plan.fingerprint,
            waiting=list(plan.waiting),
        )
        _describe_latest(state, plan)
        if plan.up_to_date and not plan.publication_pending:
            return state
        # Only work that is not done costs more requests: a lease, a failure record.
        state.publication_pending = plan.publication_pending
        state.stale = plan.latest is not None and not plan.up_to_date
        store, layout = self.rt.store, self.rt.layout
        lease = live_lease(store, layout.lease_key(stage, subject))
        if lease is not None:
            state.state, state.lease = "running", lease
            return state
        if not plan.ready:
            state.state = "waiting"
            return state
        state.state = "due"
        failure = self.rt.failures.read(stage, subject)
        if failure is not None and failure.current_for(plan.fingerprint):
            state.failure = failure
            state.state = "failed" if failure.permanent else "retrying"
        return state


def plan_state(plan: Plan) -> str:
    """A one-word summary of a plan, for dry runs."""
    if not plan.ready:
        return "waiting"
    return "up to date" if plan.up_to_date else "due"


def _describe_latest(state: StageState, plan: Plan) -> None:
    latest = plan.latest
    if latest is None:
        return
    state.generation = latest.generation
    state.committed_at = latest.finished_at
    state.worker = latest.worker
    state.duration_s = latest.duration_s
    state.reason = latest.reason
    if plan.stage.kind == "family":
        state.composition = latest.summary.get("composition")
    gate = plan.stage.gate
    verdict = gate.verdict(latest.summary) if gate is not None else None
    if verdict is not None:
        state.qc_passed = verdict.passed
        state.qc_failed_checks = list(verdict.failed_checks)


def _mark_blocked(states: list[StageState]) -> None:
    """A waiting stage whose missing input failed (or is itself blocked) is blocked."""
    by_pair = {s.pair: s for s in states}
    for state in states:  # pipeline order is topological: upstream states come first
        if state.state != "waiting":
            continue
        for waiting in state.waiting:
            upstream = by_pair.get(waiting.pair) if waiting.pair else None
            if upstream is not None and upstream.state in ("failed", "blocked"):
                state.state = "blocked"
                break
