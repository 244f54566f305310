"""The local store's writers survive a concurrent delete pruning the folder they write in."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from seqoia.errors import StorageError
from seqoia.storage import permissions
from seqoia.storage.local import LocalStore


def test_a_folder_pruned_between_mkdir_and_the_check_is_made_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_mkdir = os.mkdir
    raced = []

    def mkdir_losing_a_race(path: str, mode: int = 0o777) -> None:
        if not raced:  # another writer made it, and a delete pruned it, in between
            raced.append(path)
            raise FileExistsError(17, "File exists", path)
        real_mkdir(path, mode)

    monkeypatch.setattr(permissions.os, "mkdir", mkdir_losing_a_race)
    permissions.make_folders(str(tmp_path / "a" / "b"), 0o700)  # no error for a pruned folder
    assert raced
    permissions.make_folders(str(tmp_path / "a" / "b"), 0o700)
    assert (tmp_path / "a" / "b").is_dir()


def test_a_file_in_the_way_of_a_folder_is_still_an_error(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put_bytes("work/x", b"file")
    with pytest.raises(StorageError):
        store.put_bytes("work/x/y", b"below a file")


def test_lease_like_keys_written_and_deleted_by_many_threads_never_fail(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, fsync=False)
    errors: list[BaseException] = []

    def churn(n: int) -> None:
        try:
            for i in range(300):
                key = f"work/_leases/step/S{n}-{i}"
                store.put_bytes(key, b"{}", if_none_match=True)
                store.delete(key)  # prunes the folder when it was the last key
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=churn, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_a_folder_in_use_is_not_pruned_and_a_cold_one_is(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, fsync=False)
    store.put_bytes("work/_leases/step/S1", b"{}")
    store.delete("work/_leases/step/S1")
    assert (tmp_path / "work" / "_leases" / "step").is_dir()  # hot: kept for the next lease
    assert store.list_children("work/_leases/") == []  # and invisible, as in S3
    store.put_bytes("work/_leases/step/S2", b"{}")
    store._written.clear()  # as after a second without writes
    store.delete("work/_leases/step/S2")
    assert not (tmp_path / "work" / "_leases").exists()
