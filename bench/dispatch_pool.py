"""Dispatch across worker processes: ``seqoia worker --processes N`` against bare dramatiq.

    python bench/dispatch_pool.py [--samples 300] [--rounds 3] [--processes 2] [--threads 2]

The same bench pipeline as ``bench/dispatch.py`` (a fan-out to N samples, three chained
empty sample stages, a fan-in; ``2 + 3N`` transitions per run, inline stages), on a
redis-server started here and the ``file://`` store on tmpfs, but consumed by a pool of
worker processes: ``seqoia worker --processes P --threads T``. The baseline is bare
dramatiq actors of the same shape in P processes of T threads (the fan-in counts in Redis).
Worker start-up is not timed: each round starts a pool, waits for it, sends it one run
and stops it; the two sides alternate round by round.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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


@dataclass
class Pool:
    """A started pool of worker processes: a function timing one run (s), and their pids."""

    run_s: Callable[[], float]
    pids: list[int]


def cpu_s(pids: list[int]) -> tuple[float, float]:
    """User and system CPU seconds used so far by ``pids`` (Linux ``/proc``)."""
    user = system = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        user += int(fields[11])  # utime and stime: fields 14 and 15 of proc(5)
        system += int(fields[12])
    tick = os.sysconf("SC_CLK_TCK")
    return user / tick, system / tick


def switches(pids: list[int]) -> tuple[int, int]:
    """Voluntary and involuntary context switches so far of every thread of ``pids``."""
    voluntary = involuntary = 0
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):  # a thread that just ended
                for line in (task / "status").read_text().splitlines():
                    if line.startswith("voluntary_ctxt_switches:"):
                        voluntary += int(line.split()[1])
                    elif line.startswith("nonvoluntary_ctxt_switches:"):
                        involuntary += int(line.split()[1])
    return voluntary, involuntary


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


@contextlib.contextmanager
def bare_pool(broker_url: str, args: argparse.Namespace, seqoia_broker: bool) -> Iterator[Pool]:
    """P bare-dramatiq worker processes, ready; yields a function timing one run."""
    _, fan, counter = bare_actors(broker_url, seqoia_broker)
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
                *(["--seqoia-broker"] if seqoia_broker else []),
            ],  # fmt: skip
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=REPO,
        )  # fmt: skip
        for _ in range(args.processes)
    ]

    def one_run() -> float:
        run = f"R{uuid.uuid4().hex[:6]}"
        started = time.perf_counter()
        fan.send(run, args.samples)
        while not counter.exists(f"bench:{run}:done"):
            time.sleep(0.005)
        return time.perf_counter() - started

    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        yield Pool(one_run, [proc.pid for proc in procs])
    finally:
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(timeout=60)


# -- the engine in a pool ---------------------------------------------------------------------
@contextlib.contextmanager
def engine_pool(broker_url: str, root: Path, args: argparse.Namespace) -> Iterator[Pool]:
    """A ``seqoia worker`` pool, ready; yields a function timing one run."""
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

    def one_run() -> float:
        run = f"R{uuid.uuid4().hex[:6]}"
        runtime.store.put_bytes(f"inbox/{run}/samples.txt", str(args.samples).encode())
        runtime.store.put_bytes(f"inbox/{run}/CopyComplete.txt", b"")
        done = runtime.layout.stage_prefix("gather", run)
        started = time.perf_counter()
        actors.notify(f"inbox/{run}/CopyComplete.txt")
        while not runtime.store.list_children(done):
            time.sleep(0.005)
        return time.perf_counter() - started

    try:
        assert pool.stdout is not None
        ready = 0
        while ready < args.processes:  # the pool's line, then one per worker process
            line = pool.stdout.readline()
            if not line:
                raise SystemExit("the worker pool exited before it was ready")
            ready += line.startswith(b"worker ") and b"consuming" in line
        children = subprocess.run(
            ["pgrep", "-P", str(pool.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        children = children or [str(pool.pid)]  # --processes 1 works in the command's process
        if args.pids_file:  # for a profiler attached from outside
            Path(args.pids_file).write_text("\n".join(children) + "\n")
        yield Pool(one_run, [int(pid) for pid in children])
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
    parser.add_argument(
        "--sides",
        default="bare,engine",
        help="what to measure, comma-separated, alternating round by round: bare (on "
        "dramatiq's RedisBroker, or seqoia's with --seqoia-broker), seqoia-bare (bare "
        "actors on seqoia's broker), engine",
    )
    parser.add_argument("--pids-file", help="write the engine pool's worker pids here")
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
    transitions = 2 + len(CHAIN) * args.samples
    try:
        with redis_server(root) as redis_url:
            pools = {
                "bare": lambda: bare_pool(redis_url, args, args.seqoia_broker),
                "seqoia-bare": lambda: bare_pool(redis_url, args, True),
                "engine": lambda: engine_pool(redis_url, root, args),
            }
            sides = args.sides.split(",")
            if not sides or not set(sides) <= set(pools):
                parser.error(f"--sides: choose among {', '.join(pools)}")
            rates: dict[str, list[float]] = {side: [] for side in sides}
            # CPU ms per transition: the workers' user and system time, redis-server's total.
            cpu_ms: dict[str, list[tuple[float, float, float]]] = {side: [] for side in sides}
            # The worker threads' voluntary and involuntary context switches per transition.
            switched: dict[str, list[tuple[float, float]]] = {side: [] for side in sides}
            redis_pid = int(redis.Redis.from_url(redis_url).info("server")["process_id"])
            # Alternating, so that the machine's load hits both; a pool per run, so that
            # one side's idle polling does not run during the other's.
            for _ in range(args.rounds):
                for side in sides:
                    with pools[side]() as pool:
                        before = (*cpu_s(pool.pids), sum(cpu_s([redis_pid])))
                        switched_before = switches(pool.pids)
                        elapsed = pool.run_s()
                        after = (*cpu_s(pool.pids), sum(cpu_s([redis_pid])))
                        switched_after = switches(pool.pids)
                    rates[side].append(transitions / elapsed)
                    user, system, server = (
                        1000 * (a - b) / transitions for a, b in zip(after, before, strict=True)
                    )
                    cpu_ms[side].append((user, system, server))
                    switched[side].append(
                        (
                            (switched_after[0] - switched_before[0]) / transitions,
                            (switched_after[1] - switched_before[1]) / transitions,
                        )
                    )
        medians = {side: statistics.median(found) for side, found in rates.items()}
        line = f"redis + file(tmpfs) {transitions:>6} transitions "
        for side, rate in medians.items():
            user, system, server = (statistics.median(c) for c in zip(*cpu_ms[side], strict=True))
            voluntary, involuntary = (
                statistics.median(c) for c in zip(*switched[side], strict=True)
            )
            line += (
                f" {side} {rate:6.0f}/s (CPU per transition: workers {user:.2f} ms user + "
                f"{system:.2f} ms system, redis-server {server:.2f} ms; workers' context "
                f"switches per transition {voluntary:.1f} voluntary + {involuntary:.1f} "
                "involuntary)"
            )
        for side in [side for side in medians if side != "engine" and "engine" in medians]:
            line += f"  engine/{side} {medians['engine'] / medians[side]:5.2f}"
        rounds = "; ".join(
            f"{side}: {', '.join(f'{r:.0f}' for r in found)}" for side, found in rates.items()
        )
        print(f"{line}  ({rounds}; load average {os.getloadavg()[0]:.1f})", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
