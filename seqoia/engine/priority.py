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

The same records give a subject's prescribing centre (``samples[<id>]["centre"]``), which
the workers' fair share between centres needs (:mod:`seqoia.workers.fairness`): a sample's
own, a family's or pair's first member's. Runs and their parts hold several centres'
samples and have none: every centre waits for them alike. They also give the run that
brought the subject (its sample's, or the first member's of its centre, by run name): the
fair share's second level, between one centre's runs, and how many of that centre's
samples the run brought: smaller runs go first there.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterable
from typing import Any, Generic, Literal, NamedTuple, TypeVar, cast

from seqoia.storage.manifest import ManifestStore

Priority = Literal["routine", "urgent"]
PRIORITIES: tuple[Priority, ...] = ("routine", "urgent")
#: Which of a queue's two lanes a worker serves: both, or only the routine or urgent one.
Lane = Literal["all", "routine", "urgent"]
#: Queue of urgent messages beside each stage queue (``align`` -> ``align.urgent``).
URGENT_SUFFIX = ".urgent"
#: The stage whose summary records the samples of a run.
RECORDS_STAGE = "validate_run"

Key = TypeVar("Key")
Value = TypeVar("Value")


class Standing(NamedTuple):
    """What the queues need of a subject: how urgent, whose, which run brought it, how big."""

    priority: Priority
    #: The prescribing centre; None for runs and parts (every centre's).
    centre: str | None = None
    #: The run whose sheet brought the subject (of its centre); None for runs and parts.
    run: str | None = None
    #: How many of the centre's samples that run brought (the fair share's run order).
    run_samples: int | None = None


def urgent_queue(queue: str) -> str:
    """The queue of the urgent messages of ``queue``."""
    return queue if queue.endswith(URGENT_SUFFIX) else f"{queue}{URGENT_SUFFIX}"


def lane_queues(queues: Iterable[str], lane: Lane = "all") -> list[str]:
    """The queues a worker for ``queues`` consumes in ``lane``.

    ``all`` is each queue and its urgent queue; ``routine`` leaves the urgent queues to a
    worker group of their own (``urgent``), whose threads routine work can never fill.
    """
    routine = {queue.removesuffix(URGENT_SUFFIX) for queue in queues}
    urgent = set(map(urgent_queue, routine))
    chosen = {"all": routine | urgent, "routine": routine, "urgent": urgent}[lane]
    return sorted(chosen)


class _Expiring(Generic[Key, Value]):
    """A bounded, thread-safe map whose entries expire ``ttl_s`` after they were put.

    Full, it is cleared whole: crude, bounded, and its entries are cheap to look up again.
    """

    def __init__(self, ttl_s: float, max_entries: int) -> None:
        self.ttl_s, self.max_entries = ttl_s, max_entries
        self._lock = threading.Lock()
        self._entries: dict[Key, tuple[Value, float]] = {}

    def get(self, key: Key) -> Value | None:
        with self._lock:
            entry = self._entries.get(key)
        return entry[0] if entry is not None and entry[1] > time.monotonic() else None

    def put(self, key: Key, value: Value) -> None:
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[key] = (value, time.monotonic() + self.ttl_s)


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
        self._standings: _Expiring[tuple[str, str], Standing] = _Expiring(ttl_s, max_entries)
        #: A run's sample records: a fan-out looks up each of its samples, which read them.
        self._records: _Expiring[str, dict[str, Any]] = _Expiring(ttl_s, max_entries)

    def over(self, manifests: ManifestStore) -> Priorities:
        """These priorities reading through ``manifests`` (a snapshot), their cache shared."""
        view = copy.copy(self)
        view.manifests = manifests
        return view

    def of(self, kind: str, subject: str) -> Priority:
        """``urgent`` if ``kind/subject`` stands for an urgent sample, else ``routine``."""
        return self.describe(kind, subject)[0]

    def centre_of(self, kind: str, subject: str) -> str | None:
        """The prescribing centre of a sample, family or pair; None for runs and parts."""
        return self.describe(kind, subject)[1]

    def describe(self, kind: str, subject: str) -> tuple[Priority, str | None]:
        """``(priority, centre)`` of ``kind/subject``, cached."""
        standing = self.standing(kind, subject)
        return standing.priority, standing.centre

    def standing(self, kind: str, subject: str) -> Standing:
        """Priority, centre and run of ``kind/subject``, cached."""
        if self.records_stage is None:
            return Standing("routine")
        cached = self._standings.get((kind, subject))
        if cached is not None:
            return cached
        standing, known = self._look_up(kind, subject)
        if known:  # an unvalidated run is not cached: it is routine only for now
            self._standings.put((kind, subject), standing)
        return standing

    def sample_centres(self, run: str) -> dict[str, str]:
        """Each sample of ``run`` -> its centre, from the run's records (one manifest read)."""
        if self.records_stage is None:
            return {}
        records = self._run_records(run) or {}
        return {
            sample: str(record.get("centre") or "default")
            for sample, record in records.items()
            if isinstance(record, dict)
        }

    def _run_records(self, run: str) -> dict[str, Any] | None:
        """The samples ``validate_run`` recorded for ``run``; None before it committed."""
        assert self.records_stage is not None
        cached = self._records.get(run)
        if cached is not None:
            return cached
        manifest = self.manifests.latest(self.records_stage, run)
        if manifest is None:
            return None  # not cached: the run is about to be validated
        records = manifest.summary.get("samples", {})
        records = records if isinstance(records, dict) else {}
        self._records.put(run, records)
        return records

    def _look_up(self, kind: str, subject: str) -> tuple[Standing, bool]:
        assert self.records_stage is not None
        runs = set(self.manifests.linked(kind, subject, "run"))
        samples = None if kind == "run" else set(self.manifests.linked(kind, subject, "sample"))
        if samples is not None and kind == "sample":  # its family's and pair's other members
            for group_kind in ("family", "pair"):
                for group in self.manifests.related("sample", subject, group_kind):
                    samples.update(self.manifests.related(group_kind, group, "sample"))
        if samples is not None and kind != "part":  # a part's samples are all its run's
            # The members' runs: a family links its samples, not their runs, and a
            # parent may be sequenced in another run than the urgent proband.
            for sample in samples - {subject}:
                runs.update(self.manifests.related("sample", sample, "run"))
        known, priority = False, cast(Priority, "routine")
        holders: dict[str, str] = {}  # centre -> its first run holding the subject's samples
        brought: dict[tuple[str, str], int] = {}  # (run, centre) -> the centre's samples in it
        for run in sorted(runs):
            records = self._run_records(run)
            if records is None:
                continue
            known = True
            for sample, record in records.items():
                if not isinstance(record, dict):
                    continue
                its_centre = str(record.get("centre") or "default")
                brought[run, its_centre] = brought.get((run, its_centre), 0) + 1
                if samples is not None and sample not in samples:
                    continue
                if record.get("priority") == "urgent":
                    priority = cast(Priority, "urgent")
                if kind != "sample" or sample == subject:  # a sample: its own centre
                    holders.setdefault(its_centre, run)
        if kind in ("run", "part") or not holders:
            return Standing(priority), known
        centre = min(holders)
        run = holders[centre]
        return Standing(priority, centre, run, brought[run, centre]), known
