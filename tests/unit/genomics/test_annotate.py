"""End to end on simulator output: reads carrying planted variants -> tiered report rows.

The demo's reference gets its genes, GFF3, ClinVar and gnomAD files from the annotation
simulator; the truth set gets the pathogenic stop-gain of demo sample 0 (SQA1 c.29G>A,
heterozygous) and a homozygous rare missense (SQC3 c.58C>T, a VUS in ClinVar, absent
from gnomAD); reads are simulated at 30x, aligned with mappy and called with bcftools.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pysam
import pytest

from seqoia.genomics.align import FastqPair, ReadGroup, align_sample
from seqoia.genomics.annotate import annotate_and_tier
from seqoia.genomics.known_variants import AssemblyMismatchError
from seqoia.genomics.reference import prepare_reference
from seqoia.genomics.simulate import (
    TruthVariant,
    simulate_reads,
    simulate_reference,
    simulate_variants,
)
from seqoia.genomics.simulate_annotation import (
    VUS_CODON,
    AnnotationFiles,
    demo_pathogenic_variant,
    plant_variants,
    simulate_annotation,
    write_gene_panel,
)
from seqoia.genomics.tiering import ReportedVariant, TieringParams
from seqoia.genomics.variants import call_variants
from tests.unit.genomics.annotation_fixture import write_vcf_gz


@dataclass(frozen=True)
class Case:
    folder: Path
    files: AnnotationFiles
    vcf: Path
    genes: tuple
    pathogenic: TruthVariant
    missense: TruthVariant


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Case:
    folder = tmp_path_factory.mktemp("annotate")
    reference = folder / "demo.fa"
    simulate_reference(reference, contigs={"chr1": 60_000, "chr2": 50_000}, seed=3)
    files, genes = simulate_annotation(reference, folder, seed=3)
    pathogenic = demo_pathogenic_variant(genes, reference, 0)
    sqc3 = genes[2]
    with pysam.FastaFile(str(reference)) as fasta:
        pos, ref, alt = sqc3.snv(VUS_CODON * 3 - 2, "T", fasta.fetch(sqc3.contig))
    missense = TruthVariant(sqc3.contig, pos, ref, alt, (1, 1))
    truth = plant_variants(simulate_variants(reference, seed=3), [pathogenic, missense])
    r1, r2 = folder / "S01_R1.fastq.gz", folder / "S01_R2.fastq.gz"
    simulate_reads(reference, truth, r1, r2, coverage=30, seed=3)
    prepared = prepare_reference(reference, folder / "prepared")
    group = ReadGroup(id="S01.L1", sample="S01", library="S01-lib", platform_unit="FC.1")
    bam = folder / "S01.bam"
    align_sample([FastqPair(r1=r1, r2=r2, read_group=group)], prepared, bam, threads=1)
    pysam.index(str(bam))
    vcf = folder / "S01.bcftools.vcf.gz"
    call_variants([bam], prepared, vcf, threads=1)
    return Case(folder, files, vcf, tuple(genes), pathogenic, missense)


def _run(case: Case, params: TieringParams, **kw: object) -> list[ReportedVariant]:
    f = case.files
    return annotate_and_tier(
        case.vcf, f.reference, f.gff3, kw.pop("panel", f.panel), f.clinvar, f.gnomad,  # type: ignore[arg-type]
        params, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def _at(rows: list[ReportedVariant], variant: TruthVariant) -> ReportedVariant:
    (row,) = [r for r in rows if (r.contig, r.pos, r.ref, r.alt) == (
        variant.contig, variant.pos, variant.ref, variant.alt)]  # fmt: skip
    return row


def test_the_planted_pathogenic_stop_gain_is_tier_1_with_its_names(case: Case) -> None:
    rows = _run(case, TieringParams())
    row = _at(rows, case.pathogenic)
    assert (row.gene, row.transcript, row.tier) == ("SQA1", "SQT00001", 1)
    assert row.hgvs_c == "SQT00001:c.29G>A" and row.hgvs_p == "p.(Trp10Ter)"
    assert row.hgvs_g == f"{row.contig}:g.{row.pos}G>A"
    assert row.consequence == "stop_gained" and row.zygosity == "heterozygous"
    assert row.clinvar_significance == "Pathogenic"
    assert row.clinvar_review_status == "criteria_provided,_multiple_submitters,_no_conflicts"
    assert row.population_af == pytest.approx(6.57895e-06, rel=1e-4)
    assert row.depth is not None and row.depth >= 10
    assert row.vaf is not None and 0.2 <= row.vaf <= 0.8
    assert rows[0].tier == 1  # sorted by tier first


def test_a_rare_homozygous_missense_is_tier_2_and_promoted_by_recessive_inheritance(
    case: Case,
) -> None:
    row = _at(_run(case, TieringParams()), case.missense)
    assert (row.gene, row.hgvs_c, row.hgvs_p) == ("SQC3", "SQT00003:c.58C>T", "p.(Arg20Cys)")
    assert (row.tier, row.zygosity, row.consequence) == (2, "homozygous", "missense")
    assert row.clinvar_significance == "Uncertain_significance" and row.population_af is None
    assert row.vaf is not None and row.vaf > 0.9
    promoted = _at(_run(case, TieringParams(inheritance="hom_recessive")), case.missense)
    assert (promoted.tier, promoted.promoted_by) == (1, "hom_recessive")


def test_only_panel_genes_are_reported_and_common_variants_are_not_tiered(case: Case) -> None:
    rows = _run(case, TieringParams())
    assert {r.gene for r in rows} <= {"SQA1", "SQB2", "SQC3", "SQD4"}
    assert all(r.tier == 1 or r.population_af is None or r.population_af < 0.01 for r in rows)
    only_sqa1 = write_gene_panel(
        [g for g in case.genes if g.symbol == "SQA1"], case.folder / "sqa1.tsv"
    )
    narrow = _run(case, TieringParams(), panel=only_sqa1)
    assert narrow and {r.gene for r in narrow} == {"SQA1"}


def test_secondary_findings_are_off_unless_configured(case: Case) -> None:
    sqc3 = write_gene_panel([g for g in case.genes if g.symbol == "SQC3"], case.folder / "q.tsv")
    sqa1 = write_gene_panel([g for g in case.genes if g.symbol == "SQA1"], case.folder / "sf.tsv")
    off = _run(case, TieringParams(), panel=sqc3, secondary_panel=sqa1)
    assert {r.gene for r in off} == {"SQC3"}
    on = _run(case, TieringParams(report_secondary_findings=True), panel=sqc3, secondary_panel=sqa1)
    secondary = [r for r in on if r.finding == "secondary"]
    assert [(r.gene, r.hgvs_p, r.tier) for r in secondary] == [("SQA1", "p.(Trp10Ter)", 1)]


def test_a_clinvar_file_of_another_assembly_is_refused(case: Case) -> None:
    other = write_vcf_gz(
        case.folder / "clinvar_grch37.vcf.gz",
        "##fileformat=VCFv4.1\n##reference=GRCh37\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n1\t100\t1\tA\tG\t.\t.\t.\n",
    )
    f = case.files
    with pytest.raises(AssemblyMismatchError, match=r"clinvar_grch37\.vcf\.gz:2: declares"):
        annotate_and_tier(case.vcf, f.reference, f.gff3, f.panel, other, f.gnomad, TieringParams())


def test_the_annotation_library_imports_nothing_of_the_store_engine_or_stages() -> None:
    import subprocess
    import sys

    code = (
        "import sys, seqoia.genomics.annotate, seqoia.genomics.simulate_annotation;"
        "print(' '.join(m for m in sys.modules if m.startswith('seqoia.')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "seqoia.genomics.annotate" in loaded
    forbidden = ("seqoia.storage", "seqoia.engine", "seqoia.tasks", "seqoia.settings")
    assert [m for m in loaded if m.startswith(forbidden)] == []
