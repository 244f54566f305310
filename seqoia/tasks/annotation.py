"""``annotate``: a sample's variants named (HGVS), looked up (ClinVar, gnomAD) and tiered.

The stage reads the reference area's resources (``refs/<name>/genes.gff3``, optional
``clinvar.vcf.gz`` and ``gnomad.vcf.gz`` with their ``.tbi``, and ``panels/<panel>.txt``
or ``.bed``) and runs :func:`~seqoia.genomics.annotate.annotate_and_tier` on the sample's
calls. The panel comes from the sample sheet's ``Panel`` column, else from the centre's
default panel, else from ``default_panel``; a panel the reference area does not hold is a
permanent :class:`~seqoia.errors.InputError` naming the sample and the panel.

It also measures how well the panel's genes were covered (% of coding bases at >= 20x,
exons below 95 % named) in the sample's CRAM. Output: ``<sample>.variants.json`` (the
tiered variants, the panel and its coverage), and a summary with the panel and the
tier-1 variants, for status and the report.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pysam
from pydantic import Field

from seqoia.errors import InputError
from seqoia.genomics.annotate import annotate_and_tier
from seqoia.genomics.gene_coverage import panel_coverage
from seqoia.genomics.panels import read_panel
from seqoia.genomics.tiering import ReportedVariant, TieringParams
from seqoia.genomics.tools import tool_versions
from seqoia.genomics.transcripts import read_gff3
from seqoia.tasks.references import prepared_reference
from seqoia.tasks.registry import pipeline
from seqoia.tasks.runs import sample_centre, sample_records
from seqoia.tasks.stage import StageContext, StageResult

GFF3 = "genes.gff3"
CLINVAR = "clinvar.vcf.gz"
GNOMAD = "gnomad.vcf.gz"
PANELS = "panels/"
RESOURCES = (GFF3, f"{CLINVAR}?", f"{CLINVAR}.tbi?", f"{GNOMAD}?", f"{GNOMAD}.tbi?", PANELS)
PANEL_SUFFIXES = (".txt", ".tsv", ".bed", ".bed.gz")
CRAM = (".md.cram", ".md.cram.crai")
#: Tier-1 variants listed in the manifest summary (the full list is in the JSON file).
SUMMARY_TIER1 = 20


class AnnotateParams(TieringParams):
    """Tiering thresholds and the panel choice (a laboratory setting, per sample or run
    through ``seqoia reprocess --set annotate.<field>=...``)."""

    default_panel: str = Field(
        "demo", description="panel of samples whose sheet and centre name none"
    )
    centre_panels: dict[str, str] = Field(
        default_factory=dict, description="centre -> its default panel"
    )


def panel_name(ctx: StageContext, params: AnnotateParams) -> str:
    """The sample sheet's panel, else the centre's, else the default."""
    named = sorted({str(r["panel"]) for r in sample_records(ctx) if r.get("panel")})
    if len(named) > 1:
        raise InputError(f"sample {ctx.subject}: runs name different panels {named}")
    if named:
        return named[0]
    return params.centre_panels.get(sample_centre(ctx), params.default_panel)


def panel_file(ctx: StageContext, name: str) -> Path:
    """The panel's file among the stage's resources, or an InputError naming what exists."""
    for suffix in PANEL_SUFFIXES:
        path = ctx.resources.get(f"{PANELS}{name}{suffix}")
        if path is not None:
            return _beside(ctx, path, f"{PANELS}{name}{suffix}")
    known = sorted(n[len(PANELS) :].split(".", 1)[0] for n in ctx.resources if n.startswith(PANELS))
    raise InputError(
        f"sample {ctx.subject}: unknown panel {name!r} (the reference area holds: "
        f"{', '.join(known) or 'no panel'})",
        file=f"{PANELS}{name}.txt",
    )


def _beside(ctx: StageContext, path: Path, name: str) -> Path:
    """``path`` linked into scratch under its resource name (a .bed's type is its suffix)."""
    target = ctx.scratch / "resources" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        os.symlink(path.resolve(), target)
    return target


def _indexed_vcf(ctx: StageContext, name: str, header: str) -> Path:
    """A resource VCF with its index beside it (the cache keeps each file by its ETag);
    an empty VCF when the reference area has none, so no variant is found in it."""
    vcf, tbi = ctx.resources.get(name), ctx.resources.get(f"{name}.tbi")
    if vcf is not None:
        if tbi is None:
            raise InputError(f"{name} has no {name}.tbi beside it", file=name)
        _beside(ctx, tbi, f"{name}.tbi")
        return _beside(ctx, vcf, name)
    empty = ctx.scratch / "resources" / f"absent.{name}"
    empty.parent.mkdir(parents=True, exist_ok=True)
    lines = ["##fileformat=VCFv4.2", header, "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    with pysam.FastaFile(str(prepared_reference(ctx).fasta)) as fasta:
        contigs = [
            f"##contig=<ID={n},length={length}>"
            for n, length in zip(fasta.references, fasta.lengths, strict=True)
        ]
    text = "\n".join([lines[0], *contigs, *lines[1:]]) + "\n"
    with pysam.BGZFile(str(empty), "wb", index=None) as fh:  # type: ignore[arg-type]
        fh.write(text.encode())
    pysam.tabix_index(str(empty), preset="vcf", force=True)
    return empty


def _tier1(variants: list[ReportedVariant]) -> list[dict[str, Any]]:
    return [
        {"gene": v.gene, "hgvs_c": v.hgvs_c, "hgvs_p": v.hgvs_p, "zygosity": v.zygosity}
        for v in variants
        if v.tier == 1
    ][:SUMMARY_TIER1]


@pipeline.stage(
    "annotate",
    kind="sample",
    needs=["validate_run", "markduplicates", "call_variants"],
    version="1",
    params=AnnotateParams,
    reference=True,
    resources=RESOURCES,
    fetch=lambda upstream, name: upstream == "call_variants" or name.endswith(CRAM),
    queue="call",
)
def annotate(ctx: StageContext) -> StageResult:
    """Panel variants of ``<sample>.bcftools.vcf.gz`` with HGVS names and tiers."""
    params: AnnotateParams = ctx.params
    name = panel_name(ctx, params)
    panel = panel_file(ctx, name)
    if GFF3 not in ctx.resources:
        raise InputError(f"the reference area has no {GFF3}", file=GFF3)
    reference = prepared_reference(ctx).fasta
    gff3 = _beside(ctx, ctx.resources[GFF3], GFF3)
    clinvar = _indexed_vcf(
        ctx, CLINVAR, '##INFO=<ID=CLNSIG,Number=.,Type=String,Description="ClinVar">'
    )
    gnomad = _indexed_vcf(
        ctx, GNOMAD, '##INFO=<ID=AF,Number=A,Type=Float,Description="Allele frequency">'
    )
    tiering = TieringParams.model_validate(
        params.model_dump(include=set(TieringParams.model_fields))
    )
    calls = ctx.one("call_variants").file(".vcf.gz")
    variants = annotate_and_tier(
        calls, reference, gff3, panel, clinvar, gnomad, tiering, sample=None
    )
    model = read_gff3(gff3, reference)
    info = read_panel(panel, model)
    panel_json = {"name": info.name, "version": info.version, "genes": sorted(info.genes)}
    cram = ctx.one("markduplicates").file(".md.cram")
    coverage = panel_coverage(cram, reference, model, info.genes)
    out = {
        "sample": ctx.subject,
        "panel": panel_json,
        "panel_key": name,
        "coverage": [c.model_dump(mode="json") for c in coverage],
        "variants": [v.model_dump(mode="json") for v in variants],
    }
    (ctx.out_dir / f"{ctx.subject}.variants.json").write_text(json.dumps(out, indent=1))
    tiers = {str(t): sum(v.tier == t for v in variants) for t in (1, 2, 3)}
    return StageResult(
        summary={"panel": panel_json, "panel_key": name, "tiers": tiers, "tier1": _tier1(variants)},
        tools=tool_versions(),
    )
