"""``call_variants``: germline SNVs and indels of one sample, normalised, bgzipped and indexed."""

from __future__ import annotations

from seqoia.genomics.ploidy import call_sex, estimate_sex
from seqoia.genomics.tools import tool_versions
from seqoia.genomics.variants import CallParams
from seqoia.genomics.variants import call_variants as call
from seqoia.tasks.alignment import stage_provenance
from seqoia.tasks.references import prepared_reference
from seqoia.tasks.registry import pipeline
from seqoia.tasks.runs import sample_records
from seqoia.tasks.stage import StageContext, StageResult


@pipeline.stage(
    "call_variants",
    kind="sample",
    needs=["validate_run", "markduplicates"],
    # 2: sex-aware ploidy on chrX/chrY, and a stable header (no scratch path or date)
    version="2",
    params=CallParams,
    reference=True,
    fetch=lambda upstream, name: upstream == "markduplicates",
    queue="call",
)
def call_variants(ctx: StageContext) -> StageResult:
    """bcftools mpileup | call | norm over the sample's CRAM -> ``<sample>.bcftools.vcf.gz``.

    The sample's sex sets chrX/chrY ploidy: the sample sheet's ``Sex`` when declared,
    otherwise the one predicted from read dosage on the sex chromosomes.
    """
    cram = ctx.one("markduplicates").file(".md.cram")
    reference = prepared_reference(ctx)
    declared = next(
        (r["sex"] for r in sample_records(ctx) if r.get("sex") in ("male", "female")), None
    )
    predicted = None if declared else estimate_sex(cram, reference)
    sex = call_sex(declared, predicted)
    stats = call(
        [cram],
        reference,
        ctx.out_dir / f"{ctx.subject}.bcftools.vcf.gz",
        threads=ctx.threads,
        params=ctx.params,
        # An explicit ploidy preset (1, GRCh38...) is the laboratory's choice: it wins.
        sexes={ctx.subject: sex} if ctx.params.ploidy == "2" else None,
        provenance=stage_provenance(ctx, reference.sha256),
    )
    summary = stats.model_dump(mode="json") | {
        "ti_tv": stats.ti_tv,
        "het_hom_ratio": stats.het_hom_ratio,
    }
    ploidy = {
        "sex": sex,
        "source": "declared" if declared else "predicted",
        "predicted": predicted,
        "sex_aware": ctx.params.ploidy == "2",  # else the --ploidy preset applied alone
    }
    return StageResult(summary={"variants": summary, "ploidy": ploidy}, tools=tool_versions())
