"""The local store's path check: symlinks are followed only while they stay inside the root."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqoia.errors import InvalidKeyError
from seqoia.storage.local import LocalStore


def test_a_symlinked_object_pointing_outside_the_root_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "secret"
    outside.write_bytes(b"do not read")
    store = LocalStore(tmp_path / "store")
    (tmp_path / "store" / "a").mkdir()
    (tmp_path / "store" / "a" / "leak").symlink_to(outside)
    with pytest.raises(InvalidKeyError, match="outside the store"):
        store.get_bytes("a/leak")
    with pytest.raises(InvalidKeyError):
        store.head("a/leak")


def test_a_symlinked_folder_deep_in_the_key_is_refused_for_listing(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x").write_bytes(b"1")
    store = LocalStore(tmp_path / "store")
    store.put_bytes("work/s/keep", b"k")
    (tmp_path / "store" / "work" / "s" / "link").symlink_to(outside)
    with pytest.raises(InvalidKeyError, match="prefix resolves outside"):
        store.list_children("work/s/link/")
    with pytest.raises(InvalidKeyError):
        store.put_bytes("work/s/link/planted", b"x")
    assert sorted(p.name for p in outside.iterdir()) == ["x"]


def test_a_symlink_that_stays_inside_the_root_is_followed(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    store.put_bytes("real/obj", b"data")
    (tmp_path / "store" / "alias").symlink_to(tmp_path / "store" / "real")
    assert store.get_bytes("alias/obj")[0] == b"data"


def test_keys_below_a_missing_folder_are_simply_absent(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    assert store.head("no/such/folder/key") is None
    assert store.list_children("no/such/") == []
