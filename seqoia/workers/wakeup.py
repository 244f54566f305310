"""Wake-ups: a message sent on Redis wakes the idle consumers of its queue at once.

Dramatiq's Redis consumers poll: an idle one sleeps with a growing back-off up to the
worker timeout between two looks at its queue, so each broker hop added up to that long
to an event's way to its stage (two hops: ``object_created``, then ``run_stage``). Polling
faster costs every idle worker process CPU (~10 % of a core at 100 ms, ~37 % at 20 ms with
the germline pipeline's 28 queues and delay queues) and Redis as much again.

Instead, a sender PUBLISHes the queue's name on ``<namespace>:wake`` after each enqueue
(at most once per queue every ``PUBLISH_INTERVAL_S`` per process: a burst needs one), and
each worker process listens on that channel in one thread and sets the queue's event; its
consumer waits on that event instead of sleeping. A consumer also wakes when one of its
messages finishes in this process, so that a worker holding one message per thread takes
the next one as soon as a thread is free rather than after its back-off.

Wake-ups are hints, like the messages themselves: a lost one leaves the poll, which still
runs at the worker timeout (``SEQOIA_WORKER_POLL_MS``) and keeps the heartbeats.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.common import compute_backoff

log = logging.getLogger(__name__)

#: Least time between two wake-ups of the same queue sent by one process.
PUBLISH_INTERVAL_S = 0.025
#: How long the listener waits before subscribing again after a broken connection.
RESUBSCRIBE_S = 1.0


class WakeUps:
    """One process's wake-up events per queue, and the thread that sets them."""

    def __init__(self, client: redis.Redis, channel: str) -> None:
        self.client = client
        self.channel = channel
        self._events: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._listener: threading.Thread | None = None
        self._stopped = threading.Event()
        self._last_sent: dict[str, float] = {}

    def event(self, queue: str) -> threading.Event:
        """The event a consumer of ``queue`` waits on; starts listening on first use."""
        with self._lock:
            found = self._events.get(queue)
            if found is None:
                found = self._events[queue] = threading.Event()
            if self._listener is None:
                self._listener = threading.Thread(target=self._listen, name="wake-ups", daemon=True)
                self._listener.start()
            return found

    def wake(self, queue: str) -> None:
        """Wake this process's consumer of ``queue`` (no message to Redis)."""
        found = self._events.get(queue)
        if found is not None:
            found.set()

    def publish(self, queue: str) -> None:
        """Tell every worker process that ``queue`` has a new message."""
        now = time.monotonic()
        if now - self._last_sent.get(queue, 0.0) < PUBLISH_INTERVAL_S:
            return  # a wake-up just went out: the consumers it woke poll again soon
        self._last_sent[queue] = now
        try:
            self.client.publish(self.channel, queue)
        except redis.RedisError as err:  # the message is queued; polling will find it
            log.debug("could not publish a wake-up for %s: %s", queue, err)

    def stop(self) -> None:
        self._stopped.set()

    def _listen(self) -> None:
        while not self._stopped.is_set():
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.channel)
                while not self._stopped.is_set():
                    item = pubsub.get_message(timeout=1.0)
                    if item is not None and item.get("type") == "message":
                        self.wake(_text(item["data"]))
            except (redis.RedisError, OSError, ValueError) as err:
                if self._stopped.is_set():
                    return
                log.warning("wake-up channel lost (%s): polling until it is back", err)
                self._stopped.wait(RESUBSCRIBE_S)
            finally:
                with contextlib.suppress(redis.RedisError, OSError):
                    pubsub.close()


class _WakeableConsumer(_RedisConsumer):  # type: ignore[misc]
    """Dramatiq's Redis consumer, waiting on its queue's wake-up event instead of sleeping."""

    def __init__(self, broker: WakeableRedisBroker, queue_name: str, prefetch: int, timeout: int):
        # Dramatiq's own back-off sleep is made zero; the same back-off is waited below.
        super().__init__(broker, queue_name, prefetch, 0)
        self.idle_timeout_ms = timeout
        self.woken = broker.wakeups.event(queue_name)

    def __next__(self) -> Any:
        self.woken.clear()  # before the fetch: a wake-up during it is not lost
        message = self._next_message()
        if message is None:
            _, backoff_ms = compute_backoff(
                max(0, self.misses - 1), max_backoff=self.idle_timeout_ms
            )
            if self.woken.wait(backoff_ms / 1000):
                self.misses = 0  # look again soon: others woken with us may have taken it
        return message

    def _next_message(self) -> Any:
        """Dramatiq's: a cached message, else a fetch of up to the prefetch (no sleep)."""
        return super().__next__()


class WakeableRedisBroker(RedisBroker):  # type: ignore[misc]
    """Dramatiq's Redis broker with wake-ups on ``<namespace>:wake``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.wakeups = WakeUps(self.client, f"{self.namespace}:wake")

    @property
    def consumer_class(self) -> type[_RedisConsumer]:
        return _WakeableConsumer

    def close(self) -> None:
        self.wakeups.stop()
        super().close()


class WakeUpMiddleware(dramatiq.Middleware):  # type: ignore[misc]
    """Publishes a wake-up after each enqueue; wakes a consumer when its message is acked."""

    def after_enqueue(self, broker: dramatiq.Broker, message: Any, delay: int | None) -> None:
        if delay is None and isinstance(broker, WakeableRedisBroker):
            broker.wakeups.publish(message.queue_name)

    def after_ack(self, broker: dramatiq.Broker, message: Any) -> None:
        # Acknowledged: the consumer holds one message fewer and may fetch another now.
        if isinstance(broker, WakeableRedisBroker):
            broker.wakeups.wake(message.queue_name)

    after_nack = after_ack


def _text(data: Any) -> str:
    return data.decode() if isinstance(data, bytes) else str(data)
