"""``report`` and ``deliver``: the preliminary clinical report, put up for a biologist's review.

``report`` builds the sample's :class:`~seqoia.genomics.clinical_report.ClinicalReport`
(status ``preliminary``) from the QC verdict, the tiered panel variants of ``annotate``,
the tools, the reference and the delivered files' checksums, and writes
``<sample>.clinical.json`` with its renderings, beside the QC report (``.report.json``,
``.report.html``) and its QC FHIR bundle. Its ``effective`` date is the run's completion
(the store's time of the run folder's marker, recorded by ``validate_run``), never the
wall clock, so the same inputs give the same bytes.

``deliver`` publishes the preliminary report into the **review area**
(``review/<centre>/<sample>/``), not the outbox: nothing reaches a hospital before a
biologist signs it off with ``seqoia release`` (see :mod:`seqoia.admin.release`), which
writes the final report, the CRAM and the VCF into the outbox. A sample that failed the QC
gate is therefore never put in the outbox by the pipeline.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from seqoia import __version__
from seqoia.errors import StageFailedError
from seqoia.genomics.clinical_files import write_clinical_files
from seqoia.genomics.clinical_report import (
    ClinicalReport,
    GeneCoverage,
    Laboratory,
    PanelInfo,
    ReferenceGenome,
)
from seqoia.genomics.fhir import build_fhir_bundle, reported_variants
from seqoia.genomics.qc import QCMetrics, coverage_profile
from seqoia.genomics.qc_gate import QCThresholds, QCVerdict
from seqoia.genomics.report import (
    build_report,
    file_checksum,
    write_report_html,
    write_report_json,
)
from seqoia.genomics.tiering import ReportedVariant
from seqoia.tasks.quality import COVERAGE_PROFILE
from seqoia.tasks.references import prepared_reference
from seqoia.tasks.registry import pipeline
from seqoia.tasks.runs import sample_centre
from seqoia.tasks.stage import StageContext, StageResult

#: The files a release delivers besides the reports, by the upstream stage that made them.
DELIVERED = {
    "markduplicates": (".md.cram", ".md.cram.crai"),
    "call_variants": (".bcftools.vcf.gz", ".bcftools.vcf.gz.tbi"),
}


class ReportParams(BaseModel):
    """The performing laboratory named on every report (a laboratory setting)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    laboratory_name: str = Field("SeqOIA demo laboratory", description="performer's name")
    laboratory_id: str = Field("750000000", description="performer's FINESS number")
    laboratory_address: str | None = None


def _delivered_files(ctx: StageContext) -> Iterator[Path]:
    for stage, suffixes in DELIVERED.items():
        upstream = ctx.one(stage)
        for suffix in suffixes:
            yield upstream.file(suffix)


def run_completion(ctx: StageContext) -> datetime:
    """When the sample's material was sequenced: its last run's completion."""
    times = [s.summary.get("completed_at") for s in ctx.inputs["validate_run"]]
    if not times or any(t is None for t in times):
        runs = ", ".join(s.subject for s in ctx.inputs["validate_run"])
        raise StageFailedError(
            f"validate_run of run {runs} recorded no completion time (committed before "
            "seqoia recorded it): reprocess validate_run",
            permanent=True,
        )
    return max(datetime.fromisoformat(str(t)) for t in times)


def _tools(ctx: StageContext) -> dict[str, str]:
    tools: dict[str, str] = {}
    for sets in ctx.inputs.values():
        for item in sets:
            tools.update(item.tools)
    return dict(sorted(tools.items()))


def _coverage_profile(ctx: StageContext, reference_fasta: Path) -> list[tuple[str, int, float]]:
    """The profile the ``qc`` stage measured; a depth pass of the CRAM for older ``qc``
    generations, which did not record it."""
    recorded = ctx.one("qc").summary.get(COVERAGE_PROFILE)
    if recorded is None:
        return coverage_profile(ctx.one("markduplicates").file(".md.cram"), reference_fasta)
    return [(str(contig), int(start), float(depth)) for contig, start, depth in recorded]


