"""Fair share on a real Redis: a burst makes neither another centre nor its own centre's
next run wait for all of it.

A run of 16 routine samples of centre APHP is queued (each ``process`` sleeps 0.3 s on one
of two worker threads); then a run of 2 samples arrives behind the whole burst. Without
fairness those samples would run 17th and 18th, after every burst sample; with it a worker
taking a burst message while the burst holds more than its share and the other run waits
puts it back behind the other run's first message, so the late samples share the threads
as soon as they free: between centres (first level) and between one centre's runs (second).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from seqoia.admin.state import StateReader
from seqoia.engine.runtime import Runtime, build_runtime
from seqoia.metrics import metrics
from seqoia.workers.actors import declare_actors
from seqoia.workers.broker import build_broker, stage_consumer
from tests.integration.engine_helpers import build_stack
from tests.integration.prioritised_runs import PIPELINE, late_run_order

BURST = [f"A{i:02d}" for i in range(16)]
LATE = ["B0", "B1"]


def late_positions(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    late_centre: str,
    *,
    slots: bool = False,
    between: str = "centres",
) -> tuple[int, list[int], float, Runtime]:
    """How many burst samples started ahead of the late run's once it was validated, where
    the late run's samples ran among all 18, the deferrals, and the runtime.

    The first is what the fair share decides; the positions depend as much on when the
    late run's event found a free thread (every thread busy with the burst for 0.3 s).
    """
    stack = build_stack(request, "redis", tmp_path, fair_share_between=between)
    runtime = build_runtime(stack.settings, PIPELINE)
    actors = declare_actors(build_broker(stack.settings), runtime)
    deferrals = metrics().fair_share_deferrals.labels("samples", "APHP")
    deferred_before = deferrals._value.get()
    worker = stage_consumer(actors.broker, threads=2, worker_timeout_ms=100, thread_slots=slots)
    worker.start()
    try:
        order = late_run_order(
            actors,
            ("RA", [(s, "-", "routine", "APHP") for s in BURST]),
            ("RB", [(s, "-", "routine", late_centre) for s in LATE]),
            timeout_s=120,
        )
    finally:
        worker.stop()
        actors.broker.close()
    positions = sorted(order.index(s) for s in LATE)
    return passed_over(runtime, "RB"), positions, deferrals._value.get() - deferred_before, runtime


def passed_over(runtime: Runtime, late_run: str) -> int:
    """Burst samples started after ``late_run`` was validated, before its last sample."""
    manifests = runtime.manifests
    validated = manifests.latest("validate_run", late_run)
    assert validated is not None
    started = {s: manifests.latest("process", s).summary["started"] for s in BURST + LATE}  # type: ignore[union-attr]
    ready, last_late = validated.finished_at.timestamp(), max(started[s] for s in LATE)
    return sum(ready < started[s] < last_late for s in BURST)


@pytest.mark.parametrize("slots", [False, True], ids=["prefetch", "thread-slots"])
def test_a_centre_burst_does_not_make_another_centres_samples_wait_for_all_of_it(
    request: pytest.FixtureRequest, tmp_path: Path, slots: bool
) -> None:
    # With thread slots the run's event must still get the next free thread (see slots.py).
    ahead, positions, deferred, runtime = late_positions(request, tmp_path, "CURIE", slots=slots)
    # Once the late run is validated, a burst sample per thread at most (one taken as its
    # messages arrive) before both its samples start; in FIFO order, the rest of the burst.
    assert ahead <= 2, (ahead, positions)
    assert positions[1] < len(BURST), positions  # not 17th and 18th
    assert deferred > 0
    assert runtime.priorities.centre_of("sample", "B0") == "CURIE"
    assert runtime.priorities.centre_of("run", "RB") is None  # a run is every centre's
    # What `seqoia status` shows in its centre column.
    reader = StateReader(runtime)
    assert reader.run("RB").summary_json()["centres"] == ["CURIE"]


@pytest.mark.parametrize("between", ["centres", "runs"])
def test_a_centre_burst_does_not_make_its_own_next_run_wait_for_all_of_it(
    request: pytest.FixtureRequest, tmp_path: Path, between: str
) -> None:
    """Between centres, the centre's smaller run goes first (second level); between runs,
    the late run has an equal share (first level)."""
    ahead, positions, deferred, runtime = late_positions(request, tmp_path, "APHP", between=between)
    assert ahead <= 2, (ahead, positions)
    assert positions[1] < len(BURST), positions
    assert deferred > 0  # deferrals between runs count under the centre
    assert runtime.priorities.standing("sample", "B0") == ("routine", "APHP", "RB", 2)
