"""``call_variants``: germline SNVs and indels of one sample, normalised, bgzipped and indexed."""

from __future__ import annotations

from seqoia.genomics.tools import tool_versions
from seqoia.genomics.variants import CallParams
from seqoia.genomics.variants import call_variants as call
from seqoia.tasks.references import prepared_reference
from seqoia.tasks.registry import pipeline
from seqoia.tasks.stage import StageContext, StageResult


@pipeline.stage(
    "call_variants",
    kind="sample",
    needs=["markduplicates"],
    version="1",
    params=CallParams,
    reference=True,
    queue="call",
)
def call_variants(ctx: StageContext) -> StageResult:
    """bcftools mpileup | call | norm over the sample's CRAM -> ``<sample>.bcftools.vcf.gz``."""
    cram = ctx.one("markduplicates").file(".md.cram")
    stats = call(
        [cram],
        prepared_reference(ctx),
        ctx.out_dir / f"{ctx.subject}.bcftools.vcf.gz",
        threads=ctx.threads,
        params=ctx.params,
    )
    summary = stats.model_dump(mode="json") | {
        "ti_tv": stats.ti_tv,
        "het_hom_ratio": stats.het_hom_ratio,
    }
    return StageResult(summary={"variants": summary}, tools=tool_versions())
