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
    request: pytest.FixtureRequest, tmp_path: Path, late_centre: str, *, slots: bool = False
) -> tuple[list[int], float, Runtime]:
    """Where the late run's samples ran among all 18, the deferrals, and the runtime."""
    stack = build_stack(request, "redis", tmp_path)
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
    return positions, deferrals._value.get() - deferred_before, runtime


@pytest.mark.parametrize("slots", [False, True], ids=["prefetch", "thread-slots"])
def test_a_centre_burst_does_not_make_another_centres_samples_wait_for_all_of_it(
    request: pytest.FixtureRequest, tmp_path: Path, slots: bool
) -> None:
    # With thread slots the run's event must still get the next free thread (see slots.py).
    positions, deferred, runtime = late_positions(request, tmp_path, "CURIE", slots=slots)
    assert positions[1] <= 7, positions  # both among the first 8, not 17th and 18th
    assert deferred > 0
    assert runtime.priorities.centre_of("sample", "B0") == "CURIE"
    assert runtime.priorities.centre_of("run", "RB") is None  # a run is every centre's
    # What `seqoia status` shows in its centre column.
    reader = StateReader(runtime)
    assert reader.run("RB").summary_json()["centres"] == ["CURIE"]


def test_a_centre_burst_does_not_make_its_own_next_run_wait_for_all_of_it(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    positions, deferred, runtime = late_positions(request, tmp_path, "APHP")
    assert positions[1] <= 7, positions
    assert deferred > 0  # deferrals between runs count under the centre
    assert runtime.priorities.standing("sample", "B0") == ("routine", "APHP", "RB", 2)
