"""seqoia's Redis broker: dramatiq's RedisBroker with the additions each module explains.

- :class:`~seqoia.workers.sweep.SweepingRedisBroker`: a dead worker's messages come back
  within heartbeat + one sweep, not at random;
- :class:`~seqoia.workers.wakeup.WakeableRedisBroker`: a sent message wakes the idle
  consumers of its queue instead of waiting for their next poll.

Each is a small subclass overriding different hooks, so they compose by inheritance.
"""

from __future__ import annotations

from seqoia.workers.sweep import SweepingRedisBroker
from seqoia.workers.wakeup import WakeableRedisBroker


class SeqoiaRedisBroker(WakeableRedisBroker, SweepingRedisBroker):
    """The broker ``build_broker`` makes for redis:// and rediss:// URLs."""
