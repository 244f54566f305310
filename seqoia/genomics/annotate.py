"""The clinical result of one sample: annotate its variants, keep the panel's, tier them.

:func:`annotate_and_tier` chains the pure pieces: the transcript model of the GFF3
(checked against the reference), the panel (checked against the GFF3), ClinVar and the
population VCF (checked against the reference's assembly), ``bcftools csq`` for
haplotype-aware consequences, HGVS names per transcript, and tiering. It reads files and
returns pydantic models; it knows nothing of the store.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pysam

from seqoia.errors import FormatError
from seqoia.genomics.csq import SEVERITY, Consequence, read_consequences, run_csq
from seqoia.genomics.hgvs import OrientedTranscript, hgvs_g
from seqoia.genomics.known_variants import ClinvarResource, PopulationResource
from seqoia.genomics.panels import Panel, read_panel
from seqoia.genomics.tiering import (
    ReportedVariant,
    Tier,
    TieringParams,
    Zygosity,
    base_tier,
    promote,
)
from seqoia.genomics.transcripts import Transcript, read_gff3

log = logging.getLogger(__name__)


def _zygosity(
    sample: pysam.libcbcf.VariantRecordSample, allele: int
) -> tuple[Zygosity, int | None]:
    """(zygosity of ALT ``allele``, haplotype index carrying it when phased)."""
    gt = tuple(a for a in (sample.get("GT") or ()) if a is not None)
    if allele not in gt:
        return "unknown", None
    if len(gt) == 1:
        return "hemizygous", None
    if all(a == allele for a in gt):
        return "homozygous", None
    phase = gt.index(allele) if sample.phased else None
    return "heterozygous", phase


def _depth_vaf(
    rec: pysam.VariantRecord, sample: pysam.libcbcf.VariantRecordSample, allele: int
) -> tuple[int | None, float | None]:
    ad = sample.get("AD") if "AD" in rec.format else None
    ad = tuple(x for x in ad if x is not None) if ad else None
    depth = sample.get("DP") if "DP" in rec.format else None
    if depth is None and ad:
        depth = sum(ad)
    if depth is None and "DP" in rec.header.info:
        depth = rec.info.get("DP")
    vaf = None
    if ad and len(ad) > allele and sum(ad) > 0:
        vaf = round(ad[allele] / sum(ad), 4)
    return (int(depth) if depth is not None else None), vaf


def _consequence_for(transcript: Transcript, consequences: list[Consequence], c: str) -> str:
    """bcftools' most severe term for ``transcript``, or where the c. name puts it."""
    terms = [q.most_severe for q in consequences if q.transcript == transcript.id]
    if terms:
        rank = {t: i for i, t in enumerate(SEVERITY)}
        return min(terms, key=lambda t: rank.get(t, len(SEVERITY)))
    position = c.split(":", 1)[1][2:]
    if any(sign in position.lstrip("-*") for sign in "+-"):
        return "intron"
    if position.startswith("-"):
        return "5_prime_utr"
    if position.startswith("*"):
        return "3_prime_utr"
    return "non_coding" if not transcript.is_coding else "coding_sequence"


@dataclass
class _Context:
    """What every allele of one VCF is annotated against."""

    panel: Panel
    secondary: Panel | None
    clinvar: ClinvarResource
    population: PopulationResource
    genome: pysam.FastaFile
    params: TieringParams
    oriented: dict[str, OrientedTranscript] = field(default_factory=dict)

    def orient(self, transcript: Transcript) -> OrientedTranscript:
        tx = self.oriented.get(transcript.id)
        if tx is None:
            tx = self.oriented[transcript.id] = OrientedTranscript(transcript, self.genome)
        return tx


@dataclass(frozen=True)
class _Call:
    """One ALT allele of one record, as the sample carries it."""

    contig: str
    pos: int
    ref: str
    alt: str
    zygosity: Zygosity
    haplotype: int | None
    depth: int | None
    vaf: float | None


