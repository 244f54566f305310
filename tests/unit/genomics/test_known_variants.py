"""ClinVar and gnomAD lookups, and the refusal of resources from another assembly."""

from __future__ import annotations

from pathlib import Path

import pysam
import pytest

from seqoia.errors import FormatError
from seqoia.genomics.known_variants import (
    AssemblyMismatchError,
    ClinvarResource,
    PopulationResource,
    same_assembly,
)
from seqoia.genomics.simulate_annotation import PATHOGENIC_CODON, VUS_CODON
from tests.unit.genomics.annotation_fixture import annotated_reference, write_vcf_gz


def _lengths(reference: Path) -> dict[str, int]:
    with pysam.FastaFile(str(reference)) as fasta:
        return dict(zip(fasta.references, fasta.lengths, strict=True))


def test_clinvar_lookup_by_position_and_allele() -> None:
    data = annotated_reference()
    gene = data.genes[1]  # SQB2, minus strand
    seq = pysam.FastaFile(str(data.files.reference)).fetch(gene.contig)
    pos, ref, alt = gene.snv(PATHOGENIC_CODON * 3 - 1, "A", seq)
    assert (ref, alt) == ("C", "T")  # c.29G>A read on the forward strand
    with ClinvarResource(data.files.clinvar, data.files.reference, None) as clinvar:
        hit = clinvar.lookup(gene.contig, pos, ref, alt)
        assert hit is not None and hit.is_pathogenic and not hit.is_benign
        assert hit.significance == "Pathogenic"
        assert hit.review_status == "criteria_provided,_multiple_submitters,_no_conflicts"
        assert hit.genes == ("SQB2",)
        other = "A" if alt != "A" else "G"
        assert clinvar.lookup(gene.contig, pos, ref, other) is None  # same site, other allele
        assert clinvar.lookup(gene.contig, pos + 1, ref, alt) is None
        assert clinvar.lookup("chrY", 10, "A", "C") is None  # a contig ClinVar lacks
        vus = clinvar.lookup(gene.contig, *gene.snv(VUS_CODON * 3 - 2, "T", seq))
        assert vus is not None and vus.significance == "Uncertain_significance"


def test_population_af_per_allele() -> None:
    data = annotated_reference()
    gene = data.genes[0]
    seq = pysam.FastaFile(str(data.files.reference)).fetch(gene.contig)
    with PopulationResource(data.files.gnomad, data.files.reference, None) as gnomad:
        common = gnomad.allele_frequency(gene.contig, *gene.snv(75, "T", seq))
        rare = gnomad.allele_frequency(gene.contig, *gene.snv(29, "A", seq))
        absent = gnomad.allele_frequency(gene.contig, *gene.snv(58, "T", seq))
    assert common == pytest.approx(0.230263, rel=1e-5)
    assert rare == pytest.approx(6.57895e-06, rel=1e-5)
    assert absent is None


def _sites(
    reference: Path, *, contig_lines: list[str], extra: str = "", chrom: str = "chr1"
) -> str:
    return (
        "##fileformat=VCFv4.2\n"
        + extra
        + "".join(line + "\n" for line in contig_lines)
        + '##INFO=<ID=AF,Number=A,Type=Float,Description="AF">\n'
        + "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
        + f"{chrom}\t100\t.\tA\tG\t.\t.\tAF=0.1\n"
    )


def test_a_contig_of_another_length_is_refused_naming_file_and_line(tmp_path: Path) -> None:
    reference = annotated_reference().files.reference
    lengths = _lengths(reference)
    lines = [f"##contig=<ID=chr1,length={lengths['chr1'] + 1000}>"]
    path = write_vcf_gz(tmp_path / "grch37.vcf.gz", _sites(reference, contig_lines=lines))
    with pytest.raises(AssemblyMismatchError, match=r"grch37\.vcf\.gz:2: contig chr1 is 61000 bp"):
        PopulationResource(path, reference, None)


