"""An emulation of the KEDA ScaledObjects of ``infra/k8s``, for the load simulation.

``bench/load.py --autoscale`` runs each heavy worker group (demultiplex, align, call, qc,
and the urgent lane of all four) as a set of ``seqoia worker`` processes that this module
starts and stops as KEDA and the Kubernetes HPA would scale the group's Deployment:

- **Parameters** are read from ``infra/k8s/autoscaling.yaml`` and ``workers.yaml``
  (:func:`load_specs`): min/max replicas, the threshold per replica, the polling
  interval, the cooldown before scaling to zero, the scale-down stabilisation window and
  policy, each Deployment's queues, lane, threads, ``--grace-s`` and environment.
  :meth:`ScalingSpec.compressed` then scales times into the bench's compressed time,
  replicas by the simulated fraction of the platform, and optionally groups several
  pods' threads in one process.
- **Metric**: the ScaledObjects' query, read from Redis instead of Prometheus: messages
  waiting in the queues the group consumes (its ``--lane`` of each ``--queue``) and their
  delay queues, plus the messages that live workers hold (dramatiq's per-worker ack
  sets), the latter as a maximum over the query's ``max_over_time`` window (:class:`QueueMetric`).
- **Decision** (:func:`decide`, pure): KEDA activates a group at zero when the metric
  exceeds ``activationThreshold`` and scales it back to zero ``cooldownPeriod`` after it
  was last active; in between the HPA's ``AverageValue`` rule, ``ceil(metric /
  threshold)``, with its 10 % tolerance, the maximum recommendation over the scale-down
  stabilisation window, the scale-down policy (1 pod per 600 s) and the HPA's default
  scale-up policy (100 % or 4 pods per 15 s, whichever is more).
- **Pods** (:class:`Replicas`): a scale-down sends SIGTERM to the newest process (the
  ReplicaSet deletes the youngest pods first), which stops taking messages and gets its
  Deployment's ``--grace-s`` (compressed) to finish its stage, then hands it over. A
  terminating process no longer counts as a replica, as a terminating pod does not.

The emulator's tick is the compressed polling interval or ``min_tick_s``, whichever is
longer: at 3 s per simulated hour KEDA's 30 s poll is 25 ms, far below what this machine
can afford, so the emulation reacts more slowly than the cluster would (one tick of
0.25 s is 5 simulated minutes) and each tick grows a group by at most one HPA period's
worth (doubling, or +4). Process start-up (~1 s, ~20 simulated minutes) stands for a
pod's scheduling and start.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import yaml

from seqoia.engine.priority import Lane, lane_queues

INFRA = Path(__file__).resolve().parents[1] / "infra" / "k8s"
#: The HPA's defaults, which the ScaledObjects do not override.
HPA_TOLERANCE = 0.1
HPA_UP_PERCENT = 100
HPA_UP_PODS = 4
HPA_UP_PERIOD_S = 15.0
#: The in-flight terms' ``max_over_time`` window in the ScaledObjects' query.
IN_FLIGHT_WINDOW_S = 600.0


@dataclass(frozen=True)
class ScalingSpec:
    """One worker group's ScaledObject and Deployment, as far as scaling goes."""

    name: str
    queues: tuple[str, ...]
    threads: int  # worker threads per replica
    grace_s: float  # the worker's --grace-s
    min_replicas: int
    max_replicas: int
    threshold: float  # target metric per replica (AverageValue)
    activation_threshold: float
    polling_interval_s: float
    cooldown_s: float  # KEDA: last active -> scale to zero
    stabilization_s: float  # HPA scale-down stabilisation window
    down_pods: int  # scale-down policy: at most this many pods ...
    down_period_s: float  # ... per this many seconds
    up_percent: int = HPA_UP_PERCENT
    up_pods: int = HPA_UP_PODS
    up_period_s: float = HPA_UP_PERIOD_S
    up_tolerance: float = HPA_TOLERANCE  # behavior.scaleUp.tolerance (KEP-4951)
    in_flight_window_s: float = IN_FLIGHT_WINDOW_S
    lane: Lane = "all"  # the worker's --lane
    env: tuple[tuple[str, str], ...] = ()  # the container's own environment (after the ConfigMap)

    def compressed(
        self,
        time_factor: float,
        *,
        scale: float = 1.0,
        pods_per_replica: int = 1,
        min_window_s: float = 0.0,
    ) -> ScalingSpec:
        """This spec in compressed time (``time_factor`` real s per s) and platform size.

        ``scale`` is the fraction of the platform simulated (max replicas scale with it,
        at least 1); ``pods_per_replica`` pods' threads run in one process, whose threshold
        and threads grow alike, so the metric per thread is unchanged. The cooldown and
        the stabilisation window are at least ``min_window_s`` real seconds: they bridge
        the gap between one stage's commit and the next stage's message, seconds that the
        bench does not compress (on the cluster, seconds against 30 minutes).
        """
        k = pods_per_replica
        return replace(
            self,
            threads=self.threads * k,
            threshold=self.threshold * k,
            max_replicas=max(1, math.ceil(self.max_replicas * scale / k)),
            min_replicas=min(self.min_replicas, max(1, math.ceil(self.max_replicas * scale / k))),
            grace_s=self.grace_s * time_factor,
            polling_interval_s=self.polling_interval_s * time_factor,
            cooldown_s=max(min_window_s, self.cooldown_s * time_factor),
            stabilization_s=max(min_window_s, self.stabilization_s * time_factor),
            down_period_s=self.down_period_s * time_factor,
            up_period_s=self.up_period_s * time_factor,
            in_flight_window_s=self.in_flight_window_s * time_factor,
        )


