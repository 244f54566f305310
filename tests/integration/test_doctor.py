"""`seqoia doctor` and the worker's start-up check, against real stores and brokers.

Ceph RGW is the interesting server: in a versioned bucket it ignores ``If-None-Match: *``
(every racing writer "wins"), and it accepts SSE-S3 with 200 without encrypting. The
doctor must see both; a plain RGW bucket, moto and a local folder must pass.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pika
import pytest
import redis

from seqoia.commands.doctor import guard_store
from seqoia.errors import UnsafeStoreError
from seqoia.storage import LocalStore, S3Store
from seqoia.storage.selfcheck import SCRATCH_AREA, Check, check_store, failed
from seqoia.workers.brokercheck import check_broker
from tests.fixtures.ceph import CephRGW
from tests.fixtures.servers import (
    S3_REGION,
    ServerProcess,
    free_port,
    fresh_bucket_name,
    make_bucket,
    rgw_store,
)

REPO = Path(__file__).resolve().parents[2]


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


def versioned(store: S3Store) -> S3Store:
    store.client.put_bucket_versioning(
        Bucket=store.bucket, VersioningConfiguration={"Status": "Enabled"}
    )
    return store


def doctor_cli(store_url: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **env, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "seqoia.cli", "--store", store_url, *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def rgw_env(rgw: CephRGW) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": rgw.access_key,
        "AWS_SECRET_ACCESS_KEY": rgw.secret_key,
        "AWS_DEFAULT_REGION": S3_REGION,
    }


# -- stores --------------------------------------------------------------------------------


def test_a_plain_rgw_bucket_passes_every_store_check_and_leaves_no_scratch_key(
    rgw_server: CephRGW,
) -> None:
    store = rgw_store(rgw_server)
    checks = by_name(check_store(store))
    assert failed(list(checks.values())) == []
    assert checks["create-only PUT"].detail.startswith("1 of 4 racing writers won")
    assert "If-Match sent bare" in checks["compare-and-swap PUT"].detail  # RGW's form
    assert checks["bucket versioning"].verdict == "ok"
    assert list(store.list(SCRATCH_AREA + "/")) == []


def test_a_versioned_rgw_bucket_fails_create_only_and_versioning(rgw_server: CephRGW) -> None:
    store = versioned(rgw_store(rgw_server))
    checks = by_name(check_store(store))
    assert checks["bucket versioning"].verdict == "fail"
    # Not only the setting: the race really has more than one winner on RGW.
    assert checks["create-only PUT"].verdict == "fail"
    assert "racing writers won" in checks["create-only PUT"].detail or (
        "create-only PUT over an existing object succeeded" in checks["create-only PUT"].detail
    )


def test_sse_s3_that_rgw_accepts_but_does_not_apply_is_a_failure(rgw_server: CephRGW) -> None:
    store = rgw_store(rgw_server, sse="AES256")
    check = by_name(check_store(store))["server-side encryption"]
    assert check.verdict == "fail"
    assert "AES256 was requested" in check.detail


def test_moto_and_a_local_folder_pass_every_store_check(s3_server: str, tmp_path: Path) -> None:
    bucket = fresh_bucket_name()
    make_bucket(s3_server, bucket)
    on_moto = S3Store(bucket, endpoint_url=s3_server, region=S3_REGION, sse="AES256")
    moto_checks = by_name(check_store(on_moto))
    assert failed(list(moto_checks.values())) == []
    assert moto_checks["server-side encryption"].detail == "AES256 requested and applied"
    assert "If-Match sent quoted" in moto_checks["compare-and-swap PUT"].detail
    local = LocalStore(tmp_path / "store")
    local_checks = check_store(local)
    assert failed(local_checks) == [] and len(local_checks) == 5
    assert list(local.list(SCRATCH_AREA + "/")) == []


def test_the_worker_guard_refuses_a_versioned_bucket_unless_told_loudly(
    rgw_server: CephRGW, caplog: pytest.LogCaptureFixture
) -> None:
    store = versioned(rgw_store(rgw_server))
    with pytest.raises(UnsafeStoreError, match="--unsafe-store"):
        guard_store(store, unsafe=False)
    with caplog.at_level(logging.ERROR, logger="seqoia.commands.doctor"):
        guard_store(store, unsafe=True)
    assert "UNSAFE STORE" in caplog.text and "bucket versioning" in caplog.text
    guard_store(rgw_store(rgw_server), unsafe=False)  # a plain bucket starts quietly


def test_a_recorded_pass_spares_a_new_worker_the_probes_until_versioning_is_turned_on(
    rgw_server: CephRGW,
) -> None:
    store = rgw_store(rgw_server)
    assert len(guard_store(store, unsafe=False, valid_s=60)) == 5  # probes, then recorded
    again = guard_store(store, unsafe=False, valid_s=60)
    assert [(check.name, check.verdict) for check in again] == [("bucket versioning", "ok")]
    versioned(store)  # an admin's click after the verdict was recorded
    with pytest.raises(UnsafeStoreError, match="bucket versioning"):
        guard_store(store, unsafe=False, valid_s=60)


# -- the command ---------------------------------------------------------------------------


def test_seqoia_doctor_exits_zero_on_a_plain_bucket_and_one_on_a_versioned_one(
    rgw_server: CephRGW,
) -> None:
    env = rgw_env(rgw_server)
    plain = rgw_store(rgw_server)
    url = f"s3://{plain.bucket}?endpoint_url={rgw_server.endpoint}&sse=none"
    ok = doctor_cli(url, env, "doctor", "--skip-broker")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "ok    store  create-only PUT" in ok.stdout
    assert "all checks passed" in ok.stdout
    bad = versioned(rgw_store(rgw_server))
    url = f"s3://{bad.bucket}?endpoint_url={rgw_server.endpoint}&sse=none"
    refused = doctor_cli(url, env, "doctor", "--skip-broker")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "fail  store  bucket versioning" in refused.stdout
    assert "check(s) failed" in refused.stderr


def test_seqoia_worker_refuses_to_start_on_a_versioned_bucket(rgw_server: CephRGW) -> None:
    bad = versioned(rgw_store(rgw_server))
    url = f"s3://{bad.bucket}?endpoint_url={rgw_server.endpoint}&sse=none"
    result = doctor_cli(url, rgw_env(rgw_server), "--broker", "memory://", "worker")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "does not guarantee the commit protocol" in result.stderr
    assert "--unsafe-store" in result.stderr


def test_seqoia_worker_with_unsafe_store_starts_and_says_so_loudly(
    rgw_server: CephRGW, tmp_path: Path
) -> None:
    bad = versioned(rgw_store(rgw_server))
    env = {
        **os.environ,
        **rgw_env(rgw_server),
        "PYTHONPATH": str(REPO),
        "SEQOIA_STORE_URL": f"s3://{bad.bucket}?endpoint_url={rgw_server.endpoint}&sse=none",
        "SEQOIA_BROKER_URL": "memory://",
        "SEQOIA_METRICS_PORT": str(free_port()),
    }
    worker = ServerProcess(
        "seqoia-worker",
        [sys.executable, "-m", "seqoia.cli", "worker", "--unsafe-store"],
        tmp_path,
        env=env,
    )
    worker.start()
    try:
        worker.wait_until(
            lambda: "consuming" in worker.output_tail(), timeout_s=60, what="consuming"
        )
        output = worker.output_tail(100)
        assert "UNSAFE STORE (--unsafe-store): bucket versioning failed" in output
        assert "UNSAFE STORE (--unsafe-store): create-only PUT failed" in output
    finally:
        worker.stop()


# -- brokers -------------------------------------------------------------------------------


def test_redis_without_persistence_is_a_warning_and_with_aof_ok(redis_server: str) -> None:
    checks = by_name(check_broker(redis_server))
    assert checks["reachable"].verdict == "ok"
    assert checks["durable"].verdict == "warn" and "no persistence" in checks["durable"].detail
    client = redis.Redis.from_url(redis_server)
    try:
        client.config_set("appendonly", "yes")
        assert by_name(check_broker(redis_server))["durable"].verdict == "ok"
    finally:
        client.config_set("appendonly", "no")
        client.close()


def test_an_unreachable_broker_fails() -> None:
    (check,) = check_broker("redis://127.0.0.1:1/0")
    assert (check.name, check.verdict) == ("reachable", "fail")


def test_rabbitmq_durable_queues_pass_and_a_volatile_one_warns(rabbitmq_server: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_server))
    try:
        channel = connection.channel()
        channel.queue_declare(queue="kept", durable=True, arguments={"x-max-priority": 10})
        channel.queue_declare(queue="volatile", durable=False)
    finally:
        connection.close()
    good = by_name(check_broker(rabbitmq_server, ["kept", "not-declared-yet"]))
    assert good["reachable"].verdict == "ok" and good["durable"].verdict == "ok"
    bad = by_name(check_broker(rabbitmq_server, ["kept", "volatile"]))
    assert bad["durable"].verdict == "warn" and "volatile" in bad["durable"].detail
    assert "kept" not in bad["durable"].detail
