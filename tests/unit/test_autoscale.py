"""The load bench's KEDA emulation (``bench/autoscale.py``) decides as infra/'s ScaledObjects.

Parameters come from ``infra/k8s/autoscaling.yaml`` and ``workers.yaml`` through
``load_specs``; the tests use them symbolically, so a change to the manifests is tested
as it is.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace

import pytest
import yaml

from bench.autoscale import (
    HPA_TOLERANCE,
    HPA_UP_PODS,
    INFRA,
    QueueMetric,
    ScalerState,
    ScalingSpec,
    decide,
    load_specs,
    replica_seconds,
)
from seqoia.engine.priority import lane_queues

SPECS = load_specs()
SCALED_TO_ZERO = sorted(name for name, spec in SPECS.items() if spec.min_replicas == 0)


def run(spec: ScalingSpec, state: ScalerState, metric: float, start_s: float, polls: int):
    """``polls`` polls of a constant metric; the replicas after each."""
    seen = []
    for i in range(polls):
        state = decide(spec, state, metric, start_s + i * spec.polling_interval_s)
        seen.append(state.replicas)
    return state, seen


def test_specs_are_the_manifests_scaled_objects_and_deployments() -> None:
    scaled = [d for d in yaml.safe_load_all((INFRA / "autoscaling.yaml").read_text()) if d]
    assert sorted(SPECS) == sorted(d["spec"]["scaleTargetRef"]["name"] for d in scaled)
    for doc in scaled:
        spec = SPECS[doc["spec"]["scaleTargetRef"]["name"]]
        assert spec.max_replicas == doc["spec"]["maxReplicaCount"]
        assert spec.cooldown_s == doc["spec"]["cooldownPeriod"]
        assert spec.threshold == float(doc["spec"]["triggers"][0]["metadata"]["threshold"])
        assert spec.queues and spec.threads >= spec.threshold


@pytest.mark.parametrize("name", sorted(SPECS))
def test_a_backlog_grows_a_group_by_the_hpa_rate_up_to_its_max_replicas(name: str) -> None:
    spec = SPECS[name]
    backlog = 10 * spec.max_replicas * spec.threshold
    state, seen = run(spec, ScalerState(replicas=0), backlog, 0.0, 12)
    assert seen[0] == max(1, spec.min_replicas)  # KEDA activates first
    assert seen[-1] == spec.max_replicas
    for before, after in zip(seen, seen[1:], strict=False):
        assert after <= max(2 * before, before + HPA_UP_PODS)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_work_in_flight_keeps_every_busy_replica(name: str) -> None:
    spec = SPECS[name]
    busy = min(spec.max_replicas, max(3, spec.min_replicas))
    # nothing waits, every replica holds `threshold` messages: never fewer replicas
    state = ScalerState(replicas=busy)
    _, seen = run(spec, state, busy * spec.threshold, 0.0, int(4 * spec.cooldown_s / 30))
    assert set(seen) == {busy}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_scale_down_waits_out_the_window_then_removes_one_pod_per_period(name: str) -> None:
    spec = SPECS[name]
    top = spec.max_replicas
    state, _ = run(spec, ScalerState(replicas=0), top * spec.threshold, 0.0, 12)
    assert state.replicas == top
    t0 = 12 * spec.polling_interval_s
    low = max(1, spec.min_replicas) * spec.threshold  # still active: no scale to zero
    times, replicas = [], []
    for i in range(int((spec.stabilization_s + 4 * spec.down_period_s) / 10)):
        now = t0 + 10.0 * i
        state = decide(spec, state, low, now)
        times.append(now - t0)
        replicas.append(state.replicas)
    # the last poll that recommended `top` was one poll before t0
    first_drop = next(t for t, r in zip(times, replicas, strict=True) if r < top)
    first_drop += spec.polling_interval_s
    assert spec.stabilization_s <= first_drop <= spec.stabilization_s + 10
    drops = [t for t, a, b in zip(times[1:], replicas, replicas[1:], strict=False) if b < a]
    assert all(
        a - b == spec.down_pods for a, b in zip(replicas, replicas[1:], strict=False) if b < a
    )
    for earlier, later in zip(drops, drops[1:], strict=False):
        assert later - earlier >= spec.down_period_s


@pytest.mark.parametrize("name", SCALED_TO_ZERO)
def test_an_idle_group_goes_to_zero_only_a_cooldown_after_its_last_work(name: str) -> None:
    spec = SPECS[name]
    state = decide(spec, ScalerState(replicas=2), 2 * spec.threshold, 0.0)
    assert state.replicas == 2
    state = decide(spec, state, 0, spec.cooldown_s - 1)
    assert state.replicas == 2
    state = decide(spec, state, 0, spec.cooldown_s)
    assert state.replicas == 0
    assert decide(spec, state, 1, spec.cooldown_s + 30).replicas == 1  # activated again


def test_a_group_with_min_replicas_never_goes_to_zero() -> None:
    kept = [spec for spec in SPECS.values() if spec.min_replicas > 0]
    assert kept, "no ScaledObject keeps a replica (the light group should)"
    for spec in kept:
        state, seen = run(spec, ScalerState(replicas=spec.min_replicas + 1), 0, 0.0, 200)
        assert min(seen) == spec.min_replicas


def test_one_urgent_stage_more_than_ten_busy_pods_hold_gets_a_pod_of_its_own() -> None:
    urgent = SPECS["seqoia-worker-urgent"]
    busy = ScalerState(replicas=12, last_active_s=0.0)
    one_more = 13 * urgent.threshold  # every pod holds its share and one message waits
    assert decide(urgent, busy, one_more, 1.0).replicas == 13
    # with the HPA's default tolerance (10 %) it would wait for one of the twelve to finish
    default = replace(urgent, up_tolerance=HPA_TOLERANCE)
    assert decide(default, busy, one_more, 1.0).replicas == 12
    # scale-down keeps the default tolerance: one pod idle of twelve is not removed at once
    assert decide(urgent, busy, 11 * urgent.threshold, 1.0).replicas == 12


def test_a_failed_query_keeps_the_replicas() -> None:
    spec = SPECS["seqoia-worker-align"]
    state = ScalerState(replicas=5, last_active_s=0.0)
    assert decide(spec, state, None, 10 * spec.cooldown_s) == state


def test_the_compressed_spec_keeps_the_ratios_and_the_metric_per_thread() -> None:
    spec = SPECS["seqoia-worker-align"]
    hour_s = 3.0
    small = spec.compressed(hour_s / 3600, scale=0.5, pods_per_replica=2)
    assert small.max_replicas == math.ceil(spec.max_replicas * 0.5 / 2)
    assert small.threshold / small.threads == spec.threshold / spec.threads
    assert small.cooldown_s == pytest.approx(spec.cooldown_s * hour_s / 3600)
    assert small.grace_s == pytest.approx(spec.grace_s * hour_s / 3600)
    # the same decisions, in compressed time and units of two pods
    state, seen = run(small, ScalerState(replicas=0), 100.0, 0.0, 8)
    assert seen[-1] == small.max_replicas


def test_replica_seconds_integrate_the_live_replicas() -> None:
    series = [(0.0, "g", 0, 0, 2, 0), (10.0, "g", 0, 0, 4, 0), (15.0, "h", 0, 0, 9, 0)]
    assert replica_seconds(series, "g", 20.0) == 2 * 10 + 4 * 10


def _label_regexes(query: str, label: str) -> list[str]:
    # PromQL string literals: "\\." in the manifest is the regex \.
    return [m.replace("\\\\", "\\") for m in re.findall(label + r'=~"([^"]+)"', query)]


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_term_of_the_query_counts_exactly_the_queues_the_group_consumes(name: str) -> None:
    [doc] = [
        d
        for d in yaml.safe_load_all((INFRA / "autoscaling.yaml").read_text())
        if d and d["spec"]["scaleTargetRef"]["name"] == name
    ]
    query = doc["spec"]["triggers"][0]["metadata"]["query"]
    waiting = _label_regexes(query, "queue")
    held = _label_regexes(query, "queue_name")
    assert len(waiting) == 2 and len(held) == 2, query
    spec = SPECS[name]
    consumed = set(lane_queues(spec.queues, spec.lane))
    for queue in lane_queues(spec.queues, "all"):
        # a queue it does not serve must not wake the group; one it serves must
        counted = queue in consumed
        for regex in waiting:  # Prometheus anchors =~ at both ends
            assert bool(re.fullmatch(regex, queue)) == counted, (regex, queue)
            assert not re.fullmatch(regex, f"x{queue}"), regex
        for regex in held:
            for label in (queue, f"{queue}.DQ"):
                assert bool(re.fullmatch(regex, label)) == counted, (regex, label)


def test_the_metric_reads_only_the_lane_the_group_serves() -> None:
    urgent = SPECS["seqoia-worker-urgent"]
    assert urgent.lane == "urgent"
    metric = QueueMetric(client=None, queues=urgent.queues, lane=urgent.lane)
    assert metric.all_queues() == sorted(f"{q}.urgent" for q in urgent.queues)
    routine = SPECS["seqoia-worker-align"]
    assert QueueMetric(None, routine.queues, routine.lane).all_queues() == ["align"]