def _option(args: Sequence[str], flag: str) -> list[str]:
    return [str(args[i + 1]) for i, a in enumerate(args) if a == flag]


def load_specs(infra: Path = INFRA) -> dict[str, ScalingSpec]:
    """The ScaledObjects of ``autoscaling.yaml`` with their Deployments of ``workers.yaml``."""
    deployments = {
        d["metadata"]["name"]: d
        for d in yaml.safe_load_all((infra / "workers.yaml").read_text())
        if d and d.get("kind") == "Deployment"
    }
    specs = {}
    for scaled in yaml.safe_load_all((infra / "autoscaling.yaml").read_text()):
        if not scaled or scaled.get("kind") != "ScaledObject":
            continue
        spec = scaled["spec"]
        target = spec["scaleTargetRef"]["name"]
        container = deployments[target]["spec"]["template"]["spec"]["containers"][0]
        args = container["args"]
        [trigger] = spec["triggers"]
        behaviors = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
        behavior = behaviors["scaleDown"]
        [policy] = behavior["policies"]
        up_tolerance = behaviors.get("scaleUp", {}).get("tolerance", HPA_TOLERANCE)
        assert policy["type"] == "Pods", policy
        specs[target] = ScalingSpec(
            name=target,
            queues=tuple(_option(args, "--queue")),
            lane=cast(Lane, (_option(args, "--lane") or ["all"])[0]),
            env=tuple(
                (e["name"], str(e["value"])) for e in container.get("env", []) if "value" in e
            ),
            threads=int(_option(args, "--threads")[0]),
            grace_s=float(_option(args, "--grace-s")[0]),
            min_replicas=int(spec.get("minReplicaCount", 0)),
            max_replicas=int(spec.get("maxReplicaCount", 100)),
            threshold=float(trigger["metadata"]["threshold"]),
            activation_threshold=float(trigger["metadata"].get("activationThreshold", 0)),
            polling_interval_s=float(spec.get("pollingInterval", 30)),
            cooldown_s=float(spec.get("cooldownPeriod", 300)),
            stabilization_s=float(behavior.get("stabilizationWindowSeconds", 300)),
            down_pods=int(policy["value"]),
            down_period_s=float(policy["periodSeconds"]),
            up_tolerance=float(up_tolerance),
        )
    return specs


