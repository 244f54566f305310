"""A pool of worker processes: ``seqoia worker --processes N``, as dramatiq's own CLI does.

One Python process runs stage bookkeeping (planning, hashing, store requests) on one core
at a time, whatever its thread count; N processes use N cores. The parent starts N
children, each a complete ``seqoia worker`` with its own broker connection, its own
threads and its own fork server for stage processes, and all recording metrics into the
parent's multiprocess folder, which the parent alone serves on ``/metrics``.

Children are fresh interpreters (``python -m seqoia.cli worker``), not forks: a fork of a
process that holds threads (a broker connection's, prometheus-client's) can inherit a
lock held by a thread that does not exist in the child.

SIGTERM or SIGINT to the parent is passed to every child, which stops gracefully
(:mod:`seqoia.workers.handover`); a child still alive ``grace_s`` plus a margin later is
killed. A child that dies on its own is started again, at most once a second.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from seqoia.workers.handover import RELEASE_MARGIN_S

log = logging.getLogger(__name__)

#: Least time between two starts of the same child (a child failing at start-up).
RESTART_INTERVAL_S = 1.0
#: A child that exits sooner than this after its start failed to start (bad configuration,
#: unsafe store, broker down); this many such failures in a row end the pool, so that
#: Kubernetes sees a crash loop instead of a pod that restarts children forever.
QUICK_EXIT_S = 10.0
MAX_QUICK_EXITS = 3


@dataclass
class WorkerPool:
    """N ``seqoia worker`` children started, watched and stopped together."""

    #: The child's arguments after ``python -m seqoia.cli`` (options and ``worker ...``).
    child_args: Sequence[str]
    processes: int
    grace_s: float
    #: Name of the pool in manifests and leases; children are ``<worker_id>.<n>``.
    worker_id: str
    #: Environment given to every child on top of this process's own.
    env: dict[str, str] = field(default_factory=dict)
    children: list[subprocess.Popen[bytes] | None] = field(default_factory=list)
    _started_at: list[float] = field(default_factory=list)
    _quick_exits: int = 0

    def start(self) -> None:
        self.children = [None] * self.processes
        self._started_at = [0.0] * self.processes
        for index in range(self.processes):
            self._start(index)

    def _start(self, index: int) -> None:
        env = dict(os.environ, **self.env, SEQOIA_WORKER_ID=f"{self.worker_id}.{index}")
        self.children[index] = subprocess.Popen(
            [sys.executable, "-m", "seqoia.cli", *self.child_args], env=env
        )
        self._started_at[index] = time.monotonic()

    def pids(self) -> list[int]:
        return [child.pid for child in self.children if child is not None]

    def watch(self, stop: threading.Event, *, interval_s: float = 0.5) -> bool:
        """Start again the children that died, until ``stop`` is set.

        Returns False when children keep failing at start-up (the pool should exit).
        """
        while not stop.wait(interval_s):
            for index, child in enumerate(self.children):
                if child is None or child.poll() is None:
                    continue
                lived_s = time.monotonic() - self._started_at[index]
                if lived_s < RESTART_INTERVAL_S:
                    continue
                if child.returncode != 0 and lived_s < QUICK_EXIT_S:
                    self._quick_exits += 1
                    if self._quick_exits >= MAX_QUICK_EXITS:
                        log.error(
                            "worker processes failed at start-up %d times in a row",
                            self._quick_exits,
                        )
                        return False
                else:
                    self._quick_exits = 0
                log.warning(
                    "worker process %d (pid %d) exited with %s: starting it again",
                    index,
                    child.pid,
                    child.returncode,
                )
                self._start(index)
        return True

    def stop(self) -> list[int | None]:
        """SIGTERM every child, wait for their graceful stop, kill the late ones.

        Returns the children's exit codes.
        """
        alive = [child for child in self.children if child is not None]
        for child in alive:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace_s + RELEASE_MARGIN_S + 5.0
        for child in alive:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("worker process %d did not stop in time: killing it", child.pid)
                child.kill()
                child.wait()
        return [child.returncode for child in alive]
