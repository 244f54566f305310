"""Run-level reports for the laboratory.

``demux_stats`` joins the parts' demultiplexing statistics into one
``Demultiplex_Stats.csv`` per run, as bcl2fastq and BCL Convert write it. ``multiqc``
gathers the QC of the run's samples into the MultiQC report laboratories already read.
"""

from __future__ import annotations

import json
import shutil

from pydantic import BaseModel, ConfigDict

from seqoia.illumina.demux_stats import DemuxStats
from seqoia.tasks.registry import pipeline
from seqoia.tasks.stage import StageContext, StageResult

_STATS = "demux_stats.json"


@pipeline.stage(
    "demux_stats",
    kind="run",
    needs=["validate_run", "demultiplex"],
    version="1",
    fetch=lambda upstream, name: name == _STATS,
    isolation="inline",
    queue="runs",
)
def demux_stats(ctx: StageContext) -> StageResult:
    """Counts per lane and sample, and top unknown barcodes, over every part of the run."""
    listed = ctx.one("validate_run").summary["parts"]
    stats = DemuxStats()
    merged = []
    for part in sorted(ctx.inputs["demultiplex"], key=lambda s: s.subject):
        if part.subject in listed and _STATS in part.files:
            stats.merge(DemuxStats.from_json(json.loads(part.files[_STATS].read_text())))
            merged.append(part.subject)
    if not merged:  # a run delivered as FASTQ: the instrument kept its own statistics
        return StageResult(summary={"parts": [], "reads": {}})
    stats.write_reports(ctx.out_dir)
    return StageResult(summary={"parts": merged, "reads": stats.reads_per_sample()})


class MultiQCParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    time_limit_s: float = 900


@pipeline.stage(
    "multiqc",
    kind="run",
    needs=["validate_run", "qc"],
    version="1",
    params=MultiQCParams,
    fetch=lambda upstream, name: name.endswith(".bcftools_stats.txt"),
    tolerate_failures=True,
    # MultiQC runs as its own process group under its own time limit: a child process
    # around it would only add a start-up per run.
    isolation="inline",
    queue="report",
)
def multiqc(ctx: StageContext) -> StageResult:
    """The run's MultiQC report over every sample that reached QC, naming those that did not.

    A sample that failed permanently (a corrupt FASTQ, a failed alignment) does not hold
    back the report: it is listed with its stage and reason. MultiQC is an optional extra;
    without it the stage commits a summary saying so (reprocess with ``--force`` once it
    is installed).
    """
    from seqoia.genomics import multiqc as report

    if not report.multiqc_available():
        return StageResult(summary={"skipped": f"MultiQC is not installed ({report.INSTALL_HINT})"})
    content = ctx.scratch / "multiqc-input"
    qc = {s.subject: s.summary for s in ctx.inputs["qc"]}
    excluded = [
        report.ExcludedSample(sample=e.subject, stage=e.failed_stage, reason=e.message)
        for e in ctx.excluded
    ]
    report.write_custom_content(content, run=ctx.subject, qc=qc, excluded=excluded)
    for sample in ctx.inputs["qc"]:
        for name, path in sample.files.items():
            shutil.copyfile(path, content / name)
    report.run_multiqc(
        content,
        ctx.out_dir,
        title=f"seqoia run {ctx.subject}",
        time_limit_s=ctx.params.time_limit_s,
    )
    return StageResult(
        summary={"samples": sorted(qc), "excluded": [e.model_dump() for e in excluded]},
        tools={"multiqc": _multiqc_version()},
    )


def _multiqc_version() -> str:
    from importlib.metadata import version

    return version("multiqc")