# -- the decision -------------------------------------------------------------------------
@dataclass(frozen=True)
class ScalerState:
    """What KEDA and the HPA remember between two polls of one ScaledObject."""

    replicas: int = 0
    last_active_s: float | None = None
    #: (time, raw recommendation) within the stabilisation window.
    recommendations: tuple[tuple[float, int], ...] = ()
    #: (time, replicas added (+) or removed (-)) within the policies' periods.
    changes: tuple[tuple[float, int], ...] = ()


def decide(
    spec: ScalingSpec, state: ScalerState, metric: float | None, now_s: float
) -> ScalerState:
    """The replicas KEDA and the HPA set for ``metric`` at ``now_s``: the next state.

    ``metric`` None is a failed query: with ``ignoreNullValues: "false"`` KEDA keeps the
    current replicas.
    """
    current = state.replicas
    if metric is None:
        return state
    active = metric > spec.activation_threshold
    last_active = now_s if active else state.last_active_s
    horizon = max(spec.up_period_s, spec.down_period_s)
    changes = tuple((t, d) for t, d in state.changes if now_s - t < horizon)
    recommendations = tuple(
        (t, r) for t, r in state.recommendations if now_s - t < spec.stabilization_s
    )

    def to(replicas: int) -> ScalerState:
        moved = changes + (((now_s, replicas - current),) if replicas != current else ())
        return ScalerState(replicas, last_active, recommendations, moved)

    if current == 0:
        if not active:
            return to(0)
        # KEDA activates the Deployment; the HPA takes over from the next poll.
        return to(max(1, spec.min_replicas))
    if (
        not active
        and spec.min_replicas == 0
        and last_active is not None
        and now_s - last_active >= spec.cooldown_s
    ):
        return ScalerState(0, last_active, (), changes + ((now_s, -current),))
    floor = max(1, spec.min_replicas)
    ratio = metric / (spec.threshold * current)
    # Within the tolerance of the target nothing moves: by default 10 % either way, so one
    # message more than 10 busy pods hold adds no pod unless scale-up's tolerance is lower.
    tolerance = spec.up_tolerance if ratio > 1.0 else HPA_TOLERANCE
    raw = current if abs(ratio - 1.0) <= tolerance else math.ceil(metric / spec.threshold)
    raw = min(spec.max_replicas, max(floor, raw))
    recommendations += ((now_s, raw),)
    if raw < current:
        # Scale-down: the highest recommendation of the window, then the policy's rate.
        desired = max(r for _, r in recommendations)
        removed = -sum(d for t, d in changes if d < 0 and now_s - t < spec.down_period_s)
        desired = max(desired, current - max(0, spec.down_pods - removed))
        return to(min(current, desired))
    if raw > current:
        added = sum(d for t, d in changes if d > 0 and now_s - t < spec.up_period_s)
        base = current - added  # the replicas at the start of the period
        limit = max(math.floor(base * (1 + spec.up_percent / 100)), base + spec.up_pods)
        return to(max(current, min(raw, limit)))
    return to(current)


