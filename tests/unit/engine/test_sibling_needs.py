"""A stage whose needs are siblings runs once per change, not once per sibling's commit.

``report`` needs ``qc`` and ``annotate``: both come after ``call_variants``, neither after
the other. After a reprocess, whichever commits first made ``report`` ready with the other's
previous output, so it ran twice (and ``deliver`` after it). The diamond pipeline
(``tests/pipelines/diamond.py``) has the same shape: ``join`` needs ``quick`` and ``slow``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seqoia.engine.runner import StageRunner
from seqoia.engine.runtime import Runtime
from seqoia.errors import StageFailedError
from seqoia.tasks.germline import pipeline as germline
from seqoia.workers.embedded import EmbeddedWorkers
from tests.fixtures.committed import local_runtime
from tests.holds import assert_held_until_committed
from tests.integration.engine_helpers import write_toy_run
from tests.pipelines.diamond import pipeline as diamond

ORDER = ("ingest", "process", "quick", "slow")


@pytest.fixture
def rt(tmp_path: Path) -> Runtime:
    return local_runtime(tmp_path, diamond, max_retries=0)


def _reprocess(rt: Runtime) -> None:
    """What ``seqoia reprocess R1`` writes: a new salt for the run's first stage."""
    rt.store.put_bytes(rt.layout.override_key("ingest", "R1"), json.dumps({"salt": "2"}).encode())


def test_the_last_needs_are_those_no_other_need_comes_after() -> None:
    assert diamond.last_needs("join") == ["quick", "slow"]
    assert germline.last_needs("report") == ["qc", "annotate"]
    assert germline.last_needs("call_variants") == ["markduplicates"]


def test_a_stage_is_held_while_a_sibling_need_is_about_to_change(rt: Runtime) -> None:
    write_toy_run(rt.store, "R1", [("S1", "-", "hello")])
    runner = StageRunner(rt)
    for stage in ORDER:
        runner.execute(stage, "R1" if stage == "ingest" else "S1")
    assert runner.execute("join", "S1").kind == "committed"
    assert rt.planner.need_in_flight(rt.planner.plan("join", "S1")) is None

    _reprocess(rt)
    for stage in ORDER[:3]:  # `slow` has not run again yet
        runner.execute(stage, "R1" if stage == "ingest" else "S1")
    assert_held_until_committed(rt, runner, ("join", "S1"), ("slow", "S1"))
    assert rt.manifests.generations("join", "S1") == [1, 2]


def test_a_sibling_that_failed_for_good_does_not_hold_the_stage(rt: Runtime) -> None:
    write_toy_run(rt.store, "R1", [("S1", "-", "hello")])
    runner = StageRunner(rt)
    for stage in ORDER:
        runner.execute(stage, "R1" if stage == "ingest" else "S1")
    runner.execute("join", "S1")
    # The laboratory sets a parameter of the sample's `process` that `slow` cannot take.
    rt.store.put_bytes(
        rt.layout.override_key("process", "S1"), json.dumps({"params": {"suffix": "BAD"}}).encode()
    )
    for stage in ("process", "quick"):
        runner.execute(stage, "S1")
    with pytest.raises(StageFailedError, match="text is bad"):
        runner.execute("slow", "S1")
    assert rt.planner.failed_for_good(rt.planner.plan("slow", "S1")) is not None
    assert rt.planner.need_in_flight(rt.planner.plan("join", "S1")) is None


def test_a_reprocess_runs_the_join_once_though_its_siblings_commit_apart(
    rt: Runtime, tmp_path: Path
) -> None:
    trace = tmp_path / "trace"
    trace.mkdir()
    # `slow` takes a second, so `quick` commits long before it, and routes `join`.
    for stage in ("slow", "join"):
        params = {"trace_dir": str(trace), "sleep_s": 1.0 if stage == "slow" else 0.0}
        rt.store.put_bytes(
            rt.layout.override_key(stage, "S1"), json.dumps({"params": params}).encode()
        )
    keys = write_toy_run(rt.store, "R1", [("S1", "-", "hello")])
    with EmbeddedWorkers(rt, threads=2) as workers:
        workers.actors.notify(keys[-1])
        workers.wait_idle(timeout_s=60)
        assert rt.manifests.generations("join", "S1") == [1]

        _reprocess(rt)
        workers.actors.notify(keys[-1])
        workers.wait_idle(timeout_s=60)
    assert rt.manifests.generations("slow", "S1") == [1, 2]
    assert rt.manifests.generations("join", "S1") == [1, 2]
    assert len(list(trace.glob("join.S1.*"))) == 2  # one attempt per change, none wasted
    latest = rt.manifests.latest("join", "S1")
    slow = rt.manifests.latest("slow", "S1")
    assert (slow.attempt, slow.generation) in {(i.attempt, i.generation) for i in latest.inputs}
