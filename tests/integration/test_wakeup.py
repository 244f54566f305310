"""On Redis, a message wakes an idle worker at once instead of after its polling back-off."""

from __future__ import annotations

import threading
import time

import dramatiq

from seqoia.settings import Settings
from seqoia.workers.broker import build_broker, stage_consumer


def test_an_idle_worker_starts_a_message_long_before_its_poll_interval(redis_server: str) -> None:
    receiver = build_broker(Settings(broker_url=redis_server))
    sender = build_broker(Settings(broker_url=redis_server))  # another process's broker
    started: list[float] = []
    done = threading.Event()

    def hop(sent_at: float) -> None:
        started.append(time.time() - sent_at)
        done.set()

    dramatiq.actor(hop, broker=receiver, queue_name="wake", max_retries=0)
    send = dramatiq.actor(hop, broker=sender, queue_name="wake", max_retries=0)
    consumer = stage_consumer(receiver, threads=1, worker_timeout_ms=5000)
    consumer.start()
    try:
        time.sleep(2.0)  # idle long enough for the back-off to reach seconds
        for _ in range(5):
            done.clear()
            send.send(time.time())
            assert done.wait(10)
            time.sleep(0.3)
    finally:
        consumer.stop()
        sender.close()
        receiver.close()
    # Polling alone would take 2.5-5 s per message at this back-off.
    assert max(started) < 1.0, started


def test_a_lost_wake_up_still_leaves_the_poll(redis_server: str) -> None:
    receiver = build_broker(Settings(broker_url=redis_server))
    receiver.wakeups.publish = lambda queue: None  # type: ignore[attr-defined]
    done = threading.Event()

    @dramatiq.actor(broker=receiver, queue_name="nowake", max_retries=0)
    def hop() -> None:
        done.set()

    consumer = stage_consumer(receiver, threads=1, worker_timeout_ms=300)
    consumer.start()
    try:
        time.sleep(1.0)
        hop.send()
        assert done.wait(5)
    finally:
        consumer.stop()
        receiver.close()


def test_readers_of_the_broker_see_a_redis_broker_with_wake_ups_as_redis(redis_server: str) -> None:
    from seqoia.workers.broker import broker_kind
    from seqoia.workers.collectors import QueueCollector
    from seqoia.workers.deadletters import RedisDeadLetters, dead_letter_queues

    broker = build_broker(Settings(broker_url=redis_server))
    try:
        assert broker_kind(broker) == "RedisBroker"
        assert isinstance(dead_letter_queues(broker, ["wake"]), RedisDeadLetters)
        assert [s.queue for s in QueueCollector(broker, ["wake"]).stats()] == ["wake"]
    finally:
        broker.close()
