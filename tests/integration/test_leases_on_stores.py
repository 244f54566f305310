"""Leases on every store backend (local folder, moto S3, Ceph RGW).

Lease renewal and the takeover of a dead worker's lease are compare-and-swaps on the
lease's ETag. On Ceph RGW a quoted If-Match ETag was refused even when it matched, so
every renewal and takeover failed and a killed worker's stages stalled for good: these
tests run the real lease cycle against each server.
"""

from __future__ import annotations

import json
import logging
import time

import pytest

from seqoia.engine.leases import LeaseKeeper
from seqoia.errors import StageBusyError
from seqoia.storage.base import ObjectStore
from seqoia.storage.counting import CountingStore

KEY = "work/_leases/align/S1"


def test_a_running_attempt_renews_its_lease_again_and_again(store: ObjectStore) -> None:
    keeper = LeaseKeeper(store, ttl_s=60.0, worker="w1")
    lease = keeper.acquire(KEY, "a1")
    expiries = []
    for _ in range(3):
        assert keeper.renew(lease), "renewal of a lease we hold was refused"
        expiries.append(json.loads(store.get_bytes(KEY)[0])["expires"])
        time.sleep(0.01)
    assert expiries == sorted(expiries) and len(set(expiries)) == 3
    assert store.get_bytes(KEY)[1] == lease.etag


def test_a_dead_workers_expired_lease_is_taken_over_by_exactly_one_worker(
    store: ObjectStore, caplog: pytest.LogCaptureFixture
) -> None:
    dead = LeaseKeeper(store, ttl_s=0.2, worker="killed")
    stale = dead.acquire(KEY, "a1")
    time.sleep(0.3)  # the holder was killed: nobody renews, the lease expires
    first = LeaseKeeper(store, ttl_s=60.0, worker="w2").acquire(KEY, "a2")
    assert json.loads(store.get_bytes(KEY)[0])["attempt"] == "a2"
    with pytest.raises(StageBusyError):
        LeaseKeeper(store, ttl_s=60.0, worker="w3").acquire(KEY, "a3")
    # The new holder renews; the old one, back from the dead, learns that it lost, loudly.
    assert LeaseKeeper(store, ttl_s=60.0, worker="w2").renew(first)
    with caplog.at_level(logging.WARNING, logger="seqoia.engine.leases"):
        assert not dead.renew(stale)
    assert f"lease {KEY} of attempt a1 lost" in caplog.text


def test_release_removes_only_our_own_lease(store: ObjectStore) -> None:
    keeper = LeaseKeeper(store, ttl_s=60.0, worker="w1")
    lease = keeper.acquire(KEY, "a1")
    keeper.release(lease)
    assert store.head(KEY) is None
    again = keeper.acquire(KEY, "a2")
    keeper.release(lease)  # a late release of the old attempt leaves the new lease alone
    assert json.loads(store.get_bytes(KEY)[0])["attempt"] == "a2"
    keeper.release(again)


def test_release_of_an_untouched_lease_is_a_head_and_a_delete(store: ObjectStore) -> None:
    # The ETag that put returned must match what HEAD reports on every backend (RGW's
    # quoting differs), or each release would read and parse the lease as well.
    counted = CountingStore(store)
    keeper = LeaseKeeper(counted, ttl_s=60.0, worker="w1")
    lease = keeper.acquire(KEY, "a1")
    counted.counts.clear()
    keeper.release(lease)
    assert store.head(KEY) is None
    assert dict(counted.counts) == {"head": 1, "delete": 1}
