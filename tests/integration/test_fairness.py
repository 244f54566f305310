"""Fair share between centres, on a real Redis: one centre's burst does not starve another's.

Centre APHP's run of 16 routine samples is queued (each ``process`` sleeps 0.3 s on one of
two worker threads); then centre CURIE's run of 2 samples arrives behind the whole burst.
Without fairness CURIE's samples would run 17th and 18th, after every APHP sample; with it
a worker taking an APHP message while APHP holds both threads and CURIE waits puts it back
behind CURIE's first message, so CURIE's samples share the threads as soon as they free.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from seqoia.admin.state import StateReader
from seqoia.engine.runtime import build_runtime
from seqoia.metrics import metrics
from seqoia.workers.actors import declare_actors
from seqoia.workers.broker import build_broker, stage_consumer
from tests.integration.engine_helpers import build_stack, wait_for
from tests.integration.prioritised_runs import PIPELINE, processing_order, write_run


def test_a_centre_burst_does_not_make_another_centres_samples_wait_for_all_of_it(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    stack = build_stack(request, "redis", tmp_path)
    runtime = build_runtime(stack.settings, PIPELINE)
    manifests = runtime.manifests
    burst = [f"A{i:02d}" for i in range(16)]
    write_run(runtime.store, "RA", [(s, "-", "routine", "APHP") for s in burst])
    actors = declare_actors(build_broker(stack.settings), runtime)
    deferrals = metrics().fair_share_deferrals.labels("samples", "APHP")
    deferred_before = deferrals._value.get()
    worker = stage_consumer(actors.broker, threads=2, worker_timeout_ms=100)
    worker.start()
    try:
        actors.notify("inbox/RA/CopyComplete.txt")
        wait_for(
            lambda: bool(manifests.generations("process", "A00")),
            timeout_s=60,
            what="the burst to start",
        )
        other = [("B0", "-", "routine", "CURIE"), ("B1", "-", "routine", "CURIE")]
        write_run(runtime.store, "RB", other)
        actors.notify("inbox/RB/CopyComplete.txt")
        order = processing_order(manifests, [*burst, "B0", "B1"], timeout_s=120)
    finally:
        worker.stop()
        actors.broker.close()

    positions = sorted([order.index("B0"), order.index("B1")])
    # Both CURIE samples among the first 8, not 17th and 18th.
    assert positions[1] <= 7, order
    assert deferrals._value.get() > deferred_before
    assert runtime.priorities.centre_of("sample", "B0") == "CURIE"
    assert runtime.priorities.centre_of("run", "RB") is None  # a run is every centre's
    # What `seqoia status` shows in its centre column.
    reader = StateReader(runtime)
    assert reader.run("RB").summary_json()["centres"] == ["CURIE"]
