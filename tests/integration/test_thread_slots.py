"""A worker fetches long-stage messages only into free threads, urgent ones first.

On a real ``redis-server``: a one-thread worker busy with a long ``align`` message must
leave an urgent message in Redis for a worker with a free thread, instead of holding it
behind its stage; and a worker with one free thread and both queues waiting takes the
urgent message.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import dramatiq
import pytest
import redis

from seqoia.settings import Settings
from seqoia.workers.broker import build_broker, stage_consumer
from tests.integration.engine_helpers import wait_for

QUEUE, URGENT = "align", "align.urgent"


class Bench:
    """Brokers, each with a routine and an urgent actor recording which worker ran what."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ran: list[tuple[str, str]] = []  # (worker, message)
        self.release = threading.Event()
        self.brokers: list[dramatiq.Broker] = []
        self.workers: list[dramatiq.Worker] = []

    def broker(self, name: str) -> tuple[dramatiq.Actor, dramatiq.Actor, dramatiq.Actor]:
        broker = build_broker(Settings(broker_url=self.url))
        self.brokers.append(broker)

        def stage(what: str) -> None:
            self.ran.append((name, what))
            if what.startswith("long"):
                self.release.wait(30)

        routine = dramatiq.actor(stage, broker=broker, queue_name=QUEUE, actor_name="stage")
        urgent = dramatiq.actor(
            stage, broker=broker, queue_name=URGENT, actor_name="urgent_stage", priority=-10
        )
        # As seqoia's object_created: routing, on a queue without the urgent suffix.
        event = dramatiq.actor(
            stage, broker=broker, queue_name="events", actor_name="event", priority=-10
        )
        return routine, urgent, event

    def start(self, broker_index: int) -> None:
        worker = stage_consumer(
            self.brokers[broker_index], threads=1, worker_timeout_ms=100, thread_slots=True
        )
        worker.start()
        self.workers.append(worker)

    def queued(self, queue: str) -> int:
        return int(redis.Redis.from_url(self.url).llen(f"seqoia:{queue}"))

    def close(self) -> None:
        self.release.set()
        for worker in self.workers:
            worker.stop()
        for broker in self.brokers:
            broker.close()


@pytest.fixture
def bench(redis_server: str) -> Iterator[Bench]:
    redis.Redis.from_url(redis_server).flushdb()
    found = Bench(redis_server)
    yield found
    found.close()


def test_a_busy_worker_leaves_an_urgent_message_to_a_worker_with_a_free_thread(
    bench: Bench,
) -> None:
    routine, urgent, _ = bench.broker("busy")
    bench.broker("free")
    routine.send("long")
    bench.start(0)
    wait_for(lambda: ("busy", "long") in bench.ran, timeout_s=10, what="the long stage")
    urgent.send("urgent")
    time.sleep(1.0)  # time for a greedy urgent consumer to fetch it
    assert bench.queued(URGENT) == 1, "the busy worker took the urgent message"
    bench.start(1)
    wait_for(lambda: len(bench.ran) == 2, timeout_s=10, what="the urgent stage")
    assert bench.ran[1] == ("free", "urgent")


def test_a_worker_with_one_free_thread_takes_the_urgent_message_first(bench: Bench) -> None:
    routine, urgent, _ = bench.broker("one")
    for n in range(3):
        routine.send(f"routine-{n}")
    urgent.send("urgent")
    bench.start(0)
    wait_for(lambda: len(bench.ran) == 4, timeout_s=10, what="every stage")
    assert bench.ran[0] == ("one", "urgent"), bench.ran


def test_a_freed_thread_goes_to_a_waiting_event_before_routine_stages(bench: Bench) -> None:
    """Prefetching had run a held event first (actor priority); fetching into free threads
    must too, or each freed thread goes to the next routine stage and the event (how a new
    run, perhaps an urgent one, is found) waits for the whole backlog."""
    routine, _, event = bench.broker("one")
    routine.send("long")
    bench.start(0)
    wait_for(lambda: ("one", "long") in bench.ran, timeout_s=10, what="the long stage")
    for n in range(3):
        routine.send(f"routine-{n}")
    event.send("event")
    time.sleep(0.5)
    bench.release.set()
    wait_for(lambda: len(bench.ran) == 5, timeout_s=10, what="every message")
    assert bench.ran[1] == ("one", "event"), bench.ran
