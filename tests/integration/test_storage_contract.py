"""The object-store contract, run over every backend (local folder, S3 via a moto server).

Each test takes the parametrised ``store`` fixture, so a backend that breaks the contract
fails the same sentence as the others. Backend-specific checks (symlink escapes, SSE on
S3, batching of DeleteObjects, store URLs) follow the shared part.
"""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import os
import random
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from seqoia.errors import (
    ConfigurationError,
    InvalidKeyError,
    ObjectNotFoundError,
    PreconditionFailedError,
    StorageError,
)
from seqoia.storage import LocalStore, ObjectStore, S3Store, open_store, redact_url
from seqoia.storage import s3 as s3_module
from tests.fixtures.servers import S3_REGION, fresh_bucket_name, make_bucket

MIB = 1024 * 1024

# -- round trips and conditions ------------------------------------------------------------


def test_put_then_get_returns_the_bytes_and_one_etag_everywhere(store: ObjectStore) -> None:
    etag = store.put_bytes("runs/R1/manifest.json", b'{"ok": true}')
    data, read_etag = store.get_bytes("runs/R1/manifest.json")
    info = store.head("runs/R1/manifest.json")
    assert data == b'{"ok": true}'
    assert read_etag == etag == hashlib.md5(b'{"ok": true}').hexdigest()
    assert info is not None and info.size == 12 and info.etag == etag
    assert not etag.startswith('"')
    assert store.get_text("runs/R1/manifest.json") == '{"ok": true}'
    assert store.exists("runs/R1/manifest.json")


def test_head_returns_the_sha256_recorded_by_each_put_and_upload(
    store: ObjectStore, tmp_path: Path
) -> None:
    for data, condition in [(b"one", {"if_none_match": True}), (b"two", {}), (b"three", None)]:
        if condition is None:  # a compare-and-swap records the new bytes' checksum too
            condition = {"if_match": store.head("k").etag}  # type: ignore[union-attr]
        store.put_bytes("k", data, **condition)
        info = store.head("k")
        assert info is not None and info.sha256 == hashlib.sha256(data).hexdigest()
    source = tmp_path / "f.bin"
    source.write_bytes(b"uploaded")
    uploaded = store.upload_file("u", source)
    # Computed while uploading: the manifest's checksum needs no second read of the file.
    assert uploaded.sha256 == hashlib.sha256(b"uploaded").hexdigest()
    assert store.head("u").sha256 == uploaded.sha256  # type: ignore[union-attr]


@pytest.mark.parametrize("size", [100, 6 * MIB + 1], ids=["one-put", "multipart"])
def test_a_create_only_upload_is_refused_over_an_existing_key_and_records_its_sha256(
    store: ObjectStore, tmp_path: Path, size: int
) -> None:
    first, second = tmp_path / "first.bin", tmp_path / "second.bin"
    first.write_bytes(random.Random(1).randbytes(size))
    second.write_bytes(random.Random(2).randbytes(size))
    digest = hashlib.sha256(first.read_bytes()).hexdigest()
    info = store.upload_file("out/f.bin", first, if_none_match=True, sha256=digest)
    assert info.size == size and info.sha256 == digest
    with pytest.raises(PreconditionFailedError):
        store.upload_file("out/f.bin", second, if_none_match=True, sha256="0" * 64)
    head = store.head("out/f.bin")
    assert head is not None and head.sha256 == digest and head.etag == info.etag
    assert hashlib.sha256(store.get_bytes("out/f.bin")[0]).hexdigest() == digest
    if isinstance(store, S3Store):  # the refused multipart upload was aborted, not left
        uploads = store.client.list_multipart_uploads(Bucket=store.bucket)
        assert not uploads.get("Uploads")


def test_plain_put_replaces_an_existing_object(store: ObjectStore) -> None:
    store.put_bytes("k", b"one")
    store.put_bytes("k", b"two")
    assert store.get_bytes("k")[0] == b"two"


def test_second_create_of_a_key_is_refused_and_keeps_the_first(store: ObjectStore) -> None:
    store.put_bytes("m.json", b"first", if_none_match=True)
    with pytest.raises(PreconditionFailedError) as caught:
        store.put_bytes("m.json", b"second", if_none_match=True)
    assert caught.value.key == "m.json"
    assert store.get_bytes("m.json")[0] == b"first"


