"""``align`` and ``markduplicates``: FASTQ of every lane and run of a sample -> one CRAM."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from seqoia.errors import InputError
from seqoia.genomics.align import FastqPair, ReadGroup, align_sample
from seqoia.genomics.markdup import mark_duplicates
from seqoia.genomics.provenance import Provenance
from seqoia.genomics.tools import tool_versions
from seqoia.tasks.references import prepared_reference
from seqoia.tasks.registry import pipeline
from seqoia.tasks.runs import sample_centre, sample_records
from seqoia.tasks.stage import InputSet, StageContext, StageResult


class AlignParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    aligner: Literal["mappy", "minimap2", "bwa"] = "mappy"
    max_insert_bp: int = 1000


def _current_parts(ctx: StageContext) -> list[InputSet]:
    """This sample's demultiplexed parts that their run's latest validation lists."""
    listed = {part for run in ctx.inputs["validate_run"] for part in run.summary["parts"]}
    return [demux for demux in ctx.inputs["demultiplex"] if demux.subject in listed]


def _fastq_pairs(ctx: StageContext, demux: InputSet, centre: str | None) -> list[FastqPair]:
    """Pair R1/R2 per lane of one part's FASTQ for this sample."""
    run = demux.summary["run"]
    part = demux.summary["part"]
    by_lane: dict[int, dict[str, Path]] = defaultdict(dict)
    for item in demux.summary.get("fastq", {}).get(ctx.subject, []):
        if item["name"] in demux.files:
            by_lane[item["lane"]][item["read"]] = demux.files[item["name"]]
    pairs = []
    for lane, reads in sorted(by_lane.items()):
        if "R1" not in reads or "R2" not in reads:
            raise InputError(
                f"sample {ctx.subject} lane {lane} has {sorted(reads)} but needs R1 and R2",
                run=run,
            )
        # One read group per lane, and per tile range when a lane was shared out.
        share = f".{part['share']}" if part["shares"] > 1 else ""
        group = ReadGroup(
            id=f"{run}.{lane}{share}",
            sample=ctx.subject,
            library=ctx.subject,
            platform_unit=f"{demux.summary.get('flowcell', run)}.{lane}",
            centre=centre,
        )
        pairs.append(FastqPair(r1=reads["R1"], r2=reads["R2"], read_group=group))
    return pairs


@pipeline.stage(
    "align",
    kind="sample",
    needs=["validate_run", "demultiplex"],
    version="1",
    params=AlignParams,
    reference=True,
    # A part's Undetermined reads belong to no sample: no aligner needs to download them.
    fetch=lambda upstream, name: (
        upstream == "demultiplex"
        and name.endswith(".fastq.gz")
        and not name.startswith("Undetermined")
    ),
    queue="align",
)
def align(ctx: StageContext) -> StageResult:
    """Align every lane of every run of the sample into one coordinate-sorted BAM."""
    pairs: list[FastqPair] = []
    for run_set, record in zip(ctx.inputs["validate_run"], sample_records(ctx), strict=True):
        if record.get("missing"):
            raise InputError(record["missing"], run=run_set.subject, file="SampleSheet.csv")
    centre = sample_centre(ctx)
    for demux in _current_parts(ctx):
        pairs.extend(_fastq_pairs(ctx, demux, centre))
    runs = ",".join(s.subject for s in ctx.inputs["validate_run"])
    if not pairs:
        raise InputError(f"no FASTQ files for sample {ctx.subject}", run=runs)
    reference = prepared_reference(ctx)
    # The FASTQ metrics are counted while the aligner reads the FASTQ: one read, not two.
    stats = align_sample(
        pairs,
        reference,
        ctx.out_dir / f"{ctx.subject}.sorted.bam",
        threads=ctx.threads,
        aligner=ctx.params.aligner,
        run=runs,
        max_insert_bp=ctx.params.max_insert_bp,
    )
    reads = stats.fastq
    return StageResult(
        summary={
            "align": stats.model_dump(mode="json", exclude={"fastq"}),
            "fastq": reads.model_dump(mode="json")
            | {"q30_pct": reads.q30_pct, "gc_pct": reads.gc_pct},
            "read_groups": [p.read_group.id for p in pairs],
        },
        tools=tool_versions(),
    )


@pipeline.stage(
    "markduplicates",
    kind="sample",
    needs=["align"],
    # 2: a stable header (reference store key in @SQ UR:, scratch-free @PG, seqoia's @PG)
    version="2",
    reference=True,
    queue="align",
)
def markduplicates(ctx: StageContext) -> StageResult:
    """Duplicate-marked, reference-compressed CRAM with its index."""
    bam = ctx.one("align").file(".sorted.bam")
    reference = prepared_reference(ctx)
    stats = mark_duplicates(
        bam,
        reference,
        ctx.out_dir / f"{ctx.subject}.md.cram",
        threads=ctx.threads,
        provenance=stage_provenance(ctx, reference.sha256),
    )
    return StageResult(
        summary={"markduplicates": stats.model_dump(mode="json")}, tools=tool_versions()
    )


def stage_provenance(ctx: StageContext, reference_sha256: str) -> Provenance:
    """How this stage's deliverables name the reference: its store key, never a local path."""
    uri = ctx.reference_key or (ctx.reference_fasta.name if ctx.reference_fasta else "genome.fa")
    return Provenance(reference_uri=uri, reference_sha256=reference_sha256)