def _annotated(
    ctx: StageContext,
) -> tuple[PanelInfo | None, tuple[ReportedVariant, ...], tuple[GeneCoverage, ...]]:
    data = json.loads(ctx.one("annotate").file(".variants.json").read_text())
    coverage = tuple(GeneCoverage.model_validate(c) for c in data.get("coverage", []))
    panel = data.get("panel")
    info = (
        PanelInfo(name=panel["name"], version=panel["version"], genes=tuple(panel["genes"]))
        if panel
        else None
    )
    return info, tuple(ReportedVariant.model_validate(v) for v in data["variants"]), coverage


@pipeline.stage(
    "report",
    kind="sample",
    needs=["validate_run", "qc", "markduplicates", "call_variants", "annotate"],
    version="2",
    params=ReportParams,
    reference=True,
    fetch=lambda upstream, name: upstream in DELIVERED or upstream == "annotate",
    queue="report",
)
def report(ctx: StageContext) -> StageResult:
    """``<sample>.clinical.json`` (+ renderings), ``.report.json``/``.html``, ``.fhir.json``."""
    params: ReportParams = ctx.params
    qc = ctx.one("qc").summary
    metrics = QCMetrics.model_validate(qc["metrics"])
    verdict = QCVerdict.model_validate(qc["verdict"])
    thresholds = QCThresholds.model_validate(qc["thresholds"])
    calls = ctx.one("call_variants")
    tools = _tools(ctx)
    reference = prepared_reference(ctx)
    reference_name = ctx.reference_key or reference.fasta.name
    files = [file_checksum(path) for path in _delivered_files(ctx)]
    runs = sorted(s.subject for s in ctx.inputs["validate_run"])
    effective = run_completion(ctx)
    centre = sample_centre(ctx)
    panel, variants, coverage = _annotated(ctx)
    clinical = ClinicalReport(
        laboratory=Laboratory(
            name=params.laboratory_name,
            identifier=params.laboratory_id,
            address=params.laboratory_address,
        ),
        centre=centre,
        sample=ctx.subject,
        runs=tuple(runs),
        effective=effective,
        pipeline_version=__version__,
        tools=tools,
        reference=ReferenceGenome(name=reference_name, sha256=reference.sha256),
        panel=panel,
        qc=verdict,
        variants=variants,
        coverage=coverage,
        files=tuple(files),
    )
    write_clinical_files(clinical, ctx.out_dir)
    # The QC report and its bundle, as before the clinical report (the QC detail).
    qc_report = build_report(
        sample=ctx.subject,
        runs=runs,
        metrics=metrics,
        verdict=verdict,
        variant_stats=calls.summary.get("variants", {}),
        tools=tools,
        reference={"name": reference_name, "sha256": reference.sha256},
        files=files,
        thresholds=thresholds,
    )
    write_report_json(ctx.out_dir / f"{ctx.subject}.report.json", qc_report)
    profile = _coverage_profile(ctx, reference.fasta)
    write_report_html(ctx.out_dir / f"{ctx.subject}.report.html", qc_report, profile)
    found, total = reported_variants(calls.file(".vcf.gz"), sample=ctx.subject)
    bundle = build_fhir_bundle(
        sample=ctx.subject,
        metrics=metrics,
        verdict=verdict,
        variants=found,
        files=files,
        reference={"name": reference_name, "sha256": reference.sha256},
        issued=effective,
        total_variants=total,
    )
    (ctx.out_dir / f"{ctx.subject}.fhir.json").write_text(json.dumps(bundle, indent=1))
    return StageResult(
        summary={
            "qc_passed": verdict.passed,
            "centre": centre,
            "effective": effective.isoformat(),
            "tier1": sum(v.tier == 1 for v in variants),
        }
    )


@pipeline.stage(
    "deliver",
    kind="sample",
    needs=["validate_run", "report"],
    version="2",
    publish=True,
    publish_area="review",
    isolation="inline",
    queue="report",
    role="delivery",
)
def deliver(ctx: StageContext) -> StageResult:
    """Publish the preliminary reports into ``review/<centre>/<sample>/`` for sign-off."""
    for path in ctx.one("report").files.values():
        shutil.copyfile(path, ctx.out_dir / path.name)
    centre = sample_centre(ctx)
    passed = bool(ctx.one("report").summary.get("qc_passed"))
    return StageResult(
        summary={"centre": centre, "qc_passed": passed, "awaiting": "release"},
        publish_to=f"{centre}/{ctx.subject}",
    )
