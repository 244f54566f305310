"""Dispatch benchmark: stage transitions per second through the router and ``run_stage``.

    python bench/dispatch.py [--samples 200] [--rounds 3] [--threads 4] [--memory]
                             [--process-samples 6]

A transition is one stage attempt committed and routed downstream: plan, run an EMPTY
stage, commit its manifest, plan what it made ready, enqueue it. The bench pipeline fans a
run out to N samples, runs a three-stage chain per sample and fans back in to the run
(``1 + 3 N + 1`` transitions per run), with inline stages so that what is timed is the
engine, not a child process. The baseline, in the same run on the same broker, is bare
dramatiq actors that do nothing but send the next message of the same shape (a fan-out,
3 hops per sample, a fan-in counter): the cost of the broker itself.

The engine runs on Redis (a redis-server started here on a free port) with the ``file://``
store on tmpfs (``/dev/shm``); ``--memory`` adds the in-process broker. The last line
measures the same pipeline with process isolation (a child process per stage), for
honesty about what a real stage costs before it does any work.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dramatiq  # noqa: E402

from seqoia.engine.runtime import build_runtime  # noqa: E402
from seqoia.settings import Settings  # noqa: E402
from seqoia.tasks.stage import Pipeline, RunFolderMarkers, StageContext, StageResult  # noqa: E402
from seqoia.vocabulary import Relation  # noqa: E402
from seqoia.workers.actors import declare_actors  # noqa: E402
from seqoia.workers.broker import build_broker, middleware_for  # noqa: E402

CHAIN = ("step1", "step2", "step3")


def _marker(listing, grace_s):  # type: ignore[no-untyped-def]
    names = {info.key.rsplit("/", 1)[-1] for info in listing}
    return None if "CopyComplete.txt" in names else "waiting for CopyComplete.txt"


def _fan_out(ctx: StageContext) -> StageResult:
    assert ctx.source_dir is not None
    count = int((ctx.source_dir / "samples.txt").read_text())
    return StageResult(
        relations=[
            Relation(
                kind="run", subject=ctx.subject, other_kind="sample", other=f"{ctx.subject}-{i}"
            )
            for i in range(count)
        ]
    )


def _empty(ctx: StageContext) -> StageResult:
    return StageResult()


def _declare(name: str, isolation: str) -> Pipeline:
    pipeline = Pipeline(name, import_path=f"bench.dispatch:{name}")
    pipeline.stage(
        "fanout", kind="run", version="1", source=True, isolation="inline",
        source_ready=_marker, markers=RunFolderMarkers(("CopyComplete.txt",)), queue="runs",
    )(_fan_out)  # fmt: skip
    upstream = "fanout"
    for step in CHAIN:
        pipeline.stage(
            step, kind="sample", version="1", needs=[upstream], isolation=isolation,  # type: ignore[arg-type]
            queue="samples",
        )(_empty)  # fmt: skip
        upstream = step
    pipeline.stage("gather", kind="run", version="1", needs=[CHAIN[-1]], isolation="inline",
                   queue="runs")(_empty)  # fmt: skip
    return pipeline


inline_pipeline = _declare("inline_pipeline", "inline")
process_pipeline = _declare("process_pipeline", "process")


# -- servers ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """A throw-away redis-server on a free loopback port."""
    import redis

    port = _free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if redis.Redis.from_url(url, socket_timeout=1).ping():
                    break
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit("redis-server did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def stock_broker(broker_url: str) -> dramatiq.Broker:
    """Dramatiq's own broker for ``broker_url`` with seqoia's middleware: *bare* dramatiq.

    Not :func:`build_broker`, whose Redis broker wakes idle consumers on each message
    (``seqoia.workers.wakeup``): the baseline is dramatiq as shipped. ``--seqoia-broker``
    measures bare actors on seqoia's broker instead.
    """
    settings = Settings(broker_url=broker_url, worker_id="bench")
    if not broker_url.startswith("redis"):
        return build_broker(settings)
    from dramatiq.brokers.redis import RedisBroker

    return RedisBroker(
        url=broker_url,
        middleware=middleware_for(settings),
        namespace="seqoia",
        heartbeat_timeout=int(settings.heartbeat_timeout_s * 1000),
        maintenance_chance=100_000,
        dead_message_ttl=30 * 86400 * 1000,
    )


def _flush(broker: dramatiq.Broker) -> None:
    with contextlib.suppress(Exception):
        broker.flush_all()


# -- the engine --------------------------------------------------------------------------------


def engine_rate(
    broker_url: str, store_root: Path, pipeline: Pipeline, samples: int, threads: int
) -> tuple[float, int]:
    """Transitions per second of one run of the bench pipeline through seqoia's actors."""
    store_dir = store_root / f"store-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        store_url=f"file://{store_dir}?fsync=0",
        broker_url=broker_url,
        scratch_dir=store_root / "scratch",
        worker_threads=threads,
        stage_threads=1,
        worker_id="bench",
    )
    runtime = build_runtime(settings, pipeline)
    broker = build_broker(settings)
    actors = declare_actors(broker, runtime)
    run = "R1"
    runtime.store.put_bytes(f"inbox/{run}/samples.txt", str(samples).encode())
    runtime.store.put_bytes(f"inbox/{run}/CopyComplete.txt", b"")
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=50)
    transitions = 2 + len(CHAIN) * samples
    done = runtime.layout.stage_prefix("gather", run)
    worker.start()
    try:
        started = time.perf_counter()
        actors.notify(f"inbox/{run}/CopyComplete.txt")
        while not runtime.store.list_children(done):
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
    finally:
        worker.stop()
        _flush(broker)
        broker.close()
        runtime.store.close()
        shutil.rmtree(store_dir, ignore_errors=True)
    return transitions / elapsed, transitions


