"""Event-to-stage-start latency on Redis and a real S3 server (Ceph RGW), idle and busy.

    python bench/latency.py [--events 200] [--processes 2] [--threads 2] [--interval-ms 150]
                            [--busy-rate 3] [--busy-ms 100] [--poll-ms MS]
                            [--scenarios idle,busy] [--every-object]

What is timed: a run folder's completion marker (``inbox/<run>/CopyComplete.txt``) is PUT
into an RGW bucket whose notifications (a persistent topic, as in production) POST to
seqoia's event intake (``IntakeServer``) in this process; the intake sends
``object_created`` to Redis; a ``seqoia worker --processes P --threads T`` pool routes it,
sends ``run_stage`` for the pipeline's root stage, plans it against RGW (listing the run
folder), takes its lease and starts it. The stage's start is the ``started_at`` of the
manifest it commits. Two delays per event, p50 / p99 / max over ``--events`` events:

- **intake -> start**: from the intake receiving the notification to the stage's start:
  seqoia's own latency (broker hops, polling, routing, planning, the lease);
- **PUT -> start**: from the marker's PUT returning to the stage's start, adding RGW's
  notification delivery.

Two scenarios, one after the other on the same servers and workers: *idle* (one marker
every ``--interval-ms``, the workers otherwise idle) and *busy* (the same probes while
background runs arrive at ``--busy-rate`` per second, each stage sleeping ``--busy-ms``,
on the same queue: the probes wait behind them as a sample sheet's runs would).

Needs Debian's ``redis-server`` and Ceph (``ceph-mon ceph-osd radosgw ceph-common``); both
are started here (``tests/fixtures/ceph.py``) and stopped at the end. Clocks: one machine,
so the intake's ``time.time()`` and the manifest's ``started_at`` are comparable.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.dispatch import redis_server  # noqa: E402
from seqoia.engine.notifications import any_matches, store_key_filters  # noqa: E402
from seqoia.engine.runtime import Runtime, build_runtime  # noqa: E402
from seqoia.intake.events import ObjectCreated  # noqa: E402
from seqoia.intake.server import IntakeServer  # noqa: E402
from seqoia.settings import Settings  # noqa: E402
from seqoia.tasks.stage import Pipeline, RunFolderMarkers, StageContext, StageResult  # noqa: E402
from seqoia.workers.actors import Actors, declare_actors  # noqa: E402
from seqoia.workers.broker import build_broker  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PIPELINE = "bench.latency:pipeline"
TOKEN = "latency-bench-token"  # noqa: S105 - a throw-away local value
MARKER = "CopyComplete.txt"
#: A background run's folder holds this file: its stage sleeps that many milliseconds.
SLEEP_FILE = "sleep_ms.txt"
CREDENTIALS = {  # RGW's user is created with these; boto3 in every process reads them
    "AWS_ACCESS_KEY_ID": "latencybench",
    "AWS_SECRET_ACCESS_KEY": "latencybenchsecret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _marker(listing, grace_s):  # type: ignore[no-untyped-def]
    names = {info.key.rsplit("/", 1)[-1] for info in listing}
    return None if MARKER in names else f"waiting for {MARKER}"


def _probe(ctx: StageContext) -> StageResult:
    assert ctx.source_dir is not None
    sleep_file = ctx.source_dir / SLEEP_FILE
    if sleep_file.exists():  # a background run: some work that holds a worker thread
        time.sleep(int(sleep_file.read_text()) / 1000)
    return StageResult()


pipeline = Pipeline("latency", import_path=PIPELINE)
pipeline.stage(
    # In a process of its own, as the real root stage (validate_run) is: its queue keeps one
    # message per thread, so a probe never waits behind a background run held in prefetch.
    "probe", kind="run", version="1", source=True, isolation="process", queue="runs",
    source_ready=_marker, markers=RunFolderMarkers((MARKER,)),
)(_probe)  # fmt: skip


# -- servers ---------------------------------------------------------------------------------
@contextmanager
def rgw_cluster(workdir: Path) -> Iterator[object]:
    from tests.fixtures.ceph import CephRGW

    cluster = CephRGW.start(
        workdir / "ceph",
        access_key=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        secret_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    try:
        yield cluster
    finally:
        cluster.stop()


@contextmanager
def worker_pool(settings: Settings, args: argparse.Namespace) -> Iterator[None]:
    env = dict(
        os.environ,
        SEQOIA_STORE_URL=settings.store_url,
        SEQOIA_BROKER_URL=settings.broker_url,
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
        while ready < args.processes:
            line = pool.stdout.readline()
            if not line:
                raise SystemExit("the worker pool exited before it was ready")
            ready += line.startswith(b"worker ") and b"consuming" in line
        yield
    finally:
        pool.terminate()
        pool.wait(timeout=60)


class Intake:
    """The intake in this process: notes when each key's notification arrived, sends it on.

    Like ``seqoia intake``, it sends on only the keys a stage starts from.
    """

    def __init__(self, actors: Actors) -> None:
        self.actors = actors
        self.received: dict[str, float] = {}
        self.lock = threading.Lock()
        routed = functools.partial(any_matches, store_key_filters(actors.runtime))
        self.server = IntakeServer("127.0.0.1", 0, TOKEN, self.submit, routed=routed)

    def submit(self, event: ObjectCreated) -> None:
        with self.lock:
            self.received.setdefault(event.key, time.time())
        self.actors.object_created.send(event.bucket, event.key, event.etag)


# -- measurement -----------------------------------------------------------------------------
def started_at(runtime: Runtime, run: str) -> float | None:
    manifest = runtime.manifests.latest("probe", run)
    return None if manifest is None else manifest.started_at.timestamp()


def wait_started(runtime: Runtime, runs: list[str], timeout_s: float) -> dict[str, float]:
    found: dict[str, float] = {}
    deadline = time.monotonic() + timeout_s
    while len(found) < len(runs) and time.monotonic() < deadline:
        for run in runs:
            if run not in found and (at := started_at(runtime, run)) is not None:
                found[run] = at
        time.sleep(0.2)
    return found


def put_marker(runtime: Runtime, run: str, sleep_ms: int | None = None) -> float:
    """Write a run folder (the sleep file first, then the marker); when the PUT returned."""
    if sleep_ms is not None:
        runtime.store.put_bytes(f"inbox/{run}/{SLEEP_FILE}", str(sleep_ms).encode())
    runtime.store.put_bytes(f"inbox/{run}/{MARKER}", b"")
    return time.time()


def background(runtime: Runtime, args: argparse.Namespace, stop: threading.Event) -> list[str]:
    """Start a thread that writes background runs at ``--busy-rate``; their names."""
    runs: list[str] = []

    def write() -> None:
        period = 1.0 / args.busy_rate
        due = time.monotonic()
        while not stop.is_set():
            run = f"busy-{uuid.uuid4().hex[:8]}"
            runs.append(run)
            put_marker(runtime, run, args.busy_ms)
            due += period
            stop.wait(max(0.0, due - time.monotonic()))

    threading.Thread(target=write, name="background", daemon=True).start()
    return runs


def scenario(
    name: str, runtime: Runtime, intake: Intake, args: argparse.Namespace
) -> dict[str, list[float]]:
    stop = threading.Event()
    busy = background(runtime, args, stop) if name == "busy" else []
    if busy:
        time.sleep(3.0)  # let the background reach its steady state
    probes: dict[str, float] = {}
    try:
        for i in range(args.events):
            run = f"{name}-{i:04d}-{uuid.uuid4().hex[:6]}"
            probes[run] = put_marker(runtime, run)
            time.sleep(args.interval_ms / 1000)
        starts = wait_started(runtime, list(probes), timeout_s=120)
    finally:
        stop.set()
    missing = len(probes) - len(starts)
    if missing:
        print(f"  {name}: {missing} of {len(probes)} probes had not started after 120 s")
    if busy:
        done = wait_started(runtime, busy, timeout_s=60)
        print(f"  {name}: {len(busy)} background runs, {len(done)} started")
    keys = {run: f"inbox/{run}/{MARKER}" for run in starts}
    with intake.lock:
        received = {run: intake.received.get(key) for run, key in keys.items()}
    return {
        "intake -> start": [starts[r] - at for r, at in received.items() if at is not None],
        "PUT -> start": [starts[r] - probes[r] for r in starts],
    }


def store_round_trips(runtime: Runtime, n: int = 20) -> str:
    """Median time of the requests a root stage's start makes, from this process."""
    from seqoia.errors import PreconditionFailedError

    store = runtime.store
    timings: dict[str, list[float]] = {"GET (absent)": [], "LIST": [], "PUT create": []}
    for i in range(n):
        started = time.perf_counter()
        store.exists(f"work/_overrides/probe/none-{i}.json")
        timings["GET (absent)"].append(time.perf_counter() - started)
        started = time.perf_counter()
        store.list_children("work/probe/warm-up/")
        timings["LIST"].append(time.perf_counter() - started)
        started = time.perf_counter()
        with contextlib.suppress(PreconditionFailedError):
            store.put_bytes(f"work/_leases/probe/rt-{i}", b"{}", if_none_match=True)
        timings["PUT create"].append(time.perf_counter() - started)
    return ", ".join(f"{k} {statistics.median(v) * 1000:.1f} ms" for k, v in timings.items())