def test_a_non_durable_create_and_replace_keep_their_conditions(store: ObjectStore) -> None:
    # A lease is written durable=False: only the local store's fsyncs may go, not the
    # create-only and compare-and-swap semantics the takeover of a lease relies on.
    first = store.put_bytes("lease", b"a1", if_none_match=True, durable=False)
    with pytest.raises(PreconditionFailedError):
        store.put_bytes("lease", b"a2", if_none_match=True, durable=False)
    with pytest.raises(PreconditionFailedError):
        store.put_bytes("lease", b"a3", if_match=hashlib.md5(b"x").hexdigest(), durable=False)
    second = store.put_bytes("lease", b"a4", if_match=first, durable=False)
    assert store.get_bytes("lease") == (b"a4", second)
    assert store.head("lease").etag == second  # type: ignore[union-attr]


def test_replace_succeeds_with_the_current_etag_and_fails_with_a_stale_one(
    store: ObjectStore,
) -> None:
    first = store.put_bytes("ptr", b"v1")
    second = store.put_bytes("ptr", b"v2", if_match=first)
    assert second != first
    with pytest.raises(PreconditionFailedError):
        store.put_bytes("ptr", b"v3", if_match=first)
    assert store.get_bytes("ptr") == (b"v2", second)


def test_replace_of_a_missing_key_is_refused(store: ObjectStore) -> None:
    with pytest.raises(PreconditionFailedError):
        store.put_bytes("absent", b"x", if_match=hashlib.md5(b"x").hexdigest())
    assert store.head("absent") is None


def test_replace_with_an_empty_etag_is_refused_and_leaves_the_object(store: ObjectStore) -> None:
    store.put_bytes("ptr", b"v1")
    with pytest.raises(PreconditionFailedError):
        store.put_bytes("ptr", b"v2", if_match="")
    assert store.get_bytes("ptr")[0] == b"v1"


def test_eight_threads_racing_to_create_one_key_have_exactly_one_winner(
    store: ObjectStore,
) -> None:
    barrier = threading.Barrier(8)
    winners: list[int] = []
    losers: list[int] = []

    def create(i: int) -> None:
        barrier.wait()
        try:
            store.put_bytes("race/manifest.json", f"attempt {i}".encode(), if_none_match=True)
            winners.append(i)
        except PreconditionFailedError:
            losers.append(i)

    _run_threads(create, 8)
    assert len(winners) == 1 and len(losers) == 7
    assert store.get_bytes("race/manifest.json")[0] == f"attempt {winners[0]}".encode()


def test_compare_and_swap_increments_from_threads_are_never_lost(store: ObjectStore) -> None:
    store.put_bytes("counter", b"0")

    def increment(_: int) -> None:
        for _ in range(5):
            while True:
                data, etag = store.get_bytes("counter")
                try:
                    store.put_bytes("counter", str(int(data) + 1).encode(), if_match=etag)
                    break
                except PreconditionFailedError:
                    continue

    _run_threads(increment, 4)
    assert store.get_bytes("counter")[0] == b"20"


def _run_threads(target: Callable[[int], None], count: int) -> None:
    errors: list[BaseException] = []

    def guarded(i: int) -> None:
        try:
            target(i)
        except BaseException as err:  # surfaced below, in the test's thread
            errors.append(err)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors


# -- listing -------------------------------------------------------------------------------

LISTED_KEYS = ["a/b", "a/a/x", "a-c", "ab", "a/c", "a/b0", "a/b/deep/er", "b/z", "a.txt"]


def test_listing_returns_every_key_under_a_prefix_in_key_order(store: ObjectStore) -> None:
    shuffled = list(LISTED_KEYS)
    random.Random(7).shuffle(shuffled)
    for key in shuffled:
        if key == "a/b":
            continue  # "a/b" and "a/b/..." cannot both exist in a file system
        store.put_bytes(key, key.encode())
    stored = sorted(k for k in LISTED_KEYS if k != "a/b")
    assert [o.key for o in store.list("")] == stored
    assert [o.key for o in store.list("a/")] == [k for k in stored if k.startswith("a/")]
    assert [o.key for o in store.list("a")] == [k for k in stored if k.startswith("a")]
    assert [o.key for o in store.list("a/b")] == ["a/b/deep/er", "a/b0"]
    assert list(store.list("nothing/")) == []
    infos = {o.key: o for o in store.list("b/")}
    assert infos["b/z"].size == 3 and infos["b/z"].etag == hashlib.md5(b"b/z").hexdigest()


