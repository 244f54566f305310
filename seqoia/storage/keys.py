"""Object keys: validation of untrusted keys and the layout of seqoia's own keys.

Every key that reaches a backend passes :func:`validate_key`, so a hostile key from an
event ("../../etc/passwd", "a//b", a key with a newline) is refused with a clear error
before it can name a file outside the local store or confuse a listing.
"""

from __future__ import annotations

import re

from seqoia.errors import InvalidKeyError
from seqoia.vocabulary import validate_name

__all__ = ["MAX_KEY_BYTES", "join", "validate_key", "validate_name", "validate_prefix"]

MAX_KEY_BYTES = 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"[A-Za-z]:")


def validate_key(key: str) -> str:
    """Return ``key`` unchanged when it is a safe object key, else raise."""
    if not isinstance(key, str) or not key:
        raise InvalidKeyError("empty object key", file=repr(key))
    # Every store call passes here (a dozen per stage transition): the checks are
    # precompiled and the key's repr is made only for an error.
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (from a JSON "\ud800" escape or a mis-decoded file name) has no
        # UTF-8 form: S3 cannot store it and boto3 would fail deep inside a request.
        raise InvalidKeyError(
            "object key is not valid UTF-8 (lone surrogate)", file=_shown(key)
        ) from None
    if len(encoded) > MAX_KEY_BYTES:
        raise InvalidKeyError(f"object key longer than {MAX_KEY_BYTES} bytes", file=_shown(key))
    if _CONTROL.search(key):
        raise InvalidKeyError("object key contains control characters", file=_shown(key))
    if key.startswith(("/", "\\")) or _DRIVE.match(key):
        raise InvalidKeyError("object key is an absolute path", file=_shown(key))
    if "\\" in key:
        raise InvalidKeyError("object key contains a backslash", file=_shown(key))
    if "//" in key or "." in key:  # else no segment can be empty, "." or ".."
        segments = key.split("/")
        # A trailing "/" (a folder marker some tools write) leaves one empty last segment.
        inner = segments[:-1] if segments[-1] == "" else segments
        for segment in inner:
            if segment == "":
                raise InvalidKeyError(
                    "object key has an empty path segment ('//')", file=_shown(key)
                )
            if segment in (".", ".."):
                raise InvalidKeyError(
                    f"object key has a {segment!r} path segment", file=_shown(key)
                )
    return key


def _shown(key: str) -> str:
    return repr(key[:120])


def validate_prefix(prefix: str) -> str:
    """Like :func:`validate_key`, but the empty prefix (everything) is allowed."""
    return prefix if prefix == "" else validate_key(prefix)


def join(*parts: str) -> str:
    """Join key segments with ``/``, ignoring empty ones."""
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))
