"""``qc``: a sample's metrics against the laboratory's thresholds (the QC gate).

A sample that misses a threshold is not an error: the stage commits a failed verdict with
its reasons, and the report and delivery say so. Thresholds are this stage's parameters,
so a laboratory changes them like any parameter (``seqoia reprocess --set qc.min_...``).
"""

from __future__ import annotations

import json
from typing import Any

from seqoia.genomics.multiqc import write_bcftools_stats
from seqoia.genomics.qc import alignment_metrics, compute_qc
from seqoia.genomics.qc_gate import METRIC_LABELS, QCThresholds, evaluate_gate
from seqoia.genomics.tools import tool_versions
from seqoia.tasks.references import prepared_reference
from seqoia.tasks.registry import pipeline
from seqoia.tasks.runs import sample_records
from seqoia.tasks.stage import GateVerdict, QCGate, StageContext, StageResult


def gate_verdict(summary: dict[str, Any]) -> GateVerdict | None:
    """The verdict a ``qc`` summary carries (for metrics and status); ``None`` without one."""
    verdict = summary.get("verdict")
    if not isinstance(verdict, dict) or not isinstance(verdict.get("passed"), bool):
        return None
    failed = (f.get("metric") for f in verdict.get("failures") or () if isinstance(f, dict))
    return GateVerdict(verdict["passed"], tuple(m for m in failed if isinstance(m, str) and m))


#: The summary key of the coverage profile: ``[[contig, bin_start, mean_depth], ...]``.
COVERAGE_PROFILE = "coverage_profile"

#: Sample-sheet sex -> the karyotype the QC predicts from coverage.
_SEX = {"male": "XY", "female": "XX"}


@pipeline.stage(
    "qc",
    kind="sample",
    needs=["validate_run", "align", "markduplicates", "call_variants"],
    version="2",
    params=QCThresholds,
    reference=True,
    fetch=lambda upstream, name: upstream in ("markduplicates", "call_variants"),
    queue="qc",
    role="qc_gate",
    gate=QCGate(verdict=gate_verdict, checks=tuple(METRIC_LABELS)),
)
def qc(ctx: StageContext) -> StageResult:
    """QC metrics and the gate's verdict -> ``<sample>.qc.json`` (and ``bcftools stats``
    for the run's MultiQC report)."""
    reference = prepared_reference(ctx)
    vcf = ctx.one("call_variants").file(".vcf.gz")
    # The depth pass behind the coverage metrics also yields the report's coverage
    # profile: it goes in the summary so that ``report`` need not decode the CRAM again.
    aligned = alignment_metrics(ctx.one("markduplicates").file(".md.cram"), reference.fasta)
    metrics = compute_qc(alignment_result=aligned, vcf=vcf)
    write_bcftools_stats(vcf, ctx.out_dir, ctx.subject)
    reads = ctx.one("align").summary["fastq"]
    metrics = metrics.model_copy(
        update={
            "read_pairs": reads["records"] // 2,
            "q30_pct": reads["q30_pct"],
            "gc_pct": reads["gc_pct"],
        }
    )
    declared = {record.get("sex") for record in sample_records(ctx)}
    expected_sex = next((_SEX[s] for s in declared if s in _SEX), None)
    verdict = evaluate_gate(metrics, ctx.params, expected_sex=expected_sex)
    result = {
        "metrics": metrics.model_dump(mode="json"),
        "verdict": verdict.model_dump(mode="json"),
        "thresholds": ctx.params.model_dump(mode="json"),
    }
    (ctx.out_dir / f"{ctx.subject}.qc.json").write_text(json.dumps(result, indent=1))
    profile = [[b.contig, b.start, b.mean_depth] for b in aligned.coverage_profile]
    return StageResult(summary=result | {COVERAGE_PROFILE: profile}, tools=tool_versions())
