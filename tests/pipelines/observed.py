"""A small pipeline for observability tests: the toy's run and sample stages, plus ``qc`` and
``deliver`` so that every stage-level metric has something to say.

    ingest (run) -> process (sample, child process) -> qc (sample) -> deliver (sample)

Same run folder as the toy (``samples.tsv`` + ``CopyComplete.txt``). A sample text with
``FAIL`` fails ``process`` permanently (toy behaviour); with ``LOWQ`` its QC verdict fails
on ``mean_coverage`` and ``duplicate_pct``; with ``FLAKY`` its ``qc`` fails transiently
once per worker (a marker in the worker's cache folder), then succeeds on retry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqoia.errors import ToolError
from seqoia.tasks.stage import (
    GateVerdict,
    Pipeline,
    QCGate,
    StageContext,
    StageResult,
)
from tests.pipelines import toy
from tests.pipelines.run_folder import run_folder_stage

pipeline = Pipeline("observed", import_path="tests.pipelines.observed:pipeline")

run_folder_stage(pipeline, "ingest")(toy.ingest)
pipeline.stage(
    "process",
    kind="sample",
    needs=["ingest"],
    version="1",
    params=toy.ProcessParams,
    queue="samples",
)(toy.process)


def gate_verdict(summary: dict[str, Any]) -> GateVerdict | None:
    verdict = summary.get("verdict")
    if not isinstance(verdict, dict):
        return None
    failed = tuple(f["metric"] for f in verdict["failures"])
    return GateVerdict(bool(verdict["passed"]), failed)


@pipeline.stage(
    "qc", kind="sample", needs=["process"], version="1", isolation="inline", queue="qc",
    role="qc_gate", gate=QCGate(gate_verdict, checks=("mean_coverage", "duplicate_pct")),
)  # fmt: skip
def qc(ctx: StageContext) -> StageResult:
    text = ctx.one("process").file(".out").read_text()
    if "FLAKY" in text and ctx.cache_dir is not None:
        marker = Path(ctx.cache_dir) / f"flaky-{ctx.subject}"
        if not marker.exists():
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
            raise ToolError(["qc-tool", ctx.subject], 1, "transient failure, try again")
    failures = []
    if "LOWQ" in text:
        failures = [
            {"metric": "mean_coverage", "value": 3.0, "threshold": ">= 25", "message": "low"},
            {"metric": "duplicate_pct", "value": 40.0, "threshold": "<= 20", "message": "high"},
        ]
    verdict = {"passed": not failures, "failures": failures, "checks": []}
    (ctx.out_dir / f"{ctx.subject}.qc.json").write_text(str(verdict))
    return StageResult(summary={"verdict": verdict})


@pipeline.stage(
    "deliver", kind="sample", needs=["qc"], version="1", isolation="inline", queue="deliver",
    role="delivery",
)  # fmt: skip
def deliver(ctx: StageContext) -> StageResult:
    (ctx.out_dir / f"{ctx.subject}.delivered.txt").write_text("delivered")
    return StageResult(summary={"delivered": True})
