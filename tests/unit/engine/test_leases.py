"""Leases: a duplicate of running work looks again soon for short stages, at expiry for long."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from seqoia.engine.leases import LeaseKeeper, read_lease, recheck_after
from seqoia.errors import StageBusyError
from seqoia.storage.local import LocalStore


def test_recheck_is_half_the_running_time_within_one_second_and_the_expiry() -> None:
    assert recheck_after(0.2, 119.0) == 1.0
    assert recheck_after(10.0, 115.0) == 5.0
    assert recheck_after(3600.0, 80.0) == 80.0  # an hours-long stage: at the lease's expiry
    assert recheck_after(5.0, 0.5) == 0.5


def test_a_duplicate_of_a_fresh_attempt_is_told_to_look_again_in_seconds(tmp_path: Path) -> None:
    keeper = LeaseKeeper(LocalStore(tmp_path), ttl_s=120.0, worker="w1")
    lease = keeper.acquire("work/_leases/qc/S1", "a1")
    with pytest.raises(StageBusyError) as busy:
        keeper.acquire("work/_leases/qc/S1", "a2")
    assert busy.value.retry_after_s <= 1.0
    # Renewals keep the start: an attempt that has run for an hour is polled at expiry.
    lease.started = time.time() - 3600
    assert keeper.renew(lease)
    assert json.loads(keeper.store.get_bytes(lease.key)[0])["started"] == lease.started
    with pytest.raises(StageBusyError) as busy:
        keeper.acquire("work/_leases/qc/S1", "a3")
    assert 110 < busy.value.retry_after_s <= 120


class LostAnswerStore(LocalStore):
    """Applies the next conditional put, then answers 412 as a client retry would see it."""

    lose_next = False

    def put_bytes(self, key, data, *, if_none_match=False, if_match=None, durable=True):  # type: ignore[no-untyped-def]
        etag = super().put_bytes(
            key, data, if_none_match=if_none_match, if_match=if_match, durable=durable
        )
        if self.lose_next and (if_none_match or if_match is not None):
            self.lose_next = False
            from seqoia.errors import PreconditionFailedError

            raise PreconditionFailedError(key)
        return etag


def test_a_lease_whose_create_answer_was_lost_is_recognised_as_ours(tmp_path: Path) -> None:
    store = LostAnswerStore(tmp_path)
    keeper = LeaseKeeper(store, ttl_s=60.0, worker="w1")
    store.lose_next = True
    lease = keeper.acquire("work/_leases/qc/S1", "a1")  # not StageBusyError on our own lease
    assert lease.attempt == "a1"
    assert keeper.renew(lease)  # and its ETag is the stored one


def test_a_takeover_whose_answer_was_lost_is_recognised_as_ours(tmp_path: Path) -> None:
    store = LostAnswerStore(tmp_path)
    dead = LeaseKeeper(store, ttl_s=0.05, worker="dead")
    dead.acquire("work/_leases/qc/S1", "a0")
    time.sleep(0.1)
    keeper = LeaseKeeper(store, ttl_s=60.0, worker="w1")
    store.lose_next = True
    lease = keeper.acquire("work/_leases/qc/S1", "a1")
    assert lease.attempt == "a1" and keeper.renew(lease)


class RacedStore(LocalStore):
    """Another worker's takeover lands just before ours (which then gets 412)."""

    def put_bytes(self, key, data, *, if_none_match=False, if_match=None, durable=True):  # type: ignore[no-untyped-def]
        if if_match is not None:
            winner = LeaseKeeper(LocalStore(self.root), ttl_s=30.0, worker="w2")
            super().put_bytes(key, winner._body("a2", time.time()))
        return super().put_bytes(
            key, data, if_none_match=if_none_match, if_match=if_match, durable=durable
        )


def test_the_loser_of_a_takeover_race_looks_again_at_the_winners_expiry(tmp_path: Path) -> None:
    store = RacedStore(tmp_path)
    LeaseKeeper(store, ttl_s=0.05, worker="dead").acquire("work/_leases/qc/S1", "a0")
    time.sleep(0.1)
    with pytest.raises(StageBusyError, match="another worker took over") as busy:
        LeaseKeeper(store, ttl_s=60.0, worker="w1").acquire("work/_leases/qc/S1", "a1")
    assert 25 < busy.value.retry_after_s <= 30  # the winner's 30 s, not our 60 s


