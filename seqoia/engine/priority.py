"""Priority of a stage's subject: ``urgent`` (neonatal intensive care) or ``routine``.

A sample's priority is the sample sheet's ``Priority`` column, as ``validate_run``
recorded it in its summary (``samples[<id>]["priority"]``). Every other subject inherits
it from the samples it stands for: a family or tumour/normal pair is urgent when one of
its members is, and so are the other members' stages (the urgent trio waits for its
parents' alignments), and so is a run (or a part of a run) holding an urgent sample, since the
urgent sample's demultiplexing waits for it. Before ``validate_run`` has committed, a run
is routine; it is the first, short stage.

The store stays the only truth: the priority is read from committed manifests and links,
never carried in messages as state. It is looked up when a stage is enqueued and kept in a
small per-process cache (a sheet does not change priority once validated; a reprocess
that changes it is seen once the entry expires).
"""

from __future__ import annotations

import threading
import time
from typing import Literal

from seqoia.storage.manifest import ManifestStore

Priority = Literal["routine", "urgent"]
PRIORITIES: tuple[Priority, ...] = ("routine", "urgent")
#: Queue of urgent messages beside each stage queue (``align`` -> ``align.urgent``).
URGENT_SUFFIX = ".urgent"
#: The stage whose summary records the samples of a run.
RECORDS_STAGE = "validate_run"


def urgent_queue(queue: str) -> str:
    """The queue of the urgent messages of ``queue``."""
    return queue if queue.endswith(URGENT_SUFFIX) else f"{queue}{URGENT_SUFFIX}"


class Priorities:
    """Looks up and caches the priority of ``(kind, subject)`` from the store."""

    def __init__(
        self,
        manifests: ManifestStore,
        *,
        records_stage: str | None = RECORDS_STAGE,
        ttl_s: float = 60.0,
        max_entries: int = 20_000,
    ) -> None:
        self.manifests = manifests
        #: None: the pipeline records no sample priorities, every subject is routine.
        self.records_stage = records_stage
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], tuple[Priority, float]] = {}

    def of(self, kind: str, subject: str) -> Priority:
        """``urgent`` if ``kind/subject`` stands for an urgent sample, else ``routine``."""
        if self.records_stage is None:
            return "routine"
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get((kind, subject))
        if cached is not None and cached[1] > now:
            return cached[0]
        priority, known = self._look_up(kind, subject)
        if known:  # an unvalidated run is not cached: it is routine only for now
            with self._lock:
                if len(self._cache) >= self.max_entries:
                    self._cache.clear()  # crude, bounded; entries are cheap to look up again
                self._cache[(kind, subject)] = (priority, now + self.ttl_s)
        return priority

    def _look_up(self, kind: str, subject: str) -> tuple[Priority, bool]:
        assert self.records_stage is not None
        runs = set(self.manifests.linked(kind, subject, "run"))
        samples = None if kind == "run" else set(self.manifests.linked(kind, subject, "sample"))
        if samples is not None:
            if kind == "sample":  # the family's or pair's other members
                for family in self.manifests.related("sample", subject, "family"):
                    samples.update(self.manifests.related("family", family, "sample"))
            # The members' runs: a family links its samples, not their runs, and a
            # parent may be sequenced in another run than the urgent proband.
            for sample in samples - {subject}:
                runs.update(self.manifests.related("sample", sample, "run"))
        known = False
        for run in sorted(runs):
            manifest = self.manifests.latest(self.records_stage, run)
            if manifest is None:
                continue
            known = True
            records = manifest.summary.get("samples", {})
            for sample, record in records.items():
                if samples is not None and sample not in samples:
                    continue
                if isinstance(record, dict) and record.get("priority") == "urgent":
                    return "urgent", True
        return "routine", known
