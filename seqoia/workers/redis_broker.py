"""seqoia's Redis broker: dramatiq's RedisBroker with the additions each module explains.

- :class:`~seqoia.workers.sweep.SweepingRedisBroker`: a dead worker's messages come back
  within heartbeat + one sweep, not at random;
- :class:`~seqoia.workers.wakeup.WakeableRedisBroker`: a sent message wakes the idle
  consumers of its queue instead of waiting for their next poll;
- :class:`~seqoia.workers.slots.SlottedRedisBroker`: a worker's long-stage consumers fetch
  only into its free threads, so no message waits on a busy worker;
- :class:`~seqoia.workers.fairness.CentreTaggedRedisBroker`: a routine message's centre
  and run lead its Redis id, so the fair share is decided from ids alone.

Each is a small subclass overriding different hooks, so they compose by inheritance.
"""

from __future__ import annotations

from seqoia.workers.fairness import CentreTaggedRedisBroker
from seqoia.workers.slots import SlottedRedisBroker
from seqoia.workers.sweep import SweepingRedisBroker


class SeqoiaRedisBroker(CentreTaggedRedisBroker, SlottedRedisBroker, SweepingRedisBroker):
    """The broker ``build_broker`` makes for redis:// and rediss:// URLs."""
