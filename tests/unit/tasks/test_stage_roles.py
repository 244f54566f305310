"""Pipeline knowledge in declarations: the QC gate, the delivery and the run-folder markers."""

from __future__ import annotations

import pytest

from seqoia.errors import DeclarationError
from seqoia.tasks.stage import (
    GateVerdict,
    Pipeline,
    QCGate,
    RunFolderMarkers,
    StageContext,
    StageResult,
)


def nothing(ctx: StageContext) -> StageResult:
    return StageResult()


def no_verdict(summary: dict[str, object]) -> GateVerdict | None:
    return None


def declared() -> Pipeline:
    pipeline = Pipeline("unit")
    pipeline.stage(
        "ingest",
        kind="run",
        version="1",
        source=True,
        markers=RunFolderMarkers(("Done.txt", "Early.txt"), after_grace=frozenset({"Early.txt"})),
    )(nothing)
    pipeline.stage("check", kind="sample", version="1", needs=["ingest"])(nothing)
    return pipeline


def test_the_engine_finds_the_gate_the_delivery_and_the_markers_by_declaration() -> None:
    pipeline = declared()
    assert pipeline.with_role("qc_gate") is None and pipeline.with_role("delivery") is None
    gate = QCGate(no_verdict, checks=("coverage",))
    pipeline.stage("gate", kind="sample", version="1", needs=["check"], role="qc_gate", gate=gate)(
        nothing
    )
    pipeline.stage("ship", kind="sample", version="1", needs=["gate"], role="delivery")(nothing)
    assert pipeline.with_role("qc_gate") is pipeline["gate"]
    assert pipeline["gate"].gate is gate
    assert pipeline.with_role("delivery") is pipeline["ship"]
    assert pipeline.completion_markers() == ("Done.txt", "Early.txt")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"role": "qc_gate"}, "declares role='qc_gate' and its gate"),
        ({"gate": QCGate(no_verdict)}, "declares role='qc_gate' and its gate"),
        ({"role": "courier"}, "unknown role 'courier'"),
        ({"markers": RunFolderMarkers(("Done.txt",))}, "markers belong to a root source stage"),
    ],
)
def test_a_mistaken_role_or_marker_declaration_fails_at_import(
    options: dict[str, object], message: str
) -> None:
    pipeline = declared()
    with pytest.raises(DeclarationError, match=message):
        pipeline.stage("x", kind="sample", version="1", needs=["check"], **options)(nothing)  # type: ignore[arg-type]
    assert "x" not in pipeline.stages


def test_a_role_has_one_holder() -> None:
    pipeline = declared()
    pipeline.stage("ship", kind="sample", version="1", needs=["check"], role="delivery")(nothing)
    with pytest.raises(DeclarationError, match="stage 'ship' already is the delivery"):
        pipeline.stage("mail", kind="sample", version="1", needs=["check"], role="delivery")(
            nothing
        )


def test_the_germline_pipeline_declares_its_gate_delivery_and_illumina_markers() -> None:
    from seqoia.genomics.qc import QCMetrics
    from seqoia.genomics.qc_gate import QCThresholds, evaluate_gate
    from seqoia.illumina.completion import COPY_COMPLETE, RTA_COMPLETE
    from seqoia.tasks.germline import pipeline

    gate = pipeline.with_role("qc_gate")
    assert gate is not None and gate.name == "qc" and gate.gate is not None
    delivery = pipeline.with_role("delivery")
    assert delivery is not None and delivery.name == "deliver"
    assert pipeline.completion_markers()[:2] == (COPY_COMPLETE, RTA_COMPLETE)
    root = pipeline.roots()[0]
    assert root.markers is not None and root.markers.after_grace == {RTA_COMPLETE}

    # The hook reads a summary as the qc stage writes it.
    verdict = evaluate_gate(QCMetrics(mean_coverage=3.0), QCThresholds())
    read = gate.gate.verdict({"verdict": verdict.model_dump(mode="json")})
    assert read == GateVerdict(False, tuple(f.metric for f in verdict.failures))
    assert "mean_coverage" in read.failed_checks
    assert set(read.failed_checks) <= set(gate.gate.checks)
    assert gate.gate.verdict({"metrics": {}}) is None
