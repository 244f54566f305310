"""Failure records: the runner's memory of the last failed attempt of a ``(stage, subject)``.

    work/_failures/<stage>/<subject>.json

A record is a hint, not state: it says "this fingerprint failed, permanently or not", so
that a replayed message does not run a permanent failure again, and so that status and
retry can say why. Losing one loses nothing but that hint. Records read back from the
store are untrusted (another version of seqoia, a hand edit, a truncated write): a record
that does not validate is treated as absent, with one log line, never a crash.

Reopening pairs (``seqoia retry``, ``reprocess``, ``dlq requeue``) is one operation here:
forget their records and remove the ``_done`` marks of their runs, so that the runner
plans them afresh and the reconciler visits those runs again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from seqoia.errors import ObjectNotFoundError
from seqoia.storage.base import ObjectStore
from seqoia.storage.layout import Layout

log = logging.getLogger(__name__)

#: ``(stage, subject)``
Pair = tuple[str, str]


class FailureRecord(BaseModel):
    """The last failed attempt of one ``(stage, subject)``."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    stage: str = Field(min_length=1)
    subject: str = Field(min_length=1)
    #: The plan's fingerprint when it failed: a record of other inputs is stale.
    fingerprint: str = Field(min_length=1)
    permanent: bool
    message: str
    error_type: str = ""
    attempt: str = ""
    traceback: str = ""
    at: datetime | None = None
    worker: str = ""

    @property
    def pair(self) -> Pair:
        return (self.stage, self.subject)

    def headline(self, max_chars: int = 200) -> str:
        """The message's first line, cut to ``max_chars`` (for tables and reasons)."""
        lines = self.message.strip().splitlines()
        return lines[0][:max_chars] if lines else ""

    def current_for(self, fingerprint: str) -> bool:
        """Whether this record is about the inputs a plan has now."""
        return self.fingerprint == fingerprint

    def failed_for_good(self, fingerprint: str) -> bool:
        """A permanent failure with these inputs: not run again until an admin acts."""
        return self.permanent and self.current_for(fingerprint)


class FailureLog:
    """Reads, writes and clears the failure records of one store."""

    def __init__(self, store: ObjectStore, layout: Layout) -> None:
        self.store = store
        self.layout = layout

    def read(self, stage: str, subject: str) -> FailureRecord | None:
        """The record of ``(stage, subject)``; ``None`` when absent or malformed."""
        key = self.layout.failure_key(stage, subject)
        try:
            data, _ = self.store.get_bytes(key)
        except ObjectNotFoundError:
            return None
        try:
            record = FailureRecord.model_validate_json(data)
        except ValidationError as err:
            # Ignoring it costs a retry at worst; crashing status or the runner costs more.
            first = err.errors()[0]
            where = ".".join(str(part) for part in first.get("loc", ()))
            log.warning("ignored malformed failure record %s: %s %s", key, where, first["msg"])
            return None
        if record.pair != (stage, subject):
            log.warning("ignored failure record %s: it names %s/%s", key, *record.pair)
            return None
        return record

    def write(self, record: FailureRecord) -> None:
        """Store ``record``, replacing the pair's previous one."""
        self.store.put_bytes(
            self.layout.failure_key(record.stage, record.subject),
            json.dumps(record.model_dump(mode="json")).encode(),
        )

    def clear(self, stage: str, subject: str) -> None:
        """Forget the record of ``(stage, subject)`` (absent is fine)."""
        self.store.delete(self.layout.failure_key(stage, subject))

    def pairs(self, stage: str | None = None) -> list[Pair]:
        """Every ``(stage, subject)`` with a record, optionally of one stage (a listing)."""
        prefix = self.layout.failures_prefix(stage)
        root = self.layout.failures_prefix()
        found = []
        for info in self.store.list(prefix):
            name, _, file = info.key[len(root) :].partition("/")
            if file.endswith(".json") and "/" not in file:
                found.append((name, file[: -len(".json")]))
        return found

    def reopen(self, pairs: Iterable[Pair], runs: Iterable[str]) -> None:
        """Make ``pairs`` runnable again: forget their records, unmark ``runs`` done.

        ``runs`` are the runs those pairs belong to; without their ``_done`` mark the
        reconciler visits them again, so a lost nudge still gets the pairs run.
        """
        for stage, subject in pairs:
            self.clear(stage, subject)
        for run in dict.fromkeys(runs):  # each run once, in order
            self.store.delete(self.layout.done_key(run))