def test_a_folder_prefix_does_not_match_a_sibling_that_shares_its_letters(
    store: ObjectStore,
) -> None:
    store.put_bytes("a/x", b"1")
    store.put_bytes("ab", b"2")
    store.put_bytes("a-b", b"3")
    assert [o.key for o in store.list("a/")] == ["a/x"]


def test_list_children_names_objects_and_folders_one_level_down(store: ObjectStore) -> None:
    for key in ["a/x", "a/y/z", "a/y/w", "a/yy", "b"]:
        store.put_bytes(key, b"")
    assert store.list_children("a/") == ["x", "y", "yy"]
    assert store.list_children("") == ["a", "b"]
    assert store.list_children("a/y/") == ["w", "z"]
    assert store.list_children("missing/") == []


def test_deleted_objects_leave_no_folder_behind_in_children(store: ObjectStore) -> None:
    store.put_bytes("s/one/m.json", b"")
    store.put_bytes("s/two/m.json", b"")
    store.delete("s/one/m.json")
    assert store.list_children("s/") == ["two"]


# -- streaming and files -------------------------------------------------------------------


def test_open_read_streams_the_object_in_chunks(store: ObjectStore) -> None:
    payload = os.urandom(3 * MIB + 17)
    store.put_bytes("big.bin", payload)
    with store.open_read("big.bin") as stream:
        first = stream.read(10)
        chunks = [first]
        while chunk := stream.read(256 * 1024):
            assert len(chunk) <= 256 * 1024
            chunks.append(chunk)
    assert len(first) == 10
    assert b"".join(chunks) == payload


def test_a_file_above_the_multipart_threshold_round_trips_intact(
    store: ObjectStore, tmp_path: Path
) -> None:
    source = tmp_path / "reads.cram"
    with open(source, "wb") as f:
        for _ in range(12):
            f.write(os.urandom(MIB))
    info = store.upload_file("samples/S1/S1.md.cram", source)
    assert info.key == "samples/S1/S1.md.cram" and info.size == 12 * MIB
    if isinstance(store, S3Store):
        assert info.etag.endswith("-3"), "12 MiB in 5 MiB parts is a three-part upload"
    head = store.head("samples/S1/S1.md.cram")
    assert head is not None and head.size == 12 * MIB and head.etag == info.etag
    target = tmp_path / "out" / "copy.cram"
    store.download_file("samples/S1/S1.md.cram", target)
    assert _sha256(target) == _sha256(source)
    assert sorted(p.name for p in target.parent.iterdir()) == ["copy.cram"]


