"""Metrics across processes and restarts, the stage observer, the collectors, JSON logs.

Multiprocess mode changes process-wide state (an environment variable, the value class of
prometheus-client), so every test that needs it runs its recording side in a subprocess
and reads the files from here with a collector that takes the folder explicitly.
"""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker
from prometheus_client.parser import text_string_to_metric_families

from seqoia.engine.observe import StageMetrics, StageObserver
from seqoia.engine.reconciler import ReconcileReport
from seqoia.engine.runtime import Runtime, build_runtime
from seqoia.errors import ConfigurationError
from seqoia.logs import ContextFilter, JsonFormatter
from seqoia.metrics import (
    TEMP_PREFIX,
    ReapingMultiProcessCollector,
    local_registry,
    remove_orphaned_temp_dirs,
    serve_metrics,
)
from seqoia.settings import Settings
from seqoia.storage.manifest import Manifest
from seqoia.workers.collectors import (
    COLLECTED_FAMILIES,
    QueueCollector,
    ReconcileStatus,
)
from seqoia.workers.embedded import EmbeddedWorkers
from seqoia.workers.handover import StageHandover

REPO = Path(__file__).resolve().parents[3]


def run_python(code: str, *, wait: bool = True) -> subprocess.Popen[str]:
    """Run ``code`` in a fresh interpreter (its own prometheus-client state)."""
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env["PYTHONPATH"] = str(REPO)
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if wait:
        process.wait(timeout=60)
    return process


