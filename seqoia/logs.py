"""Logs: one line per event, carrying the work it belongs to (stage, subject, attempt).

The stage runner binds ``stage``, ``subject`` and ``attempt`` in a context variable for the
duration of an attempt (:func:`log_context`, :func:`bind`); a filter copies them onto
every record logged meanwhile, from any module, so that a log line and a metric point to
the same work. Dramatiq runs each message on its own thread, and a thread starts with an
empty context, so concurrent attempts never see each other's fields.

Two formats: text for people (fields appended as ``key=value``) and JSON lines for log
collectors (``--log-json`` / ``SEQOIA_LOG_JSON``). Subjects are pseudonymous sample, run
and family identifiers (invariant 6); nothing else from the sample sheet is bound.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from seqoia.redact import RedactingFilter

#: Field names a context may carry, in output order.
CONTEXT_FIELDS = ("stage", "subject", "attempt", "reason")

_context: ContextVar[dict[str, str]] = ContextVar("seqoia_log_context", default={})  # noqa: B039

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s%(seqoia_fields)s"


def current_context() -> dict[str, str]:
    """The fields bound in this thread or task right now."""
    return dict(_context.get())


@contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Bind ``fields`` (None values are skipped) to every record logged inside the block."""
    unknown = set(fields) - set(CONTEXT_FIELDS)
    if unknown:
        raise ValueError(f"unknown log context fields: {sorted(unknown)}")
    merged = {**_context.get(), **{k: str(v) for k, v in fields.items() if v is not None}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


def bind(**fields: str) -> None:
    """Add fields to the innermost :func:`log_context` (e.g. the attempt once it is known)."""
    unknown = set(fields) - set(CONTEXT_FIELDS)
    if unknown:
        raise ValueError(f"unknown log context fields: {sorted(unknown)}")
    _context.set({**_context.get(), **fields})


class ContextFilter(logging.Filter):
    """Copies the bound fields onto each record (``record.seqoia``, ``record.seqoia_fields``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = _context.get()
        record.seqoia = dict(fields)
        record.seqoia_fields = "".join(
            f" {name}={fields[name]}" for name in CONTEXT_FIELDS if name in fields
        )
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, bound fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "seqoia", None) or _context.get())
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(*, verbose: bool = False, json_lines: bool = False) -> None:
    """Set up the root logger once, at the command line's edge."""
    handler = logging.StreamHandler()
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactingFilter())  # a library may log a URL with its password
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)
