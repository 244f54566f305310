"""``pair_report`` and ``deliver_pair``: what the prescribing hospital receives of a pair.

``pair_report`` writes the pair's JSON and HTML reports (copy-number plot inline as SVG)
and its FHIR bundle (somatic genomic source class). ``deliver_pair`` publishes them with
the somatic VCF (and index) and the copy-number SEG file into
``outbox/<centre>/<tumour>_vs_<normal>/``.

``deliver_pair`` does not hold the pipeline's ``delivery`` role: that role (one stage per
pipeline) dates a *run's* turnaround by its samples' deliveries, and a pair may span two
runs; the sample's ``deliver`` keeps it.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime

from seqoia.genomics.copynumber import Segment, Window
from seqoia.genomics.identity import IdentityCheck
from seqoia.genomics.somatic_report import PairReport, passed_variants, write_pair_report
from seqoia.genomics.tmb import TumourBurden
from seqoia.tasks.registry import pipeline
from seqoia.tasks.stage import StageContext, StageResult

#: Files delivered besides the reports, by the upstream stage that made them.
DELIVERED = {
    "somatic": (".somatic.vcf.gz", ".somatic.vcf.gz.tbi"),
    "copy_number": (".cnv.seg", ".cnv.json"),
}


def _wanted(upstream: str, name: str) -> bool:
    return name.endswith(DELIVERED.get(upstream, ())) if upstream in DELIVERED else True


@pipeline.stage(
    "pair_report",
    kind="pair",
    needs=["somatic", "copy_number"],
    version="1",
    fetch=_wanted,
    queue="report",
)
def pair_report(ctx: StageContext) -> StageResult:
    """``<name>.report.json``, ``<name>.report.html`` and ``<name>.fhir.json``."""
    calls = ctx.one("somatic")
    summary = calls.summary
    pair = summary["pair"]
    cnv = json.loads(ctx.one("copy_number").file(".cnv.json").read_text())
    tools: dict[str, str] = {}
    for sets in ctx.inputs.values():
        for item in sets:
            tools.update(item.tools)
    report = PairReport(
        pair=ctx.subject,
        name=pair["name"],
        tumour=pair["tumour"],
        normal=pair["normal"],
        mode=summary["mode"],
        centre=pair["centre"],
        runs=tuple(summary["runs"]),
        identity=IdentityCheck.model_validate(summary["identity"]) if summary["identity"] else None,
        somatic=summary["somatic"],
        variants=tuple(
            passed_variants(calls.file(".somatic.vcf.gz"), pair["tumour"], pair["normal"])
        ),
        tmb=TumourBurden.model_validate(summary["tmb"]),
        segments=tuple(Segment.model_validate(s) for s in cnv["segments"]),
        tools=tools,
        reference=summary["reference"],
    )
    windows = [Window.model_validate(w) for w in cnv["windows"]]
    write_pair_report(ctx.out_dir, report, windows, issued=datetime.now(UTC))
    return StageResult(
        summary={
            "name": report.name,
            "mode": report.mode,
            "centre": report.centre,
            "variants": len(report.variants),
            "tmb_per_mb": report.tmb.per_mb,
        }
    )


@pipeline.stage(
    "deliver_pair",
    kind="pair",
    needs=["pair_report", "somatic", "copy_number"],
    version="1",
    publish=True,
    isolation="inline",
    fetch=_wanted,
    queue="report",
)
def deliver_pair(ctx: StageContext) -> StageResult:
    """Publish the pair's reports, somatic VCF and SEG into ``outbox/<centre>/<name>/``."""
    report = ctx.one("pair_report")
    paths = list(report.files.values())
    for stage, suffixes in DELIVERED.items():
        paths += [ctx.one(stage).file(suffix) for suffix in suffixes]
    for path in paths:
        shutil.copyfile(path, ctx.out_dir / path.name)
    centre, name = report.summary["centre"], report.summary["name"]
    return StageResult(
        summary={"centre": centre, "name": name, "mode": report.summary["mode"]},
        publish_to=f"{centre}/{name}",
    )
