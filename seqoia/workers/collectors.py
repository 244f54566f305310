"""Store- and broker-level gauges, computed when Prometheus scrapes.

These describe shared state (a queue, the active runs), not one process's work, so they
are served by one kind of process only — ``seqoia up``, ``seqoia intake`` (queues) and
``seqoia reconcile --every`` (runs) — never by every worker, which would report the same
queue N times. Replicas of those still duplicate series: the recording rules take
``max by (queue)``.

- :class:`QueueCollector` asks the broker at scrape time, per queue: messages ready,
  delayed and dead-lettered, and the age of the oldest ready message. Redis: dramatiq's
  keys (``LLEN``/``ZCARD`` and the head message's timestamp). RabbitMQ: a passive
  ``queue_declare`` gives ``message_count`` (ready messages only; RabbitMQ cannot show the
  head of a queue without consuming it, so there is no age). In-memory: queue sizes.
- :class:`ReconcileStatus` keeps the last reconcile pass's findings; its cost is the
  pass's, which already follows the active runs only (finished runs are not visited).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.common import dq_name, xq_name

from seqoia.engine.reconciler import Reconciler, ReconcileReport
from seqoia.engine.runtime import Runtime
from seqoia.workers.broker import broker_kind

log = logging.getLogger(__name__)


@dataclass
class QueueStats:
    """One queue at one moment."""

    queue: str
    ready: int
    delayed: int
    dead: int
    oldest_age_s: float | None  # None: unknown (RabbitMQ) or empty


def _age_s(data: bytes | None, now_s: float) -> float | None:
    if not data:
        return None
    try:
        message = dramatiq.Message.decode(data)
    except Exception:  # noqa: BLE001 - a foreign message must not break the scrape
        return None
    due_ms = max(message.message_timestamp, int(message.options.get("eta", 0) or 0))
    return max(0.0, now_s - due_ms / 1000)


def stub_queue_stats(broker: StubBroker, queues: Iterable[str]) -> list[QueueStats]:
    now = time.time()
    found = []
    for queue in queues:
        ready = broker.queues.get(queue)
        if ready is None:
            continue
        with ready.mutex:  # peek at the head without taking it
            head = ready.queue[0] if ready.queue else None
        delayed = broker.queues.get(dq_name(queue))
        found.append(
            QueueStats(
                queue=queue,
                ready=ready.qsize(),
                delayed=delayed.qsize() if delayed is not None else 0,
                dead=len(broker.dead_letters_by_queue.get(queue, ())),
                oldest_age_s=_age_s(head, now),
            )
        )
    return found


def redis_queue_stats(broker: Any, queues: Iterable[str]) -> list[QueueStats]:
    """Read dramatiq's Redis keys (``<ns>:<queue>`` list, ``.msgs`` hash, ``.XQ`` zset)."""
    names = list(queues)
    ns = broker.namespace
    pipe = broker.client.pipeline(transaction=False)
    for queue in names:
        pipe.llen(f"{ns}:{queue}")
        pipe.llen(f"{ns}:{dq_name(queue)}")
        pipe.zcard(f"{ns}:{xq_name(queue)}")
        pipe.lindex(f"{ns}:{queue}", 0)  # dramatiq RPUSHes and LPOPs: index 0 is oldest
    replies = pipe.execute()
    heads = []
    pipe = broker.client.pipeline(transaction=False)
    for i, queue in enumerate(names):
        head_id = replies[4 * i + 3]
        heads.append(head_id is not None)
        if head_id is not None:
            pipe.hget(f"{ns}:{queue}.msgs", head_id)
    bodies = iter(pipe.execute())
    now = time.time()
    found = []
    for i, queue in enumerate(names):
        body = next(bodies) if heads[i] else None
        found.append(
            QueueStats(
                queue=queue,
                ready=int(replies[4 * i]),
                delayed=int(replies[4 * i + 1]),
                dead=int(replies[4 * i + 2]),
                oldest_age_s=_age_s(body, now),
            )
        )
    return found


