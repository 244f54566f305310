"""Redaction: the one helper that hides credentials in URLs before they are shown.

Broker and store URLs may carry a password (``redis://:secret@host``,
``amqp://user:secret@host``) or secret-looking query values (``?token=...``). Whatever
prints or logs a URL (``seqoia config``, start-up logs, error messages, the metrics'
info) passes it through :func:`redact_url`; :func:`redact_text` does the same for every
URL inside a free text, and :class:`RedactingFilter` applies it to every log record.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
_SECRET_PARAM = re.compile(r"secret|passw|token|credential|access_key|signature", re.IGNORECASE)
#: A URL with a scheme, up to the next blank or quote.
_URL_IN_TEXT = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def redact_url(url: str) -> str:
    """``url`` with its password and secret-looking query values replaced by ``***``."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password is not None:
            user = parts.username or ""
            host = netloc.rpartition("@")[2]
            netloc = f"{user}:{MASK}@{host}"
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            query = urlencode(
                [(k, MASK if _SECRET_PARAM.search(k) else v) for k, v in pairs], safe="/:*"
            )
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return "<unparseable URL>"


def redact_text(text: str) -> str:
    """``text`` with every URL in it redacted (cheap when it holds no ``://``)."""
    if "://" not in text:
        return text
    return _URL_IN_TEXT.sub(lambda match: redact_url(match.group(0)), text)


class RedactingFilter(logging.Filter):
    """Redacts URLs in a record's message (and arguments), from any library that logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
