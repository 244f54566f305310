"""Reprocess and status read what a plan waits for as Waiting fields, and survive bad records.

The toy pipeline on a local-folder store; commits and failure records are written
directly, since only planning is under test.

    ingest R1 -> process S1 (committed), S2 (failed for good), S3 (never ran)
              -> joint F1 (S1 + S2), tally R1 (S1 + S2 + S3)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from seqoia.admin.reprocess import Reprocessor
from seqoia.admin.retry import find_failures
from seqoia.admin.state import StateReader
from seqoia.admin.targets import Target
from seqoia.engine.planner import Waiting
from seqoia.engine.runtime import Runtime, build_runtime
from seqoia.settings import Settings
from seqoia.storage.failures import FailureRecord
from seqoia.vocabulary import Relation
from tests.fixtures.committed import commit


@pytest.fixture
def rt(tmp_path: Path) -> Runtime:
    settings = Settings(
        store_url=f"file://{tmp_path / 'store'}", scratch_dir=tmp_path / "scratch", worker_id="unit"
    )
    runtime = build_runtime(settings, "tests.pipelines.toy:pipeline")
    relations = [
        Relation(kind="run", subject="R1", other_kind="sample", other=s) for s in ("S1", "S2", "S3")
    ]
    relations.append(Relation(kind="run", subject="R1", other_kind="family", other="F1"))
    relations += [
        Relation(kind="family", subject="F1", other_kind="sample", other=s) for s in ("S1", "S2")
    ]
    commit(runtime, "ingest", "R1", relations=relations)
    commit(runtime, "process", "S1")
    runtime.failures.write(
        FailureRecord(
            stage="process",
            subject="S2",
            fingerprint=runtime.planner.plan("process", "S2").fingerprint,
            permanent=True,
            message="sample text asks to fail",
        )
    )
    runtime.store.put_bytes(runtime.layout.done_key("R1"), b"{}")
    return runtime


def test_a_plan_waits_on_typed_pairs_and_shows_them_as_text(rt: Runtime) -> None:
    plan = rt.planner.plan("tally", "R1")
    assert plan.waiting == [Waiting("process", "S2"), Waiting("process", "S3")]
    assert [w.pair for w in plan.waiting] == [("process", "S2"), ("process", "S3")]
    assert plan.waiting_for == ["process/S2", "process/S3"]
    assert str(Waiting("process", why="no sample linked yet")) == "process: no sample linked yet"
    assert Waiting("process", why="no sample linked yet").pair is None
    assert str(Waiting("process", "S2", "is about to change")) == "process/S2 is about to change"


def test_reprocess_runs_a_fan_in_that_waits_only_on_pairs_it_reruns(rt: Runtime) -> None:
    reprocessor = Reprocessor(rt)
    plan = reprocessor.plan(Target("sample", "S2", "process"))

    changes = {c.pair: c for c in plan.changes}
    assert set(changes) == {("process", "S2"), ("joint", "F1")}
    assert changes["process", "S2"].first and changes["process", "S2"].why == "never committed"
    # joint F1 waits on process/S2 alone, which reruns: it follows by routing, not first.
    assert not changes["joint", "F1"].first
    assert changes["joint", "F1"].why == "input process/S2 changes"
    # tally R1 also waits on process/S3, which nothing reruns: it stays, and says why.
    assert ("tally", "R1", "waiting for process/S2; process/S3") in plan.unchanged
    assert plan.runs == ["R1"]

    sent: list[tuple[str, str]] = []
    assert reprocessor.apply(plan, lambda s, x, _r: sent.append((s, x)), "test") == sent
    assert sent == [("process", "S2")]
    assert rt.failures.read("process", "S2") is None  # reopened: record and done mark gone
    assert not rt.store.exists(rt.layout.done_key("R1"))


def test_status_marks_pairs_blocked_by_the_typed_pair_they_wait_on(rt: Runtime) -> None:
    states = {s.pair: s for s in StateReader(rt).run("R1").stages}
    assert states["process", "S2"].state == "failed"
    assert states["process", "S2"].to_json()["failure"]["message"] == "sample text asks to fail"
    assert states["joint", "F1"].state == "blocked"
    assert states["tally", "R1"].state == "blocked"
    assert states["process", "S3"].state == "due"


def test_a_malformed_failure_record_is_no_failure_for_status_retry_or_the_planner(
    rt: Runtime,
) -> None:
    rt.store.put_bytes(rt.layout.failure_key("process", "S2"), b'{"stage": "process"')
    assert rt.planner.failed_for_good(rt.planner.plan("process", "S2")) is None
    assert StateReader(rt).pair("process", "S2").state == "due"
    assert find_failures(rt) == []
    # The planner's tolerant fan-in check reads the same record: no exclusion from it.
    assert rt.planner.permanent_failure(rt.pipeline["process"], "S2") is None
