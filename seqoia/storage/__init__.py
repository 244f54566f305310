"""Object storage: the interface, its local-folder and S3 backends, and store URLs.

``S3Store`` is imported on first use: boto3 takes about a second to import, and a stage's
child process or a command on a local store should not pay for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from seqoia.storage.base import ObjectInfo, ObjectStore
from seqoia.storage.keys import validate_key, validate_name, validate_prefix
from seqoia.storage.local import LocalStore
from seqoia.storage.urls import open_store, redact_url

if TYPE_CHECKING:
    from seqoia.storage.s3 import S3Store

__all__ = [
    # interface
    "ObjectInfo",
    "ObjectStore",
    # backends
    "LocalStore",
    "S3Store",
    # opening by URL
    "open_store",
    "redact_url",
    # keys
    "validate_key",
    "validate_name",
    "validate_prefix",
]


def __getattr__(name: str) -> Any:
    if name == "S3Store":
        from seqoia.storage.s3 import S3Store

        return S3Store
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