# -- the metric ---------------------------------------------------------------------------
@dataclass
class QueueMetric:
    """The ScaledObject's query for one group, read from Redis (dramatiq's keys)."""

    client: Any  # redis.Redis
    queues: Sequence[str]
    lane: Lane = "all"
    heartbeat_timeout_s: float = 60.0
    headroom: int = 0  # a constant term of the query: pods kept beyond the work
    window_s: float = IN_FLIGHT_WINDOW_S
    namespace: str = "seqoia"
    _in_flight: deque[tuple[float, int]] = field(default_factory=deque)

    def all_queues(self) -> list[str]:
        return lane_queues(self.queues, self.lane)

    def read(self, now_s: float) -> tuple[int, int]:
        """(waiting + delayed, held by live workers as a max over the window)."""
        ns, queues = self.namespace, self.all_queues()
        since = int((time.time() - self.heartbeat_timeout_s) * 1000)
        workers = [
            w.decode() if isinstance(w, bytes) else str(w)
            for w in self.client.zrangebyscore(f"{ns}:__heartbeats__", since, "+inf")
        ]
        pipe = self.client.pipeline()
        for q in queues:
            pipe.llen(f"{ns}:{q}")
            pipe.zcard(f"{ns}:{q}.DQ")
        for w in workers:
            for q in queues:
                pipe.scard(f"{ns}:__acks__.{w}.{q}")
                pipe.scard(f"{ns}:__acks__.{w}.{q}.DQ")
        values = [int(v) for v in pipe.execute()]
        waiting = sum(values[: 2 * len(queues)])
        held = sum(values[2 * len(queues) :])
        self._in_flight.append((now_s, held))
        while self._in_flight and now_s - self._in_flight[0][0] > self.window_s:
            self._in_flight.popleft()
        return waiting + self.headroom, max(h for _, h in self._in_flight)


# -- the pods -----------------------------------------------------------------------------
@dataclass
class Replica:
    process: subprocess.Popen[bytes]
    name: str
    started_s: float
    stopping_s: float | None = None
    cpu_s: float = 0.0  # filled when reaped
    returncode: int | None = None


STANDBY_SCRIPT = Path(__file__).resolve().parent / "standby_worker.py"


@dataclass
class Replicas:
    """A Deployment's pods as ``seqoia worker`` processes (one per replica).

    With ``standby``, every replica not running waits as a process whose imports are
    done (``bench/standby_worker.py``), so that a scale-up costs a pod's start on a ready
    node, not an interpreter's start; otherwise a scale-up starts a new interpreter.
    """

    spec: ScalingSpec
    argv: Sequence[str]  # ``seqoia`` arguments (``worker ...``) without queues/threads/grace
    env: dict[str, str]
    log: Path
    cwd: Path
    standby: bool = False
    live: list[Replica] = field(default_factory=list)
    stopping: list[Replica] = field(default_factory=list)
    ended: list[Replica] = field(default_factory=list)
    waiting: list[Replica] = field(default_factory=list)  # standby processes
    started: int = 0
    scale_downs: int = 0
    restarts: int = 0

    def _spawn(self, *, standby: bool) -> Replica:
        name = f"{self.spec.name}.{self.started}"
        self.started += 1
        args = [*self.argv, "--threads", str(self.spec.threads), "--grace-s",
                f"{self.spec.grace_s:.3f}"]  # fmt: skip
        for q in self.spec.queues:
            args += ["--queue", q]
        args += ["--lane", self.spec.lane]
        launcher = [sys.executable, str(STANDBY_SCRIPT)] if standby else [
            sys.executable, "-m", "seqoia.cli"]  # fmt: skip
        env = dict(self.env, **dict(self.spec.env), SEQOIA_WORKER_ID=name)
        with open(self.log, "ab") as out:
            process = subprocess.Popen(
                [*launcher, *args], env=env, cwd=self.cwd, stdout=out,
                stderr=subprocess.STDOUT, stdin=subprocess.PIPE if standby else None,
            )  # fmt: skip
        return Replica(process, name, time.time())

    def start_one(self) -> None:
        if self.waiting:
            replica = self.waiting.pop(0)
            assert replica.process.stdin is not None
            replica.process.stdin.write(b"go\n")
            replica.process.stdin.flush()
            replica.started_s = time.time()
        else:
            replica = self._spawn(standby=False)
        self.live.append(replica)

    def top_up(self) -> None:
        """Keep a standby process for every replica up to the maximum."""
        while self.standby and len(self.live) + len(self.waiting) < self.spec.max_replicas:
            self.waiting.append(self._spawn(standby=True))

    def scale_to(self, replicas: int) -> None:
        while len(self.live) < replicas:
            self.start_one()
        while len(self.live) > replicas:
            newest = max(self.live, key=lambda r: r.started_s)
            self.live.remove(newest)
            newest.stopping_s = time.time()
            with contextlib.suppress(ProcessLookupError):
                newest.process.send_signal(signal.SIGTERM)
            self.stopping.append(newest)
            self.scale_downs += 1

    def reap(self) -> None:
        """Collect ended processes with their CPU; a live one that died is started again."""
        for group in (self.live, self.stopping, self.waiting):
            for replica in list(group):
                pid, status, usage = os.wait4(replica.process.pid, os.WNOHANG)
                if pid == 0:
                    continue
                replica.returncode = os.waitstatus_to_exitcode(status)
                replica.process.returncode = replica.returncode
                replica.cpu_s = usage.ru_utime + usage.ru_stime
                group.remove(replica)
                self.ended.append(replica)
                if group is self.live:  # the Deployment replaces a pod that died
                    self.restarts += 1
                    self.start_one()
        self.top_up()

    def stop_all(self, timeout_s: float) -> None:
        self.standby = False
        for replica in self.waiting:  # end of input: exits without working
            assert replica.process.stdin is not None
            with contextlib.suppress(OSError):
                replica.process.stdin.close()
        self.stopping += self.waiting
        self.waiting = []
        self.scale_to(0)
        deadline = time.time() + timeout_s
        while self.stopping and time.time() < deadline:
            self.reap()
            time.sleep(0.1)
        for replica in self.stopping:
            with contextlib.suppress(ProcessLookupError):
                replica.process.kill()
        while self.stopping:
            self.reap()
            time.sleep(0.05)

    def pids(self) -> list[int]:
        return [r.process.pid for r in (*self.live, *self.stopping, *self.waiting)]