def samples_in(folder: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(sample name, labels) -> value, summed over the folder's files, dead gauges reaped."""
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in ReapingMultiProcessCollector(folder).collect():
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


COMMITTED = (
    "seqoia_stage_outcomes_total",
    (("outcome", "committed"), ("priority", "routine"), ("stage", "align")),
)
IN_FLIGHT = ("seqoia_stages_in_flight", (("priority", "routine"), ("stage", "align")))

RECORD = """
    import os, signal, sys
    from pathlib import Path
    from seqoia import metrics as m
    m.enable_multiprocess(Path({folder!r}), empty={empty})
    m.metrics().stage_outcomes.labels("align", "committed", "routine").inc({committed})
    m.metrics().stages_in_flight.labels("align", "routine").inc()
"""


def test_a_restarted_worker_counts_from_zero_not_on_top_of_the_dead_ones_files(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "metrics"
    # The first worker records, then dies without any clean-up (SIGKILL, OOM kill).
    first = run_python(
        RECORD.format(folder=str(folder), empty=True, committed=3)
        + "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    assert first.returncode == -signal.SIGKILL
    left = samples_in(folder)
    assert left[COMMITTED] == 3  # its counter file stays: a new process would add to it
    assert any(name.startswith("counter_") for name in os.listdir(folder))

    # The restarted worker empties the folder before recording, then serves /metrics.
    second = run_python(
        RECORD.format(folder=str(folder), empty=True, committed=2)
        + """
    m.metrics().stages_in_flight.labels("align", "routine").dec()
    from prometheus_client import generate_latest
    sys.stdout.write(generate_latest(m.exposition_registry()).decode())
"""
    )
    out, err = second.communicate()
    assert second.returncode == 0, err
    served = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(out)
        for s in family.samples
    }
    assert served[COMMITTED] == 2  # not 5
    assert served[IN_FLIGHT] == 0  # the dead worker's attempt no longer counts as running


def test_a_killed_helpers_in_flight_gauge_is_reaped_while_its_counts_are_kept(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    alive = run_python(
        RECORD.format(folder=str(folder), empty=False, committed=1)
        + "    print('ready', flush=True)\n    sys.stdin.read()\n",
        wait=False,
    )
    try:
        assert alive.stdout is not None and alive.stdout.readline().strip() == "ready"
        killed = run_python(
            RECORD.format(folder=str(folder), empty=False, committed=1)
            + "    os.kill(os.getpid(), signal.SIGKILL)\n"
        )
        assert killed.returncode == -signal.SIGKILL
        assert f"gauge_livesum_{killed.pid}.db" in os.listdir(folder)

        found = samples_in(folder)
        assert found[IN_FLIGHT] == 1  # only the live helper's attempt
        assert found[COMMITTED] == 2  # counters of dead processes never go backwards
        assert f"gauge_livesum_{killed.pid}.db" not in os.listdir(folder)
    finally:
        alive.communicate(input="", timeout=30)  # a clean exit marks itself dead
    assert alive.returncode == 0
    assert samples_in(folder).get(IN_FLIGHT, 0) == 0
    assert f"gauge_livesum_{alive.pid}.db" not in os.listdir(folder)


def test_private_folders_of_killed_processes_are_removed_at_the_next_start(
    tmp_path: Path,
) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = tmp_path / f"{TEMP_PREFIX}{dead.pid}-x1"
    living = tmp_path / f"{TEMP_PREFIX}{os.getpid()}-x2"
    unrelated = tmp_path / f"{TEMP_PREFIX}notapid"
    for folder in (orphan, living, unrelated):
        folder.mkdir()
        (folder / "counter_1.db").write_bytes(b"")
    assert remove_orphaned_temp_dirs(tmp_path) == [orphan]
    assert not orphan.exists() and living.exists() and unrelated.exists()


def test_a_taken_metrics_port_is_logged_and_the_process_goes_on_unobserved(
    caplog: pytest.LogCaptureFixture,
) -> None:
    first = serve_metrics("127.0.0.1", 0)
    try:
        assert first.port is not None
        with urllib.request.urlopen(first.url, timeout=5) as reply:
            assert b"process_cpu_seconds_total" in reply.read()
        second = serve_metrics("127.0.0.1", first.port)
        assert second.port is None and "not served" in second.url
        assert "cannot serve /metrics" in caplog.text
        second.stop()
        with pytest.raises(ConfigurationError):
            serve_metrics("127.0.0.1", first.port, required=True)
    finally:
        first.stop()


# -- the stage observer, in this process (single-process values) -------------------------


def sample(name: str, **labels: str) -> float:
    return local_registry().get_sample_value(name, labels) or 0.0


@pytest.fixture
def toy_runtime(tmp_path: Path) -> Runtime:
    settings = Settings(
        store_url=f"file://{tmp_path / 'store'}",
        broker_url="memory://",
        scratch_dir=tmp_path / "scratch",
        retry_min_backoff_s=0.05,
        retry_max_backoff_s=0.1,
    )
    return build_runtime(settings, "tests.pipelines.observed:pipeline")


def test_stage_metrics_count_outcomes_bytes_qc_turnaround_and_dead_letters(
    toy_runtime: Runtime,
) -> None:
    store = toy_runtime.store
    names = {
        "committed": (
            "seqoia_stage_outcomes_total",
            {"stage": "process", "outcome": "committed", "priority": "routine"},
        ),
        "failed": (
            "seqoia_stage_outcomes_total",
            {"stage": "process", "outcome": "failed_permanent", "priority": "routine"},
        ),
        "transient": (
            "seqoia_stage_outcomes_total",
            {"stage": "qc", "outcome": "failed_transient", "priority": "routine"},
        ),
        "written": ("seqoia_stage_bytes_written_total", {"stage": "process"}),
        "read": ("seqoia_stage_bytes_read_total", {"stage": "qc"}),
        "ran": ("seqoia_stage_duration_seconds_count", {"stage": "process", "priority": "routine"}),
        "turnaround": ("seqoia_turnaround_seconds_count", {}),
        "coverage": ("seqoia_qc_gate_failures_total", {"metric": "mean_coverage"}),
        "dead": ("seqoia_dead_lettered_total", {"queue": "samples"}),
        "waited": ("seqoia_message_wait_seconds_count", {"queue": "samples"}),
    }
    before = {key: sample(name, **labels) for key, (name, labels) in names.items()}
    with EmbeddedWorkers(toy_runtime, threads=4) as workers:
        store.put_bytes("inbox/R1/samples.tsv", b"A\t-\tok\nB\t-\tLOWQ\nC\t-\tFAIL\nD\t-\tFLAKY\n")
        store.put_bytes("inbox/R1/CopyComplete.txt", b"")
        workers.actors.notify("inbox/R1/CopyComplete.txt")
        workers.wait_idle(timeout_s=60)
    delta = {key: sample(name, **labels) - before[key] for key, (name, labels) in names.items()}
    assert delta == {
        "committed": 3,
        "failed": 1,
        "transient": 1,
        "written": len("OK!LOWQ!FLAKY!"),
        "read": len("OK!LOWQ!FLAKY!") + len("FLAKY!"),  # D's qc downloaded twice
        "ran": 4,
        "turnaround": 3,
        "coverage": 1,
        "dead": 1,
        "waited": delta["waited"],  # every message, whatever the count
    }
    assert delta["waited"] >= 4
    assert sample("seqoia_stages_in_flight", stage="process", priority="routine") == 0


def test_stage_cpu_is_counted_per_stage_for_the_stage_process_and_the_worker_thread(
    toy_runtime: Runtime,
) -> None:
    def cpu(stage: str, part: str) -> float:
        return sample("seqoia_stage_cpu_seconds_total", stage=stage, part=part)

    parts = [("process", "stage"), ("process", "worker"), ("qc", "stage")]
    before = {key: cpu(*key) for key in parts}
    with EmbeddedWorkers(toy_runtime, threads=1) as workers:
        toy_runtime.store.put_bytes("inbox/R1/samples.tsv", b"A\t-\tok\n")
        toy_runtime.store.put_bytes("inbox/R1/CopyComplete.txt", b"")
        workers.actors.notify("inbox/R1/CopyComplete.txt")
        workers.wait_idle(timeout_s=60)
    # a child process ("process") reports its own CPU; an inline stage ("qc") its thread's
    assert all(cpu(*key) > before[key] for key in parts), {k: cpu(*k) - before[k] for k in parts}
    assert sample("seqoia_stage_cpu_seconds_total", stage="process", part="inline") == 0


def test_json_log_lines_carry_stage_subject_and_attempt_of_their_thread_only() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("seqoia.test.logs")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        with StageObserver().attempt("align", "S01", reason="reconcile") as watch:
            watch.running("20260101T000000-abc")
            log.info("aligned %d reads", 10)
            other = threading.Thread(target=lambda: log.info("elsewhere"))
            other.start()
            other.join()
        log.info("after")
    finally:
        log.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["message"] == "aligned 10 reads"
    assert (lines[0]["stage"], lines[0]["subject"], lines[0]["attempt"]) == (
        "align",
        "S01",
        "20260101T000000-abc",
    )
    assert lines[0]["reason"] == "reconcile" and lines[0]["level"] == "info"
    assert "stage" not in lines[1] and lines[1]["message"] == "elsewhere"
    assert "stage" not in lines[2] and lines[2]["message"] == "after"


# -- collectors ----------------------------------------------------------------------------


def collected(collector: object) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in collector.collect()  # type: ignore[attr-defined]
        for s in family.samples
    }


def test_queue_collector_reports_ready_delayed_dead_and_oldest_age_of_the_memory_broker() -> None:
    broker = StubBroker()
    broker.declare_queue("align")
    broker.declare_queue("qc")
    message = dramatiq.Message(
        queue_name="align", actor_name="run_stage", args=(), kwargs={}, options={},
        message_timestamp=int((time.time() - 30) * 1000),
    )  # fmt: skip
    broker.enqueue(message)
    broker.enqueue(message.copy(message_id="2"))
    broker.enqueue(message.copy(message_id="3"), delay=60_000)
    broker.dead_letters_by_queue["qc"].append(object())  # type: ignore[arg-type]
    found = collected(QueueCollector(broker, ["align", "qc"]))
    assert found[("seqoia_queue_depth", (("queue", "align"),))] == 2
    assert found[("seqoia_queue_delayed", (("queue", "align"),))] == 1
    assert found[("seqoia_dead_letters", (("queue", "qc"),))] == 1
    assert 29 < found[("seqoia_queue_oldest_message_age_seconds", (("queue", "align"),))] < 60
    assert found[("seqoia_queue_oldest_message_age_seconds", (("queue", "qc"),))] == 0
    assert found[("seqoia_broker_up", ())] == 1


def test_reconcile_status_counts_runs_and_samples_by_exclusive_state(toy_runtime: Runtime) -> None:
    status = ReconcileStatus(toy_runtime)
    assert collected(status) == {
        ("seqoia_reconcile_passes_total", (("result", "ok"),)): 0,
        ("seqoia_reconcile_passes_total", (("result", "failed"),)): 0,
        ("seqoia_runs_finished_total", ()): 0,
    }  # no claim about runs before the first pass
    report = ReconcileReport(
        runs_visited=5,
        runs_done=["R5"],
        enqueued=[("process", "A"), ("qc", "B"), ("ingest", "R1")],
        running=[("qc", "A"), ("deliver", "C")],
        failed=[("process", "C")],
        incomplete_runs=["R3", "R3", "R4"],
        stuck_runs=["R4"],
    )
    status.record(report, 0.5)
    found = collected(status)
    runs = {k[1][0][1]: v for k, v in found.items() if k[0] == "seqoia_runs"}
    samples = {k[1][0][1]: v for k, v in found.items() if k[0] == "seqoia_samples"}
    findings = {k[1][0][1]: v for k, v in found.items() if k[0] == "seqoia_reconcile_findings"}
    assert runs == {"processing": 2, "incomplete": 1, "stuck": 1}
    assert samples == {"waiting": 1, "running": 1, "failed": 1}  # B; A; C (worst wins)
    assert findings == {"enqueued": 3, "running": 2, "failed": 1, "incomplete": 2, "stuck": 1}
    assert found[("seqoia_incomplete_runs_past_age", ())] == 1
    assert found[("seqoia_runs_finished_total", ())] == 1
    families = {name.removesuffix("_total") for name, _ in found}
    queue_families = {
        name.removesuffix("_total") for name, _ in collected(QueueCollector(StubBroker(), []))
    }
    # The static list the dashboard checks use is what the collectors really yield.
    assert families | queue_families | {
        "seqoia_queue_depth",
        "seqoia_queue_delayed",
        "seqoia_dead_letters",
        "seqoia_queue_oldest_message_age_seconds",
    } == set(COLLECTED_FAMILIES)


def test_turnaround_runs_from_the_runs_completion_marker_to_the_delivery_commit(
    toy_runtime: Runtime,
) -> None:
    store = toy_runtime.store
    store.put_bytes("inbox/R1/CopyComplete.txt", b"")
    marker = store.head("inbox/R1/CopyComplete.txt")
    assert marker is not None
    store.put_bytes("work/_links/sample/S1/run/R1", b"")
    manifest = Manifest.model_construct(
        stage="deliver",
        subject="S1",
        subject_kind="sample",
        generation=1,
        finished_at=marker.modified + timedelta(hours=30),
    )
    seconds = StageMetrics(toy_runtime).turnaround_s(manifest)
    assert seconds is not None and abs(seconds - 30 * 3600) < 1.0


def test_a_stage_handed_over_by_a_stopping_worker_is_counted_apart_from_failures(
    toy_runtime: Runtime,
) -> None:
    def count(outcome: str) -> float:
        return sample(
            "seqoia_stage_outcomes_total", stage="process", priority="routine", outcome=outcome
        )

    before = {o: count(o) for o in ("handed_over", "failed_transient")}
    with (
        pytest.raises(StageHandover),
        StageMetrics(toy_runtime).attempt("process", "S1") as watch,
    ):
        watch.running("attempt-1")
        raise StageHandover

    assert count("handed_over") - before["handed_over"] == 1
    assert count("failed_transient") == before["failed_transient"]
