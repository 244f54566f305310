"""The Dramatiq broker, built from a URL, with middleware set deliberately for long stages.

Dramatiq's defaults suit short web jobs: a 10-minute time limit (which raises in the
worker thread and cannot stop a child process), retries backing off towards 7 days, and
on Redis a killed worker's messages returning only after a 60 s heartbeat timeout *and*
a random maintenance pass (about 1 in 1,000 fetches). Here:

- time limits are enforced by the stage runner, which kills the stage's process group;
  Dramatiq's TimeLimit only backstops actors that are not stages;
- permanent errors (bad input) fail at once to the dead letters; transient ones retry
  with a bounded back-off (``retry_min_backoff_s`` .. ``retry_max_backoff_s``);
- Redis runs maintenance on about 1 command in 10, and every worker also sweeps each of
  its queues every third of the heartbeat timeout (:mod:`seqoia.workers.sweep`).
  Maintenance only returns a dead worker's messages *of the queue the command was for*,
  and an idle consumer polls its queue about once a second: at random alone, a killed
  worker's stage message waited a geometric number of polls (at 1 in 100, ~100 s on
  average). A pass costs two ZRANGEBYSCOREs when no worker is dead.
- a worker holds at most one message per thread of each queue (``stage_consumer``):
  Dramatiq prefetches twice its thread count, so a worker busy with two alignments held
  two more that waited behind them, and when it was killed they waited out the heartbeat
  (~62 s) while idle workers had nothing to do. With one per thread, what a dead worker
  held was running, and its lease (not the broker) decides when it is taken over; a
  stage lasts minutes to hours, so the round trip saved by prefetching is worth nothing.
  With ``thread_slots`` (opt-in) the long queues of a worker share that count on Redis
  (:mod:`seqoia.workers.slots`): a busy worker does not hold another queue's message, or
  an urgent one, behind its stage.
  The heartbeat timeout stays 60 s: an idle consumer polls every second and every
  poll (and every sweep) is a heartbeat, so a live worker is never declared dead. Keep it
  below the lease time: a dead worker's message is then back before its lease expires,
  and the busy-retry takes the stage over right at the expiry.
- on Redis a sent message wakes the idle consumers of its queue
  (:mod:`seqoia.workers.wakeup`); the poll at the worker timeout is only the fallback.
- on Redis, routine messages are shared out fairly between centres when a worker takes
  them (:mod:`seqoia.workers.fairness`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from urllib.parse import urlsplit

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from seqoia.errors import ConfigurationError
from seqoia.redact import redact_url
from seqoia.settings import Settings
from seqoia.workers.fairness import FairShare
from seqoia.workers.middleware import metrics_middleware
from seqoia.workers.redis_broker import SeqoiaRedisBroker
from seqoia.workers.slots import ThreadSlots
from seqoia.workers.sweep import DeadWorkerSweep, sweep_interval_s
from seqoia.workers.wakeup import WakeUpMiddleware

log = logging.getLogger(__name__)

#: Backstop for non-stage actors (routing, events): they do a few store requests.
EVENT_TIME_LIMIT_MS = 10 * 60 * 1000


def retry_when(max_retries: int):  # type: ignore[no-untyped-def]
    """Retry transient faults only; permanent ones (``.permanent``) dead-letter at once."""

    def should_retry(retries: int, exception: BaseException) -> bool:
        if getattr(exception, "permanent", False):
            return False
        return retries < max_retries

    return should_retry


def fair_share(settings: Settings) -> FairShare:
    return FairShare(floor=settings.fair_share_floor, between=settings.fair_share_between)


def middleware_for(settings: Settings) -> list[dramatiq.Middleware]:
    return [
        *metrics_middleware(),  # first, as in dramatiq's defaults: sees every message
        # After the metrics (a skip must be seen by the middleware that saw the start),
        # before everything that acts on a message it would defer.
        *([fair_share(settings)] if settings.fair_share else []),
        AgeLimit(),
        TimeLimit(time_limit=EVENT_TIME_LIMIT_MS, interval=1000),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(
            min_backoff=int(settings.retry_min_backoff_s * 1000),
            max_backoff=int(settings.retry_max_backoff_s * 1000),
            retry_when=retry_when(settings.max_retries),
        ),
    ]


class _StageWorker(dramatiq.Worker):  # type: ignore[misc]
    """A Dramatiq worker whose prefetch is chosen per queue (see :func:`stage_consumer`)."""

    short_queues: frozenset[str] = frozenset()
    short_prefetch: int = 0
    slots: ThreadSlots | None = None

    def start(self) -> None:
        # Every long queue's slot first: the first consumer to start must know them all
        # (a routine one leaves a free thread to a queue served first with messages).
        for queue_name in self.broker.get_declared_queues():
            if not self.consumer_whitelist or queue_name in self.consumer_whitelist:
                self._share_slots(queue_name)
        super().start()

    def _share_slots(self, queue_name: str) -> None:
        registry = getattr(self.broker, "thread_slots", None)
        if self.slots is not None and registry is not None and queue_name not in self.short_queues:
            registry[queue_name] = self.slots
            prioritised = any(
                actor.queue_name == queue_name and actor.priority < 0
                for actor in self.broker.actors.values()
            )
            self.slots.share(queue_name, first=prioritised)

    def _add_consumer(self, queue_name: str, *, delay: bool = False) -> None:
        if delay or queue_name not in self.short_queues:
            if not delay:
                self._share_slots(queue_name)  # a queue declared after start
            super()._add_consumer(queue_name, delay=delay)
            return
        long_prefetch, self.queue_prefetch = self.queue_prefetch, self.short_prefetch
        try:
            super()._add_consumer(queue_name, delay=delay)
        finally:
            self.queue_prefetch = long_prefetch


def stage_consumer(
    broker: dramatiq.Broker,
    *,
    threads: int,
    queues: set[str] | None = None,
    worker_timeout_ms: int = 1000,
    short_queues: Iterable[str] = (),
    thread_slots: bool = False,
) -> dramatiq.Worker:
    """A Dramatiq worker that holds at most one message per thread of each queue.

    Dramatiq's default (``2 * threads``) keeps messages waiting behind long stages in a
    worker that may die with them; see the module's docstring. ``short_queues`` (routing
    and inline stages: milliseconds) keep Dramatiq's default: with only one message per
    thread, a consumer that finds all its threads busy sleeps (5 ms, then more) and the
    thread that frees up first waits for it, a third of the throughput of short stages.
    ``thread_slots``: on Redis, long queues fetch only into free threads
    (:mod:`seqoia.workers.slots`).
    """
    consumer = _StageWorker(
        broker, queues=queues, worker_threads=threads, worker_timeout=worker_timeout_ms
    )
    consumer.queue_prefetch = threads
    consumer.short_queues = frozenset(short_queues)
    consumer.short_prefetch = 2 * threads
    consumer.slots = ThreadSlots(threads) if thread_slots else None
    return consumer


def broker_kind(broker: dramatiq.Broker) -> str:
    """``RedisBroker``, ``RabbitmqBroker``... for dramatiq's brokers and their subclasses.

    By name, so that readers of a broker need not import every broker's client library.
    """
    for cls in type(broker).__mro__:
        if cls.__module__.startswith("dramatiq."):
            return cls.__name__
    return type(broker).__name__


def build_broker(settings: Settings) -> dramatiq.Broker:
    """A broker for ``settings.broker_url``: memory://, redis://, rediss:// or amqp(s)://."""
    url = settings.broker_url
    scheme = urlsplit(url).scheme
    middleware = middleware_for(settings)
    broker: dramatiq.Broker
    if scheme == "memory":
        broker = StubBroker(middleware=middleware)
        broker.emit_after("process_boot")
    elif scheme in ("redis", "rediss"):
        broker = SeqoiaRedisBroker(
            url=url,
            middleware=[
                *middleware,
                DeadWorkerSweep(sweep_interval_s(settings.heartbeat_timeout_s)),
                WakeUpMiddleware(),
            ],
            namespace="seqoia",
            heartbeat_timeout=int(settings.heartbeat_timeout_s * 1000),
            maintenance_chance=100_000,  # out of a million commands, per queue
            dead_message_ttl=30 * 86400 * 1000,
        )
    elif scheme in ("amqp", "amqps"):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker = RabbitmqBroker(
            url=url,
            middleware=middleware,
            confirm_delivery=True,
        )
    else:
        raise ConfigurationError(
            f"unsupported broker URL scheme {scheme!r}: use memory://, redis:// or amqp://"
        )
    log.info("broker %s", redact_url(url))  # never the password itself
    return broker
