"""dramatiq's own Prometheus middleware, served through seqoia's one ``/metrics``.

``dramatiq.middleware.prometheus.Prometheus`` defines worker metrics (messages processed,
errors, retries, rejects, in progress, durations) in multiprocess mode under the folder
named by ``dramatiq_prom_db`` (read once, at import), and serves them from a process it
*forks* (``forks``) on ``0.0.0.0:9191``. seqoia keeps the metrics and drops the server:

- its ``forks`` run only under the ``dramatiq`` command line, which seqoia does not use,
  and a second port bound to every interface would contradict the loopback default; so
  ``forks`` is empty even if someone runs the actors under ``dramatiq``;
- it writes into seqoia's multiprocess folder (``DB_PATH`` pointed there), so the
  worker's ``/metrics`` serves dramatiq's families next to seqoia's from the same files;
- its metrics are defined at construction rather than in ``after_process_boot``: only
  the ``dramatiq`` command line and the in-memory broker emit that hook, and a
  ``seqoia worker`` on Redis or RabbitMQ would otherwise fail on its first message.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import dramatiq.middleware.prometheus as dramatiq_prometheus
from dramatiq.broker import Broker


class DramatiqPrometheus(dramatiq_prometheus.Prometheus):
    """dramatiq's worker metrics in ``folder``, without its own HTTP server."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        dramatiq_prometheus.DB_PATH = str(folder)  # read again in its hooks
        super().after_process_boot(None)  # type: ignore[arg-type]  # broker is unused

    @property
    def forks(self) -> list[Callable[[], int]]:
        return []

    def after_process_boot(self, broker: Broker) -> None:
        """Already set up at construction."""