class _RabbitmqCounter:
    """A connection of its own: pika channels are not thread-safe, scrapes are threads."""

    def __init__(self, broker: Any) -> None:
        self.parameters = broker.parameters
        self.connection: Any = None
        self.channel: Any = None

    def count(self, queue: str) -> int | None:
        import pika

        if self.connection is None or not self.connection.is_open:
            self.connection = pika.BlockingConnection(self.parameters)
            self.channel = None
        if self.channel is None or not self.channel.is_open:
            self.channel = self.connection.channel()
        try:
            reply = self.channel.queue_declare(queue=queue, passive=True)
        except pika.exceptions.ChannelClosedByBroker:  # 404: not declared yet
            self.channel = None
            return None
        return int(reply.method.message_count)

    def close(self) -> None:
        if self.connection is not None and self.connection.is_open:
            self.connection.close()


def rabbitmq_queue_stats(counter: _RabbitmqCounter, queues: Iterable[str]) -> list[QueueStats]:
    found = []
    for queue in queues:
        ready = counter.count(queue)
        if ready is None:
            continue
        found.append(
            QueueStats(
                queue=queue,
                ready=ready,
                delayed=counter.count(dq_name(queue)) or 0,
                dead=counter.count(xq_name(queue)) or 0,
                oldest_age_s=None,
            )
        )
    return found


class QueueCollector:
    """Queue depth, delayed and dead-lettered messages and oldest age, per queue."""

    def __init__(self, broker: dramatiq.Broker, queues: Iterable[str]) -> None:
        self.broker = broker
        self.queues = sorted(set(queues))
        self._lock = threading.Lock()
        self._rabbit: _RabbitmqCounter | None = None

    def stats(self) -> list[QueueStats]:
        """Ask the broker now; raises the broker client's errors."""
        broker = self.broker
        if isinstance(broker, StubBroker):
            return stub_queue_stats(broker, self.queues)
        kind = broker_kind(broker)
        if kind == "RedisBroker":
            return redis_queue_stats(broker, self.queues)
        if kind == "RabbitmqBroker":
            with self._lock:
                if self._rabbit is None:
                    self._rabbit = _RabbitmqCounter(broker)
                try:
                    return rabbitmq_queue_stats(self._rabbit, self.queues)
                except Exception:
                    self._rabbit.close()
                    self._rabbit = None
                    raise
        raise TypeError(f"no queue statistics for {kind}")

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        up = GaugeMetricFamily("seqoia_broker_up", "Whether the broker answered this scrape")
        try:
            found = self.stats()
        except Exception as err:  # noqa: BLE001 - a scrape reports, it does not crash
            log.warning("queue statistics unavailable: %s", err)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        depth = GaugeMetricFamily(
            "seqoia_queue_depth", "Messages ready in the queue", labels=["queue"]
        )
        delayed = GaugeMetricFamily(
            "seqoia_queue_delayed", "Delayed messages held by the broker", labels=["queue"]
        )
        dead = GaugeMetricFamily(
            "seqoia_dead_letters", "Messages in the queue's dead letters", labels=["queue"]
        )
        age = GaugeMetricFamily(
            "seqoia_queue_oldest_message_age_seconds",
            "Age of the oldest ready message (0 when empty; absent on RabbitMQ)",
            labels=["queue"],
        )
        for stats in found:
            depth.add_metric([stats.queue], stats.ready)
            delayed.add_metric([stats.queue], stats.delayed)
            dead.add_metric([stats.queue], stats.dead)
            if stats.oldest_age_s is not None or stats.ready == 0:
                age.add_metric([stats.queue], stats.oldest_age_s or 0.0)
        yield from (depth, delayed, dead, age)


#: Families computed at scrape time by the collectors below, name -> type.
COLLECTED_FAMILIES = {
    "seqoia_broker_up": "gauge",
    "seqoia_queue_depth": "gauge",
    "seqoia_queue_delayed": "gauge",
    "seqoia_dead_letters": "gauge",
    "seqoia_queue_oldest_message_age_seconds": "gauge",
    "seqoia_reconcile_passes": "counter",
    "seqoia_runs_finished": "counter",
    "seqoia_reconcile_last_success_timestamp_seconds": "gauge",
    "seqoia_reconcile_pass_duration_seconds": "gauge",
    "seqoia_reconcile_findings": "gauge",
    "seqoia_incomplete_runs_past_age": "gauge",
    "seqoia_runs": "gauge",
    "seqoia_samples": "gauge",
}

#: Exclusive run states, summing to the active runs of the last pass.
RUN_STATES = ("processing", "incomplete", "stuck")
#: Exclusive states of samples with pending work in active runs (worst wins).
SAMPLE_STATES = ("waiting", "running", "failed")
FINDINGS = ("enqueued", "running", "failed", "incomplete", "stuck")


