"""A worker holds one message per thread of a stage queue, so a dead worker strands none.

Runs a real ``redis-server``: two threads busy with long messages, and the other messages
of their queue still in Redis for any other worker to take.
"""

from __future__ import annotations

import threading
import time

import dramatiq
import redis

from seqoia.settings import Settings
from seqoia.workers.broker import build_broker, stage_consumer

QUEUE = "align"


def test_a_worker_with_two_threads_holds_two_messages_and_leaves_the_rest_queued(
    redis_server: str,
) -> None:
    broker = build_broker(Settings(broker_url=redis_server))
    release = threading.Event()
    started: list[int] = []

    @dramatiq.actor(broker=broker, queue_name=QUEUE, max_retries=0)
    def long_stage(n: int) -> None:
        started.append(n)
        release.wait(30)

    for n in range(6):
        long_stage.send(n)
    consumer = stage_consumer(broker, threads=2, worker_timeout_ms=100)
    consumer.start()
    try:
        deadline = time.monotonic() + 10
        while len(started) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # time for a greedy consumer to fetch more than it runs
        assert len(started) == 2
        queued = redis.Redis.from_url(redis_server).llen(f"seqoia:{QUEUE}")
        assert queued == 4, f"{6 - queued} messages taken by a worker that runs 2"
    finally:
        release.set()
        consumer.stop()
        broker.close()


def test_a_short_queue_keeps_two_messages_per_thread_so_its_threads_never_wait(
    redis_server: str,
) -> None:
    broker = build_broker(Settings(broker_url=redis_server))
    release = threading.Event()
    started: list[int] = []

    @dramatiq.actor(broker=broker, queue_name="routing", max_retries=0)
    def short_stage(n: int) -> None:
        started.append(n)
        release.wait(30)

    for n in range(6):
        short_stage.send(n)
    consumer = stage_consumer(broker, threads=2, worker_timeout_ms=100, short_queues={"routing"})
    consumer.start()
    try:
        deadline = time.monotonic() + 10
        while len(started) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)
        assert len(started) == 2
        queued = redis.Redis.from_url(redis_server).llen("seqoia:routing")
        assert queued == 2, "a short queue prefetches 2 messages per thread, as dramatiq does"
    finally:
        release.set()
        consumer.stop()
        broker.close()
