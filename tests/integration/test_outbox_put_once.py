"""A release's files reach the outbox create-only, each once, kept only if the bytes match.

Over the local store and S3 (a moto server): ``put_once`` records the SHA-256 with the
object and compares checksums, not sizes, with what a resumed release finds there.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from seqoia.admin.outbox import ReleaseRefusedError, put_once
from seqoia.storage.base import ObjectStore
from tests.integration.store_helpers import write_behind_our_back

KEY = "outbox/C1/S1/g000001/S1.md.cram"


@pytest.mark.parametrize("store", ["file", "s3"], indirect=True)
def test_put_once_creates_records_the_sha256_and_keeps_only_the_same_bytes(
    store: ObjectStore, tmp_path: Path
) -> None:
    mine = tmp_path / "S1.md.cram"
    mine.write_bytes(b"CRAM\x03\x00 the released alignments")
    digest = hashlib.sha256(mine.read_bytes()).hexdigest()
    assert put_once(store, KEY, mine) is True
    info = store.head(KEY)
    assert info is not None and info.sha256 == digest

    # Resumed release: the same file is found by its checksum and left alone.
    assert put_once(store, KEY, mine) is False
    assert store.head(KEY).etag == info.etag  # type: ignore[union-attr]

    # Same size, other bytes: refused, and the outbox keeps what was released.
    other = tmp_path / "other.cram"
    other.write_bytes(b"CRAM\x03\x00 the released alignmentZ")
    assert other.stat().st_size == mine.stat().st_size
    with pytest.raises(ReleaseRefusedError, match="other content"):
        put_once(store, KEY, other)
    assert store.get_bytes(KEY)[0] == mine.read_bytes()


@pytest.mark.parametrize("store", ["file", "s3"], indirect=True)
def test_put_once_checks_a_file_without_a_recorded_checksum_by_its_bytes(
    store: ObjectStore, tmp_path: Path
) -> None:
    mine = tmp_path / "S1.vcf.gz"
    mine.write_bytes(b"\x1f\x8b variants")
    write_behind_our_back(store, KEY, mine.read_bytes())  # an earlier release's, no sha256
    assert store.head(KEY).sha256 is None  # type: ignore[union-attr]
    assert put_once(store, KEY, mine) is False
    write_behind_our_back(store, KEY, b"\x1f\x8b variantz")  # same size, other bytes
    with pytest.raises(ReleaseRefusedError):
        put_once(store, KEY, mine)
    assert store.get_bytes(KEY)[0] == b"\x1f\x8b variantz"  # never overwritten
