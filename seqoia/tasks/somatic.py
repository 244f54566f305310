"""Pair stages: a tumour and its matched normal, from CRAMs to somatic calls and copy number.

    markduplicates (tumour) ─┐
    markduplicates (normal) ─┼─> somatic ─> copy_number ─> pair_report ─> deliver_pair
    validate_run (its runs) ─┘

``somatic`` is a fan-in over the pair's samples (``pair -> sample`` links) and runs (its
``validate_run`` summaries give the roles). It waits until the pair is whole: the
normal may come in a later run (:func:`seqoia.tasks.pairs.pair_waiting`). It checks
first that both samples share one germline (identity); a mismatch is an
:class:`~seqoia.errors.IdentityMismatchError` naming both samples, a permanent failure
that no retry repeats. Then the somatic calls (``<tumour>_vs_<normal>.somatic.vcf.gz``)
and the tumour mutational burden over the pair's callable territory (coding bases only
when the reference area has ``genes.gff3``). ``copy_number``
segments the tumour/normal depth ratio with the pileup's B-allele fractions. The pair's
stages do not tolerate a failed member: a pair cannot go on without its tumour or normal.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from seqoia.errors import IdentityMismatchError, InputError
from seqoia.genomics.copynumber import CopyNumberParams, Segment, Window, copy_number_segments
from seqoia.genomics.identity import genotype_concordance
from seqoia.genomics.somatic import SomaticParams, call_somatic
from seqoia.genomics.somatic_report import write_segments_tsv
from seqoia.genomics.tmb import (
    callable_mask,
    coding_territory,
    restrict_mask,
    tumour_mutational_burden,
)
from seqoia.genomics.tools import tool_versions
from seqoia.genomics.transcripts import read_gff3
from seqoia.tasks.pairs import PairMembers, pair_members, pair_waiting
from seqoia.tasks.references import prepared_reference
from seqoia.tasks.registry import pipeline
from seqoia.tasks.stage import StageContext, StageResult

#: The reference area's transcript model: TMB counts its coding bases when it is there,
#: and the whole callable genome (labelled so) when it is not.
GFF3 = "genes.gff3"


def members_of(ctx: StageContext) -> PairMembers:
    """The pair's members from the ``validate_run`` summaries of every run naming them."""
    return pair_members(ctx.subject, [s.summary for s in ctx.inputs["validate_run"]])


def _crams(ctx: StageContext, members: PairMembers) -> tuple[Path, Path | None]:
    found = {s.subject: s.file(".md.cram") for s in ctx.inputs["markduplicates"]}
    if members.tumour not in found:
        raise InputError(f"pair {ctx.subject}: no CRAM of tumour {members.tumour}")
    normal = found.get(members.normal) if members.normal is not None else None
    if members.normal is not None and normal is None:
        raise InputError(f"pair {ctx.subject}: no CRAM of normal {members.normal}")
    return found[members.tumour], normal


def _named(ctx: StageContext, path: Path, name: str) -> Path:
    """``path`` linked into scratch under its resource name (readers go by the suffix)."""
    target = ctx.scratch / "resources" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        target.symlink_to(path.resolve())
    return target


def _wants_cram(upstream: str, name: str) -> bool:
    return upstream != "markduplicates" or name.endswith((".md.cram", ".md.cram.crai"))