def test_contigs_named_another_way_are_refused(tmp_path: Path) -> None:
    reference = annotated_reference().files.reference
    lines = ["##contig=<ID=1,length=60000>", "##contig=<ID=2,length=50000>"]
    text = _sites(reference, contig_lines=lines, chrom="1")
    path = write_vcf_gz(tmp_path / "ensembl.vcf.gz", text)
    with pytest.raises(AssemblyMismatchError, match=r"ensembl\.vcf\.gz: none of its ##contig"):
        PopulationResource(path, reference, None)
    # The same without ##contig lines (as ClinVar writes it) is judged by its index.
    bare = write_vcf_gz(tmp_path / "clinvar.vcf.gz", _sites(reference, contig_lines=[], chrom="1"))
    with pytest.raises(AssemblyMismatchError, match=r"clinvar\.vcf\.gz: none of its contigs \(1\)"):
        ClinvarResource(bare, reference, None)


def test_a_declared_assembly_other_than_the_references_is_refused(tmp_path: Path) -> None:
    reference = annotated_reference().files.reference
    text = _sites(reference, contig_lines=[], extra="##reference=GRCh37\n")
    path = write_vcf_gz(tmp_path / "old.vcf.gz", text)
    with pytest.raises(AssemblyMismatchError, match=r"old\.vcf\.gz:2: declares ##reference=GRCh37"):
        ClinvarResource(path, reference, None)
    # Named as the reference's assembly (or a synonym of it), it is accepted.
    ClinvarResource(path, reference, "hg19").close()
    assert same_assembly("file:///refs/GRCh38.fa.gz", "hg38")
    assert not same_assembly("GRCh38", "GRCh37")


def test_an_unindexed_resource_is_a_format_error(tmp_path: Path) -> None:
    reference = annotated_reference().files.reference
    lengths = _lengths(reference)
    path = tmp_path / "plain.vcf.gz"
    text = _sites(reference, contig_lines=[f"##contig=<ID=chr1,length={lengths['chr1']}>"])
    with pysam.BGZFile(str(path), "wb", index=None) as fh:  # type: ignore[arg-type]
        fh.write(text.encode())
    with pytest.raises(FormatError, match=r"plain\.vcf\.gz: is not indexed"):
        PopulationResource(path, reference, None)


def test_a_contig_length_that_is_not_a_number_is_a_format_error(tmp_path: Path) -> None:
    """``int()`` would take "²" or "1_0"; a resource's header is checked, not trusted."""
    reference = annotated_reference().files.reference
    lines = ["##contig=<ID=chr1,length=6_0000>"]
    path = write_vcf_gz(tmp_path / "odd.vcf.gz", _sites(reference, contig_lines=lines))
    with pytest.raises(FormatError, match=r"odd\.vcf\.gz:2: ##contig chr1 has a length that"):
        PopulationResource(path, reference, None)


def test_a_missing_or_unreadable_allele_frequency(tmp_path: Path) -> None:
    """``AF=0.2,.``: the second allele has none (None, not a crash); a value that is not a
    number is a FormatError naming the file and the position."""
    reference = annotated_reference().files.reference
    seq = pysam.FastaFile(str(reference)).fetch("chr1", 99, 100)
    text = _sites(reference, contig_lines=[]).replace(
        "chr1\t100\t.\tA\tG\t.\t.\tAF=0.1\n", f"chr1\t100\t.\t{seq}\tG,T\t.\t.\tAF=0.2,.\n"
    )
    path = write_vcf_gz(tmp_path / "gaps.vcf.gz", text)
    with PopulationResource(path, reference, None) as gnomad:
        assert gnomad.allele_frequency("chr1", 100, seq, "G") == pytest.approx(0.2)
        assert gnomad.allele_frequency("chr1", 100, seq, "T") is None
    text = text.replace("AF=0.2,.", "AF=0.2,x").replace("Type=Float", "Type=String")
    bad = write_vcf_gz(tmp_path / "bad.vcf.gz", text)
    error = r"bad\.vcf\.gz: cannot read its record at chr1:100"
    with (
        PopulationResource(bad, reference, None) as gnomad,
        pytest.raises(FormatError, match=error),
    ):
        gnomad.allele_frequency("chr1", 100, seq, "T")
