"""Store self-check: does this store keep the promises the commit protocol rests on?

A stage commits by a create-only PUT of its manifest; leases move by compare-and-swap on
their ETag; the reconciler trusts a listing. An S3-compatible server can accept each of
these requests and still not honour it: Ceph RGW ignores ``If-None-Match: *`` in a
versioned bucket (both racing writers "win", the second overwrites the first commit),
accepts SSE-S3 with 200 without encrypting, and refuses a quoted ``If-Match`` ETag.
These checks exercise the real store, on scratch keys under :data:`SCRATCH_AREA`, the
way the pipeline will, before it serves patients (``seqoia doctor``) and at worker
start-up. Each yields a :class:`Check` with a verdict: ``fail`` means a promise is
broken, ``warn`` that something deserves a look.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from seqoia.errors import PreconditionFailedError, SeqoiaError
from seqoia.storage.base import ObjectStore

Verdict = Literal["ok", "warn", "fail"]
#: Scratch keys live under this area and are deleted after the checks.
SCRATCH_AREA = "seqoia-selfcheck"
#: Writers racing to create one key in the create-only check.
RACING_WRITERS = 4


@dataclass(frozen=True)
class Check:
    """One checked promise: what, the verdict, and what was seen."""

    subject: str  # "store" or "broker"
    name: str
    verdict: Verdict
    detail: str


def failed(checks: list[Check]) -> list[Check]:
    """The checks whose verdict is ``fail``."""
    return [check for check in checks if check.verdict == "fail"]


def check_store(store: ObjectStore) -> list[Check]:
    """Run every store check on scratch keys (removed afterwards); never raises."""
    prefix = f"{SCRATCH_AREA}/{uuid.uuid4().hex}/"
    steps: list[tuple[str, Callable[[ObjectStore, str], Check]]] = [
        ("write, read and list", _listing),
        ("create-only PUT", _create_only),
        ("compare-and-swap PUT", _compare_and_swap),
        ("bucket versioning", _versioning),
        ("server-side encryption", _encryption),
    ]
    checks: list[Check] = []
    try:
        # Concurrently: each step has keys of its own, and a worker's start-up (a dead
        # worker's replacement) waits for the slowest step, not for the sum of retries.
        with ThreadPoolExecutor(len(steps), thread_name_prefix="selfcheck") as pool:
            futures = [pool.submit(_run_step, store, prefix, *step) for step in steps]
            checks = [future.result() for future in futures]
    finally:
        try:
            store.delete_many([info.key for info in store.list(prefix)])
        except SeqoiaError as err:
            checks.append(
                Check("store", "clean-up", "warn", f"scratch keys under {prefix} left: {err}")
            )
    return checks


def _run_step(
    store: ObjectStore, prefix: str, name: str, step: Callable[[ObjectStore, str], Check]
) -> Check:
    try:
        return step(store, prefix)
    except SeqoiaError as err:
        return Check("store", name, "fail", f"{type(err).__name__}: {err}")


def check_versioning(store: ObjectStore) -> Check:
    """The bucket versioning check alone (one request): re-read on every worker start."""
    return _run_step(store, "", "bucket versioning", _versioning)


def _listing(store: ObjectStore, prefix: str) -> Check:
    name = "write, read and list"
    key = prefix + "listed"
    etag = store.put_bytes(key, b"listed")
    data, read_etag = store.get_bytes(key)
    if (data, read_etag) != (b"listed", etag):
        return Check("store", name, "fail", "an object read back differs from what was written")
    listed = [info.key for info in store.list(prefix)]
    if key not in listed:
        return Check("store", name, "fail", "a listing right after a write does not show it")
    return Check("store", name, "ok", "a new object reads back and is listed at once")


def _create_only(store: ObjectStore, prefix: str) -> Check:
    name = "create-only PUT"
    key = prefix + "race"
    barrier = threading.Barrier(RACING_WRITERS)
    winners: list[int] = []
    errors: list[BaseException] = []

    def create(writer: int) -> None:
        try:
            barrier.wait(timeout=30)
            store.put_bytes(key, f"writer {writer}".encode(), if_none_match=True)
            winners.append(writer)
        except PreconditionFailedError:
            pass
        except BaseException as err:  # surfaced below, not lost in the thread
            errors.append(err)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(RACING_WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        return Check("store", name, "fail", f"a racing writer failed: {errors[0]}")
    kept = store.get_bytes(key)[0].decode(errors="replace")
    if len(winners) != 1 or kept != f"writer {winners[0]}":
        return Check(
            "store",
            name,
            "fail",
            f"{len(winners)} of {RACING_WRITERS} racing writers won (must be exactly one); "
            "two attempts could both commit a manifest",
        )
    try:
        store.put_bytes(key, b"late", if_none_match=True)
    except PreconditionFailedError:
        return Check(
            "store", name, "ok", f"1 of {RACING_WRITERS} racing writers won; a late one is refused"
        )
    return Check("store", name, "fail", "a create-only PUT over an existing object succeeded")


def _compare_and_swap(store: ObjectStore, prefix: str) -> Check:
    name = "compare-and-swap PUT"
    key = prefix + "swap"
    first = store.put_bytes(key, b"one")
    try:
        store.put_bytes(key, b"two", if_match=first)
    except PreconditionFailedError:
        return Check(
            "store",
            name,
            "fail",
            "a replace with the current ETag was refused: leases can never be renewed "
            "or taken over, and a dead worker's stages stall",
        )
    try:
        store.put_bytes(key, b"three", if_match=first)
    except PreconditionFailedError:
        form = getattr(store, "if_match_form", None)
        how = f" (If-Match sent {form})" if form else ""
        return Check("store", name, "ok", f"matching ETag replaces, a stale one is refused{how}")
    return Check("store", name, "fail", "a replace with a stale ETag overwrote the object")


def _versioning(store: ObjectStore, prefix: str) -> Check:
    name = "bucket versioning"
    client, bucket = s3_client_and_bucket(store)
    if client is None:
        return Check("store", name, "ok", "not an S3 bucket (no versioning)")
    try:
        status = client.get_bucket_versioning(Bucket=bucket).get("Status") or "never enabled"
    except Exception as err:  # botocore's errors, translated here at the boundary
        return Check("store", name, "warn", f"cannot read the versioning state: {err}")
    if status == "Enabled":
        return Check(
            "store",
            name,
            "fail",
            "versioning is on: S3-compatible servers (Ceph RGW) ignore If-None-Match: * "
            "in a versioned bucket; use an unversioned bucket",
        )
    if status == "Suspended":
        return Check(
            "store", name, "warn", "versioning is suspended; older versions are still kept"
        )
    return Check("store", name, "ok", f"versioning {status.lower()}")


def _encryption(store: ObjectStore, prefix: str) -> Check:
    name = "server-side encryption"
    client, bucket = s3_client_and_bucket(store)
    wanted = getattr(store, "sse", None)
    if client is None:
        return Check("store", name, "ok", "local folder: encryption is the file system's")
    key = prefix + "encrypted"
    store.put_bytes(key, b"encrypted?")
    try:
        applied = client.head_object(Bucket=bucket, Key=store.prefix + key).get(  # type: ignore[attr-defined]
            "ServerSideEncryption"
        )
    except Exception as err:  # botocore's errors, translated here at the boundary
        return Check("store", name, "warn", f"cannot read the object's encryption: {err}")
    if wanted is None:
        seen = f"objects come back with {applied}" if applied else "objects are not encrypted"
        return Check("store", name, "ok", f"not requested; {seen}")
    if applied != wanted:
        return Check(
            "store",
            name,
            "fail",
            f"{wanted} was requested but the object reads back with "
            f"{applied or 'no encryption'}: the server accepted and ignored it",
        )
    return Check("store", name, "ok", f"{wanted} requested and applied")


def s3_client_and_bucket(store: ObjectStore) -> tuple[Any, str]:
    """The boto3 client and bucket of an S3 store, or (None, "") for another backend."""
    client = getattr(store, "client", None)
    bucket = getattr(store, "bucket", "")
    return (client, bucket) if client is not None and bucket else (None, "")
