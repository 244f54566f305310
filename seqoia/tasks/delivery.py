"""``report`` and ``deliver``: what the prescribing hospital receives.

``report`` writes the sample's JSON and HTML reports and its HL7 FHIR R4 bundle.
``deliver`` publishes them with the CRAM and the VCF (and their indexes) into
``outbox/<centre>/<sample>/``, the centre coming from the sample sheet. A sample that
failed the QC gate is delivered with a report that says so, never as passing.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime

from seqoia.genomics.fhir import build_fhir_bundle, reported_variants
from seqoia.genomics.qc import QCMetrics, coverage_profile
from seqoia.genomics.qc_gate import QCThresholds, QCVerdict
from seqoia.genomics.report import (
    build_report,
    file_checksum,
    write_report_html,
    write_report_json,
)
from seqoia.tasks.references import prepared_reference
from seqoia.tasks.registry import pipeline
from seqoia.tasks.runs import sample_centre
from seqoia.tasks.stage import StageContext, StageResult

#: The files of a delivery besides the reports, by the upstream stage that made them.
DELIVERED = {
    "markduplicates": (".md.cram", ".md.cram.crai"),
    "call_variants": (".bcftools.vcf.gz", ".bcftools.vcf.gz.tbi"),
}


def _delivered_files(ctx: StageContext):  # type: ignore[no-untyped-def]
    for stage, suffixes in DELIVERED.items():
        upstream = ctx.one(stage)
        for suffix in suffixes:
            yield upstream.file(suffix)


@pipeline.stage(
    "report",
    kind="sample",
    needs=["validate_run", "qc", "markduplicates", "call_variants"],
    version="1",
    reference=True,
    fetch=lambda upstream, name: upstream in DELIVERED,
    queue="report",
)
def report(ctx: StageContext) -> StageResult:
    """``<sample>.report.json``, ``<sample>.report.html`` and ``<sample>.fhir.json``."""
    qc = ctx.one("qc").summary
    metrics = QCMetrics.model_validate(qc["metrics"])
    verdict = QCVerdict.model_validate(qc["verdict"])
    thresholds = QCThresholds.model_validate(qc["thresholds"])
    calls = ctx.one("call_variants")
    tools: dict[str, str] = {}
    for sets in ctx.inputs.values():
        for item in sets:
            tools.update(item.tools)
    reference = prepared_reference(ctx)
    reference_info = {"name": ctx.reference_key or reference.fasta.name, "sha256": reference.sha256}
    files = [file_checksum(path) for path in _delivered_files(ctx)]
    report = build_report(
        sample=ctx.subject,
        runs=sorted(s.subject for s in ctx.inputs["validate_run"]),
        metrics=metrics,
        verdict=verdict,
        variant_stats=calls.summary.get("variants", {}),
        tools=tools,
        reference=reference_info,
        files=files,
        thresholds=thresholds,
    )
    write_report_json(ctx.out_dir / f"{ctx.subject}.report.json", report)
    profile = coverage_profile(ctx.one("markduplicates").file(".md.cram"), reference.fasta)
    write_report_html(ctx.out_dir / f"{ctx.subject}.report.html", report, profile)
    variants, total = reported_variants(calls.file(".vcf.gz"), sample=ctx.subject)
    bundle = build_fhir_bundle(
        sample=ctx.subject,
        metrics=metrics,
        verdict=verdict,
        variants=variants,
        files=files,
        reference=reference_info,
        issued=datetime.now(UTC),
        total_variants=total,
    )
    (ctx.out_dir / f"{ctx.subject}.fhir.json").write_text(json.dumps(bundle, indent=1))
    return StageResult(summary={"qc_passed": verdict.passed, "centre": sample_centre(ctx)})


@pipeline.stage(
    "deliver",
    kind="sample",
    needs=["validate_run", "report", "markduplicates", "call_variants"],
    version="1",
    publish=True,
    isolation="inline",
    queue="report",
    role="delivery",
)
def deliver(ctx: StageContext) -> StageResult:
    """Publish reports, CRAM and VCF into ``outbox/<centre>/<sample>/``."""
    for path in [*ctx.one("report").files.values(), *_delivered_files(ctx)]:
        shutil.copyfile(path, ctx.out_dir / path.name)
    centre = sample_centre(ctx)
    passed = bool(ctx.one("report").summary.get("qc_passed"))
    return StageResult(
        summary={"centre": centre, "qc_passed": passed},
        publish_to=f"{centre}/{ctx.subject}",
    )
