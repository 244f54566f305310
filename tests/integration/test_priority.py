"""Urgent samples are served before a routine backlog, on a real Redis with one worker thread.

Twelve routine samples are queued (each ``process`` takes 0.3 s), then a run with one
urgent sample arrives. Without priorities the urgent sample would run thirteenth; with
them it goes to ``samples.urgent`` and to an actor of higher priority, so it runs as soon
as the stage in progress (and what the worker had already fetched ahead of it, which the
worker reorders) allows.
"""

from __future__ import annotations

from pathlib import Path

import dramatiq
import pytest

from seqoia.admin.state import StateReader
from seqoia.engine.priority import Lane, lane_queues
from seqoia.engine.runtime import build_runtime
from seqoia.workers.actors import declare_actors
from seqoia.workers.broker import build_broker, stage_consumer
from tests.integration.engine_helpers import build_stack
from tests.integration.prioritised_runs import PIPELINE, late_run_order

#: An urgent sample and the other member of its family (routine on the sheet).
URGENT_FAMILY = [("U1", "FU", "urgent"), ("M1", "FU", "routine")]


def test_urgent_sample_overtakes_the_routine_backlog_and_its_family_inherits_urgency(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    stack = build_stack(request, "redis", tmp_path)
    runtime = build_runtime(stack.settings, PIPELINE)
    backlog = [(f"B{i:02d}", "-", "routine") for i in range(12)]
    actors = declare_actors(build_broker(stack.settings), runtime)
    worker = dramatiq.Worker(actors.broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        order = late_run_order(actors, ("R1", backlog), ("R2", URGENT_FAMILY), timeout_s=90)
    finally:
        worker.stop()
        actors.broker.close()

    # U1 and its routine family member run before most of the backlog, not after it all
    # (13th and 14th): after the stage in progress and what the worker had fetched.
    first, second = sorted([order.index("U1"), order.index("M1")])
    assert first <= 4 and second <= 5, order
    priorities = runtime.priorities
    assert priorities.of("sample", "U1") == "urgent"
    assert priorities.of("sample", "M1") == "urgent"  # a member of an urgent family
    assert priorities.of("family", "FU") == "urgent"
    assert priorities.of("run", "R2") == "urgent"
    assert priorities.of("run", "R1") == "routine"
    assert priorities.of("sample", "B03") == "routine"
    # What `seqoia status` shows in its priority column.
    reader = StateReader(runtime)
    assert reader.run("R2").summary_json()["priority"] == "urgent"
    assert reader.run("R1").summary_json()["priority"] == "routine"


def test_an_urgent_lane_worker_runs_the_urgent_samples_while_the_routine_one_is_busy(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """``seqoia worker --lane``: routine work cannot fill the urgent group's thread."""
    stack = build_stack(request, "redis", tmp_path)
    runtime = build_runtime(stack.settings, PIPELINE)
    manifests = runtime.manifests
    backlog = [(f"B{i:02d}", "-", "routine") for i in range(8)]
    actors = declare_actors(build_broker(stack.settings), runtime)
    lanes: dict[Lane, dramatiq.Worker] = {
        lane: stage_consumer(
            actors.broker,
            threads=1,
            queues=set(lane_queues(actors.queues(), lane)),
            worker_timeout_ms=100,
            short_queues=actors.short_queues(),
        )
        for lane in ("routine", "urgent")
    }
    for worker in lanes.values():
        worker.start()
    try:
        order = late_run_order(actors, ("R1", backlog), ("R2", URGENT_FAMILY), timeout_s=90)
        threads = {lane: {t.name for t in w.workers} for lane, w in lanes.items()}
    finally:
        for worker in lanes.values():
            worker.stop()
        actors.broker.close()

    ran_on = {s: manifests.latest("process", s).summary["thread"] for s in order}  # type: ignore[union-attr]
    assert {ran_on["U1"], ran_on["M1"]} <= threads["urgent"], ran_on
    assert all(ran_on[s] in threads["routine"] for s, _, _ in backlog), ran_on
    # neither waits for the backlog: both end before its last two samples
    assert max(order.index("U1"), order.index("M1")) < len(order) - 2, order