def test_a_small_file_uploads_with_the_md5_etag(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "small.txt"
    source.write_bytes(b"ACGT\n")
    info = store.upload_file("f/small.txt", source)
    assert info.etag == hashlib.md5(b"ACGT\n").hexdigest() and info.size == 5
    assert store.get_bytes("f/small.txt") == (b"ACGT\n", info.etag)


def test_downloading_a_missing_key_leaves_no_file(store: ObjectStore, tmp_path: Path) -> None:
    target = tmp_path / "dl" / "x.bin"
    target.parent.mkdir()
    with pytest.raises(ObjectNotFoundError):
        store.download_file("nope.bin", target)
    assert list(target.parent.iterdir()) == []


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(MIB):
            digest.update(chunk)
    return digest.hexdigest()


# -- absence and deletion ------------------------------------------------------------------


def test_missing_objects_are_none_on_head_and_not_found_on_reads(store: ObjectStore) -> None:
    assert store.head("missing") is None
    assert not store.exists("missing")
    with pytest.raises(ObjectNotFoundError) as caught:
        store.get_bytes("missing")
    assert caught.value.key == "missing"
    with pytest.raises(ObjectNotFoundError):
        store.open_read("missing")


def test_delete_is_idempotent(store: ObjectStore) -> None:
    store.put_bytes("d/x", b"1")
    store.delete("d/x")
    store.delete("d/x")
    store.delete("never/was")
    assert store.head("d/x") is None
    assert list(store.list("")) == []


def test_delete_many_removes_every_named_key_and_ignores_absent_ones(store: ObjectStore) -> None:
    for key in ["m/1", "m/2", "m/3", "keep"]:
        store.put_bytes(key, b"x")
    store.delete_many(["m/1", "m/2", "m/3", "m/absent"])
    assert [o.key for o in store.list("")] == ["keep"]


# -- hostile keys --------------------------------------------------------------------------

HOSTILE_KEYS = [
    "../x",
    "a/../../x",
    "/abs",
    "a//b",
    "a/./b",
    "a\nb",
    "a\x00b",
    "tab\there",
    "x" * 1025,
    "",
    "C:/windows",
    "a\\b",
]


@pytest.mark.parametrize("key", HOSTILE_KEYS, ids=lambda k: repr(k[:12]))
def test_a_hostile_key_is_refused_by_every_operation_and_touches_nothing(
    store: ObjectStore, key: str, tmp_path: Path
) -> None:
    source = tmp_path / "src.bin"
    source.write_bytes(b"x")
    operations: list[Callable[[], object]] = [
        lambda: store.put_bytes(key, b"x"),
        lambda: store.put_bytes(key, b"x", if_none_match=True),
        lambda: store.put_bytes(key, b"x", if_match="0" * 32),
        lambda: store.get_bytes(key),
        lambda: store.open_read(key),
        lambda: store.head(key),
        lambda: store.exists(key),
        lambda: store.delete(key),
        lambda: store.delete_many(["fine", key]),
        lambda: store.upload_file(key, source),
        lambda: store.download_file(key, tmp_path / "dl.bin"),
    ]
    if key:  # the empty prefix is legitimate: it lists everything
        operations.append(lambda: list(store.list(key)))
        operations.append(lambda: store.list_children(key.rstrip("/") + "/"))
    store.put_bytes("fine", b"kept")
    before = sorted(p.name for p in tmp_path.parent.iterdir())
    for operation in operations:
        with pytest.raises(InvalidKeyError):
            operation()
    assert [o.key for o in store.list("")] == ["fine"]
    assert sorted(p.name for p in tmp_path.parent.iterdir()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["src.bin"] + (["store"] if isinstance(store, LocalStore) else [])
    )


# -- local store only ----------------------------------------------------------------------
# The racing processes are forked, not spawned: they need only what is imported already,
# and a spawned child would re-import boto3 and pytest (seconds each on a busy machine).


def _create_in_process(root: str, keys: list[str], barrier: object, results: object) -> None:
    store = LocalStore(Path(root))
    for key in keys:
        barrier.wait()  # type: ignore[attr-defined]
        try:
            store.put_bytes(key, str(os.getpid()).encode(), if_none_match=True)
            results.put((key, os.getpid()))  # type: ignore[attr-defined]
        except PreconditionFailedError:
            pass


def _increment_in_process(root: str, times: int) -> None:
    store = LocalStore(Path(root), fsync=False)
    for _ in range(times):
        while True:
            data, etag = store.get_bytes("counter")
            try:
                store.put_bytes("counter", str(int(data) + 1).encode(), if_match=etag)
                break
            except PreconditionFailedError:
                continue


def test_four_processes_racing_on_the_local_store_have_one_winner_per_key(
    tmp_path: Path,
) -> None:
    root = tmp_path / "store"
    LocalStore(root)
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(4)
    results = context.Queue()
    keys = [f"race/{i}/manifest.json" for i in range(10)]
    processes = [
        context.Process(target=_create_in_process, args=(str(root), keys, barrier, results))
        for _ in range(4)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    wins: list[tuple[str, int]] = []
    while not results.empty():
        wins.append(results.get())
    assert sorted(k for k, _ in wins) == keys
    store = LocalStore(root)
    for key, pid in wins:
        assert store.get_bytes(key)[0] == str(pid).encode()


def test_compare_and_swap_from_four_processes_loses_no_increment(tmp_path: Path) -> None:
    root = tmp_path / "store"
    LocalStore(root).put_bytes("counter", b"0")
    context = multiprocessing.get_context("fork")
    processes = [
        context.Process(target=_increment_in_process, args=(str(root), 10)) for _ in range(4)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    assert LocalStore(root).get_bytes("counter")[0] == b"40"


def test_local_store_refuses_keys_that_reach_outside_through_a_symlink(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"do not read")
    store = LocalStore(tmp_path / "store")
    (tmp_path / "store" / "link").symlink_to(outside)
    with pytest.raises(InvalidKeyError):
        store.get_bytes("link/secret")
    with pytest.raises(InvalidKeyError):
        store.put_bytes("link/planted", b"x")
    with pytest.raises(InvalidKeyError):
        list(store.list("link/"))
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    assert [o.key for o in store.list("")] == []  # symlinks are not objects


def test_local_store_hides_its_temporary_and_lock_files(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    store.put_bytes("k", b"1", if_none_match=True)
    with pytest.raises(PreconditionFailedError):
        store.put_bytes("k", b"2", if_none_match=True)
    (tmp_path / "store" / ".seqoia-tmp.leftover").write_bytes(b"crash debris")
    assert [o.key for o in store.list("")] == ["k"]
    assert store.list_children("") == ["k"]
    with pytest.raises(InvalidKeyError):
        store.put_bytes(".seqoia-locks/0001", b"x")
    visible = [p.name for p in (tmp_path / "store").iterdir()]
    assert not [n for n in visible if n.startswith(".seqoia-tmp") and n != ".seqoia-tmp.leftover"]


def test_local_store_reports_a_key_that_is_both_object_and_folder(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    store.put_bytes("a", b"object")
    with pytest.raises(StorageError, match="both an object and a folder"):
        store.put_bytes("a/b", b"x")


def test_local_store_notices_a_file_changed_in_place_behind_its_back(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store", fsync=False)
    store.put_bytes("k", b"before")
    path = tmp_path / "store" / "k"
    path.write_bytes(b"after!!")
    info = store.head("k")
    assert info is not None and info.etag == hashlib.md5(b"after!!").hexdigest()
    assert info.sha256 is None  # recorded for the old bytes: unknown, not stale


# -- S3 only -------------------------------------------------------------------------------


@pytest.mark.parametrize("sse", ["AES256", "aws:kms"])
def test_server_side_encryption_is_requested_on_every_write(
    s3_server: str, tmp_path: Path, sse: str
) -> None:
    bucket = fresh_bucket_name()
    make_bucket(s3_server, bucket)
    store = S3Store(
        bucket,
        endpoint_url=s3_server,
        region=S3_REGION,
        sse=sse,
        kms_key_id="alias/seqoia" if sse == "aws:kms" else None,
        multipart_threshold_bytes=5 * MIB,
    )
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(6 * MIB))
    store.put_bytes("small", b"x")
    store.put_bytes("created", b"x", if_none_match=True)
    store.upload_file("big", source)
    for key in ["small", "created", "big"]:
        assert store.client.head_object(Bucket=bucket, Key=key)["ServerSideEncryption"] == sse
    store.close()


def test_s3_store_keeps_its_objects_under_its_key_prefix(s3_server: str) -> None:
    bucket = fresh_bucket_name()
    make_bucket(s3_server, bucket)
    store = S3Store(bucket, endpoint_url=s3_server, region=S3_REGION, prefix="/centre-a/")
    store.put_bytes("runs/R1/x", b"1")
    raw = store.client.list_objects_v2(Bucket=bucket)["Contents"]
    assert [o["Key"] for o in raw] == ["centre-a/runs/R1/x"]
    assert [o.key for o in store.list("runs/")] == ["runs/R1/x"]
    assert store.list_children("") == ["runs"]
    store.close()


def test_delete_many_sends_batches_of_the_delete_objects_limit(
    s3_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = fresh_bucket_name()
    make_bucket(s3_server, bucket)
    store = S3Store(bucket, endpoint_url=s3_server, region=S3_REGION)
    keys = [f"k/{i}" for i in range(5)]
    for key in keys:
        store.put_bytes(key, b"x")
    monkeypatch.setattr(s3_module, "_DELETE_BATCH", 2)
    calls: list[int] = []
    real = store.client.delete_objects

    def counting(**kwargs: object) -> object:
        calls.append(len(kwargs["Delete"]["Objects"]))  # type: ignore[index]
        return real(**kwargs)

    monkeypatch.setattr(store.client, "delete_objects", counting)
    store.delete_many(keys)
    assert calls == [2, 2, 1]
    assert list(store.list("")) == []
    store.close()


def test_s3_listing_pages_through_more_than_one_page(s3_server: str) -> None:
    bucket = fresh_bucket_name()
    make_bucket(s3_server, bucket)
    store = S3Store(bucket, endpoint_url=s3_server, region=S3_REGION)
    keys = sorted(f"p/{i:04d}" for i in range(12))
    for key in keys:
        store.put_bytes(key, b"")
    paginator = store.client.get_paginator("list_objects_v2")
    pages = list(paginator.paginate(Bucket=bucket, PaginationConfig={"PageSize": 5}))
    assert len(pages) == 3  # the server pages as S3 does
    original = store.client.get_paginator

    class SmallPages:
        def __init__(self, name: str) -> None:
            self._inner = original(name)

        def paginate(self, **kwargs: object) -> object:
            return self._inner.paginate(**kwargs, PaginationConfig={"PageSize": 5})

    store.client.get_paginator = SmallPages  # type: ignore[method-assign]
    assert [o.key for o in store.list("p/")] == keys
    assert store.list_children("p/") == [k.split("/")[1] for k in keys]
    store.close()


def test_an_unreachable_s3_endpoint_is_a_storage_error_not_a_botocore_one() -> None:
    store = S3Store("b", endpoint_url="http://127.0.0.1:9", region=S3_REGION, max_attempts=1)
    with pytest.raises(StorageError) as caught:
        store.get_bytes("k")
    assert not isinstance(caught.value, ObjectNotFoundError)
    assert isinstance(caught.value.__cause__, Exception)
    store.close()


@pytest.mark.parametrize(
    ("status", "code"), [(412, "PreconditionFailed"), (409, "ConditionalRequestConflict")]
)
def test_s3_conditional_write_conflicts_become_precondition_failures(
    status: int, code: str
) -> None:
    from botocore.stub import Stubber

    store = S3Store("b", endpoint_url="http://127.0.0.1:9", region=S3_REGION)
    with Stubber(store.client) as stub:
        stub.add_client_error("put_object", code, http_status_code=status)
        with pytest.raises(PreconditionFailedError):
            store.put_bytes("m.json", b"x", if_none_match=True)
        stub.add_client_error("put_object", "InternalError", http_status_code=500)
        with pytest.raises(StorageError) as caught:
            store.put_bytes("m.json", b"x", if_none_match=True)
        assert not isinstance(caught.value, PreconditionFailedError)
        assert "put 'm.json'" in str(caught.value)
    store.close()


# -- store URLs ----------------------------------------------------------------------------


def test_file_urls_open_relative_and_absolute_folders(tmp_path: Path) -> None:
    relative = open_store("file://seqoia-data", base_dir=tmp_path)
    absolute = open_store(f"file://{tmp_path}/abs?fsync=0")
    assert isinstance(relative, LocalStore) and relative.root == tmp_path / "seqoia-data"
    assert isinstance(absolute, LocalStore) and absolute.root == tmp_path / "abs"
    relative.put_bytes("x", b"1")
    assert (tmp_path / "seqoia-data" / "x").read_bytes() == b"1"


@pytest.mark.parametrize("store", ["s3"], indirect=True)
def test_a_multipart_create_is_refused_by_the_server_when_the_key_appears_after_the_look(
    store: ObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(store, S3Store)
    big = tmp_path / "big.bin"
    big.write_bytes(random.Random(3).randbytes(6 * MIB + 1))
    store.put_bytes("out/big.bin", b"another writer's")
    monkeypatch.setattr(store, "head", lambda key: None)  # it looked before that writer
    with pytest.raises(PreconditionFailedError):
        store.upload_file("out/big.bin", big, if_none_match=True)
    monkeypatch.undo()
    assert store.get_bytes("out/big.bin")[0] == b"another writer's"
    assert not store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads")


def test_s3_urls_open_a_bucket_and_can_create_it(s3_server: str) -> None:
    bucket = fresh_bucket_name()
    store = open_store(
        f"s3://{bucket}/inbox?endpoint_url={s3_server}&region={S3_REGION}"
        "&sse=AES256&create_bucket=1&max_attempts=3"
    )
    assert isinstance(store, S3Store) and store.prefix == "inbox/"
    store.put_bytes("RunInfo.xml", b"<RunInfo/>")
    assert store.get_bytes("RunInfo.xml")[0] == b"<RunInfo/>"
    store.close()


@pytest.mark.parametrize(
    "url",
    ["ftp://host/x", "seqoia-data", "s3://b?bogus=1", "s3://key:secret@b", "file://x?fsync=maybe"],
)
def test_bad_store_urls_are_configuration_errors(url: str) -> None:
    with pytest.raises(ConfigurationError):
        open_store(url)


def test_redacted_urls_hide_passwords_and_secret_parameters() -> None:
    assert redact_url("amqp://guest:hunter2@rabbit:5672/") == "amqp://guest:***@rabbit:5672/"
    redacted = redact_url("s3://b/p?endpoint_url=http://m:9000&secret_key=abc")
    assert "abc" not in redacted and "endpoint_url=http://m:9000" in redacted
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_open_read_of_s3_is_a_real_binary_stream(store: ObjectStore) -> None:
    store.put_bytes("lines.txt", b"a\nb\nc\n")
    with store.open_read("lines.txt") as stream:
        assert isinstance(stream, io.BufferedIOBase | io.RawIOBase)
        assert stream.readline() == b"a\n"
        assert list(stream) == [b"b\n", b"c\n"]


# -- security defaults (issue 12) ------------------------------------------------------------


def test_server_side_encryption_is_on_by_default_and_off_only_when_asked(
    s3_server: str,
) -> None:
    bucket = fresh_bucket_name()
    make_bucket(s3_server, bucket)
    default = open_store(f"s3://{bucket}?endpoint_url={s3_server}&region={S3_REGION}")
    clear = open_store(f"s3://{bucket}?endpoint_url={s3_server}&region={S3_REGION}&sse=none")
    assert isinstance(default, S3Store) and isinstance(clear, S3Store)
    default.put_bytes("encrypted", b"x")
    clear.put_bytes("clear", b"x")
    assert default.client.head_object(Bucket=bucket, Key="encrypted")["ServerSideEncryption"] == (
        "AES256"
    )
    assert "ServerSideEncryption" not in default.client.head_object(Bucket=bucket, Key="clear")
    default.close()
    clear.close()


@pytest.mark.parametrize(
    "endpoint", ["http://minio.example:9000", "http://10.0.0.5:9000", "ftp://minio:21"]
)
def test_plain_http_endpoints_beyond_loopback_are_refused(endpoint: str) -> None:
    with pytest.raises(ConfigurationError, match="endpoint"):
        open_store(f"s3://bucket?endpoint_url={endpoint}")
    with pytest.raises(ConfigurationError):
        S3Store("bucket", endpoint_url=endpoint)


def test_plain_http_is_accepted_on_loopback_or_when_explicitly_allowed() -> None:
    for endpoint in ("http://127.0.0.1:9000", "http://localhost:9000", "http://[::1]:9000"):
        S3Store("bucket", endpoint_url=endpoint, region=S3_REGION).close()
    store = open_store("s3://bucket?endpoint_url=http://minio.example:9000&allow_http=1")
    assert isinstance(store, S3Store)
    store.close()
    S3Store("bucket", endpoint_url="https://minio.example:9000", region=S3_REGION).close()


def test_a_hostile_key_in_an_s3_run_folder_creates_nothing_outside_scratch(
    s3_server: str, tmp_path: Path
) -> None:
    """S3 accepts ``..`` in keys: a run folder holding one must fail before any mkdir."""
    from seqoia.engine.runner import StageRunner
    from seqoia.engine.runtime import build_runtime
    from seqoia.errors import RunFolderError
    from seqoia.settings import Settings

    bucket = fresh_bucket_name()
    make_bucket(s3_server, bucket)
    settings = Settings(
        store_url=f"s3://{bucket}?endpoint_url={s3_server}&region={S3_REGION}",
        scratch_dir=tmp_path / "scratch",
        worker_id="unit",
    )
    runtime = build_runtime(settings, "tests.pipelines.toy:pipeline")
    assert isinstance(runtime.store, S3Store)
    runtime.store.put_bytes("inbox/R1/samples.tsv", b"S1\t-\tone\n")
    # Written around the store's own key checks, as a sequencer's client could.
    hostile = "inbox/R1/a/../../../../../../escaped/pwned.txt"
    runtime.store.client.put_object(Bucket=bucket, Key=hostile, Body=b"x")
    runtime.store.put_bytes("inbox/R1/CopyComplete.txt", b"")
    listed = [info.key for info in runtime.store.list("inbox/R1/")]
    assert hostile in listed  # the server kept the key as written: the test is real

    with pytest.raises(RunFolderError, match="unsafe object key") as caught:
        StageRunner(runtime).execute("ingest", "R1")
    assert caught.value.permanent and caught.value.run == "R1"
    assert not list(tmp_path.rglob("escaped"))
    assert runtime.manifests.latest("ingest", "R1") is None
    runtime.store.close()
