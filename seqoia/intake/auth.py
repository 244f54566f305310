"""Intake authentication: the shared token a notification must carry, and where it may be.

The token travels in the ``Authorization`` header only, never in the URL (query strings
end up in proxy logs, shell histories and the store's notification configuration):

* ``Authorization: Bearer <token>``: what MinIO's ``auth_token`` sends;
* HTTP Basic, the token being the password (any user name): what an endpoint written
  ``http://seqoia:TOKEN@host:port/events`` becomes in Ceph RGW, SNS and MinIO.

Every candidate is compared in constant time through its SHA-256 digest, so neither the
content nor the length of the token leaks through timing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

#: Shortest token accepted: a guessable token is no authentication.
MIN_TOKEN_CHARS = 16


def new_token() -> str:
    """A fresh random token (256 bits, URL-safe so it fits in ``user:TOKEN@host``)."""
    return secrets.token_urlsafe(32)


def offered_tokens(authorization: str | None) -> list[str]:
    """The tokens an ``Authorization`` header offers (Bearer value or Basic password)."""
    if not authorization:
        return []
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return [value]
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return []
        _user, sep, password = decoded.partition(":")
        return [password] if sep and password else []
    return []


class TokenCheck:
    """Whether a request's ``Authorization`` header carries the shared token."""

    def __init__(self, token: str) -> None:
        if len(token) < MIN_TOKEN_CHARS:
            raise ValueError(f"the intake token must have at least {MIN_TOKEN_CHARS} characters")
        self._digest = hashlib.sha256(token.encode("utf-8")).digest()

    def __call__(self, authorization: str | None) -> bool:
        ok = False
        # Compare every candidate, so the number of comparisons says nothing either.
        for candidate in offered_tokens(authorization):
            offered = hashlib.sha256(candidate.encode("utf-8", "replace")).digest()
            ok |= hmac.compare_digest(offered, self._digest)
        return ok
