"""Workers inside the current process, for ``memory://`` (``seqoia up``, ``seqoia demo``, tests).

Dramatiq's StubBroker with a real ``dramatiq.Worker`` on threads: the same actors, the
same middleware and the same stage runner as on a cluster, only the queues are in memory.
"""

from __future__ import annotations

import time

from dramatiq.brokers.stub import StubBroker

from seqoia.engine.runtime import Runtime
from seqoia.workers.actors import Actors, declare_actors
from seqoia.workers.broker import build_broker, stage_consumer

#: How often an idle consumer or worker thread wakes (dramatiq's ``worker_timeout``).
IDLE_WAKE_MS = 1000


class EmbeddedWorkers:
    """A broker, the actors and a worker pool, started and stopped together."""

    def __init__(self, runtime: Runtime, *, threads: int | None = None) -> None:
        self.broker = build_broker(runtime.settings)
        self.actors: Actors = declare_actors(self.broker, runtime)
        # Dramatiq's (and ``seqoia worker``'s) 1 s: a new message wakes its consumer at
        # once whatever the timeout; the timeout only paces delayed messages and stop().
        # At 100 ms, the ~30 idle consumer threads woke 300 times a second: 1.4 % of a
        # core for as long as the pipeline ran (bench/pipeline_overhead.py).
        self.worker = stage_consumer(
            self.broker,
            threads=threads or runtime.settings.worker_threads,
            worker_timeout_ms=IDLE_WAKE_MS,
        )

    def __enter__(self) -> EmbeddedWorkers:
        self.worker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.worker.stop()
        self.broker.close()

    def is_idle(self) -> bool:
        """No message queued, delayed or in flight right now (in-process broker only)."""
        if not isinstance(self.broker, StubBroker):
            raise TypeError("is_idle needs the in-process broker (memory://)")
        return not any(q.unfinished_tasks for q in self.broker.queues.values())

    def wait_idle(self, timeout_s: float = 600.0, *, settle_s: float = 0.2) -> None:
        """Block until no message is queued, delayed or in flight (in-process broker only).

        Delayed messages (retries, grace periods) count as work: wait for them too.
        """
        deadline = time.monotonic() + timeout_s
        quiet_since = None
        while time.monotonic() < deadline:
            if not self.is_idle():
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= settle_s:
                return
            time.sleep(0.02)
        raise TimeoutError(f"workers still busy after {timeout_s:.0f} s")