def test_held_leases_are_renewed_by_one_thread_until_stopped(tmp_path: Path) -> None:
    import threading

    keeper = LeaseKeeper(LocalStore(tmp_path), ttl_s=0.3, worker="w1")
    before = threading.active_count()
    leases = [keeper.acquire(f"work/_leases/qc/S{i}", f"a{i}") for i in range(3)]
    stops = [keeper.keep_alive(lease) for lease in leases]
    assert threading.active_count() == before + 1  # one renewer, not one per lease
    first = [json.loads(keeper.store.get_bytes(lease.key)[0])["expires"] for lease in leases]
    time.sleep(0.5)  # more than a TTL: only renewals keep them live
    for lease, expires in zip(leases, first, strict=True):
        assert json.loads(keeper.store.get_bytes(lease.key)[0])["expires"] > expires
    with pytest.raises(StageBusyError):
        keeper.acquire(leases[0].key, "other")
    stops[0].set()
    keeper.release(leases[0])
    stopped_etag = keeper.store.put_bytes("work/_leases/qc/S0", b"{}")  # not ours any more
    time.sleep(0.4)
    assert keeper.store.get_bytes("work/_leases/qc/S0")[1] == stopped_etag  # not renewed
    assert json.loads(keeper.store.get_bytes(leases[1].key)[0])["attempt"] == "a1"


def test_release_deletes_our_lease_and_leaves_a_winners_in_place(tmp_path: Path) -> None:
    keeper = LeaseKeeper(LocalStore(tmp_path), ttl_s=60.0, worker="w1")
    lease = keeper.acquire("work/_leases/qc/S1", "a1")
    keeper.release(lease)
    assert keeper.store.head(lease.key) is None
    # Our lease expired and another attempt took it over: its lease stays.
    lease = keeper.acquire("work/_leases/qc/S1", "a1")
    other = LeaseKeeper(keeper.store, ttl_s=60.0, worker="w2")
    keeper.store.put_bytes(lease.key, other._body("a2", time.time()), if_match=lease.etag)
    keeper.release(lease)
    assert json.loads(keeper.store.get_bytes(lease.key)[0])["attempt"] == "a2"


def test_release_deletes_our_lease_after_a_renewal_whose_answer_was_lost(tmp_path: Path) -> None:
    store = LostAnswerStore(tmp_path)
    keeper = LeaseKeeper(store, ttl_s=60.0, worker="w1")
    lease = keeper.acquire("work/_leases/qc/S1", "a1")
    store.lose_next = True
    assert not keeper.renew(lease)  # written, but we kept the old ETag
    keeper.release(lease)
    assert store.head(lease.key) is None  # recognised by its attempt, not left to expire


CORRUPT_LEASES = [
    b'{"attempt": "a1", "worker": "w1", "started": 1, "expires": "soon"}',
    b'{"attempt": "a1", "worker": "w1", "started": 1, "expires": null}',
    b'{"attempt": "a1", "worker": "w1", "started": 1, "expires": [1e12]}',
    b'{"attempt": "a1", "worker": "w1", "started": "x", "expires": 1e12}',
    b'{"attempt": "a1", "worker": "w1", "started": 1, "expires": 1e400}',  # inf: never
    b'{"attempt": "a1", "worker": "w1", "started": 1, "expires": NaN}',
    b"[" * 100_000,
    b"\xff\xfe{}",
    b"",
]


@pytest.mark.parametrize("body", CORRUPT_LEASES)
def test_a_corrupt_or_forged_lease_counts_as_expired_for_every_reader(
    tmp_path: Path, body: bytes
) -> None:
    # Found by bench/fuzz.py's ``lease`` kind: float() of a non-number ``expires`` or
    # ``started`` raised ValueError/TypeError in acquire, the reconciler, status and gc,
    # and deep nesting RecursionError; an infinite ``expires`` held a subject for ever.
    store = LocalStore(tmp_path)
    key = "work/_leases/qc/S1"
    store.put_bytes(key, body)
    assert read_lease(store, key) == {"expires": 0.0}
    assert read_lease(store, "work/_leases/qc/S2") is None
    lease = LeaseKeeper(store, ttl_s=120.0, worker="w2").acquire(key, "a2")  # taken over
    assert json.loads(store.get_bytes(key)[0])["attempt"] == "a2" and lease.attempt == "a2"


def test_a_sound_lease_reads_back_with_its_times_as_numbers(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    LeaseKeeper(store, ttl_s=120.0, worker="w1").acquire("work/_leases/qc/S1", "a1")
    lease = read_lease(store, "work/_leases/qc/S1")
    assert lease is not None and lease["attempt"] == "a1" and lease["worker"] == "w1"
    assert lease["expires"] > time.time() and isinstance(lease["started"], float)
