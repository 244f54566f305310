"""Dispatch across worker processes: ``seqoia worker --processes N`` against bare dramatiq.

    python bench/dispatch_pool.py [--samples 300] [--rounds 3] [--processes 2] [--threads 2]

The same bench pipeline as ``bench/dispatch.py`` (a fan-out to N samples, three chained
empty sample stages, a fan-in; ``2 + 3N`` transitions per run, inline stages), on a
redis-server started here and the ``file://`` store on tmpfs, but consumed by a pool of
worker processes: ``seqoia worker --processes P --threads T``. The baseline is bare
dramatiq actors of the same shape in P processes of T threads (the fan-in counts in Redis).
Worker start-up is not timed: each pool is started, waited for, then sent one run per
round.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dramatiq  # noqa: E402
import redis  # noqa: E402

from bench.dispatch import CHAIN, redis_server, stock_broker  # noqa: E402
from seqoia.engine.runtime import build_runtime  # noqa: E402
from seqoia.settings import Settings  # noqa: E402
from seqoia.workers.actors import declare_actors  # noqa: E402
from seqoia.workers.broker import build_broker  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PIPELINE = "bench.dispatch:inline_pipeline"
BARE_NAMESPACE = "bench-bare"


# -- bare dramatiq in several processes -------------------------------------------------------
def bare_actors(
    broker_url: str, seqoia_broker: bool = False
) -> tuple[dramatiq.Broker, dramatiq.Actor, redis.Redis]:
    """The baseline's actors: a fan-out, three hops per sample, a fan-in counted in Redis."""
    settings = Settings(broker_url=broker_url, worker_id="bench")
    broker = build_broker(settings) if seqoia_broker else stock_broker(broker_url)
    broker.namespace = BARE_NAMESPACE  # type: ignore[attr-defined]
    counter = redis.Redis.from_url(broker_url)

    def fan_out(run: str, count: int) -> None:
        for _ in range(count):
            hop.send(run, count, 1)

    def hop(run: str, count: int, step: int) -> None:
        if step < len(CHAIN):
            hop.send(run, count, step + 1)
        elif counter.incr(f"bench:{run}") == count:
            gather.send(run)

    def gather(run: str) -> None:
        counter.set(f"bench:{run}:done", 1)

    fan = dramatiq.actor(fan_out, broker=broker, queue_name="runs")
    hop = dramatiq.actor(hop, broker=broker, queue_name="samples")  # type: ignore[assignment]
    gather = dramatiq.actor(gather, broker=broker, queue_name="runs")  # type: ignore[assignment]
    return broker, fan, counter


def bare_worker(broker_url: str, threads: int, poll_ms: int, seqoia_broker: bool) -> None:
    """One baseline worker process (run as ``python bench/dispatch_pool.py --bare-worker``)."""
    broker, _, _ = bare_actors(broker_url, seqoia_broker)
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=poll_ms)
    worker.start()
    print("ready", flush=True)
    sys.stdin.read()  # until the bench closes our stdin
    worker.stop()


def bare_rates(broker_url: str, args: argparse.Namespace) -> list[float]:
    _, fan, counter = bare_actors(broker_url, args.seqoia_broker)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--bare-worker",
                broker_url,
                "--threads",
                str(args.threads),
                "--poll-ms",
                str(args.poll_ms),
                *(["--seqoia-broker"] if args.seqoia_broker else []),
            ],  # fmt: skip
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=REPO,
        )  # fmt: skip
        for _ in range(args.processes)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        rates = []
        for _ in range(args.rounds):
            run = f"R{uuid.uuid4().hex[:6]}"
            started = time.perf_counter()
            fan.send(run, args.samples)
            while not counter.exists(f"bench:{run}:done"):
                time.sleep(0.005)
            rates.append((2 + len(CHAIN) * args.samples) / (time.perf_counter() - started))
        return rates
    finally:
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(timeout=60)


