"""The local store's path check: symlinks are followed only while they stay inside the root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from seqoia.errors import InvalidKeyError, ObjectNotFoundError, PreconditionFailedError
from seqoia.storage.local import LocalStore


def planted_leak(tmp_path: Path, content: bytes) -> tuple[LocalStore, Path]:
    """A store whose key ``a/leak`` is a symlink to a file outside it holding ``content``."""
    outside = tmp_path / "secret"
    outside.write_bytes(content)
    store = LocalStore(tmp_path / "store")
    (tmp_path / "store" / "a").mkdir()
    (tmp_path / "store" / "a" / "leak").symlink_to(outside)
    return store, outside


def test_a_symlinked_object_pointing_outside_the_root_is_refused(tmp_path: Path) -> None:
    store, _ = planted_leak(tmp_path, b"do not read")
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


def test_every_read_refuses_a_symlinked_object_leading_outside(tmp_path: Path) -> None:
    store, _ = planted_leak(tmp_path, b"do not read")
    store.put_bytes("a/real", b"inside")
    (tmp_path / "store" / "a" / "alias").symlink_to(tmp_path / "store" / "a" / "real")
    with pytest.raises(InvalidKeyError, match="outside the store"):
        store.open_read("a/leak")
    with pytest.raises(InvalidKeyError, match="outside the store"):
        store.download_file("a/leak", tmp_path / "copy")
    assert not (tmp_path / "copy").exists()
    # One that stays inside is followed by every read, as a folder symlink is.
    assert store.get_bytes("a/alias")[0] == b"inside"
    with store.open_read("a/alias") as handle:
        assert handle.read() == b"inside"
    info = store.head("a/alias")
    assert info is not None and info.size == len(b"inside")


def test_a_write_replaces_a_symlinked_object_and_never_writes_through_it(tmp_path: Path) -> None:
    store, outside = planted_leak(tmp_path, b"do not overwrite")
    with pytest.raises(PreconditionFailedError):  # something is at the key: create-only fails
        store.put_bytes("a/leak", b"new", if_none_match=True)
    store.put_bytes("a/leak", b"new")  # an overwrite replaces the link itself
    assert outside.read_bytes() == b"do not overwrite"
    assert not (tmp_path / "store" / "a" / "leak").is_symlink()
    assert store.get_bytes("a/leak")[0] == b"new"


def test_a_fifo_or_a_folder_at_a_key_is_no_object_and_does_not_block(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    store.put_bytes("a/b/c", b"x")
    os.mkfifo(tmp_path / "store" / "a" / "pipe")
    for key in ("a/pipe", "a/b"):
        with pytest.raises(ObjectNotFoundError):
            store.get_bytes(key)
        with pytest.raises(ObjectNotFoundError):
            store.open_read(key)
        assert store.head(key) is None