# -- the baseline: bare dramatiq actors of the same shape -------------------------------------


def bare_rate(broker_url: str, samples: int, threads: int, seqoia_broker: bool = False) -> float:
    """Messages per second of do-nothing actors: a fan-out, 3 hops per sample, a fan-in."""
    settings = Settings(broker_url=broker_url, worker_id="bench")
    broker = build_broker(settings) if seqoia_broker else stock_broker(broker_url)
    if hasattr(broker, "namespace"):
        broker.namespace = "bench-bare"  # type: ignore[attr-defined]
    finished = threading.Event()
    lock = threading.Lock()
    remaining = {"samples": samples}

    def fan_out(run: str, count: int) -> None:
        for i in range(count):
            hop.send(f"{run}-{i}", 1)

    def hop(sample: str, step: int) -> None:
        if step < len(CHAIN):
            hop.send(sample, step + 1)
            return
        with lock:
            remaining["samples"] -= 1
            last = remaining["samples"] == 0
        if last:
            gather.send("R1")

    def gather(run: str) -> None:
        finished.set()

    fan_out = dramatiq.actor(fan_out, broker=broker, queue_name="runs")  # type: ignore[assignment]
    hop = dramatiq.actor(hop, broker=broker, queue_name="samples")  # type: ignore[assignment]
    gather = dramatiq.actor(gather, broker=broker, queue_name="runs")  # type: ignore[assignment]
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=50)
    worker.start()
    try:
        started = time.perf_counter()
        fan_out.send("R1", samples)  # type: ignore[attr-defined]
        if not finished.wait(600):
            raise SystemExit("baseline did not finish")
        elapsed = time.perf_counter() - started
    finally:
        worker.stop()
        _flush(broker)
        broker.close()
    return (2 + len(CHAIN) * samples) / elapsed


# -- report ------------------------------------------------------------------------------------


def measure(name: str, broker_url: str, root: Path, args: argparse.Namespace) -> None:
    engine, bare = [], []
    for _ in range(args.rounds):
        bare.append(bare_rate(broker_url, args.samples, args.threads, args.seqoia_broker))
        rate, transitions = engine_rate(
            broker_url, root, inline_pipeline, args.samples, args.threads
        )
        engine.append(rate)
    e, b = statistics.median(engine), statistics.median(bare)
    print(
        f"{name:<18} {transitions:>6} transitions  engine {e:8.0f}/s  bare dramatiq {b:8.0f}/s"
        f"  engine/bare {e / b:5.2f}  (engine rounds: {', '.join(f'{r:.0f}' for r in engine)})",
        flush=True,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=200, help="fan-out width per run")
    parser.add_argument("--rounds", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--threads", type=int, default=4, help="worker threads")
    parser.add_argument("--memory", action="store_true", help="also measure memory://")
    parser.add_argument(
        "--seqoia-broker", action="store_true", help="bare actors on seqoia's broker (wake-ups)"
    )
    parser.add_argument(
        "--process-samples", type=int, default=6, help="samples of the process-isolation run"
    )
    args = parser.parse_args(argv)
    tmpfs = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
    root = Path(tempfile.mkdtemp(prefix="seqoia-bench-dispatch-", dir=tmpfs))
    os.chdir(Path(__file__).resolve().parents[1])  # child processes import bench.dispatch
    print(
        f"dispatch bench: {args.samples} samples x {len(CHAIN)} chained empty stages + fan-out "
        f"+ fan-in, {args.threads} worker threads, median of {args.rounds}; store on {tmpfs}"
    )
    try:
        with redis_server(root) as redis_url:
            measure("redis + file(tmpfs)", redis_url, root, args)
            if args.memory:
                measure("memory + file(tmpfs)", "memory://", root, args)
            rate, transitions = engine_rate(
                redis_url, root, process_pipeline, args.process_samples, args.threads
            )
            print(
                f"{'process isolation':<18} {transitions:>6} transitions  engine {rate:8.1f}/s"
                f"  (a child process per sample stage, redis + file(tmpfs))"
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
