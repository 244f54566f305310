"""The audit log: one immutable object per admin action, in the store beside the work.

    work/_audit/<YYYY>/<MM>/<DD>/<YYYYmmddTHHMMSS.ffffffZ>-<uuid>.json

Each record says who (user and host), when, which command, on what target, why (the
required ``--reason``), with which parameters, and what it triggered. Records are
written create-only and never changed, so the log is append-only even with several
admins at once; keys sort by time, so listing newest first walks the day folders
backwards and stops as soon as it has enough (or has passed ``since``).
"""

from __future__ import annotations

import getpass
import json
import socket
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from seqoia.storage.base import ObjectStore
from seqoia.storage.layout import Layout


@dataclass(frozen=True)
class AuditRecord:
    """One admin action."""

    at: datetime
    user: str
    host: str
    command: str
    target: str
    reason: str
    params: dict[str, Any] = field(default_factory=dict)
    triggered: dict[str, Any] = field(default_factory=dict)
    key: str = ""

    @property
    def who(self) -> str:
        return f"{self.user}@{self.host}"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any], key: str = "") -> AuditRecord:
        return cls(
            at=datetime.fromisoformat(data["at"]),
            user=str(data.get("user", "")),
            host=str(data.get("host", "")),
            command=str(data.get("command", "")),
            target=str(data.get("target", "")),
            reason=str(data.get("reason", "")),
            params=dict(data.get("params") or {}),
            triggered=dict(data.get("triggered") or {}),
            key=key,
        )


def current_user() -> tuple[str, str]:
    """``(user, host)`` of whoever runs this process."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers): still say something
        user = "unknown"
    return user, socket.gethostname()


class AuditLog:
    """Appends and lists audit records in one store."""

    def __init__(self, store: ObjectStore, layout: Layout) -> None:
        self.store = store
        self.prefix = layout.audit_prefix()

    def record(
        self,
        command: str,
        target: str,
        reason: str,
        *,
        params: dict[str, Any] | None = None,
        triggered: dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> AuditRecord:
        """Append one record (create-only) and return it with its key."""
        at = at or datetime.now(UTC)
        user, host = current_user()
        key = f"{self.prefix}{at:%Y/%m/%d}/{at:%Y%m%dT%H%M%S.%fZ}-{uuid.uuid4().hex}.json"
        record = AuditRecord(
            at=at,
            user=user,
            host=host,
            command=command,
            target=target,
            reason=reason,
            params=params or {},
            triggered=triggered or {},
            key=key,
        )
        body = {k: v for k, v in record.to_json().items() if k != "key"}
        self.store.put_bytes(key, json.dumps(body, default=str).encode(), if_none_match=True)
        return record

    def records(
        self, *, since: datetime | None = None, limit: int | None = None
    ) -> list[AuditRecord]:
        """Records newest first, back to ``since`` (inclusive), at most ``limit`` of them."""
        found: list[AuditRecord] = []
        for key in self._keys_newest_first(since.date() if since else None):
            if limit is not None and len(found) >= limit:
                break
            data, _ = self.store.get_bytes(key)
            record = AuditRecord.from_json(json.loads(data), key)
            if since is not None and record.at < since:
                break
            found.append(record)
        return found

    def _keys_newest_first(self, since: date | None) -> Iterator[str]:
        children = self.store.list_children
        for year in sorted(children(self.prefix), reverse=True):
            if since and year.isdigit() and int(year) < since.year:
                return
            for month in sorted(children(f"{self.prefix}{year}/"), reverse=True):
                if since and f"{year}{month}" < f"{since:%Y%m}":
                    return
                for day in sorted(children(f"{self.prefix}{year}/{month}/"), reverse=True):
                    if since and f"{year}{month}{day}" < f"{since:%Y%m%d}":
                        return
                    keys = [
                        info.key for info in self.store.list(f"{self.prefix}{year}/{month}/{day}/")
                    ]
                    yield from sorted(keys, reverse=True)
