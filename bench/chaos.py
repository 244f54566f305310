"""Chaos bench: runs of several samples on Ceph RGW + Redis or RabbitMQ under injected faults.

    python bench/chaos.py --runs 14 --brokers redis,rabbitmq --samples 4 --stage-s 4 \
        --s3-fault-rate 0.15 --fault-every-s 3

Each run writes a run folder of ``--samples`` samples for the ``once`` test pipeline
(``ingest`` inline -> ``work`` in a stage process, sleeping ``--stage-s`` -> ``hand_over``
inline, publishing into the review area), announces its objects to three ``seqoia worker``
processes through Redis or RabbitMQ, and meanwhile, at random moments, injects:

- ``kill_worker``: SIGKILL of a worker process in the middle of a stage (restarted at once,
  under a new id);
- ``kill_stage``: SIGKILL of a running stage process (the worker survives and retries);
- ``redis_restart`` / ``rabbitmq_restart``: ``kill -9`` of the broker and a restart (Redis
  with AOF, fsync always; RabbitMQ on its mnesia folder);
- ``rgw_restart``: SIGKILL of radosgw and a restart (the OSD keeps the objects);
- S3 faults from a proxy in front of RGW (``tests/fixtures/faultproxy.py``): 503 SlowDown,
  500, connection resets before or after the request was applied, multi-second stalls;
- ``dup_event`` / ``reordered_events`` / ``dropped_event``: notifications sent twice,
  shuffled, or never (the reconciler, run every few seconds, finds what was dropped).

After each run it checks, reading RGW directly (not through the proxy): every sample's
``hand_over`` committed; one generation per ``(stage, subject)`` (no double commit for
one fingerprint); no orphan attempt left after ``gc`` (grace 0); outputs and published
files byte-identical to a fault-free run. It prints the faults of each kind, the takeover
time after a kill (p50/p99) against the lease time, and the outcomes.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis  # noqa: E402

from seqoia.admin.gc import Collector  # noqa: E402
from seqoia.engine.publication import unpublished  # noqa: E402
from seqoia.engine.reconciler import Reconciler  # noqa: E402
from seqoia.engine.runtime import Runtime, load_pipeline  # noqa: E402
from seqoia.errors import ObjectNotFoundError  # noqa: E402
from seqoia.settings import Settings  # noqa: E402
from seqoia.storage.manifest import read_json  # noqa: E402
from seqoia.workers.actors import declare_actors  # noqa: E402
from seqoia.workers.broker import build_broker  # noqa: E402
from tests.fixtures.ceph import CephRGW  # noqa: E402
from tests.fixtures.faultproxy import FaultProxy  # noqa: E402
from tests.fixtures.servers import S3_REGION, free_port, rgw_store  # noqa: E402

PIPELINE = "tests.pipelines.once:pipeline"
REPO_ROOT = Path(__file__).resolve().parents[1]
STAGES = ("ingest", "work", "hand_over")


# -- servers ----------------------------------------------------------------------------
class Redis:
    """A redis-server with an append-only file, which can be killed -9 and restarted."""

    name = "redis"

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "yes", "--appendfsync", "always",
                "--dir", str(self.dir)]  # fmt: skip
        with open(self.dir / "redis.log", "ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError):
                if redis.Redis.from_url(self.url, socket_timeout=1).ping():
                    return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not answer")

    def kill_and_restart(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.start()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)


class RabbitMQServer:
    """A RabbitMQ node (durable queues, persistent messages), killable -9 and restartable."""

    name = "rabbitmq"

    def __init__(self, workdir: Path) -> None:
        from tests.fixtures.servers import RabbitMQFactory

        self.node = RabbitMQFactory(workdir).start(timeout_s=180)
        self.url = self.node.url

    def kill_and_restart(self) -> None:
        from tests.fixtures.servers import _signal_group

        server = self.node.server
        assert server.process is not None
        _signal_group(server.process.pid, signal.SIGKILL)  # erlang's helpers too
        server.process.wait()
        server.start()  # same node name, ports and mnesia folder: durable queues survive
        server.wait_until(self._accepts, timeout_s=180, what="an AMQP connection again")

    def _accepts(self) -> bool:
        import pika

        params = pika.URLParameters(self.url + "?connection_attempts=1&socket_timeout=2")
        pika.BlockingConnection(params).close()
        return True

    def stop(self) -> None:
        self.node.stop()


def start_broker(kind: str, workdir: Path) -> Redis | RabbitMQServer:
    return RabbitMQServer(workdir / "rabbitmq") if kind == "rabbitmq" else Redis(workdir / "redis")


# -- workers ----------------------------------------------------------------------------
class Workers:
    """``seqoia worker`` processes; each start gets a new worker id (leases name it)."""

    def __init__(self, env: dict[str, str], log: Path, count: int) -> None:
        self.env, self.log, self.count = env, log, count
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.started = 0
        for _ in range(count):
            self.start_one()

    def start_one(self) -> None:
        self.started += 1
        worker_id = f"chaos-w{self.started}"
        # A port of its own: a second worker on the default port only logs an error.
        env = dict(self.env, SEQOIA_WORKER_ID=worker_id, SEQOIA_METRICS_PORT=str(free_port()))
        with open(self.log, "ab") as out:
            self.procs[worker_id] = subprocess.Popen(
                [sys.executable, "-m", "seqoia.cli", "-v", "worker", "--pipeline", PIPELINE,
                 "--unsafe-store"],
                env=env, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def stage_processes(self) -> dict[int, str]:
        """Running stage processes (children of the workers' fork servers) -> attempt id.

        A stage process's stderr is ``<scratch>/attempts/<attempt>/stderr.log``.
        """
        parents = process_parents()
        found = {}
        for proc in self.procs.values():
            for server in (pid for pid, ppid in parents.items() if ppid == proc.pid):
                for pid in (pid for pid, ppid in parents.items() if ppid == server):
                    with contextlib.suppress(OSError):
                        stderr = Path(os.readlink(f"/proc/{pid}/fd/2"))
                        if stderr.name == "stderr.log":
                            found[pid] = stderr.parent.name
        return found

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _age_s(pid: int) -> float:
    """Seconds since process ``pid`` started (0 if it is gone)."""
    try:
        ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, IndexError, ValueError):
        return 0.0
    return uptime - ticks / os.sysconf("SC_CLK_TCK")


def process_parents() -> dict[int, int]:
    """pid -> parent pid of every process, from /proc."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


# -- one run ----------------------------------------------------------------------------
@dataclass
class RunResult:
    faults: Counter[str] = field(default_factory=Counter)
    #: Seconds from a SIGKILL to the next attempt of the killed (stage, subject), by kill kind.
    takeovers_s: dict[str, list[float]] = field(default_factory=dict)
    #: Each takeover with what happened meanwhile: server restarts, S3 faults injected.
    takeover_details: list[dict[str, Any]] = field(default_factory=list)
    #: Killed attempts that nothing took over before the run ended (should stay 0).
    not_taken_over: int = 0
    #: Killed attempts whose next attempt had started before the kill: their lease had
    #: expired under failed renewals and a duplicate was running already (no wait at all).
    duplicated_before_kill: int = 0
    broker: str = "redis"
    delivered: int = 0
    samples: int = 0
    double_commits: int = 0
    orphans_after_gc: int = 0
    byte_differences: int = 0
    digests: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def settings_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEQOIA_")}
    for name in ("store_url", "broker_url", "scratch_dir", "retry_min_backoff_s",
                 "retry_max_backoff_s", "max_retries", "heartbeat_timeout_s", "lease_ttl_s",
                 "stage_threads"):  # fmt: skip
        env[f"SEQOIA_{name.upper()}"] = str(getattr(settings, name))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def digests_of(direct: Runtime, samples: list[str]) -> dict[str, str]:
    """sha256 of every committed output and every published file, by a run-neutral name."""
    found: dict[str, str] = {}
    for stage in STAGES:
        for subject in ["R"] if stage == "ingest" else samples:
            run_subject = direct_run(direct) if stage == "ingest" else subject
            manifest = direct.manifests.latest(stage, run_subject)
            if manifest is None:
                continue
            for ref in manifest.outputs:
                found[f"{stage}/{subject}/{ref.name}"] = ref.sha256
                if manifest.published_to:
                    try:
                        data, _ = direct.store.get_bytes(manifest.published_to + ref.name)
                        digest = hashlib.sha256(data).hexdigest()
                    except ObjectNotFoundError:  # committed, never published: a difference
                        digest = "missing"
                    found[f"published/{subject}/{ref.name}"] = digest
    return found


def direct_run(direct: Runtime) -> str:
    return direct.store.list_children(direct.layout.inbox_prefix())[0]


@dataclass
class Kill:
    """A SIGKILLed attempt: by whom (``kill_worker``/``kill_stage``), when, of what."""

    kind: str
    at: float
    stage: str
    subject: str
    attempt: str


class TakeoverWatch:
    """Watches killed attempts' leases and manifests on RGW for the attempt that follows.

    The takeover time is from the kill to the start of the next attempt of the same
    ``(stage, subject)``: its lease's ``started`` (or, for an attempt too short to be seen
    holding its lease, its manifest's ``started_at``). An attempt that had committed before
    its kill needs no takeover and is not counted; one whose successor had started before
    the kill (a duplicate, after renewals failed) is counted in ``before_kill``.
    """

    def __init__(self, direct: Runtime, interval_s: float = 0.1) -> None:
        self.direct = direct
        self.pending: list[Kill] = []
        self.seconds: dict[str, list[float]] = {}
        self.followed: list[tuple[Kill, float]] = []
        self.worker_kills: list[float] = []  # when each kill_worker happened
        self.before_kill: list[Kill] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, args=(interval_s,), daemon=True)
        self._thread.start()

    def add(self, kill: Kill) -> None:
        with self._lock:
            self.pending.append(kill)
            if kill.kind == "kill_worker" and kill.at not in self.worker_kills:
                self.worker_kills.append(kill.at)

    def stop(self) -> int:
        """Stop watching; returns how many killed attempts were never followed."""
        self._stop.set()
        self._thread.join()
        for kill in list(self.pending):  # a last look: the run may have just ended
            with contextlib.suppress(Exception):
                self._resolve(kill)
        return len(self.pending)

    def _watch(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            with self._lock:
                kills = list(self.pending)
            for kill in kills:
                with contextlib.suppress(Exception):  # RGW restarting: next round
                    self._resolve(kill)

    def _resolve(self, kill: Kill) -> None:
        direct = self.direct
        started: float | None = None
        lease = read_json(direct.store, direct.layout.lease_key(kill.stage, kill.subject))
        if lease is not None and lease.get("attempt") != kill.attempt:
            started = float(lease["started"])
        else:
            manifest = direct.manifests.latest(kill.stage, kill.subject)
            if manifest is not None and manifest.attempt == kill.attempt:
                with self._lock:
                    self.pending.remove(kill)  # it committed before it was killed
                return
            if manifest is not None:
                started = manifest.started_at.timestamp()
        if started is not None and started >= kill.at:
            with self._lock:
                self.pending.remove(kill)
                self.seconds.setdefault(kill.kind, []).append(started - kill.at)
                self.followed.append((kill, started - kill.at))
        elif started is not None:  # another attempt, started before the kill, runs or won
            with self._lock:
                self.pending.remove(kill)
                self.before_kill.append(kill)


def chaos_run(
    rgw: CephRGW,
    workdir: Path,
    *,
    samples: int = 4,
    stage_s: float = 1.0,
    faults: bool = True,
    s3_fault_rate: float = 0.03,
    fault_every_s: float = 4.0,
    fault_window_s: float = 40.0,
    lease_ttl_s: float = 6.0,
    timeout_s: float = 240.0,
    seed: int = 0,
    broker_kind: str = "redis",
    worker_count: int = 3,
) -> RunResult:
    """One run of ``samples`` samples, with faults or without; checked at the end.

    Process and server faults come every ``fault_every_s`` on average during the first
    ``fault_window_s`` of the run (then the run must finish on its own); S3 faults at
    ``s3_fault_rate`` of the requests throughout. A ``kill_stage`` drawn while no stage
    process runs waits for the next one to have run a moment. ``worker_count`` workers of
    2 threads each: with 4 samples, 3 keep a spare worker, as a deployment would (a
    takeover needs a free worker; on 2 busy workers it waited for a slot, up to 25 s).
    """
    rng = random.Random(seed)
    result = RunResult(samples=samples, broker=broker_kind)
    began = time.monotonic()
    direct_store = rgw_store(rgw)  # the checks read RGW directly, never through the proxy
    proxy = FaultProxy(rgw.endpoint, rate=s3_fault_rate if faults else 0.0, seed=seed)
    broker_server = start_broker(broker_kind, workdir)
    store_url = (
        f"s3://{direct_store.bucket}?endpoint_url={proxy.endpoint}&region={S3_REGION}&sse=none"
    )
    settings = Settings(
        store_url=store_url,
        broker_url=broker_server.url,
        scratch_dir=workdir / "scratch",
        retry_min_backoff_s=0.2,
        retry_max_backoff_s=1.0,
        max_retries=1000,
        heartbeat_timeout_s=3.0,
        lease_ttl_s=lease_ttl_s,
        # The harness reconciles every 3 s: a stage it sent whose message a Redis kill then
        # lost must be sent again within the run, not after the default hour.
        reconcile_resend_s=2 * lease_ttl_s,
        stage_threads=1,
        worker_id="chaos-harness",
    )
    direct = Runtime(settings=settings, store=direct_store, pipeline=load_pipeline(PIPELINE))
    names = [f"S{i + 1:02d}" for i in range(samples)]
    run = f"R{seed:04d}"
    for sample in names:
        params = {"sleep_s": stage_s}
        for stage in ("work", "hand_over"):
            key = direct.layout.override_key(stage, sample)
            direct_store.put_bytes(key, json.dumps({"params": params}).encode())
    rows = "".join(f"{s}\t-\t{s.lower()} text\n" for s in names)
    keys = [f"inbox/{run}/samples.tsv", f"inbox/{run}/CopyComplete.txt"]
    direct_store.put_bytes(keys[0], rows.encode())
    direct_store.put_bytes(keys[1], b"")

    workers = Workers(settings_env(settings), workdir / "workers.log", worker_count)
    broker = build_broker(settings)
    actors = declare_actors(broker, Runtime(settings=settings, store=direct_store,
                                            pipeline=direct.pipeline))  # fmt: skip
    watch = TakeoverWatch(direct)

    def send(key: str) -> None:
        for _ in range(20):  # Redis may be restarting
            try:
                actors.notify(key)
                return
            except Exception:  # noqa: BLE001 - the broker is down for a moment
                time.sleep(0.5)

    order = list(keys)
    if faults:
        rng.shuffle(order)
        result.faults["reordered_events"] += 1
    for key in order:
        if faults and rng.random() < 0.3:
            result.faults["dropped_event"] += 1
            continue
        send(key)
        if faults and rng.random() < 0.5:
            send(key)
            result.faults["dup_event"] += 1

    stop = threading.Event()

    def reconcile() -> None:
        reconciler = Reconciler(direct, actors.enqueue_stage)
        while not stop.wait(3.0):
            with contextlib.suppress(Exception):
                reconciler.run_pass()

    threading.Thread(target=reconcile, daemon=True).start()

    def held_leases(worker_id: str | None = None) -> dict[str, tuple[str, str]]:
        """Attempt -> (stage, subject) of the leases held (by ``worker_id``'s attempts)."""
        held = {}
        for info in direct_store.list(f"{direct.layout.work}/_leases/"):
            with contextlib.suppress(Exception):
                body = json.loads(direct_store.get_bytes(info.key)[0])
                if worker_id is None or body.get("worker") == worker_id:
                    stage, subject = info.key.split("/")[-2:]
                    held[str(body["attempt"])] = (stage, subject)
        return held

    def held_leases_by_worker() -> set[str]:
        """Workers that hold a lease now."""
        holders = set()
        for info in direct_store.list(f"{direct.layout.work}/_leases/"):
            with contextlib.suppress(Exception):
                holders.add(str(json.loads(direct_store.get_bytes(info.key)[0])["worker"]))
        return holders

    def kill_busy_worker() -> bool:
        """SIGKILL a worker in the middle of a stage (restarted at once); False if none is.

        An idle or still-starting worker's death shows no takeover: early in a run the
        workers are starting, and random kills hit them before they held anything.
        """
        busy = sorted(w for w in held_leases_by_worker() if w in workers.procs)
        if not busy:
            return False
        worker_id = rng.choice(busy)
        running = held_leases(worker_id)
        now = time.time()
        victim = workers.procs.pop(worker_id)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        workers.start_one()
        for attempt, (stage, subject) in running.items():
            watch.add(Kill("kill_worker", now, stage, subject, attempt))
        return True

    def kill_stage_process() -> bool:
        """SIGKILL one running stage process that has run a moment; False if none runs."""
        stages = {pid: attempt for pid, attempt in workers.stage_processes().items()
                  if _age_s(pid) >= 0.3}  # fmt: skip
        if not stages:
            return False
        pid = rng.choice(sorted(stages))
        running = held_leases()
        now = time.time()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        if stages[pid] in running:
            watch.add(Kill("kill_stage", now, *running[stages[pid]], stages[pid]))
        return True

    def done() -> bool:
        # Committed *and* published: a committer killed between the two leaves the copies
        # to the next attempt, which the run must wait for (a run once ended in between).
        latest = [direct.manifests.latest("hand_over", s) for s in names]
        return all(m is not None and not unpublished(direct_store, m) for m in latest)

    restart_kind = f"{broker_server.name}_restart"
    outages: list[tuple[float, float, str]] = []  # (down, up again, what) of server restarts
    next_fault = time.monotonic() + rng.uniform(0.5, 2 * fault_every_s)
    faults_until = time.monotonic() + fault_window_s
    stage_kill_pending = worker_kill_pending = False
    try:
        while not done():
            if time.monotonic() - began > timeout_s:
                break
            if stage_kill_pending and kill_stage_process():
                stage_kill_pending = worker_kill_pending = False
                result.faults["kill_stage"] += 1
            if worker_kill_pending and kill_busy_worker():
                worker_kill_pending = False
                result.faults["kill_worker"] += 1
            if faults and faults_until > time.monotonic() >= next_fault:
                next_fault = time.monotonic() + rng.uniform(0.5, 2 * fault_every_s)
                kind = rng.choice(
                    ["kill_worker", "kill_stage", "kill_stage", restart_kind, "rgw_restart",
                     "dup_event"]
                )  # fmt: skip
                if kind == "kill_worker":
                    if not kill_busy_worker():  # none holds a lease (still starting, idle)
                        worker_kill_pending = True
                        continue
                elif kind == "kill_stage":
                    if not kill_stage_process():  # none running now: kill the next one
                        stage_kill_pending = True
                        continue
                elif kind == restart_kind:
                    down = time.time()
                    broker_server.kill_and_restart()
                    outages.append((down, time.time(), kind))
                elif kind == "rgw_restart":
                    down = time.time()
                    rgw.restart_gateway()
                    outages.append((down, time.time(), kind))
                elif kind == "dup_event":
                    send(rng.choice(keys))
                result.faults[kind] += 1
            time.sleep(0.1)
    finally:
        stop.set()
        workers.stop()
        broker.close()
        broker_server.stop()
        proxy.close()
        result.not_taken_over = watch.stop()
        result.duplicated_before_kill = len(watch.before_kill)
        result.takeovers_s = watch.seconds
        for kill, seconds in watch.followed:
            until = kill.at + seconds
            result.takeover_details.append({
                "kill": kill.kind, "stage": kill.stage, "seconds": round(seconds, 1),
                "restarts": [f"{what} {end - down:.0f} s" for down, end, what in outages
                             if down < until and end > kill.at],
                "s3_faults": Counter(f for t, f in proxy.injected_at if kill.at <= t <= until),
                # Other workers killed shortly before or meanwhile: their replacements take
                # seconds to start, and a takeover needs a free worker thread.
                "other_worker_kills": sum(kill.at - 15 <= t <= until and t != kill.at
                                          for t in watch.worker_kills),
            })  # fmt: skip
    for kind, count in proxy.counts.items():
        if kind != "forwarded":
            result.faults[f"s3_{kind}"] += count
    result.seconds = time.monotonic() - began

    # -- checks, on RGW directly ----------------------------------------------------------
    result.delivered = sum(direct.manifests.latest("hand_over", s) is not None for s in names)
    for stage in STAGES:
        for subject in [run] if stage == "ingest" else names:
            if len(direct.manifests.generations(stage, subject)) > 1:
                result.double_commits += 1
    collector = Collector(direct.manifests)
    collector.collect(grace_s=0, dry_run=False)
    leftover = collector.collect(grace_s=0, dry_run=True).to_json()
    result.orphans_after_gc = int(leftover["orphan_attempts"])
    result.digests = digests_of(direct, names)
    return result


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def compare(baseline: dict[str, str], result: RunResult) -> None:
    result.byte_differences = sum(
        1 for name in baseline.keys() | result.digests.keys()
        if baseline.get(name) != result.digests.get(name)
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--stage-s", type=float, default=4.0, help="how long `work` runs")
    parser.add_argument("--s3-fault-rate", type=float, default=0.03)
    parser.add_argument("--fault-every-s", type=float, default=4.0)
    parser.add_argument("--fault-window-s", type=float, default=40.0)
    parser.add_argument("--lease-ttl-s", type=float, default=6.0)
    parser.add_argument(
        "--brokers", default="redis", help="comma-separated, used in turn: redis,rabbitmq"
    )
    parser.add_argument("--workdir", help="keep servers' data and workers' logs here")
    parser.add_argument("--workers", type=int, default=3, help="worker processes, 2 threads")
    args = parser.parse_args(argv)
    # SIGTERM (a background job ignores SIGINT) unwinds, so servers and workers are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    brokers = args.brokers.split(",")
    if not set(brokers) <= {"redis", "rabbitmq"}:
        parser.error("--brokers: redis and/or rabbitmq")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "seqoiatestaccess")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "seqoiatestsecret")
    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
    totals = Counter[str]()
    by_broker: dict[str, Counter[str]] = {}
    takeovers: dict[str, list[float]] = {}
    details: list[dict[str, Any]] = []
    outcome = Counter[str]()
    duplicated = 0
    with (
        contextlib.nullcontext(args.workdir)
        if args.workdir
        else tempfile.TemporaryDirectory(prefix="seqoia-chaos-") as tmp,
        CephRGW.start(
            Path(tmp) / "ceph",
            access_key=os.environ["AWS_ACCESS_KEY_ID"],
            secret_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        ) as rgw,
    ):
        common: dict[str, Any] = dict(
            samples=args.samples, stage_s=args.stage_s, lease_ttl_s=args.lease_ttl_s,
            worker_count=args.workers,
        )  # fmt: skip
        baseline = chaos_run(
            rgw, Path(tmp) / "clean", faults=False, broker_kind=brokers[0], **common
        )
        print(f"fault-free run ({brokers[0]}): {baseline.delivered}/{baseline.samples} "
              f"delivered in {baseline.seconds:.0f} s", flush=True)  # fmt: skip
        for n in range(args.runs):
            kind = brokers[n % len(brokers)]
            result = chaos_run(
                rgw, Path(tmp) / f"run{n}", seed=n + 1, broker_kind=kind,
                s3_fault_rate=args.s3_fault_rate, fault_every_s=args.fault_every_s,
                fault_window_s=args.fault_window_s, **common,
            )  # fmt: skip
            compare(baseline.digests, result)
            totals.update(result.faults)
            by_broker.setdefault(kind, Counter()).update(result.faults)
            for killed, seconds in result.takeovers_s.items():
                takeovers.setdefault(killed, []).extend(seconds)
            details += result.takeover_details
            for slow in result.takeover_details:
                if slow["seconds"] > args.lease_ttl_s + 10:
                    print(f"  slow takeover: {slow}", flush=True)
            outcome["lost samples"] += result.samples - result.delivered
            outcome["double commits"] += result.double_commits
            outcome["orphans after gc"] += result.orphans_after_gc
            outcome["byte differences"] += result.byte_differences
            outcome["kills not taken over"] += result.not_taken_over
            duplicated += result.duplicated_before_kill
            taken = {k: [round(t, 1) for t in v] for k, v in result.takeovers_s.items()}
            print(f"run {n + 1} ({kind}): {sum(result.faults.values())} faults "
                  f"{dict(result.faults)}, {result.delivered}/{result.samples} delivered, "
                  f"{result.double_commits} double commits, "
                  f"{result.byte_differences} byte differences, takeovers {taken}, "
                  f"{result.not_taken_over} not taken over, "
                  f"{result.duplicated_before_kill} duplicated before the kill, "
                  f"{result.seconds:.0f} s",
                  flush=True)  # fmt: skip
    print("\nfaults injected:", sum(totals.values()))
    for kind, count in sorted(totals.items()):
        print(f"  {kind:22s} {count}")
    for broker_kind, counts in by_broker.items():
        print(f"  on {broker_kind}: {sum(counts.values())}")
    for killed, seconds in sorted(takeovers.items()):
        print(f"next attempt after {killed}: p50 {percentile(seconds, 0.5):.1f} s, "
              f"p99 {percentile(seconds, 0.99):.1f} s, max {max(seconds, default=0):.1f} s "
              f"(n={len(seconds)}; lease {args.lease_ttl_s:.0f} s)")  # fmt: skip
    calm = [d["seconds"] for d in details if not d["restarts"]]
    print(f"next attempt, kills with no server restart meanwhile: p50 "
          f"{percentile(calm, 0.5):.1f} s, p99 {percentile(calm, 0.99):.1f} s "
          f"(n={len(calm)})")  # fmt: skip
    crowded = [d["seconds"] for d in details if d["other_worker_kills"]]
    print(f"next attempt, another worker killed within 15 s before or meanwhile: p50 "
          f"{percentile(crowded, 0.5):.1f} s, max {max(crowded, default=0):.1f} s "
          f"(n={len(crowded)})")  # fmt: skip
    within = sum(d["seconds"] <= args.lease_ttl_s + 10 for d in details)
    print(f"within lease + 10 s: {within} of {len(details)}")
    print(f"killed attempts already duplicated before the kill: {duplicated}")
    for name, count in outcome.items():
        print(f"  {name:22s} {count}")
    return 0 if not any(outcome.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
