"""Reprocessing: decide exactly which ``(stage, subject)`` pairs will run again, then make it so.

Nothing is sent but nudges. A reprocess only changes what the planner reads, so that the
stages become due by the engine's own rules:

- ``--set stage.param=value`` merges parameters into ``work/_overrides/<stage>/<subject>.json``
  (the planner folds them into the fingerprint);
- ``--force`` writes a fresh salt there for the *first* stages of the selection, so they
  make a new generation even with unchanged inputs; everything downstream follows because
  its inputs' generations change (salting downstream stages too would run them twice);
- failure records of the pairs that will run are removed (a permanent failure with the same
  fingerprint would otherwise be skipped) and the ``_done`` marks of their runs are removed
  (so the reconciler visits them again if a message is lost);
- only the first pairs are enqueued: the router enqueues the rest after each commit.

:func:`plan_reprocess` only reads, which is what ``--dry-run`` prints; :func:`apply`
writes. Every name and value is checked before anything is written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from seqoia.admin.targets import (
    Target,
    closest,
    first_stages,
    resolve_stage,
    runs_of,
)
from seqoia.engine.planner import Plan
from seqoia.engine.runtime import Runtime
from seqoia.errors import InputError, first_error
from seqoia.storage.manifest import ManifestSnapshot, read_json
from seqoia.tasks.stage import Stage

#: enqueue(stage, subject, reason)
Enqueue = Callable[[str, str, str], None]
Pair = tuple[str, str]

#: Which subject kinds a target of one kind may reach with ``--from`` (never "up" to a
#: bigger subject: a sample cannot rerun its whole run's demultiplexing).
_REACHABLE = {
    "run": {"run", "part", "sample", "family", "pair"},
    "part": {"part", "sample", "family", "pair"},
    "family": {"family", "sample"},
    "sample": {"sample", "family", "pair"},
    "pair": {"pair", "sample"},
}


@dataclass
class Change:
    """One pair that will run again, and why."""

    stage: str
    subject: str
    why: str
    #: Enqueued by the reprocess itself; the others follow by routing after a commit.
    first: bool = False

    @property
    def pair(self) -> Pair:
        return (self.stage, self.subject)

    def to_json(self) -> dict[str, Any]:
        return {"stage": self.stage, "subject": self.subject, "why": self.why, "first": self.first}


@dataclass
class ReprocessPlan:
    """What a reprocess would do: written overrides, cleared records, and what runs."""

    target: Target
    from_stage: str | None
    force: bool
    assignments: dict[str, dict[str, Any]]
    changes: list[Change] = field(default_factory=list)
    #: Selected pairs that will not run, with why (up to date, waiting for ...).
    unchanged: list[tuple[str, str, str]] = field(default_factory=list)
    overrides: dict[Pair, dict[str, Any]] = field(default_factory=dict)
    runs: list[str] = field(default_factory=list)

    @property
    def first(self) -> list[Pair]:
        return [c.pair for c in self.changes if c.first]

    def to_json(self) -> dict[str, Any]:
        return {
            "target": str(self.target),
            "from": self.from_stage,
            "force": self.force,
            "set": self.assignments,
            "runs": [c.to_json() for c in self.changes],
            "unchanged": [{"stage": s, "subject": x, "why": w} for s, x, w in self.unchanged],
            "runs_reopened": self.runs,
        }


# -- --set parsing --------------------------------------------------------------------------
def parse_assignments(rt: Runtime, items: list[str]) -> dict[str, dict[str, Any]]:
    """``["align.min_mapq=20"]`` -> ``{"align": {"min_mapq": 20}}``, validated by each model."""
    result: dict[str, dict[str, Any]] = {}
    for item in items:
        name, eq, raw = item.partition("=")
        stage_name, dot, param = name.partition(".")
        if not eq or not dot or not stage_name or not param:
            raise InputError(f"--set {item!r}: expected STAGE.PARAM=VALUE")
        stage = resolve_stage(rt.pipeline, stage_name)
        fields = stage.params.model_fields
        if param not in fields:
            known = ", ".join(fields) or "none"
            raise InputError(
                f"--set {item!r}: stage {stage.name} has no parameter {param!r}"
                f"{closest(param, tuple(fields))} (parameters: {known})"
            )
        result.setdefault(stage.name, {})[param] = _validated_value(stage, param, raw, item)
    for stage_name, values in result.items():
        _validate(rt.pipeline.stages[stage_name], values, f"--set {stage_name}")
    return result


def _validated_value(stage: Stage, param: str, raw: str, item: str) -> Any:
    """The JSON reading of ``raw`` when the model takes it (numbers, booleans), else the text."""
    candidates: list[Any] = []
    with contextlib.suppress(ValueError):
        candidates.append(json.loads(raw))
    candidates.append(raw)
    error: ValidationError | None = None
    for value in candidates:
        try:
            stage.params.model_validate({param: value})
            return value
        except ValidationError as err:
            error = err
    assert error is not None
    raise InputError(f"--set {item!r}: {first_error(error)}")


def _validate(stage: Stage, params: dict[str, Any], what: str) -> Any:
    try:
        return stage.params.model_validate(params)
    except ValidationError as err:
        raise InputError(f"{what}: {first_error(err)}") from None


# -- planning ------------------------------------------------------------------------------
class Reprocessor:
    """Plans and applies reprocessing for one runtime."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.planner = runtime.planner.over(ManifestSnapshot(runtime.manifests))

    def plan(
        self,
        target: Target,
        *,
        from_stage: str | None = None,
        force: bool = False,
        assignments: dict[str, dict[str, Any]] | None = None,
    ) -> ReprocessPlan:
        """Every pair that a reprocess of ``target`` will run, in pipeline order, and why."""
        pipeline = self.rt.pipeline
        assignments = assignments or {}
        result = ReprocessPlan(target, from_stage, force, assignments)
        starts = self._start_stages(target, from_stage)
        scope_stages = {s.name for start in starts for s in pipeline.descendants(start.name)}
        for stage_name in assignments:
            if stage_name not in scope_stages:
                raise InputError(
                    f"--set {stage_name}.*: stage {stage_name} is not rerun by this reprocess "
                    f"(it reruns {', '.join(s for s in pipeline.stages if s in scope_stages)})"
                )
        start_names = {s.name for s in starts}
        changed: dict[Pair, Change] = {}
        plans: dict[Pair, Plan] = {}
        salt = uuid.uuid4().hex
        for stage in pipeline:  # declaration order is topological
            if stage.name not in scope_stages:
                continue
            for subject in self._scope_subjects(target, stage):
                plan = self.planner.plan(stage.name, subject)
                override = (
                    read_json(self.rt.store, self.rt.layout.override_key(stage.name, subject)) or {}
                )
                why = self._direct_reason(
                    stage, plan, override, assignments, force and stage.name in start_names
                )
                new_override = self._new_override(
                    override, assignments.get(stage.name), force and stage.name in start_names, salt
                )
                if new_override is not None:
                    result.overrides[(stage.name, subject)] = new_override
                plans[(stage.name, subject)] = plan
                if why is None:
                    result.unchanged.append((stage.name, subject, "up to date"))
                elif not plan.ready and not self._waits_only_on(plan, changed):
                    result.unchanged.append(
                        (stage.name, subject, "waiting for " + "; ".join(plan.waiting_for))
                    )
                else:
                    changed[(stage.name, subject)] = Change(stage.name, subject, why)
        self._propagate(changed, plans, result)
        for change in changed.values():
            upstream = self._upstream_pairs(plans[change.pair])
            change.first = not any(pair in changed for pair in upstream)
        order = {name: i for i, name in enumerate(pipeline.stages)}
        result.changes = sorted(changed.values(), key=lambda c: (order[c.stage], c.subject))
        unchanged_pairs = {(s, x) for s, x, _ in result.unchanged}
        result.unchanged = [u for u in result.unchanged if (u[0], u[1]) not in changed]
        del unchanged_pairs
        runs: list[str] = []
        for change in result.changes:
            kind = pipeline.stages[change.stage].kind
            for run in runs_of(self.rt, kind, change.subject):
                if run not in runs:
                    runs.append(run)
        result.runs = runs
        return result

    def _start_stages(self, target: Target, from_stage: str | None) -> list[Stage]:
        pipeline = self.rt.pipeline
        if target.stage is not None:
            if from_stage is not None:
                raise InputError(
                    f"--from cannot be combined with a STAGE/SUBJECT target ({target})"
                )
            return [pipeline.stages[target.stage]]
        if from_stage is None:
            return first_stages(pipeline, target.kind)
        stage = resolve_stage(pipeline, from_stage)
        if stage.kind not in _REACHABLE[target.kind]:
            raise InputError(
                f"--from {stage.name}: that stage works on a {stage.kind}, which {target} does not "
                f"cover; reprocess the {stage.kind} instead"
            )
        return [stage]

    def _scope_subjects(self, target: Target, stage: Stage) -> list[str]:
        if target.stage is not None:
            # STAGE/SUBJECT: the stage itself; its descendants only through propagation.
            return [target.subject] if stage.name == target.stage else []
        return self.rt.manifests.linked(target.kind, target.subject, stage.kind)

    def _direct_reason(
        self,
        stage: Stage,
        plan: Plan,
        override: dict[str, Any],
        assignments: dict[str, dict[str, Any]],
        salted: bool,
    ) -> str | None:
        """Why this pair runs on its own account, or None when it is up to date."""
        if salted:
            return "forced (--force): new generation with the same inputs"
        new_values = assignments.get(stage.name)
        if new_values:
            merged = dict(override.get("params", {})) | new_values
            params = _validate(stage, merged, f"{stage.name}/{plan.subject} parameters")
            trial = dataclasses.replace(plan, params=params)
            if plan.latest is None or trial.fingerprint != plan.latest.fingerprint:
                shown = ", ".join(f"{k}={v!r}" for k, v in new_values.items())
                return f"parameters changed: {shown}"
        if plan.up_to_date:
            return None
        if plan.latest is None:
            return "never committed"
        failure = self.rt.failures.read(stage.name, plan.subject)
        if failure is not None and failure.current_for(plan.fingerprint):
            return f"failed: retried ({failure.headline(80)})"
        return "not up to date: inputs, parameters or stage version changed"

    @staticmethod
    def _new_override(
        override: dict[str, Any], values: dict[str, Any] | None, salted: bool, salt: str
    ) -> dict[str, Any] | None:
        if not values and not salted:
            return None
        new = dict(override)
        if values:
            new["params"] = dict(override.get("params", {})) | values
        if salted:
            new["salt"] = salt
        return new

    def _propagate(
        self, changed: dict[Pair, Change], plans: dict[Pair, Plan], result: ReprocessPlan
    ) -> None:
        """Everything downstream of a changed pair runs again (its inputs' generations change)."""
        pipeline = self.rt.pipeline
        queue = list(changed)
        while queue:
            stage_name, subject = queue.pop(0)
            kind = pipeline.stages[stage_name].kind
            for down in pipeline.downstream(stage_name):
                for other in self.rt.manifests.linked(kind, subject, down.kind):
                    pair = (down.name, other)
                    if pair in changed:
                        continue
                    plan = plans.get(pair) or self.planner.plan(down.name, other)
                    plans[pair] = plan
                    if not plan.ready and not self._waits_only_on(plan, changed):
                        why = "waiting for " + "; ".join(plan.waiting_for)
                        if all(u[:2] != pair for u in result.unchanged):
                            result.unchanged.append((down.name, other, why))
                        continue
                    changed[pair] = Change(
                        down.name, other, f"input {stage_name}/{subject} changes"
                    )
                    queue.append(pair)

    def _waits_only_on(self, plan: Plan, changed: dict[Pair, Change]) -> bool:
        """Whether everything ``plan`` waits for is a pair that is about to run."""
        return all(w.pair is not None and w.pair in changed for w in plan.waiting)

    @staticmethod
    def _upstream_pairs(plan: Plan) -> list[Pair]:
        pairs = [(m.stage, m.subject) for m in plan.upstream]
        pairs += [w.pair for w in plan.waiting if w.pair is not None]
        return pairs

    # -- applying ----------------------------------------------------------------------------
    def apply(self, plan: ReprocessPlan, enqueue: Enqueue, reason: str) -> list[Pair]:
        """Write overrides, clear failure records and done marks, enqueue the first pairs."""
        store, layout = self.rt.store, self.rt.layout
        for (stage, subject), override in plan.overrides.items():
            store.put_bytes(layout.override_key(stage, subject), json.dumps(override).encode())
        self.rt.failures.reopen([change.pair for change in plan.changes], plan.runs)
        for stage, subject in plan.first:
            enqueue(stage, subject, reason)
        return plan.first
