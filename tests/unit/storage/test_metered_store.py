"""Store-request metrics: exact counts at once, the Prometheus counter in batches."""

from __future__ import annotations

import time
from pathlib import Path

from seqoia.metrics import local_registry
from seqoia.storage.counting import MeteredStore
from seqoia.storage.local import LocalStore


def _exported(operation: str) -> float:
    value = local_registry().get_sample_value(
        "seqoia_store_requests_total", {"operation": operation}
    )
    return value or 0.0


def test_requests_reach_the_counter_within_the_flush_interval(tmp_path: Path) -> None:
    store = MeteredStore(LocalStore(tmp_path, fsync=False), flush_s=0.05)
    before = _exported("put"), _exported("head")
    for n in range(5):
        store.put_bytes(f"k{n}", b"x")
    store.head("k0")
    assert store.counts["put"] == 5 and store.requests == 6  # exact at once
    deadline = time.monotonic() + 5.0
    while _exported("put") < before[0] + 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert (_exported("put"), _exported("head")) == (before[0] + 5, before[1] + 1)


def test_closing_the_store_flushes_what_is_pending(tmp_path: Path) -> None:
    store = MeteredStore(LocalStore(tmp_path, fsync=False), flush_s=3600.0)
    before = _exported("get")
    store.put_bytes("k", b"x")
    store.get_bytes("k")
    store.get_bytes("k")
    assert _exported("get") == before  # batched, not yet added
    store.close()
    assert _exported("get") == before + 2