# -- the engine in a pool ---------------------------------------------------------------------
def engine_rates(broker_url: str, root: Path, args: argparse.Namespace) -> list[float]:
    store_dir = root / f"store-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        store_url=f"file://{store_dir}?fsync=0",
        broker_url=broker_url,
        scratch_dir=root / "scratch",
        stage_threads=1,
        worker_id="bench",
    )
    runtime = build_runtime(settings, PIPELINE)
    actors = declare_actors(build_broker(settings), runtime)  # sends only
    env = dict(
        os.environ,
        SEQOIA_STORE_URL=settings.store_url,
        SEQOIA_BROKER_URL=broker_url,
        SEQOIA_SCRATCH_DIR=str(settings.scratch_dir),
        SEQOIA_STAGE_THREADS="1",
        SEQOIA_METRICS_PORT="0",
        SEQOIA_WORKER_POLL_MS=str(args.poll_ms),
        PYTHONPATH=str(REPO),
    )
    pool = subprocess.Popen(
        [sys.executable, "-m", "seqoia.cli", "worker", "--pipeline", PIPELINE,
         "--processes", str(args.processes), "--threads", str(args.threads), "--grace-s", "5"],
        env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert pool.stdout is not None
        ready = 0
        while ready < args.processes:  # the pool's line, then one per worker process
            line = pool.stdout.readline()
            if not line:
                raise SystemExit("the worker pool exited before it was ready")
            ready += line.startswith(b"worker ") and b"consuming" in line
        rates = []
        for _ in range(args.rounds):
            run = f"R{uuid.uuid4().hex[:6]}"
            runtime.store.put_bytes(f"inbox/{run}/samples.txt", str(args.samples).encode())
            runtime.store.put_bytes(f"inbox/{run}/CopyComplete.txt", b"")
            done = runtime.layout.stage_prefix("gather", run)
            started = time.perf_counter()
            actors.notify(f"inbox/{run}/CopyComplete.txt")
            while not runtime.store.list_children(done):
                time.sleep(0.005)
            rates.append((2 + len(CHAIN) * args.samples) / (time.perf_counter() - started))
        return rates
    finally:
        pool.terminate()
        pool.wait(timeout=60)
        actors.broker.close()
        shutil.rmtree(store_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=300, help="fan-out width per run")
    parser.add_argument("--rounds", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--processes", type=int, default=2, help="worker processes")
    parser.add_argument("--threads", type=int, default=2, help="threads per worker process")
    parser.add_argument(
        "--poll-ms",
        type=int,
        default=50,  # the baseline's setting since this bench was written, given to both
        help="longest idle poll wait of both the engine's and bare dramatiq's workers",
    )
    parser.add_argument(
        "--seqoia-broker",
        action="store_true",
        help="bare actors on seqoia's broker (with its wake-ups) instead of dramatiq's own",
    )
    parser.add_argument("--bare-worker", metavar="BROKER_URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bare_worker:
        bare_worker(args.bare_worker, args.threads, args.poll_ms, args.seqoia_broker)
        return
    tmpfs = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
    root = Path(tempfile.mkdtemp(prefix="seqoia-bench-pool-", dir=tmpfs))
    print(
        f"dispatch pool bench: {args.samples} samples x {len(CHAIN)} chained empty stages + "
        f"fan-out + fan-in, {args.processes} processes x {args.threads} threads, "
        f"poll {args.poll_ms} ms, "
        f"median of {args.rounds}; store on {tmpfs}",
        flush=True,
    )
    try:
        with redis_server(root) as redis_url:
            bare = bare_rates(redis_url, args)
            engine = engine_rates(redis_url, root, args)
        e, b = statistics.median(engine), statistics.median(bare)
        print(
            f"redis + file(tmpfs) {2 + len(CHAIN) * args.samples:>6} transitions  "
            f"engine {e:8.0f}/s  bare dramatiq {b:8.0f}/s  engine/bare {e / b:5.2f}  "
            f"(engine rounds: {', '.join(f'{r:.0f}' for r in engine)}; "
            f"bare rounds: {', '.join(f'{r:.0f}' for r in bare)})"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