@pipeline.stage(
    "somatic",
    kind="pair",
    needs=["validate_run", "markduplicates"],
    version="1",
    params=SomaticParams,
    reference=True,
    fetch=_wants_cram,
    members_ready=lambda pair, upstream: pair_waiting(pair, upstream),
    resources=(f"{GFF3}?",),
    queue="call",
)
def somatic(ctx: StageContext) -> StageResult:
    """Identity check, then ``<tumour>_vs_<normal>.somatic.vcf.gz`` (+ .tbi) and the TMB."""
    members = members_of(ctx)
    tumour, normal = _crams(ctx, members)
    reference = prepared_reference(ctx)
    name = members.name
    vcf = ctx.out_dir / f"{name}.somatic.vcf.gz"
    pileup = ctx.out_dir / f"{name}.pileup.bcf"
    stats = call_somatic(
        tumour, normal, reference, vcf,
        tumour_name=str(members.tumour), normal_name=members.normal, params=ctx.params,
        tumour_only=members.tumour_only, keep_pileup=pileup,
    )  # fmt: skip
    identity: dict[str, Any] | None = None
    if members.normal is not None:
        # Decided before any result is kept: a swapped normal fails the pair for good.
        check = genotype_concordance(pileup, str(members.tumour), members.normal)
        if not check.passed:
            raise IdentityMismatchError(
                f"pair {ctx.subject}: identity check failed: {check.message}"
            )
        identity = check.model_dump(mode="json")
    coding = None
    if GFF3 in ctx.resources:
        gff3 = _named(ctx, ctx.resources[GFF3], GFF3)
        coding = coding_territory(read_gff3(gff3, reference.fasta))
    # The callable genome once; the coding TMB is the clinical figure when a transcript
    # model exists, and the genome-wide one stays beside it for comparison.
    callable_genome = callable_mask(tumour, normal, reference)
    genome_wide = tumour_mutational_burden(vcf, callable_genome, coding=False)
    burden = genome_wide
    if coding is not None:
        mask = restrict_mask(callable_genome, coding)
        burden = tumour_mutational_burden(vcf, mask, coding=True)
    summary = {
        "pair": members.model_dump(mode="json") | {"name": name},
        "mode": stats.mode,
        "identity": identity,
        "somatic": stats.model_dump(mode="json"),
        "tmb": burden.model_dump(mode="json"),
        "tmb_genome": genome_wide.model_dump(mode="json"),
        "reference": {"name": ctx.reference_key or "", "sha256": reference.sha256},
        "runs": sorted(s.subject for s in ctx.inputs["validate_run"]),
    }
    return StageResult(summary=summary, tools=tool_versions())


@pipeline.stage(
    "copy_number",
    kind="pair",
    needs=["somatic", "markduplicates"],
    version="1",
    params=CopyNumberParams,
    reference=True,
    fetch=lambda upstream, name: (
        name.endswith((".md.cram", ".md.cram.crai"))
        if upstream == "markduplicates"
        else name.endswith((".pileup.bcf", ".pileup.bcf.csi"))
    ),
    queue="call",
)
def copy_number(ctx: StageContext) -> StageResult:
    """``<name>.cnv.json`` (windows and segments) and ``<name>.cnv.seg`` (IGV's SEG)."""
    pair = ctx.one("somatic").summary["pair"]
    members = PairMembers.model_validate({k: v for k, v in pair.items() if k != "name"})
    name = members.name
    windows: list[Window] = []
    segments: list[Segment] = []
    tumour, normal = _crams(ctx, members)
    if normal is None:  # depth ratios need a normal
        note: str | None = "tumour-only: no copy-number analysis without a matched normal"
    else:
        windows, segments = copy_number_segments(
            tumour, normal, prepared_reference(ctx),
            pileup_bcf=ctx.one("somatic").file(".pileup.bcf"), params=ctx.params,
        )  # fmt: skip
        note = None
    (ctx.out_dir / f"{name}.cnv.json").write_text(
        json.dumps(
            {
                "pair": name,
                "note": note,
                "windows": [w.model_dump(mode="json") for w in windows],
                "segments": [s.model_dump(mode="json") for s in segments],
            }
        )
    )
    write_segments_tsv(ctx.out_dir / f"{name}.cnv.seg", name, segments)
    called = [s.model_dump(mode="json") for s in segments if s.call != "neutral"]
    return StageResult(
        summary={"segments": len(segments), "called": called, "note": note},
        tools=tool_versions(),
    )
