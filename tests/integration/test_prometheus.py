"""A real Prometheus scrapes real seqoia processes during a small pipeline run.

Processes, each on free loopback ports: redis-server (fixture), ``seqoia worker``,
``seqoia intake`` and ``seqoia reconcile --every 1`` (store ``file://``, broker Redis,
pipeline ``tests/pipelines/observed.py``), and Debian's ``prometheus`` scraping their
``/metrics`` every second and evaluating ``infra/prometheus/rules/*.yml`` every second.

One run of four samples: S1 plain, S2 fails its QC gate, S3 fails ``process``
permanently (dead letter), S4's ``qc`` fails once transiently and is retried. A second run
folder never completes and is older than ``incomplete_run_age_s`` (a stuck run). The run is
announced through the intake as an S3 notification.

Then, through Prometheus's HTTP API: every family seqoia exports has samples; every
dashboard query and rule expression evaluates without error, and with data unless listed
in ``EXPECTED_EMPTY`` (alerts whose condition the run does not meet); every rule is healthy.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dramatiq
import pytest
import redis

from seqoia.storage import LocalStore
from seqoia.workers.collectors import QueueCollector
from seqoia.workers.families import exported_families
from tests.fixtures.observability import (
    RULE_FILES,
    dashboard_queries,
    grafana_to_promql,
    rule_queries,
)
from tests.fixtures.servers import ServerProcess, free_port

REPO = Path(__file__).resolve().parents[2]
PIPELINE = "tests.pipelines.observed:pipeline"
#: A Redis database of its own: other tests use the same server with the same namespace.
REDIS_DB = 13
SAMPLES = [("S1", "F1", "hello"), ("S2", "F1", "LOWQ"), ("S3", "-", "FAIL"), ("S4", "-", "FLAKY")]
DELIVERED = ["S1", "S2", "S4"]

#: Rule expressions that find nothing in this run, and why.
EXPECTED_EMPTY = {
    "alerts.yml: SeqoiaWorkerDown": "the worker is up",
    "alerts.yml: SeqoiaNoWorkers": "a worker is up",
    "alerts.yml: SeqoiaProcessDown": "intake and reconciler are up",
    "alerts.yml: SeqoiaBrokerUnreachable": "Redis answers",
    "alerts.yml: SeqoiaQueueGrowing": "queues drain",
    "alerts.yml: SeqoiaQueueStalled": "no message waits two hours",
    "alerts.yml: SeqoiaTurnaroundAboveTarget": "turnaround is seconds, not days",
    "alerts.yml: SeqoiaReconcilerStale": "the reconciler passes every second",
    "alerts.yml: SeqoiaBucketAnnouncesEverything": "the intake is sent a marker only",
}


@dataclass
class Stack:
    store: LocalStore
    intake_url: str
    targets: dict[str, str]  # job -> host:port of /metrics


INTAKE_TOKEN = "prometheus-test-intake-token"


def http_json(url: str, *, data: bytes | None = None, timeout_s: float = 10) -> Any:
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    if data:
        request.add_header("Content-Type", "application/json")
        request.add_header("Authorization", f"Bearer {INTAKE_TOKEN}")
    with urllib.request.urlopen(request, timeout=timeout_s) as reply:
        return json.loads(reply.read())


def wait_for(predicate: Any, *, timeout_s: float, what: str, interval_s: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except Exception as err:  # noqa: BLE001 - not there yet; the deadline decides
            last = err
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval_s)
    pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}; last: {last!r}")


def seqoia_process(name: str, args: list[str], env: dict[str, str], workdir: Path) -> ServerProcess:
    seqoia = shutil.which("seqoia") or "seqoia"
    process = ServerProcess(name, [seqoia, *args, "--pipeline", PIPELINE], workdir / name, env)
    process.start()
    return process


@pytest.fixture
def stack(redis_server: str, tmp_path: Path) -> Iterator[Stack]:
    broker_url = redis_server.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    redis.Redis.from_url(broker_url).flushdb()
    store_root = tmp_path / "store"
    store_root.mkdir()
    ports = {job: free_port() for job in ("seqoia-worker", "seqoia-intake", "seqoia-reconcile")}
    intake_port = free_port()
    base = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "SEQOIA_STORE_URL": f"file://{store_root}",
        "SEQOIA_BROKER_URL": broker_url,
        "SEQOIA_SCRATCH_DIR": str(tmp_path / "scratch"),
        "SEQOIA_RETRY_MIN_BACKOFF_S": "0.2",
        "SEQOIA_RETRY_MAX_BACKOFF_S": "0.5",
        "SEQOIA_INCOMPLETE_RUN_AGE_S": "1",
        "SEQOIA_INTAKE_PORT": str(intake_port),
        "SEQOIA_INTAKE_TOKEN": INTAKE_TOKEN,
        "SEQOIA_INTAKE_BUCKETS": "seqoia",  # the bucket s3_notification names
        "SEQOIA_LOG_JSON": "1",
    }
    base.pop("PROMETHEUS_MULTIPROC_DIR", None)
    processes = [
        seqoia_process(
            name,
            args,
            {**base, "SEQOIA_METRICS_PORT": str(ports[job])},
            tmp_path,
        )
        for name, job, args in (
            ("worker", "seqoia-worker", ["-v", "worker", "--threads", "4"]),
            ("intake", "seqoia-intake", ["intake"]),
            ("reconcile", "seqoia-reconcile", ["reconcile", "--every", "1"]),
        )
    ]
    try:
        for process, port in zip(processes, ports.values(), strict=True):
            process.wait_until(
                lambda port=port: (
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1).status
                    == 200
                ),
                timeout_s=30,
                what="/metrics",
            )
        yield Stack(
            store=LocalStore(store_root),
            intake_url=f"http://127.0.0.1:{intake_port}",
            targets={job: f"127.0.0.1:{port}" for job, port in ports.items()},
        )
    finally:
        for process in processes:
            process.stop()


@pytest.fixture
def prometheus(stack: Stack, tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("Debian's prometheus is not installed (scripts/test.sh installs it)")
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(path) for path in RULE_FILES],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [target]}]}
            for job, target in stack.targets.items()
        ],
    }
    workdir = tmp_path / "prometheus"
    workdir.mkdir()
    (workdir / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
    server = ServerProcess(
        "prometheus",
        [
            binary,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        workdir,
    )
    server.start()
    url = f"http://127.0.0.1:{port}"
    server.wait_until(
        lambda: urllib.request.urlopen(f"{url}/-/ready", timeout=1).status == 200,
        timeout_s=60,
        what="/-/ready",
    )
    try:
        yield url
    finally:
        server.stop()


def query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    """Evaluate ``expr`` now; fail on any error."""
    url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        answer = http_json(url)
    except urllib.error.HTTPError as err:
        pytest.fail(f"{expr!r} failed: {err.read().decode(errors='replace')}")
    assert answer["status"] == "success", answer
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def value(prometheus: str, expr: str) -> float | None:
    result = query(prometheus, expr)
    return float(result[0]["value"][1]) if result else None


def write_runs(store: LocalStore) -> None:
    table = "".join(f"{sample}\t{family}\t{text}\n" for sample, family, text in SAMPLES)
    store.put_bytes("inbox/R2/samples.tsv", b"S9\t-\tnever complete\n")  # stays incomplete
    store.put_bytes("inbox/R1/samples.tsv", table.encode())
    store.put_bytes("inbox/R1/CopyComplete.txt", b"")


def s3_notification(key: str) -> bytes:
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "eventTime": "2026-01-01T00:00:00.000Z",
        "s3": {"bucket": {"name": "seqoia"}, "object": {"key": key, "size": 0, "eTag": "d41d8"}},
    }
    return json.dumps({"Records": [record]}).encode()


def test_prometheus_scrapes_every_family_and_evaluates_every_dashboard_and_rule_query(
    stack: Stack, prometheus: str
) -> None:
    # Counters start at zero in every process; Prometheus must have seen those zeros for
    # rate() to count the run's first failures (as it would in production).
    wait_for(
        lambda: value(prometheus, 'count(up{job=~"seqoia-.*"} == 1)') == len(stack.targets),
        timeout_s=30,
        what="a first scrape of every seqoia process",
    )
    write_runs(stack.store)
    answer = http_json(
        f"{stack.intake_url}/events", data=s3_notification("inbox/R1/CopyComplete.txt")
    )
    assert answer["accepted"] == 1

    def delivered() -> bool:
        return all(
            stack.store.head(f"work/deliver/{s}/g000001.manifest.json") for s in DELIVERED
        ) and bool(stack.store.head("work/_failures/process/S3.json"))

    wait_for(delivered, timeout_s=90, what="deliveries of S1, S2, S4 and the failure of S3")
    # What the last commits and the dead letter did must reach Prometheus's samples.
    wait_for(
        lambda: (
            value(prometheus, "sum(seqoia_turnaround_seconds_count)") == len(DELIVERED)
            and value(prometheus, 'sum(seqoia_dead_letters{queue="samples"})') == 1
            and value(prometheus, "max(seqoia_incomplete_runs_past_age)") == 1
        ),
        timeout_s=30,
        what="scraped turnaround, dead letter and stuck run",
    )
    time.sleep(2)  # two more evaluations of the rules over the final samples

    # Every family seqoia and dramatiq export has samples, from the process that serves it.
    missing = []
    for family, kind in exported_families().items():
        sample = {"counter": "_total", "histogram": "_count"}.get(kind, "")
        if family.startswith("process_"):
            continue
        if not query(prometheus, f"{family}{sample}"):
            missing.append(family + sample)
    assert not missing, f"families without samples: {missing}"

    # Everything Prometheus has under seqoia_/dramatiq_ is something the code says it exports.
    names = http_json(f"{prometheus}/api/v1/label/__name__/values")["data"]
    served = {n for n in names if n.startswith(("seqoia_", "dramatiq_"))}
    declared = {
        family + suffix
        for family in exported_families()
        for suffix in ("", "_total", "_bucket", "_sum", "_count", "_created")
    }
    assert served <= declared, f"served but not declared: {sorted(served - declared)}"

    # What this run must have produced, exactly.
    def outcomes(stage: str, outcome: str) -> float | None:
        expr = f'sum(seqoia_stage_outcomes_total{{stage="{stage}",outcome="{outcome}"}})'
        return value(prometheus, expr)

    assert outcomes("process", "failed_permanent") == 1
    assert outcomes("qc", "failed_transient") == 1
    assert outcomes("deliver", "committed") == 3
    assert value(prometheus, 'sum(seqoia_qc_gate_failures_total{metric="mean_coverage"})') == 1
    assert value(prometheus, 'sum(seqoia_qc_verdicts_total{verdict="passed"})') == 2
    assert value(prometheus, 'sum(seqoia_events_total{source="s3",outcome="accepted"})') == 1
    assert value(prometheus, 'sum(seqoia_stage_bytes_written_total{stage="process"})') == len(
        "HELLO!LOWQ!FLAKY!"
    )
    assert value(prometheus, "sum(seqoia_stages_in_flight)") == 0
    assert value(prometheus, 'sum(dramatiq_message_rejects_total{queue_name="samples"})') == 1
    turnaround = value(prometheus, "max(seqoia_turnaround_seconds_sum)")
    assert turnaround is not None and 0 < turnaround < 3 * 90

    # Every query of the dashboards and rules evaluates; all have data but the expected.
    empty = []
    for where, expr in dashboard_queries():
        if not query(prometheus, grafana_to_promql(expr)):
            empty.append(where)
    assert not empty, f"dashboard queries without data: {empty}"
    for where, expr in rule_queries():
        if not query(prometheus, expr):
            empty.append(where)
    assert sorted(empty) == sorted(EXPECTED_EMPTY), (
        f"unexpectedly empty: {sorted(set(empty) - set(EXPECTED_EMPTY))}; "
        f"unexpectedly with data: {sorted(set(EXPECTED_EMPTY) - set(empty))}"
    )

    # Prometheus loaded and evaluated every rule without error; the run's alerts are on.
    groups = http_json(f"{prometheus}/api/v1/rules")["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) == len(rule_queries())
    assert [r["name"] for r in rules if r["health"] != "ok"] == []
    active = {r["name"] for r in rules if r["type"] == "alerting" and r["state"] != "inactive"}
    assert {"SeqoiaDeadLetters", "SeqoiaRunStuck", "SeqoiaStageFailureRatioHigh"} <= active


# -- queue statistics straight from the brokers --------------------------------------------


def collected(collector: QueueCollector) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in collector.collect()
        for s in family.samples
    }


def test_queue_collector_reads_dramatiqs_redis_keys(redis_server: str) -> None:
    from dramatiq.brokers.redis import RedisBroker

    broker = RedisBroker(url=redis_server.rsplit("/", 1)[0] + "/14", namespace="seqoia")
    broker.client.flushdb()
    broker.declare_queue("align")
    message = dramatiq.Message(
        queue_name="align", actor_name="run_stage", args=(), kwargs={}, options={},
        message_timestamp=int((time.time() - 30) * 1000),
    )  # fmt: skip
    for n in range(3):
        broker.enqueue(message.copy(message_id=str(n)))
    broker.enqueue(message.copy(message_id="later"), delay=60_000)
    consumer = broker.consume("align", prefetch=1, timeout=1000)
    taken = next(consumer)
    assert taken is not None
    consumer.nack(taken)  # -> the dead letters
    consumer.close()
    found = collected(QueueCollector(broker, ["align"]))
    assert found[("seqoia_queue_depth", (("queue", "align"),))] == 2
    assert found[("seqoia_queue_delayed", (("queue", "align"),))] == 1
    assert found[("seqoia_dead_letters", (("queue", "align"),))] == 1
    assert 29 < found[("seqoia_queue_oldest_message_age_seconds", (("queue", "align"),))] < 60
    broker.close()


def test_queue_collector_counts_rabbitmq_queues_with_a_passive_declare(
    rabbitmq_server: str,
) -> None:
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    broker = RabbitmqBroker(url=rabbitmq_server, confirm_delivery=True)
    queue = f"metrics{os.getpid()}"
    broker.declare_queue(queue)
    broker.flush(queue)
    message = dramatiq.Message(
        queue_name=queue, actor_name="run_stage", args=(), kwargs={}, options={}
    )
    broker.enqueue(message)
    broker.enqueue(message.copy(message_id="2"))
    collector = QueueCollector(broker, [queue, "never-declared"])
    found = collected(collector)
    assert found[("seqoia_queue_depth", (("queue", queue),))] == 2
    assert found[("seqoia_dead_letters", (("queue", queue),))] == 0
    assert ("seqoia_queue_depth", (("queue", "never-declared"),)) not in found
    assert found[("seqoia_broker_up", ())] == 1
    broker.flush(queue)
    broker.close()
