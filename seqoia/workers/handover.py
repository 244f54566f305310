"""Graceful stop of one worker process: finish the running stages, or hand them over.

Kubernetes sends SIGTERM and kills the pod 30 s later. A genomics stage can run for hours,
so waiting for it is not an option, and neither is dying with it: the stage would be
found only once its lease expired and, on Redis, once the dead worker's heartbeat timed
out. Instead, on SIGTERM a worker process

1. stops taking messages (dramatiq's ``Worker.stop`` requeues those prefetched);
2. lets running stages finish for ``grace_s`` seconds;
3. then raises :class:`StageHandover` in the threads still running a stage. The stage
   runner kills the stage process with its tools and releases the lease in its
   ``finally`` (nothing is committed: the manifest is written last), and the
   ``run_stage`` actor sends the same stage again at once and returns, so its message is
   acknowledged while the consumer still runs. Another worker takes it over at once,
   without waiting for the lease's TTL.

The exception is sent the way dramatiq's own time limit and shutdown notices are
(``raise_thread_exception``): it lands between two short waits on the stage process.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import dramatiq
from dramatiq.middleware import Interrupt, raise_thread_exception

log = logging.getLogger(__name__)

#: After the grace period, how long the interrupted stages get to kill and release.
RELEASE_MARGIN_S = 10.0


class StageHandover(Interrupt):
    """Raised in a stage's thread when its worker stops: release the stage to another worker.

    An ``Interrupt`` (a BaseException), not a SeqoiaError: it is not a failure of the
    stage, so the runner records none and dramatiq's retries never see it; the stage
    metrics count it as ``handed_over``.
    """

    handover = True


class InFlight(dramatiq.Middleware):
    """Which worker threads are processing a message right now (per worker process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._threads: dict[int, str] = {}

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        with self._lock:
            self._threads[threading.get_ident()] = message.actor_name

    def after_process_message(
        self, broker: dramatiq.Broker, message: Any, *, result: Any = None, exception: Any = None
    ) -> None:
        with self._lock:
            self._threads.pop(threading.get_ident(), None)

    after_skip_message = after_process_message

    def stage_threads(self) -> list[int]:
        """Threads running ``run_stage`` (events are short: they are left to finish)."""
        with self._lock:
            return [
                ident for ident, actor in self._threads.items() if actor.startswith("run_stage")
            ]


def stop_gracefully(worker: dramatiq.Worker, in_flight: InFlight, *, grace_s: float) -> int:
    """Stop ``worker``: stages get ``grace_s`` to finish, then are handed over.

    Returns how many stages were handed over.
    """
    handed: list[int] = []

    def hand_over() -> None:
        for ident in in_flight.stage_threads():
            log.warning("grace period of %.0f s over: handing a running stage over", grace_s)
            raise_thread_exception(ident, StageHandover)
            handed.append(ident)

    timer = threading.Timer(grace_s, hand_over)
    timer.daemon = True
    timer.start()
    try:
        worker.stop(timeout=int((grace_s + RELEASE_MARGIN_S) * 1000))
    finally:
        timer.cancel()
    return len(handed)
