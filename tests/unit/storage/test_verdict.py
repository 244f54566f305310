"""The recorded store verdict: a replacement worker skips the probes, never the guarantee."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from seqoia.commands.doctor import guard_store
from seqoia.errors import UnsafeStoreError
from seqoia.storage import LocalStore
from seqoia.storage.verdict import CHECKS_VERSION, VERDICT_AREA, verdict_key


class CountingLocalStore(LocalStore):
    """Counts create-only writes: the racing-writer probe makes four of them."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.creates = 0

    def put_bytes(
        self,
        key: str,
        data: bytes,
        *,
        if_none_match: bool = False,
        if_match: str | None = None,
        durable: bool = True,
    ) -> str:
        if if_none_match:
            self.creates += 1
        return super().put_bytes(
            key, data, if_none_match=if_none_match, if_match=if_match, durable=durable
        )


class OverwritingStore(LocalStore):
    """A store that ignores If-None-Match: every racing writer wins."""

    def put_bytes(
        self,
        key: str,
        data: bytes,
        *,
        if_none_match: bool = False,
        if_match: str | None = None,
        durable: bool = True,
    ) -> str:
        return super().put_bytes(key, data, if_match=if_match, durable=durable)


class _VersionedClient:
    def get_bucket_versioning(self, **_: Any) -> dict[str, str]:
        return {"Status": "Enabled"}

    def head_object(self, **_: Any) -> dict[str, str]:
        return {}


class TurnedVersionedStore(CountingLocalStore):
    """Looks like an S3 bucket whose versioning has just been turned on."""

    client = _VersionedClient()
    bucket = "clinical"


def test_a_passing_check_is_recorded_and_a_second_start_skips_the_probes(tmp_path: Path) -> None:
    store = CountingLocalStore(tmp_path / "store")
    first = guard_store(store, unsafe=False, valid_s=60, worker="w1")
    assert len(first) == 5 and store.creates >= 4
    recorded = json.loads(store.get_bytes(verdict_key(store))[0])
    assert recorded["worker"] == "w1" and recorded["checks_version"] == CHECKS_VERSION
    store.creates = 0
    second = guard_store(store, unsafe=False, valid_s=60, worker="w2")
    assert [check.name for check in second] == ["bucket versioning"]
    assert store.creates == 0


def test_a_stale_or_foreign_verdict_runs_every_check_again(tmp_path: Path) -> None:
    store = CountingLocalStore(tmp_path / "store")
    key = verdict_key(store)
    stale = {"passed_at": time.time() - 61, "checks_version": CHECKS_VERSION}
    store.put_bytes(key, json.dumps(stale).encode())
    assert len(guard_store(store, unsafe=False, valid_s=60)) == 5
    older_checks = {"passed_at": time.time(), "checks_version": CHECKS_VERSION - 1}
    store.put_bytes(key, json.dumps(older_checks).encode())
    assert len(guard_store(store, unsafe=False, valid_s=60)) == 5
    future = {"passed_at": time.time() + 3600, "checks_version": CHECKS_VERSION}
    store.put_bytes(key, json.dumps(future).encode())
    assert len(guard_store(store, unsafe=False, valid_s=60)) == 5
    store.put_bytes(key, b"not json")
    assert len(guard_store(store, unsafe=False, valid_s=60)) == 5


def test_without_a_validity_nothing_is_recorded_or_skipped(tmp_path: Path) -> None:
    store = CountingLocalStore(tmp_path / "store")
    guard_store(store, unsafe=False)
    assert list(store.list(VERDICT_AREA + "/")) == []
    assert len(guard_store(store, unsafe=False, valid_s=0)) == 5


def test_a_failing_store_is_never_recorded_even_when_started_unsafe(tmp_path: Path) -> None:
    store = OverwritingStore(tmp_path / "store")
    with pytest.raises(UnsafeStoreError, match="create-only PUT"):
        guard_store(store, unsafe=False, valid_s=60)
    guard_store(store, unsafe=True, valid_s=60)
    assert list(store.list(VERDICT_AREA + "/")) == []
    with pytest.raises(UnsafeStoreError, match="create-only PUT"):
        guard_store(store, unsafe=False, valid_s=60)


def test_a_fresh_verdict_does_not_start_a_worker_on_a_bucket_versioned_since(
    tmp_path: Path,
) -> None:
    store = TurnedVersionedStore(tmp_path / "store")
    fresh = {"passed_at": time.time(), "checks_version": CHECKS_VERSION}
    store.put_bytes(verdict_key(store), json.dumps(fresh).encode())
    with pytest.raises(UnsafeStoreError, match="bucket versioning"):
        guard_store(store, unsafe=False, valid_s=60)
    assert store.creates >= 4  # the full checks ran, not only the versioning read
