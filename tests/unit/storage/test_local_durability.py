"""The local store's fsyncs: conditional writes are durable unless written as a hint."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from seqoia.storage.local import LocalStore


def _count_fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = os.fsync

    def counting(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", counting)
    return calls


def test_a_create_only_write_is_synced_even_without_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalStore(tmp_path, fsync=False)
    calls = _count_fsyncs(monkeypatch)
    store.put_bytes("work/m.json", b"{}", if_none_match=True)
    assert len(calls) == 2  # the file, then its folder


def test_a_hint_written_non_durable_is_not_synced_and_stays_create_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalStore(tmp_path, fsync=True)
    calls = _count_fsyncs(monkeypatch)
    etag = store.put_bytes("work/_leases/s/S1", b"a1", if_none_match=True, durable=False)
    store.put_bytes("work/_leases/s/S1", b"a2", if_match=etag, durable=False)
    store.put_bytes("work/_leases/s/S2", b"a1", durable=False)
    assert calls == []
    assert store.get_bytes("work/_leases/s/S1")[0] == b"a2"
    assert not [name for name in os.listdir(tmp_path / "work/_leases/s") if name.startswith(".")]
