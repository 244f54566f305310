"""A SIGKILLed worker's stage is taken over within its lease time plus a few seconds.

On a real ``redis-server``: the dead worker's unacknowledged message comes back through
the workers' own sweep (:mod:`seqoia.workers.sweep`) within the heartbeat timeout plus one
sweep, finds the lease still held, and is looked at again right at the lease's expiry.
"""

from __future__ import annotations

import json
import signal
import time
import uuid
from pathlib import Path

import dramatiq

from bench.chaos import PIPELINE, Workers, settings_env
from seqoia.engine.runtime import Runtime, load_pipeline
from seqoia.settings import Settings
from seqoia.storage.urls import open_store
from seqoia.workers.actors import declare_actors
from seqoia.workers.broker import build_broker
from seqoia.workers.sweep import DeadWorkerSweep, SweepingRedisBroker

LEASE_TTL_S = 6.0
HEARTBEAT_TIMEOUT_S = 3.0
#: Heartbeat + sweep + polls, the busy-retry's margin, a delayed message's hand-over and a
#: shared 2-core machine's scheduling.
MARGIN_S = 5.0


def other_db(redis_url: str, db: int) -> str:
    return f"{redis_url.rsplit('/', 1)[0]}/{db}"


def test_a_dead_workers_message_comes_back_after_its_heartbeat_and_one_sweep(
    redis_server: str,
) -> None:
    url, namespace = other_db(redis_server, 12), f"sweep-{uuid.uuid4().hex[:8]}"
    # No random maintenance at all: only the sweep can give the message back.
    options = dict(url=url, namespace=namespace, heartbeat_timeout=1000, maintenance_chance=0)
    dead = SweepingRedisBroker(middleware=[], **options)
    dead.declare_queue("align")
    dead.enqueue(dramatiq.Message("align", "stage", (1,), {}, {}))
    consumer = dead.consume("align", prefetch=1, timeout=100)
    deadline = time.monotonic() + 10
    while next(consumer) is None:  # taken, never acknowledged: the worker "dies" with it
        assert time.monotonic() < deadline
    died = time.monotonic()

    live = SweepingRedisBroker(middleware=[DeadWorkerSweep(0.3)], **options)
    ran: list[float] = []
    dramatiq.actor(broker=live, actor_name="stage", queue_name="align")(
        lambda n: ran.append(time.monotonic())
    )
    worker = dramatiq.Worker(live, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        while not ran and time.monotonic() < died + 10:
            time.sleep(0.05)
    finally:
        worker.stop()
        live.close()
        dead.close()
    assert ran, "the dead worker's message never came back"
    assert ran[0] - died < 1.0 + 0.3 + 1.5  # heartbeat + one sweep + a poll and scheduling


def test_a_killed_workers_stage_is_taken_over_within_the_lease_time_plus_a_margin(
    redis_server: str, tmp_path: Path
) -> None:
    settings = Settings(
        store_url=f"file://{tmp_path}/store",
        broker_url=other_db(redis_server, 13),
        scratch_dir=tmp_path / "scratch",
        retry_min_backoff_s=0.2,
        retry_max_backoff_s=1.0,
        heartbeat_timeout_s=HEARTBEAT_TIMEOUT_S,
        lease_ttl_s=LEASE_TTL_S,
        stage_threads=1,
        worker_id="takeover-test",
    )
    store = open_store(settings.store_url)
    runtime = Runtime(settings=settings, store=store, pipeline=load_pipeline(PIPELINE))
    for stage, sleep_s in (("work", 60.0), ("hand_over", 0.0)):
        override = json.dumps({"params": {"sleep_s": sleep_s}}).encode()
        store.put_bytes(runtime.layout.override_key(stage, "S01"), override)
    store.put_bytes("inbox/R1/samples.tsv", b"S01\t-\ttext\n")
    store.put_bytes("inbox/R1/CopyComplete.txt", b"")
    lease_key = runtime.layout.lease_key("work", "S01")

    def holder(unlike: str = "") -> dict[str, object] | None:
        """The lease's body once an attempt other than ``unlike`` has held it 1 s."""
        try:
            body = json.loads(store.get_bytes(lease_key)[0])
        except Exception:  # noqa: BLE001 - not there yet, or being replaced
            return None
        fresh = body["attempt"] != unlike and time.time() - float(body["started"]) > 1.0
        return body if fresh else None

    workers = Workers(settings_env(settings), tmp_path / "workers.log", 3)
    broker = build_broker(settings)
    declare_actors(broker, runtime).notify("inbox/R1/CopyComplete.txt")
    takeovers: list[float] = []
    try:
        victim = ""
        for _ in range(2):  # the taking-over worker is killed in its turn
            deadline = time.monotonic() + 60
            while (body := holder(unlike=victim)) is None:
                assert time.monotonic() < deadline, (tmp_path / "workers.log").read_text()[-3000:]
                time.sleep(0.05)
            victim = str(body["attempt"])
            killed_at = time.time()
            killed = workers.procs.pop(str(body["worker"]))
            killed.send_signal(signal.SIGKILL)
            killed.wait()
            while True:
                try:
                    now = json.loads(store.get_bytes(lease_key)[0])
                except Exception:  # noqa: BLE001 - being replaced
                    now = {"attempt": victim}
                if now["attempt"] != victim:
                    takeovers.append(float(now["started"]) - killed_at)
                    break
                assert time.time() - killed_at < 60, (tmp_path / "workers.log").read_text()[-3000:]
                time.sleep(0.05)
    finally:
        for proc in workers.procs.values():  # no graceful stop: it would wait on the stage
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        broker.close()
    assert all(t <= LEASE_TTL_S + MARGIN_S for t in takeovers), takeovers
