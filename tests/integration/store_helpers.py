"""Store helpers shared by the publication and outbox tests."""

from __future__ import annotations

from seqoia.storage.base import ObjectStore
from seqoia.storage.local import LocalStore
from seqoia.storage.s3 import S3Store


def write_behind_our_back(store: ObjectStore, key: str, data: bytes) -> None:
    """Write ``key`` as another tool would: no checksum recorded by seqoia.

    On the local store the file is written in place, so its size and mtime no longer
    match the tags seqoia wrote beside it.
    """
    if isinstance(store, LocalStore):
        (store.root / key).parent.mkdir(parents=True, exist_ok=True)
        (store.root / key).write_bytes(data)
    else:
        assert isinstance(store, S3Store)
        store.client.put_object(Bucket=store.bucket, Key=key, Body=data)
