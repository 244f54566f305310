"""Garbage collection of the work area: files that no current manifest needs.

Two kinds of garbage, both under ``work/<stage>/<subject>/attempts/<attempt>/``:

- **superseded generations**: every generation but the newest ``keep`` of each
  ``(stage, subject)``, unless a kept manifest still names it as an input (a family's
  joint call made from a sample's previous generation keeps that generation's files);
- **orphan attempts**: attempt prefixes that no manifest references at all (the losers of
  a commit race, attempts that crashed before committing).

What is never removed: manifests (the record of what was done stays readable for the
audit trail; only data goes), the outbox and the inbox (only ``attempts/`` keys are
candidates), an attempt whose live lease says it is running, and anything younger than
the grace period. Running attempts write files that no manifest references *yet*, and a
consumer that planned a moment ago may still be downloading a just-superseded
generation: the grace period covers both. Runs a full listing of the work area; it is
the one admin command whose cost follows the history.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from seqoia.engine.leases import live_lease
from seqoia.storage.layout import Layout
from seqoia.storage.manifest import Manifest, ManifestStore
from seqoia.vocabulary import ObjectInfo

DEFAULT_GRACE_S = 3600.0
_BATCH = 1000

Pair = tuple[str, str]


@dataclass
class Collected:
    """One attempt prefix that is (or would be) removed."""

    stage: str
    subject: str
    attempt: str
    why: str  # "superseded gN" or "orphan attempt"
    objects: int
    bytes: int

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass
class GcReport:
    """What a collection removed (or would remove, on a dry run) and what it spared."""

    dry_run: bool
    keep: int
    grace_s: float
    collected: list[Collected] = field(default_factory=list)
    spared_young: int = 0
    spared_leased: int = 0
    spared_referenced: int = 0

    @property
    def objects(self) -> int:
        return sum(c.objects for c in self.collected)

    @property
    def bytes(self) -> int:
        return sum(c.bytes for c in self.collected)

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "keep": self.keep,
            "grace_s": self.grace_s,
            "objects": self.objects,
            "bytes": self.bytes,
            "superseded_attempts": sum(1 for c in self.collected if c.why != "orphan attempt"),
            "orphan_attempts": sum(1 for c in self.collected if c.why == "orphan attempt"),
            "spared_young": self.spared_young,
            "spared_leased": self.spared_leased,
            "spared_referenced": self.spared_referenced,
            "collected": [c.to_json() for c in self.collected],
        }


class Collector:
    """Finds and removes garbage in one store's work area."""

    def __init__(self, manifests: ManifestStore) -> None:
        self.manifests = manifests
        self.store = manifests.store
        self.layout: Layout = manifests.layout

    def collect(
        self,
        *,
        keep: int = 1,
        grace_s: float = DEFAULT_GRACE_S,
        dry_run: bool = True,
        now: datetime | None = None,
    ) -> GcReport:
        if keep < 1:
            raise ValueError("keep must be at least 1: the latest generation is never collected")
        now = now or datetime.now(UTC)
        cutoff = now - timedelta(seconds=grace_s)
        report = GcReport(dry_run=dry_run, keep=keep, grace_s=grace_s)
        generations, attempts = self._scan()
        manifests = {
            pair: {g: self.manifests.get(key) for g, key in sorted(gens.items())}
            for pair, gens in generations.items()
        }
        live = self._live_attempts(manifests, keep)
        referenced = self._inputs_of_kept(manifests, keep)
        doomed: list[str] = []
        for pair, by_attempt in sorted(attempts.items()):
            committed = {m.attempt: m for m in manifests.get(pair, {}).values()}
            lease = None
            for attempt, infos in sorted(by_attempt.items()):
                if (pair, attempt) in live:
                    continue
                manifest = committed.get(attempt)
                if manifest is not None:
                    successor = self._successor(manifests[pair], manifest.generation)
                    if successor is None or successor.finished_at > cutoff:
                        report.spared_young += 1
                        continue
                    if (pair[0], pair[1], manifest.generation) in referenced:
                        report.spared_referenced += 1
                        continue
                    why = f"superseded g{manifest.generation}"
                else:
                    if max(info.modified for info in infos) > cutoff:
                        report.spared_young += 1
                        continue
                    if lease is None:
                        lease = live_lease(self.store, self.layout.lease_key(*pair)) or {}
                    if lease.get("attempt") == attempt:
                        report.spared_leased += 1
                        continue
                    why = "orphan attempt"
                report.collected.append(
                    Collected(
                        pair[0], pair[1], attempt, why, len(infos), sum(i.size for i in infos)
                    )
                )
                doomed.extend(info.key for info in infos)
        if not dry_run:
            for start in range(0, len(doomed), _BATCH):
                self.store.delete_many(doomed[start : start + _BATCH])
        return report

    def _scan(self) -> tuple[dict[Pair, dict[int, str]], dict[Pair, dict[str, list[ObjectInfo]]]]:
        """Manifests and attempt files of every ``(stage, subject)``, from one listing."""
        generations: dict[Pair, dict[int, str]] = defaultdict(dict)
        attempts: dict[Pair, dict[str, list[ObjectInfo]]] = defaultdict(lambda: defaultdict(list))
        for info in self.store.list(self.layout.work_prefix()):
            parts = info.key.split("/")
            if len(parts) < 4 or parts[1].startswith("_"):
                continue  # bookkeeping (_links, _leases, _audit, ...) is not garbage
            pair = (parts[1], parts[2])
            if len(parts) == 4:
                generation = self.layout.generation_of(parts[3])
                if generation is not None:
                    generations[pair][generation] = info.key
            elif parts[3] == "attempts" and len(parts) >= 6:
                attempts[pair][parts[4]].append(info)
        return generations, attempts

    @staticmethod
    def _live_attempts(
        manifests: dict[Pair, dict[int, Manifest]], keep: int
    ) -> set[tuple[Pair, str]]:
        """Attempts of the newest ``keep`` generations of every pair."""
        return {
            (pair, by_generation[generation].attempt)
            for pair, by_generation in manifests.items()
            for generation in sorted(by_generation)[-keep:]
        }

    @staticmethod
    def _successor(by_generation: dict[int, Manifest], generation: int) -> Manifest | None:
        later = [g for g in by_generation if g > generation]
        return by_generation[min(later)] if later else None

    @staticmethod
    def _inputs_of_kept(
        manifests: dict[Pair, dict[int, Manifest]], keep: int
    ) -> set[tuple[str, str, int]]:
        """``(stage, subject, generation)`` named as input by a kept manifest of any pair."""
        index: set[tuple[str, str, int]] = set()
        for by_generation in manifests.values():
            for generation in sorted(by_generation)[-keep:]:
                index.update(
                    (i.stage, i.subject, i.generation) for i in by_generation[generation].inputs
                )
        return index


def summary_line(report: GcReport) -> str:
    """``removed 12 objects (3.4 MB) ...`` for the CLI."""
    verb = "would remove" if report.dry_run else "removed"
    data = report.to_json()
    return (
        f"{verb} {report.objects} object(s), {human_bytes(report.bytes)}: "
        f"{data['superseded_attempts']} superseded generation(s), {data['orphan_attempts']} orphan "
        f"attempt(s); spared {report.spared_young} younger than {report.grace_s:.0f} s, "
        f"{report.spared_leased} running, {report.spared_referenced} still referenced"
    )


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"
