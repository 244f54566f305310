"""seqoia's Dramatiq middleware, one per module; :func:`metrics_middleware` picks the set.

- :class:`~seqoia.workers.middleware.metrics.MessageMetrics`: queue wait and dead letters,
  labelled by queue;
- :class:`~seqoia.workers.middleware.prometheus.DramatiqPrometheus`: dramatiq's own worker
  metrics, served through seqoia's ``/metrics`` (only in multiprocess mode, see there).
"""

from __future__ import annotations

import dramatiq

from seqoia.metrics import multiprocess_dir
from seqoia.workers.middleware.metrics import MessageMetrics


def metrics_middleware() -> list[dramatiq.Middleware]:
    """Middleware recording metrics, for the front of the broker's middleware list."""
    chosen: list[dramatiq.Middleware] = []
    folder = multiprocess_dir()
    if folder is not None:
        # Imported here: dramatiq's module reads its folder from the environment at import.
        from seqoia.workers.middleware.prometheus import DramatiqPrometheus

        chosen.append(DramatiqPrometheus(folder))
    chosen.append(MessageMetrics())
    return chosen


__all__ = ["MessageMetrics", "metrics_middleware"]