@dataclass
class Autoscaler:
    """Polls each group's metric, decides, and starts or stops its processes."""

    groups: dict[str, tuple[ScalingSpec, QueueMetric, Replicas]]
    tick_s: float
    state: dict[str, ScalerState] = field(default_factory=dict)
    #: (wall time, group, metric waiting, metric held, replicas, terminating)
    series: list[tuple[float, str, int, int, int, int]] = field(default_factory=list)
    errors: int = 0

    def step(self, now_s: float) -> None:
        for name, (spec, metric, pods) in self.groups.items():
            pods.reap()
            state = self.state.get(name, ScalerState(replicas=len(pods.live)))
            try:
                waiting, held = metric.read(now_s)
                value: float | None = waiting + held
            except Exception:  # noqa: BLE001 - a failed query keeps the replicas, as KEDA does
                self.errors += 1
                waiting = held = -1
                value = None
            state = decide(spec, state, value, now_s)
            self.state[name] = state
            pods.scale_to(state.replicas)
            self.series.append((now_s, name, waiting, held, len(pods.live), len(pods.stopping)))

    def loop(self, stop: Any) -> None:
        while not stop.wait(self.tick_s):
            self.step(time.time())

    def pids(self) -> list[int]:
        return [pid for _, _, pods in self.groups.values() for pid in pods.pids()]

    def reaped_cpu_s(self) -> float:
        return sum(r.cpu_s for _, _, pods in self.groups.values() for r in pods.ended)


def replica_seconds(
    series: Iterable[tuple[float, str, int, int, int, int]], group: str, until_s: float
) -> float:
    """The integral of a group's live replicas over time (step function of the series)."""
    points = [(t, live) for t, g, _, _, live, _ in series if g == group]
    total = 0.0
    for (t0, n), (t1, _) in zip(points, [*points[1:], (until_s, 0)], strict=True):
        total += n * max(0.0, t1 - t0)
    return total
