"""Object storage: the interface, its local-folder and S3 backends, and store URLs."""

from __future__ import annotations

from seqoia.storage.base import ObjectInfo, ObjectStore
from seqoia.storage.keys import validate_key, validate_name, validate_prefix
from seqoia.storage.local import LocalStore
from seqoia.storage.s3 import S3Store
from seqoia.storage.urls import open_store, redact_url

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