class ReconcileStatus:
    """The last reconcile pass, as gauges; passes and finished runs as counters."""

    def __init__(self, runtime: Runtime) -> None:
        self.kinds = {stage.name: stage.kind for stage in runtime.pipeline}
        self._lock = threading.Lock()
        self.last: ReconcileReport | None = None
        self.last_duration_s = 0.0
        self.last_success_s: float | None = None
        self.passes = {"ok": 0, "failed": 0}
        self.runs_finished = 0

    def record(self, report: ReconcileReport, duration_s: float) -> None:
        with self._lock:
            self.last = report
            self.last_duration_s = duration_s
            self.last_success_s = time.time()
            self.passes["ok"] += 1
            self.runs_finished += len(report.runs_done)

    def record_failure(self) -> None:
        with self._lock:
            self.passes["failed"] += 1

    def run_states(self, report: ReconcileReport) -> dict[str, int]:
        stuck = set(report.stuck_runs)
        incomplete = set(report.incomplete_runs) - stuck
        active = report.runs_visited - len(report.runs_done)
        return {
            "processing": max(0, active - len(incomplete) - len(stuck)),
            "incomplete": len(incomplete),
            "stuck": len(stuck),
        }

    def sample_states(self, report: ReconcileReport) -> dict[str, int]:
        state: dict[str, str] = {}
        for name, pairs in (
            ("waiting", report.enqueued),
            ("running", report.running),
            ("failed", report.failed),
        ):
            for stage, subject in pairs:
                if self.kinds.get(stage) == "sample":
                    state[subject] = name  # later lists are worse: failed > running > waiting
        return {name: sum(1 for s in state.values() if s == name) for name in SAMPLE_STATES}

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        with self._lock:
            report, duration_s = self.last, self.last_duration_s
            last_success_s, passes = self.last_success_s, dict(self.passes)
            finished = self.runs_finished
        total = CounterMetricFamily(
            "seqoia_reconcile_passes", "Reconcile passes by result", labels=["result"]
        )
        for result, n in passes.items():
            total.add_metric([result], n)
        yield total
        yield CounterMetricFamily(
            "seqoia_runs_finished", "Runs the reconciler found complete", value=finished
        )
        if report is None or last_success_s is None:
            return  # nothing looked at yet: no claim about runs
        yield GaugeMetricFamily(
            "seqoia_reconcile_last_success_timestamp_seconds",
            "When the last successful reconcile pass ended",
            value=last_success_s,
        )
        yield GaugeMetricFamily(
            "seqoia_reconcile_pass_duration_seconds",
            "Duration of the last successful reconcile pass",
            value=duration_s,
        )
        findings = GaugeMetricFamily(
            "seqoia_reconcile_findings",
            "Last pass: stages enqueued, running, failed; runs incomplete, stuck",
            labels=["finding"],
        )
        counts = {
            "enqueued": len(report.enqueued),
            "running": len(report.running),
            "failed": len(report.failed),
            "incomplete": len(set(report.incomplete_runs)),
            "stuck": len(set(report.stuck_runs)),
        }
        for finding in FINDINGS:
            findings.add_metric([finding], counts[finding])
        yield findings
        yield GaugeMetricFamily(
            "seqoia_incomplete_runs_past_age",
            "Run folders still incomplete after incomplete_run_age_s",
            value=counts["stuck"],
        )
        runs = GaugeMetricFamily("seqoia_runs", "Active runs by state", labels=["state"])
        for state, n in self.run_states(report).items():
            runs.add_metric([state], n)
        yield runs
        samples = GaugeMetricFamily(
            "seqoia_samples", "Samples of active runs with pending work, by state", labels=["state"]
        )
        for state, n in self.sample_states(report).items():
            samples.add_metric([state], n)
        yield samples


class ObservedReconciler(Reconciler):
    """A reconciler whose passes are recorded in a :class:`ReconcileStatus`."""

    def __init__(self, runtime: Runtime, enqueue: Any, status: ReconcileStatus) -> None:
        super().__init__(runtime, enqueue)
        self.status = status

    def run_pass(self) -> ReconcileReport:
        started = time.monotonic()
        try:
            report = super().run_pass()
        except Exception:
            self.status.record_failure()
            raise
        self.status.record(report, time.monotonic() - started)
        return report
