"""A counting proxy over any ObjectStore: how many requests did a command make?

``seqoia status --json`` reports its own cost with it, and ``bench/status.py`` checks that
this cost follows the active work rather than the history. One call is one request,
except listings, which S3 pages by a thousand keys: a listing that returned ``n`` names
counts as ``1 + n // 1000`` requests, as it would on S3.
"""

from __future__ import annotations

import atexit
import builtins
import threading
import time
import weakref
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from seqoia.storage.base import ObjectInfo, ObjectStore

PAGE_SIZE = 1000
#: The operations counted (label ``operation`` of ``seqoia_store_requests_total``).
OPERATIONS = ("get", "head", "list", "put", "delete")


class CountingStore(ObjectStore):
    """Forwards every call to ``inner`` and counts requests per operation."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner
        self.url = inner.url
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    @property
    def requests(self) -> int:
        """Total requests so far."""
        with self._lock:
            return sum(self.counts.values())

    def _count(self, operation: str, n: int = 1) -> None:
        with self._lock:
            self.counts[operation] += n

    def __getattr__(self, name: str) -> Any:
        # Backend-specific attributes (bucket, prefix, root) read through.
        return getattr(self.inner, name)

    # -- writes --------------------------------------------------------------------
    def put_bytes(
        self,
        key: str,
        data: bytes,
        *,
        if_none_match: bool = False,
        if_match: str | None = None,
        durable: bool = True,
    ) -> str:
        self._count("put")
        return self.inner.put_bytes(
            key, data, if_none_match=if_none_match, if_match=if_match, durable=durable
        )

    def upload_file(
        self, key: str, path: Path, *, if_none_match: bool = False, sha256: str | None = None
    ) -> ObjectInfo:
        self._count("put")
        return self.inner.upload_file(key, path, if_none_match=if_none_match, sha256=sha256)

    def delete(self, key: str) -> None:
        self._count("delete")
        self.inner.delete(key)

    def delete_many(self, keys: builtins.list[str]) -> None:
        self._count("delete", max(1, -(-len(keys) // PAGE_SIZE)))
        self.inner.delete_many(keys)

    # -- reads ---------------------------------------------------------------------
    def get_bytes(self, key: str) -> tuple[bytes, str]:
        self._count("get")
        return self.inner.get_bytes(key)

    def open_read(self, key: str) -> BinaryIO:
        self._count("get")
        return self.inner.open_read(key)

    def download_file(self, key: str, path: Path) -> None:
        self._count("get")
        self.inner.download_file(key, path)

    def head(self, key: str) -> ObjectInfo | None:
        self._count("head")
        return self.inner.head(key)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        self._count("list")
        for n, info in enumerate(self.inner.list(prefix), 1):
            if n % PAGE_SIZE == 0:
                self._count("list")
            yield info

    def list_children(self, prefix: str) -> builtins.list[str]:
        names = self.inner.list_children(prefix)
        self._count("list", 1 + len(names) // PAGE_SIZE)
        return names

    def close(self) -> None:
        self.inner.close()


class MeteredStore(CountingStore):
    """A :class:`CountingStore` that also counts into ``seqoia_store_requests_total``.

    Workers wrap their store in it: S3 throttles per prefix (about 3,500 writes and 5,500
    reads per second), so the request rate by operation is what to watch as a platform
    grows, and only the workers see all of it.

    The Prometheus counter is added to in batches, at most ``flush_s`` after a request
    (by one thread per process), when the store is closed and at exit: a worker makes
    ~14 requests per stage transition, and each multiprocess counter increment costs a
    lock, a ``getpid`` and a write to a memory-mapped file, ~3 times a local count.
    ``counts`` and ``requests`` stay exact at once.
    """

    def __init__(self, inner: ObjectStore, *, flush_s: float = 1.0) -> None:
        super().__init__(inner)
        from seqoia.metrics import metrics  # after the process's metrics mode is chosen

        family = metrics().store_requests
        self._children = {op: family.labels(op) for op in OPERATIONS}
        #: Requests counted but not yet added to the Prometheus counter (under _lock).
        self._pending: Counter[str] = Counter()
        self._flusher = _flusher(flush_s)

    def _count(self, operation: str, n: int = 1) -> None:
        with self._lock:
            self.counts[operation] += n
            first = not self._pending
            self._pending[operation] += n
        if first:
            self._flusher.schedule(self)

    def flush(self) -> None:
        """Add the pending counts to ``seqoia_store_requests_total`` now."""
        with self._lock:
            pending, self._pending = self._pending, Counter()
        for operation, n in pending.items():
            self._children[operation].inc(n)

    def close(self) -> None:
        self.flush()
        super().close()


class _Flusher:
    """One thread per process that flushes metered stores ``interval_s`` after a request."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._stores: weakref.WeakSet[MeteredStore] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._due = threading.Event()
        self._thread: threading.Thread | None = None

    def schedule(self, store: MeteredStore) -> None:
        """Flush ``store`` within ``interval_s`` (called when its first count is pending)."""
        with self._lock:
            self._stores.add(store)
            if self._thread is None or not self._thread.is_alive():  # new, or forked
                self._thread = threading.Thread(target=self._run, name="store-metrics", daemon=True)
                self._thread.start()
        self._due.set()

    def flush_all(self) -> None:
        with self._lock:
            stores = list(self._stores)
        for store in stores:
            store.flush()

    def _run(self) -> None:
        while True:
            self._due.wait()
            time.sleep(self.interval_s)  # one batch per interval, however many requests
            self._due.clear()  # a count after this sets it again
            self.flush_all()


_FLUSHERS: dict[float, _Flusher] = {}
_FLUSHERS_LOCK = threading.Lock()


def _flusher(interval_s: float) -> _Flusher:
    with _FLUSHERS_LOCK:
        if not _FLUSHERS:
            atexit.register(_flush_at_exit)
        return _FLUSHERS.setdefault(interval_s, _Flusher(interval_s))


def _flush_at_exit() -> None:
    for flusher in list(_FLUSHERS.values()):
        flusher.flush_all()
