"""Shared helpers for the engine's integration tests: stacks, workers, waiting, and the toy run.

A *stack* is a store and a broker that belong together on a cluster: ``memory`` (in-process
broker, ``file://`` store), ``redis`` (a real redis-server, a real moto S3 HTTP server) and
``amqp`` (a real RabbitMQ, the same S3). Every stack runs the toy pipeline
(``tests/pipelines/toy.py``) with a real ``dramatiq.Worker``; tests wait by polling the
store for the manifests they expect, as an operator would, never by peeking at queues.

Import the fixtures into a test module to use them::

    from tests.integration.engine_helpers import Stack, stack  # noqa: F401
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker

from seqoia.engine.runtime import Runtime, build_runtime
from seqoia.settings import Settings
from seqoia.storage.base import ObjectStore
from seqoia.storage.manifest import Manifest
from seqoia.workers.actors import Actors, declare_actors
from seqoia.workers.broker import build_broker
from seqoia.workers.embedded import EmbeddedWorkers
from tests.fixtures.servers import S3_REGION, fresh_bucket_name, make_bucket, rgw_store

PIPELINE = "tests.pipelines.toy:pipeline"
REPO_ROOT = Path(__file__).resolve().parents[2]
STACKS = ["memory", "redis", "amqp"]

#: The standard toy run: two members of family F1 and one singleton.
TOY_ROWS = [("S1", "F1", "hello"), ("S2", "F1", "world"), ("S3", "-", "solo")]


def toy_expected(run: str, rows: list[tuple[str, str, str]]) -> set[tuple[str, str]]:
    """Every ``(stage, subject)`` the toy pipeline commits for ``rows``."""
    pairs = {("ingest", run), ("tally", run)}
    pairs |= {("process", sample) for sample, _, _ in rows}
    pairs |= {("joint", family) for _, family, _ in rows if family != "-"}
    return pairs


def write_toy_run(store: ObjectStore, run: str, rows: list[tuple[str, str, str]]) -> list[str]:
    """Write a complete toy run folder (marker last); returns the keys written, in order."""
    table = "".join(f"{sample}\t{family}\t{text}\n" for sample, family, text in rows)
    keys = [f"inbox/{run}/samples.tsv", f"inbox/{run}/CopyComplete.txt"]
    store.put_bytes(keys[0], table.encode())
    store.put_bytes(keys[1], b"")
    return keys


@dataclass
class Stack:
    """Settings and a runtime for one store + broker combination."""

    name: str
    settings: Settings
    runtime: Runtime
    #: Environment for ``seqoia`` subprocesses and CliRunner (SEQOIA_* and AWS credentials).
    env: dict[str, str] = field(default_factory=dict)

    @property
    def store(self) -> ObjectStore:
        return self.runtime.store

    def workers(self, *, threads: int = 2) -> Workers:
        """A broker, the actors and a real dramatiq worker for this stack (not started)."""
        return Workers(self, threads=threads)

    def manifests_of(self, stage: str, subject: str) -> list[Manifest]:
        return self.runtime.manifests.history(stage, subject)


def make_settings(store_url: str, broker_url: str, scratch: Path, **overrides: Any) -> Settings:
    """Test settings: quick retries, short leases, one thread per stage tool."""
    values: dict[str, Any] = {
        "store_url": store_url,
        "broker_url": broker_url,
        "scratch_dir": scratch,
        "retry_min_backoff_s": 0.2,
        "retry_max_backoff_s": 1.0,
        "max_retries": 30,
        "heartbeat_timeout_s": 3.0,
        "lease_ttl_s": 30.0,
        "stage_threads": 1,
        "worker_id": f"pytest-{uuid.uuid4().hex[:6]}",
    }
    values.update(overrides)
    return Settings(**values)


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that reproduces ``settings`` in a ``seqoia`` subprocess."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEQOIA_")}
    for name in (
        "store_url",
        "broker_url",
        "scratch_dir",
        "retry_min_backoff_s",
        "retry_max_backoff_s",
        "max_retries",
        "heartbeat_timeout_s",
        "lease_ttl_s",
        "stage_threads",
    ):
        env[f"SEQOIA_{name.upper()}"] = str(getattr(settings, name))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def s3_store_url(endpoint: str) -> str:
    """A fresh bucket on the test S3 server, as a store URL."""
    bucket = fresh_bucket_name()
    make_bucket(endpoint, bucket)
    return f"s3://{bucket}?endpoint_url={endpoint}&region={S3_REGION}"


def build_stack(
    request: pytest.FixtureRequest, name: str, tmp_path: Path, **overrides: Any
) -> Stack:
    """Start (or reuse the session's) servers for stack ``name`` and build its runtime."""
    scratch = tmp_path / "scratch"
    if name == "memory":
        settings = make_settings(f"file://{tmp_path / 'store'}", "memory://", scratch, **overrides)
    elif name == "redis":
        redis_url: str = request.getfixturevalue("redis_server")
        store_url = s3_store_url(request.getfixturevalue("s3_server"))
        settings = make_settings(store_url, redis_url, scratch, **overrides)
        _flush_redis(redis_url)
    elif name == "rgw":  # Redis + Ceph RGW; not in STACKS: for the tests that ask for it
        redis_url = request.getfixturevalue("redis_server")
        rgw = request.getfixturevalue("rgw_server")
        bucket = rgw_store(rgw).bucket  # its user has the session's dummy AWS keys
        # SSE off explicitly: RGW 16.2 accepts SSE-S3 without applying it (seqoia doctor).
        store_url = f"s3://{bucket}?endpoint_url={rgw.endpoint}&region={S3_REGION}&sse=none"
        settings = make_settings(store_url, redis_url, scratch, **overrides)
        _flush_redis(redis_url)
    elif name == "amqp":
        amqp_url: str = request.getfixturevalue("rabbitmq_server")
        store_url = s3_store_url(request.getfixturevalue("s3_server"))
        settings = make_settings(store_url, amqp_url, scratch, **overrides)
    else:
        raise ValueError(f"unknown stack {name!r}")
    runtime = build_runtime(settings, PIPELINE)
    return Stack(name, settings, runtime, settings_env(settings))


def _flush_redis(url: str) -> None:
    """Each test starts with empty queues (the session shares one redis-server)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    """The toy pipeline's runtime on each stack, with a fresh store and empty queues."""
    built = build_stack(request, request.param, tmp_path)
    yield built
    built.store.close()


class Workers:
    """A broker, seqoia's actors and a real ``dramatiq.Worker`` on threads."""

    def __init__(self, stack: Stack, *, threads: int = 2) -> None:
        self.stack = stack
        self.embedded: EmbeddedWorkers | None = None
        if stack.name == "memory":
            self.embedded = EmbeddedWorkers(stack.runtime, threads=threads)
            self.broker: dramatiq.Broker = self.embedded.broker
            self.actors: Actors = self.embedded.actors
            self.worker = self.embedded.worker
        else:
            self.broker = build_broker(stack.settings)
            self.actors = declare_actors(self.broker, stack.runtime)
            self.worker = dramatiq.Worker(self.broker, worker_threads=threads, worker_timeout=100)
        self.started = False

    def start(self) -> Workers:
        self.worker.start()
        self.started = True
        return self

    def __enter__(self) -> Workers:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.started:
            self.worker.stop()
            self.started = False
        try:
            self.broker.flush_all()  # leave nothing for the next test on a shared server
        finally:
            self.broker.close()

    def purge(self) -> None:
        """Drop every queued message (what a broker restart without persistence does)."""
        self.broker.flush_all()

    def queued(self) -> int:
        """Messages the broker still holds (queued, delayed or unacknowledged where known)."""
        broker = self.broker
        queues = self.actors.queues()
        if isinstance(broker, StubBroker):
            return sum(broker.queues[q].unfinished_tasks for q in broker.queues)
        if hasattr(broker, "do_qsize"):  # Redis: counts unacknowledged messages too
            return sum(int(broker.do_qsize(q)) for q in queues)
        return sum(sum(broker.get_queue_message_counts(q)[:2]) for q in queues)  # type: ignore[attr-defined]

    def busy_inside(self) -> bool:
        """Messages fetched by this process's worker and not yet finished."""
        if not self.started:
            return False
        worker = self.worker
        if worker.work_queue.unfinished_tasks:
            return True
        return any(c.delay_queue.unfinished_tasks for c in worker.consumers.values())

    def drain(self, timeout_s: float = 60.0, *, settle_s: float = 0.6) -> None:
        """Wait until nothing is queued, delayed or running, for ``settle_s`` in a row."""
        deadline = time.monotonic() + timeout_s
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            if self.queued() or self.busy_inside():
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= settle_s:
                return
            time.sleep(0.05)
        raise TimeoutError(f"{self.stack.name}: workers still busy after {timeout_s:.0f} s")

    def dead_letters(self, queue: str) -> int:
        """Messages dead-lettered on ``queue``."""
        broker = self.broker
        if isinstance(broker, StubBroker):
            return len(broker.dead_letters_by_queue[queue])
        if hasattr(broker, "do_qsize"):
            client = broker.client  # type: ignore[attr-defined]
            return int(client.zcard(f"{broker.namespace}:{queue}.XQ"))  # type: ignore[attr-defined]
        return int(broker.get_queue_message_counts(queue)[2])  # type: ignore[attr-defined]


def wait_for(
    condition: Callable[[], bool], *, timeout_s: float, what: str, interval_s: float = 0.1
) -> None:
    """Poll ``condition`` until true; fail with ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(interval_s)


def committed_pairs(stack: Stack) -> set[tuple[str, str]]:
    """Every ``(stage, subject)`` with at least one committed manifest in the store."""
    found = set()
    work = stack.runtime.layout.work
    for stage in stack.store.list_children(f"{work}/"):
        if stage.startswith("_"):
            continue
        for subject in stack.store.list_children(f"{work}/{stage}/"):
            if stack.runtime.manifests.generations(stage, subject):
                found.add((stage, subject))
    return found


def wait_for_manifests(
    stack: Stack, expected: set[tuple[str, str]], *, timeout_s: float = 90.0
) -> None:
    """Poll the store until every expected ``(stage, subject)`` has committed."""
    manifests = stack.runtime.manifests

    def all_committed() -> bool:
        return all(manifests.generations(stage, subject) for stage, subject in expected)

    deadline = time.monotonic() + timeout_s
    while not all_committed():
        if time.monotonic() > deadline:
            missing = sorted(p for p in expected if not manifests.generations(*p))
            pytest.fail(f"{stack.name}: still not committed after {timeout_s:.0f} s: {missing}")
        time.sleep(0.1)


def assert_toy_run_complete(
    stack: Stack, run: str, rows: list[tuple[str, str, str]], suffix: str = "!"
) -> None:
    """The whole toy run committed exactly once, with right contents, checksums and links."""
    rt, store = stack.runtime, stack.store
    expected = toy_expected(run, rows)
    assert committed_pairs(stack) == expected
    for stage, subject in sorted(expected):
        generations = rt.manifests.generations(stage, subject)
        assert generations == [1], f"{stage}/{subject} committed generations {generations}"
        manifest = rt.manifests.latest(stage, subject)
        assert manifest is not None and manifest.generation == 1
        assert manifest.outputs, f"{stage}/{subject} has no outputs"
        for ref in manifest.outputs:
            data, _ = store.get_bytes(ref.key)
            assert len(data) == ref.size, f"{ref.key}: size {len(data)} != recorded {ref.size}"
            assert hashlib.sha256(data).hexdigest() == ref.sha256, f"{ref.key}: sha256 differs"
            prefix = rt.layout.attempt_prefix(stage, subject, manifest.attempt)
            assert ref.key.startswith(prefix), f"{ref.key} is outside its attempt's prefix"

    def text(stage: str, subject: str, name: str) -> str:
        manifest = rt.manifests.latest(stage, subject)
        assert manifest is not None
        return store.get_text(manifest.output(name).key)

    for sample, _, sample_text in rows:
        assert text("process", sample, f"{sample}.out") == sample_text.upper() + suffix
    families: dict[str, list[str]] = {}
    for sample, family, _ in rows:
        if family != "-":
            families.setdefault(family, []).append(sample)
    by_sample = {sample: t for sample, _, t in rows}
    for family, members in families.items():
        joint = text("joint", family, f"{family}.joint.txt")
        assert joint == "\n".join(f"{m}:{by_sample[m].upper()}{suffix}" for m in sorted(members))
    tally = text("tally", run, "tally.txt")
    assert int(tally) == sum(len(t) + len(suffix) for _, _, t in rows)

    related = rt.manifests.related
    samples = sorted(sample for sample, _, _ in rows)
    assert related("run", run, "sample") == samples
    assert related("run", run, "family") == sorted(families)
    for sample in samples:
        assert related("sample", sample, "run") == [run]
    for family, members in families.items():
        assert related("family", family, "sample") == sorted(members)
        assert related("family", family, "run") == [run]
        for member in members:
            assert related("sample", member, "family") == [family]
