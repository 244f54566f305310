"""The engine asks the pipeline: routing on declared markers, metrics of the declared gate.

A pipeline declared here names its marker files and its gate differently from the
germline pipeline, so nothing passes by the engine knowing Illumina or ``qc`` by name.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from seqoia.engine.observe import StageMetrics, run_completed_at
from seqoia.engine.router import Router
from seqoia.engine.runtime import Runtime
from seqoia.metrics import local_registry
from seqoia.storage.manifest import Manifest, utcnow
from seqoia.tasks.stage import (
    GateVerdict,
    Pipeline,
    QCGate,
    RunFolderMarkers,
    StageContext,
    StageResult,
)
from tests.fixtures.committed import local_runtime


def nothing(ctx: StageContext) -> StageResult:
    return StageResult()


def verdict_of(summary: dict[str, Any]) -> GateVerdict | None:
    if "ok" not in summary:
        return None
    return GateVerdict(summary["ok"], tuple(summary.get("missed", ())))


pipeline = Pipeline("declared")
pipeline.stage(
    "receive",
    kind="run",
    version="1",
    source=True,
    markers=RunFolderMarkers(("Sealed.txt", "Written.txt"), after_grace=frozenset({"Written.txt"})),
)(nothing)
pipeline.stage(
    "screen",
    kind="sample",
    version="1",
    needs=["receive"],
    role="qc_gate",
    gate=QCGate(verdict_of, checks=("depth_x9", "purity_x9")),
)(nothing)
pipeline.stage("hand_over", kind="sample", version="1", needs=["screen"], role="delivery")(nothing)
pipeline.stage("archive", kind="sample", version="1", needs=["hand_over"])(nothing)


@pytest.fixture
def rt(tmp_path: Path) -> Runtime:
    return local_runtime(tmp_path, pipeline, rtacomplete_grace_s=600.0)


def test_the_router_wakes_the_root_on_its_declared_markers_only(rt: Runtime) -> None:
    sent: list[tuple[str, str, str, float]] = []
    router = Router(rt, lambda *message: sent.append(message))
    for name in ("CopyComplete.txt", "RTAComplete.txt", "Data/x.bcl", "sub/Sealed.txt"):
        assert router.object_created(f"inbox/R1/{name}") == []
    assert sent == []

    assert router.object_created("inbox/R1/Sealed.txt") == [("receive", "R1")]
    assert sent == [("receive", "R1", "run folder marker Sealed.txt", 0.0)]
    sent.clear()
    # A marker that may precede the end of the copy: looked at again after the grace.
    assert router.object_created("inbox/R1/Written.txt") == [("receive", "R1")]
    assert sent == [
        ("receive", "R1", "run folder marker Written.txt", 0.0),
        ("receive", "R1", "grace after Written.txt", 600.0),
    ]


def test_completion_is_dated_by_the_most_telling_declared_marker(rt: Runtime) -> None:
    assert run_completed_at(rt, "R1") is None
    rt.store.put_bytes("inbox/R1/CopyComplete.txt", b"")  # not this pipeline's marker
    assert run_completed_at(rt, "R1") is None
    rt.store.put_bytes("inbox/R1/Written.txt", b"")
    written = rt.store.head("inbox/R1/Written.txt")
    assert written is not None and run_completed_at(rt, "R1") == written.modified
    rt.store.put_bytes("inbox/R1/Sealed.txt", b"")
    sealed = rt.store.head("inbox/R1/Sealed.txt")
    assert sealed is not None and run_completed_at(rt, "R1") == sealed.modified


def sample(name: str, labels: dict[str, str]) -> float:
    return local_registry().get_sample_value(name, labels) or 0.0


def committed(stage: str, summary: dict[str, Any], finished_at: Any = None) -> Manifest:
    return Manifest.model_construct(
        stage=stage,
        subject="S1",
        subject_kind="sample",
        generation=1,
        summary=summary,
        finished_at=finished_at or utcnow(),
    )


def test_metrics_count_the_declared_gates_verdicts_and_time_the_declared_delivery(
    rt: Runtime,
) -> None:
    observer = StageMetrics(rt)
    assert observer.delivery == "hand_over"  # not the last stage: the declared delivery
    # Every declared check exists at zero before the first failure (rate() sees it).
    assert local_registry().get_sample_value(
        "seqoia_qc_gate_failures_total", {"metric": "purity_x9"}
    ) is not None  # fmt: skip
    failed = sample("seqoia_qc_verdicts_total", {"verdict": "failed"})
    depth = sample("seqoia_qc_gate_failures_total", {"metric": "depth_x9"})

    observer.committed(committed("screen", {"ok": False, "missed": ["depth_x9"]}))
    observer.committed(committed("screen", {"no": "verdict"}))
    observer.committed(committed("archive", {"ok": False, "missed": ["depth_x9"]}))  # not a gate

    assert sample("seqoia_qc_verdicts_total", {"verdict": "failed"}) == failed + 1
    assert sample("seqoia_qc_gate_failures_total", {"metric": "depth_x9"}) == depth + 1

    rt.store.put_bytes("inbox/R1/Sealed.txt", b"")
    rt.store.put_bytes("work/_links/sample/S1/run/R1", b"")
    sealed = rt.store.head("inbox/R1/Sealed.txt")
    assert sealed is not None
    delivered = committed("hand_over", {}, sealed.modified + timedelta(hours=5))
    seconds = observer.turnaround_s(delivered)
    assert seconds is not None and abs(seconds - 5 * 3600) < 1.0