def annotate_and_tier(
    vcf: Path,
    reference_fasta: Path,
    gff3: Path,
    panel: Path,
    clinvar: Path,
    gnomad: Path,
    params: TieringParams,
    *,
    secondary_panel: Path | None = None,
    sample: str | None = None,
    expected_assembly: str | None = None,
    use_binaries: bool | None = None,
) -> list[ReportedVariant]:
    """Annotate ``vcf`` and return its panel variants with HGVS names and tiers.

    ``sample`` picks a column of a multi-sample VCF (default: the first).
    ``expected_assembly`` names the reference's assembly for the resources' header check
    (default: the reference file's name). Rows come sorted by tier, then position.
    """
    model = read_gff3(gff3, reference_fasta)
    the_panel = read_panel(panel, model)
    secondary: Panel | None = None
    if params.report_secondary_findings and secondary_panel is not None:
        secondary = read_panel(secondary_panel, model)
    reported: list[ReportedVariant] = []
    with (
        ClinvarResource(clinvar, reference_fasta, expected_assembly) as clinvar_db,
        PopulationResource(gnomad, reference_fasta, expected_assembly) as population,
        pysam.FastaFile(str(reference_fasta)) as genome,
        tempfile.TemporaryDirectory(prefix="seqoia-csq-") as scratch,
    ):
        context = _Context(the_panel, secondary, clinvar_db, population, genome, params)
        annotated = run_csq(
            vcf, reference_fasta, gff3, Path(scratch) / "csq.vcf.gz", use_binaries=use_binaries
        )
        consequences = read_consequences(annotated)
        for call in _calls(annotated, vcf, sample, params):
            end = call.pos + len(call.ref) - 1
            key = (call.contig, call.pos, call.ref, call.alt)
            reported += _report(
                call,
                model.overlapping(call.contig, call.pos, end),
                consequences.get(key, []),
                context,
            )
    return sorted(promote(reported, params), key=lambda v: (v.tier, v.contig, v.pos, v.transcript))


def _calls(
    annotated: Path, vcf: Path, sample: str | None, params: TieringParams
) -> Iterator[_Call]:
    """The sample's non-reference ALT alleles that pass the filters of ``params``."""
    with pysam.VariantFile(str(annotated)) as vf:
        samples = list(vf.header.samples)
        if not samples:
            raise FormatError("has no sample column", file=str(vcf))
        if sample is not None and sample not in samples:
            raise FormatError(f"has no sample {sample!r}", file=str(vcf))
        column = sample or samples[0]
        for rec in vf:
            if params.pass_only and len(rec.filter) and "PASS" not in rec.filter:
                continue
            data = rec.samples[column]
            for allele, alt in enumerate(rec.alts or (), start=1):
                if alt.startswith("<") or alt == "*":
                    continue  # symbolic alleles have no sequence to name
                zygosity, haplotype = _zygosity(data, allele)
                if zygosity == "unknown":
                    continue
                depth, vaf = _depth_vaf(rec, data, allele)
                if depth is not None and depth < params.min_depth:
                    continue
                yield _Call(rec.chrom, rec.pos, rec.ref or "", alt, zygosity, haplotype, depth, vaf)


def _report(
    call: _Call,
    transcripts: list[Transcript],
    consequences: list[Consequence],
    context: _Context,
) -> list[ReportedVariant]:
    """One row per panel transcript the allele touches (none if it is not tiered)."""
    contig, pos, ref, alt = call.contig, call.pos, call.ref, call.alt
    clin = context.clinvar.lookup(contig, pos, ref, alt)
    af = context.population.allele_frequency(contig, pos, ref, alt)
    rows = []
    for transcript in transcripts:
        finding: Literal["primary", "secondary"]
        if context.panel.covers(contig, pos, transcript):
            finding = "primary"
        elif context.secondary is not None and context.secondary.covers(contig, pos, transcript):
            finding = "secondary"
        else:
            continue
        tx = context.orient(transcript)
        c = tx.hgvs_c(pos, ref, alt)
        # A starred consequence lies downstream of a stop or frameshift on the same
        # haplotype: the protein never gets there. Phase is only known for phased calls.
        mine = [
            q
            for q in consequences
            if q.transcript == transcript.id and not (q.starred and call.haplotype is not None)
        ]
        tier: Tier | None
        if finding == "secondary":
            tier = 1 if clin is not None and clin.is_pathogenic else None
        else:
            tier = base_tier(
                clinvar_pathogenic=clin is not None and clin.is_pathogenic,
                clinvar_benign=clin is not None and clin.is_benign,
                population_af=af,
                loss_of_function=any(q.is_loss_of_function for q in mine),
                missense=any(q.is_missense for q in mine),
                params=context.params,
            )
        if tier is None:
            continue
        rows.append(
            ReportedVariant(
                contig=contig,
                pos=pos,
                ref=ref,
                alt=alt,
                gene=transcript.gene,
                transcript=transcript.id,
                hgvs_c=c,
                hgvs_p=tx.hgvs_p(pos, ref, alt),
                hgvs_g=hgvs_g(context.genome, contig, pos, ref, alt),
                consequence=_consequence_for(transcript, consequences, c),
                zygosity=call.zygosity,
                depth=call.depth,
                vaf=call.vaf,
                clinvar_significance=clin.significance if clin else None,
                clinvar_review_status=clin.review_status if clin else None,
                population_af=float(f"{af:.6g}") if af is not None else None,  # float32 noise off
                tier=tier,
                finding=finding,
                haplotype=call.haplotype,
            )
        )
    return rows
