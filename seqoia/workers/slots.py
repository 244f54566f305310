"""Thread slots: a worker process holds no more stage messages than it has threads.

Dramatiq counts prefetch per queue. A worker with one thread serving ``align``,
``markduplicates`` and their urgent queues holds up to one message of each while that
thread runs a three-hour alignment. The urgent genome's message, fetched by whichever
worker its wake-up reached first, then waits out that alignment on a busy worker while
other workers free up; so does a routine message of the group's other queue. In the load
simulation (bench/README.md) the urgent genome behind a burst took 1.1–1.8× its unloaded
turnaround depending on where its messages landed.

So the consumers of one worker's long queues (not the short ones, not delay queues) share
one count of the messages they hold, running or waiting for a thread, and fetch only into
free threads. When a message is acknowledged, every long consumer of the process is
woken; a routine consumer leaves the last free thread to a queue served first that has
messages: an urgent queue, or the queue of an actor declared with a priority (events:
routing is how an urgent run is found). Prefetching had given those their turn for free,
as dramatiq's worker runs what it holds in actor-priority order; fetching only into free
threads must do it here, or a routine stage takes the thread an event was waiting for.
A message no thread is free for stays in Redis, where the first worker to free a thread
takes it, and where a dying worker cannot strand it.
"""

from __future__ import annotations

import threading
from typing import Any

from dramatiq.brokers.redis import _RedisConsumer

from seqoia.engine.priority import URGENT_SUFFIX
from seqoia.workers.wakeup import WakeableRedisBroker, _WakeableConsumer


class ThreadSlots:
    """One worker's threads, shared by the consumers of its long queues."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        #: Held while a consumer decides how many to fetch and fetches them.
        self.lock = threading.Lock()
        #: The long queues, known before their consumers start (each in its own thread).
        self.queues: set[str] = set()
        #: Those served first (see the module's docstring).
        self.first: set[str] = set()
        self._consumers: set[SlottedConsumer] = set()

    def add(self, consumer: SlottedConsumer) -> None:
        with self.lock:
            self._consumers.add(consumer)

    def discard(self, consumer: SlottedConsumer) -> None:
        with self.lock:
            self._consumers.discard(consumer)

    def free(self) -> int:
        """Threads not holding a message (call with ``lock`` held)."""
        held = sum(c.outstanding_message_count for c in self._consumers)
        return max(0, self.threads - held)

    def share(self, queue: str, *, first: bool) -> None:
        """Count ``queue``'s messages in these slots; ``first``: it is served first."""
        self.queues.add(queue)
        if first or queue.endswith(URGENT_SUFFIX):
            self.first.add(queue)

    def first_waiting(self, broker: WakeableRedisBroker) -> bool:
        """Whether a queue served first has messages in Redis (one round trip)."""
        if not self.first:
            return False
        pipe = broker.client.pipeline(transaction=False)
        for queue in sorted(self.first):
            pipe.llen(f"{broker.namespace}:{queue}")
        return any(pipe.execute())

    def wake_all(self, broker: WakeableRedisBroker) -> None:
        """A thread is free: every long consumer looks at its queue again, first ones first."""
        for queue in sorted(self.queues, key=lambda q: q not in self.first):
            broker.wakeups.wake(queue)


class SlottedConsumer(_WakeableConsumer):
    """A long queue's consumer that fetches only into its worker's free threads."""

    def __init__(
        self,
        broker: SlottedRedisBroker,
        queue_name: str,
        prefetch: int,
        timeout: int,
        slots: ThreadSlots,
    ) -> None:
        super().__init__(broker, queue_name, prefetch, timeout)
        self.slots = slots
        self.most = prefetch
        self.served_first = queue_name in slots.first
        slots.add(self)

    def _next_message(self) -> Any:
        if self.message_cache:
            return _RedisConsumer.__next__(self)
        with self.slots.lock:
            free = self.slots.free()
            if free == 1 and not self.served_first and self.slots.first_waiting(self.broker):
                free = 0  # the last free thread is for the urgent message or the event
                self.slots.wake_all(self.broker)
            self.prefetch = min(self.most, self.outstanding_message_count + free)
            return _RedisConsumer.__next__(self)

    def ack(self, message: Any) -> None:
        try:
            super().ack(message)
        finally:
            self.slots.wake_all(self.broker)

    def nack(self, message: Any) -> None:
        try:
            super().nack(message)
        finally:
            self.slots.wake_all(self.broker)

    def close(self) -> None:
        self.slots.discard(self)
        super().close()


class SlottedRedisBroker(WakeableRedisBroker):
    """Gives the consumers of the queues a worker registered a shared :class:`ThreadSlots`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        #: Queue -> the slots of the worker consuming it (one stage worker per broker).
        self.thread_slots: dict[str, ThreadSlots] = {}

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> Any:
        slots = self.thread_slots.get(queue_name)
        if slots is None:
            return super().consume(queue_name, prefetch, timeout)
        return SlottedConsumer(self, queue_name, prefetch, timeout, slots)
