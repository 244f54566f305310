"""Dead-worker sweep on Redis: a killed worker's messages come back within a bounded time.

Dramatiq's RedisBroker gives a dead worker's unacknowledged messages back only during
"maintenance", which a command triggers at random (``maintenance_chance``) and which looks
at the one queue that command was for. So a stage message of a SIGKILLed worker came back
after the heartbeat timeout *plus* a random number of polls of its queue by idle workers:
geometric, at 1 in 10 and one idle poller a second more than 20 s one time in eight, and
never while every worker of that queue is busy. The chaos bench measured takeovers of 16
and 22 s against a 6 s lease and a 3 s heartbeat.

Here each worker also runs maintenance itself, on every queue it consumes (delay queues
included), every ``interval_s``: a dead worker's messages return at most heartbeat timeout
plus ``interval_s`` after its last heartbeat. The command used is ``qsize``, which only
reads; a pass costs one script call per queue (two ZRANGEBYSCOREs when no worker is dead).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker

log = logging.getLogger(__name__)

#: The read-only command whose calls always run maintenance (dramatiq itself calls it only
#: in ``join`` and tests).
SWEEP_COMMAND = "qsize"


class SweepingRedisBroker(RedisBroker):
    """A RedisBroker whose ``qsize`` commands always run queue maintenance."""

    def _should_do_maintenance(self, command: str) -> int:
        if command == SWEEP_COMMAND:
            return 1
        return int(super()._should_do_maintenance(command))


def sweep_interval_s(heartbeat_timeout_s: float) -> float:
    """A third of the heartbeat timeout, within 0.5..20 s."""
    return min(20.0, max(0.5, heartbeat_timeout_s / 3))


class DeadWorkerSweep(dramatiq.Middleware):
    """Runs maintenance on the worker's queues every ``interval_s`` while it consumes."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._stop = threading.Event()

    def after_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        if not isinstance(broker, SweepingRedisBroker):
            return
        self._stop.clear()
        threading.Thread(
            target=self._sweep_until_stopped, args=(broker, worker), name="seqoia-sweep",
            daemon=True,
        ).start()  # fmt: skip

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        self._stop.set()

    def _sweep_until_stopped(self, broker: SweepingRedisBroker, worker: Any) -> None:
        while not self._stop.wait(self.interval_s):
            for queue in list(worker.consumers):  # queues declared later are swept too
                try:
                    broker.do_qsize(queue)
                except Exception as err:  # noqa: BLE001 - Redis restarting: next pass
                    log.debug("sweep of %s failed: %s", queue, err)
                    break
