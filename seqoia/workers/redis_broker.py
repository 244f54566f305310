"""seqoia's Redis broker: dramatiq's RedisBroker with the additions each module explains.

- :class:`~seqoia.workers.sweep.SweepingRedisBroker`: a dead worker's messages come back
  within heartbeat + one sweep, not at random;
- :class:`~seqoia.workers.wakeup.WakeableRedisBroker`: a sent message wakes the idle
  consumers of its queue instead of waiting for their next poll;
- :class:`~seqoia.workers.fairness.CentreTaggedRedisBroker`: a routine message's centre
  leads its Redis id, so fair share between centres is decided from ids alone.

Each is a small subclass overriding different hooks, so they compose by inheritance.
"""

from __future__ import annotations

from seqoia.workers.fairness import CentreTaggedRedisBroker
from seqoia.workers.sweep import SweepingRedisBroker
from seqoia.workers.wakeup import WakeableRedisBroker


class SeqoiaRedisBroker(CentreTaggedRedisBroker, WakeableRedisBroker, SweepingRedisBroker):
    """The broker ``build_broker`` makes for redis:// and rediss:// URLs."""
