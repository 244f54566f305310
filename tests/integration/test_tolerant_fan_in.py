"""A run-level fan-in declared ``tolerate_failures`` goes on without failed samples.

Strict fan-ins (the toy's ``tally``) stay blocked by a failed member until an admin acts;
a tolerant one (a run's report) runs over the samples that made it, names those that did
not, and runs again when a failed sample later succeeds.
"""

from __future__ import annotations

import json
from pathlib import Path

from seqoia.engine.reconciler import Reconciler
from seqoia.engine.runtime import Runtime, build_runtime
from seqoia.settings import Settings
from seqoia.workers.embedded import EmbeddedWorkers
from tests.integration.engine_helpers import write_toy_run

ROWS = [("S1", "-", "hello"), ("S2", "-", "FAIL please"), ("S3", "-", "solo")]


def _runtime(tmp_path: Path) -> Runtime:
    settings = Settings(
        store_url=f"file://{tmp_path}/store", scratch_dir=tmp_path / "scratch", max_retries=0
    )
    return build_runtime(settings, "tests.pipelines.tolerant:pipeline")


def _processed_run(tmp_path: Path) -> Runtime:
    """A store where run R1 went through the pipeline: S2 failed, S1 and S3 committed."""
    runtime = _runtime(tmp_path)
    keys = write_toy_run(runtime.store, "R1", ROWS)
    with EmbeddedWorkers(runtime, threads=2) as workers:
        workers.actors.notify(keys[-1])
        workers.wait_idle(timeout_s=60)
    return runtime


def test_a_tolerant_fan_in_runs_without_the_failed_sample_and_names_it(tmp_path: Path) -> None:
    runtime = _processed_run(tmp_path)
    census = runtime.manifests.latest("census", "R1")
    assert census is not None, runtime.planner.plan("census", "R1").waiting_for
    assert census.summary["samples"] == ["S1", "S3"]
    stage, message = census.summary["excluded"]["S2"]
    assert stage == "process" and "S2.txt" in message and "asks to fail" in message
    # Settled: a reconciler pass enqueues nothing and marks the run done.
    enqueued: list[tuple[str, str]] = []
    report = Reconciler(runtime, lambda s, subj, *_: enqueued.append((s, subj))).run_pass()
    assert enqueued == [] and report.runs_done == ["R1"]
    assert report.failed == [("process", "S2")]


def test_a_failed_sample_that_later_succeeds_reruns_the_tolerant_fan_in(tmp_path: Path) -> None:
    runtime = _processed_run(tmp_path)
    first = runtime.manifests.latest("census", "R1")
    assert first is not None and first.summary["samples"] == ["S1", "S3"]
    # The laboratory sets a parameter for that sample; the reconciler reruns it.
    runtime.store.put_bytes(
        runtime.layout.override_key("process", "S2"),
        json.dumps({"params": {"fail_on": "NEVER"}}).encode(),
    )
    runtime.store.delete(runtime.layout.done_prefix() + "R1")  # as `seqoia reprocess` does
    with EmbeddedWorkers(runtime, threads=2) as workers:
        Reconciler(runtime, workers.actors.enqueue_stage).run_pass()
        workers.wait_idle(timeout_s=60)
    again = runtime.manifests.latest("census", "R1")
    assert again is not None and again.generation > first.generation
    assert again.summary == {"samples": ["S1", "S2", "S3"], "excluded": {}}


def test_a_reprocessed_run_reruns_its_fan_in_once_not_once_per_sample(tmp_path: Path) -> None:
    runtime = _processed_run(tmp_path)
    before = runtime.manifests.generations("census", "R1")
    # A whole-run reprocess, as `seqoia reprocess R1` does: every sample commits anew, and
    # after each commit but the last the census is ready with the others' old outputs.
    runtime.store.put_bytes(
        runtime.layout.override_key("ingest", "R1"), json.dumps({"salt": "again"}).encode()
    )
    runtime.store.delete(runtime.layout.done_prefix() + "R1")
    with EmbeddedWorkers(runtime, threads=2) as workers:
        Reconciler(runtime, workers.actors.enqueue_stage).run_pass()
        workers.wait_idle(timeout_s=60)
    assert len(runtime.manifests.generations("process", "S1")) == 2
    assert len(runtime.manifests.generations("process", "S3")) == 2
    after = runtime.manifests.generations("census", "R1")
    assert len(after) == len(before) + 1
    census = runtime.manifests.latest("census", "R1")
    assert census is not None and census.summary["samples"] == ["S1", "S3"]
    assert {(i.subject, i.generation) for i in census.inputs} == {("S1", 2), ("S3", 2)}