def describe(values: list[float]) -> str:
    if len(values) < 2:
        return "n/a"
    ms = sorted(v * 1000 for v in values)
    cuts = statistics.quantiles(ms, n=100, method="inclusive")
    return f"p50 {cuts[49]:6.0f} ms  p99 {cuts[98]:6.0f} ms  max {ms[-1]:6.0f} ms  (n={len(ms)})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200, help="probe events per scenario")
    parser.add_argument("--processes", type=int, default=2, help="worker processes")
    parser.add_argument("--threads", type=int, default=2, help="threads per worker process")
    parser.add_argument("--interval-ms", type=int, default=150, help="between two probes")
    parser.add_argument("--busy-rate", type=float, default=3.0, help="background runs per s")
    parser.add_argument("--busy-ms", type=int, default=100, help="background stage's work")
    parser.add_argument(
        "--poll-ms",
        type=int,
        default=Settings.model_fields["worker_poll_ms"].default,
        help="the workers' SEQOIA_WORKER_POLL_MS",
    )
    parser.add_argument("--scenarios", default="idle,busy", help="idle, busy or both")
    parser.add_argument(
        "--every-object",
        action="store_true",
        help="notify on every new object (leases, links, outputs) instead of the filters "
        "a deployment sets (markers and manifests)",
    )
    args = parser.parse_args(argv)
    os.environ.update(CREDENTIALS)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        os.environ.pop(name, None)
    root = Path(tempfile.mkdtemp(prefix="seqoia-bench-latency-"))
    os.chdir(REPO)
    print(
        f"latency bench: {args.events} events per scenario, {args.processes} processes x "
        f"{args.threads} threads, poll {args.poll_ms} ms, probes every {args.interval_ms} ms; "
        f"busy: {args.busy_rate:g} background runs/s of {args.busy_ms} ms; notifications: "
        + ("every new object" if args.every_object else "markers and manifests"),
        flush=True,
    )
    try:
        with redis_server(root) as redis_url, rgw_cluster(root) as rgw:
            bucket = f"latency-{uuid.uuid4().hex[:8]}"
            settings = Settings(
                store_url=f"s3://{bucket}?endpoint_url={rgw.endpoint}&allow_http=1"  # type: ignore[attr-defined]
                "&path_style=1&sse=none&region=us-east-1&create_bucket=1",
                broker_url=redis_url,
                scratch_dir=root / "scratch",
                worker_id="bench",
            )
            runtime = build_runtime(settings, pipeline)
            actors = declare_actors(build_broker(settings), runtime)  # sends only
            intake = Intake(actors)
            with intake.server.start() as server, worker_pool(settings, args):
                port = server.address[1]
                rgw.push_events(  # type: ignore[attr-defined]
                    bucket,
                    f"http://seqoia:{TOKEN}@127.0.0.1:{port}/events?token={TOKEN}",
                    persistent=True,
                    filters=None if args.every_object else store_key_filters(runtime),
                )
                # A new persistent topic's first delivery waits ~30 s (RGW 16.2): warm up.
                put_marker(runtime, "warm-up")
                if not wait_started(runtime, ["warm-up"], timeout_s=120):
                    raise SystemExit("no event reached the workers within 120 s")
                print(f"store round trips (median): {store_round_trips(runtime)}", flush=True)
                for name in args.scenarios.split(","):
                    load = os.getloadavg()[0]
                    result = scenario(name, runtime, intake, args)
                    print(f"{name} (load average {load:.1f} at the start)", flush=True)
                    for what, values in result.items():
                        print(f"  {what:<16} {describe(values)}", flush=True)
            actors.broker.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
