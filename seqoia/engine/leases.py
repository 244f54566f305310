"""Leases: a running attempt says "mine until T" so that a duplicate message waits.

A lease is a hint, not a lock: correctness rests on the create-only manifest commit.
Leases only save duplicate hours of compute when a message is redelivered while its
first attempt still runs (RabbitMQ's consumer timeout, a Redis worker presumed dead).
Taking over an expired lease is a compare-and-swap on its ETag, so one worker wins.

Lease writes are not durable (``put_bytes(durable=False)``): after a power failure a
lease may be gone (a duplicate may run; the commit still decides) or read back empty
(an unreadable lease counts as expired and is taken over by compare-and-swap). On the
local store that spares each write two ``fsync``s and a folder open and close.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from seqoia.errors import (
    ObjectNotFoundError,
    PreconditionFailedError,
    StageBusyError,
    StorageError,
)
from seqoia.storage.base import ObjectStore

log = logging.getLogger(__name__)


def lease_body(data: bytes) -> dict[str, Any]:
    """A lease object's body with ``expires`` (and ``started``, if any) as finite floats.

    Anyone with write access to the store could have written it, and a lease write is not
    durable: a body that is no JSON object, or whose times are not finite numbers, counts
    as expired (``{"expires": 0.0}``) for every reader, and is taken over by
    compare-and-swap like a dead holder's.
    """
    expired: dict[str, Any] = {"expires": 0.0}
    try:
        body = json.loads(data)
    except (ValueError, RecursionError):  # not UTF-8 or not JSON; nested past the limit
        return expired
    if not isinstance(body, dict):
        return expired
    try:
        times = {name: float(body[name]) for name in ("expires", "started") if name in body}
    except (TypeError, ValueError):
        return expired
    if not all(math.isfinite(value) for value in times.values()):
        return expired
    return body | times


def read_lease(store: ObjectStore, key: str) -> dict[str, Any] | None:
    """The lease at ``key`` as :func:`lease_body` reads it, or None when there is none."""
    try:
        data, _ = store.get_bytes(key)
    except ObjectNotFoundError:
        return None
    return lease_body(data)


def live_lease(store: ObjectStore, key: str) -> dict[str, Any] | None:
    """The lease at ``key`` while it holds (not expired), else None: what status, the
    reconciler and gc ask before calling a pair running."""
    lease = read_lease(store, key)
    return lease if lease is not None and lease.get("expires", 0.0) > time.time() else None


@dataclass
class Lease:
    key: str
    attempt: str
    etag: str
    started: float = 0.0
    #: Renewal and release never overlap: a renewal that raced a release would find the
    #: lease gone and warn that it was lost, when it was only given back.
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    released: bool = False


def recheck_after(running_for_s: float, remaining_s: float) -> float:
    """When a duplicate should look again at a held lease.

    Half the holder's running time so far (at least 1 s), never past the lease's expiry:
    a duplicate of a seconds-long report looks again in seconds, one of an hours-long
    alignment every lease period, and a dead holder is taken over once the lease expires.
    """
    return max(0.0, min(remaining_s, max(1.0, running_for_s / 2)))


class LeaseKeeper:
    """Acquires, renews in the background, and releases leases in one store."""

    def __init__(self, store: ObjectStore, *, ttl_s: float = 120.0, worker: str = "") -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.worker = worker
        #: Leases being kept alive: id(lease) -> (lease, its stop event, next renewal due).
        self._held: dict[int, tuple[Lease, threading.Event, float]] = {}
        self._cond = threading.Condition()
        self._renewer: threading.Thread | None = None
        #: When the renewal thread wakes next (None: when told).
        self._wake_at: float | None = None

    def _body(self, attempt: str, started: float) -> bytes:
        now = time.time()
        return json.dumps(
            {
                "attempt": attempt,
                "worker": self.worker,
                "started": started,
                "expires": now + self.ttl_s,
            }
        ).encode()

    def acquire(self, key: str, attempt: str) -> Lease:
        """Take the lease, or raise StageBusyError while another attempt holds it."""
        started = time.time()
        try:
            # A hint: durable=False spares the local store its fsyncs (see module doc).
            etag = self.store.put_bytes(
                key, self._body(attempt, started), if_none_match=True, durable=False
            )
            return Lease(key, attempt, etag, started)
        except PreconditionFailedError:
            pass
        data_etag = self._read(key)
        if data_etag is None:
            return self.acquire(key, attempt)  # released meanwhile
        holder, etag = data_etag
        if holder.get("attempt") == attempt:
            # Our create was applied but its answer lost (a reset after the write), and the
            # client's retry got 412 from our own lease. Without this the stage waited out a
            # lease that nobody renews: a whole TTL lost.
            return Lease(key, attempt, etag, float(holder.get("started", started)))
        now = time.time()
        remaining = float(holder.get("expires", 0)) - now
        if remaining > 0:
            running_for = now - float(holder.get("started", now - self.ttl_s))
            raise StageBusyError(
                f"attempt {holder.get('attempt')} on {holder.get('worker')} holds {key} "
                f"for {remaining:.0f} s more",
                retry_after_s=recheck_after(running_for, remaining),
            )
        expired_s = -remaining
        try:  # expired: its holder died; take it over, exactly one of us wins
            new_etag = self.store.put_bytes(
                key, self._body(attempt, started), if_match=etag, durable=False
            )
        except PreconditionFailedError as err:
            now_holder = self._read(key)
            if now_holder is not None and now_holder[0].get("attempt") == attempt:
                # Our swap was applied, its answer lost: the lease is ours (as above).
                return Lease(key, attempt, now_holder[1], started)
            # Someone else won: look again when *its* lease would expire, not a whole TTL
            # later (the winner may itself be dead by then).
            remaining = self.ttl_s
            if now_holder is not None:
                remaining = float(now_holder[0].get("expires", 0)) - time.time()
            raise StageBusyError(
                f"another worker took over {key}",
                retry_after_s=max(0.0, min(self.ttl_s, remaining)),
            ) from err
        log.info(
            "took over %s from attempt %s on %s (expired %.1f s ago)",
            key,
            holder.get("attempt"),
            holder.get("worker"),
            expired_s,
        )
        return Lease(key, attempt, new_etag, started)

    def _read(self, key: str) -> tuple[dict[str, Any], str] | None:
        """The lease's body and ETag; None when there is none (an unreadable body expired)."""
        try:
            data, etag = self.store.get_bytes(key)
        except ObjectNotFoundError:
            return None
        return lease_body(data), etag

    def renew(self, lease: Lease) -> bool:
        """Extend the lease; False (and a warning) if it was lost or could not be written.

        A lost lease does not stop the attempt: the create-only manifest still decides
        which attempt commits. The warning is what tells an operator that duplicates may
        now run (a lease that silently never renews makes every stage look dead).
        """
        with lease.lock:
            if lease.released:
                return True
            return self._renew(lease)

    def _renew(self, lease: Lease) -> bool:
        try:
            lease.etag = self.store.put_bytes(
                lease.key,
                self._body(lease.attempt, lease.started),
                if_match=lease.etag,
                durable=False,
            )
            return True
        except (PreconditionFailedError, ObjectNotFoundError):
            log.warning(
                "lease %s of attempt %s lost: it changed or vanished since our last renewal",
                lease.key,
                lease.attempt,
            )
            return False
        except StorageError as err:  # transient: the next renewal tries again
            log.warning("cannot renew lease %s of attempt %s: %s", lease.key, lease.attempt, err)
            return False

    def release(self, lease: Lease) -> None:
        with lease.lock:
            lease.released = True
        with self._cond:
            self._held.pop(id(lease), None)
        # The ETag of our last write says "still ours" without reading and parsing the
        # body (on the local store a stat and an xattr instead of an open, read and hash).
        # Only when it differs is the body read: a renewal whose answer was lost left our
        # attempt there under another ETag, and that lease must not wait out its TTL.
        info = self.store.head(lease.key)
        if info is None:
            return
        if info.etag != lease.etag:
            held = self._read(lease.key)
            if held is None or held[0].get("attempt") != lease.attempt:
                return  # taken over, or gone: not ours to delete
        self.store.delete(lease.key)

    def keep_alive(self, lease: Lease) -> threading.Event:
        """Renew ``lease`` every third of its TTL until the returned event is set.

        One renewal thread per keeper serves every held lease: a thread started per
        attempt cost ~1 ms of wall time (and a GIL hand-over) on each stage transition.
        """
        stop = threading.Event()
        due = time.monotonic() + self.ttl_s / 3
        with self._cond:
            self._held[id(lease)] = (lease, stop, due)
            if self._renewer is None or not self._renewer.is_alive():
                self._renewer = threading.Thread(
                    target=self._renew_due, name="lease-renewer", daemon=True
                )
                self._renewer.start()
            elif self._wake_at is None or due < self._wake_at:
                self._cond.notify()  # only when it sleeps past this one: no wake-up per lease
        return stop

    def _renew_due(self) -> None:
        """The renewal thread: renew the leases whose third of TTL has passed, forever."""
        while True:
            with self._cond:
                now = time.monotonic()
                for token, (_, stop, _) in list(self._held.items()):
                    if stop.is_set():
                        del self._held[token]
                due = [(t, entry) for t, entry in self._held.items() if entry[2] <= now]
                for token, (lease, stop, _) in due:
                    self._held[token] = (lease, stop, now + self.ttl_s / 3)
                if not due:
                    # Stopped leases are dropped at the next wake-up.
                    self._wake_at = min((entry[2] for entry in self._held.values()), default=None)
                    self._cond.wait(None if self._wake_at is None else self._wake_at - now)
                    continue
            for _, (lease, stop, _) in due:  # store requests outside the lock
                if not stop.is_set():
                    self.renew(lease)
