"""The runner's hold-back, checked the same way for a fan-in's member and a sibling need."""

from __future__ import annotations

from seqoia.engine.runner import StageRunner
from seqoia.engine.runtime import Runtime


def assert_held_until_committed(
    rt: Runtime, runner: StageRunner, held: tuple[str, str], changing: tuple[str, str]
) -> None:
    """``held`` is due now, but held back while ``changing`` is about to change; once
    ``changing`` has committed, a plan made before is stale and a new one runs."""
    stage, subject = held
    plan = rt.planner.plan(stage, subject)
    assert plan.due  # ready with the previous output: without the hold it would run now
    assert rt.planner.need_in_flight(plan) == changing
    outcome = runner.execute(stage, subject)
    assert outcome.kind == "not_ready"
    assert outcome.plan.waiting_for == [f"{changing[0]}/{changing[1]} is about to change"]

    runner.execute(*changing)
    # That commit routes the held stage anew, with what the earlier plan has not seen.
    assert rt.planner.need_in_flight(plan) == changing
    assert rt.planner.need_in_flight(rt.planner.plan(stage, subject)) is None
    before = rt.manifests.generations(stage, subject)
    assert runner.execute(stage, subject).kind == "committed"
    assert rt.manifests.generations(stage, subject) == [*before, before[-1] + 1]
