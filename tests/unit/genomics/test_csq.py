"""bcftools csq: haplotype-aware consequences and reading its BCSQ field."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqoia.errors import FormatError
from seqoia.genomics.csq import parse_bcsq, read_consequences, run_csq
from tests.unit.genomics.mini_genome import write_mini_genome

HEADER = """##fileformat=VCFv4.2
##contig=<ID=chrT,length=200>
##contig=<ID=chrN,length=200>
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1
"""


def _vcf(folder: Path, rows: list[str]) -> Path:
    path = folder / "in.vcf"
    path.write_text(HEADER + "".join(row + "\n" for row in rows))
    return path


def test_parse_bcsq_splits_fields_stars_and_back_references() -> None:
    consequences, refs = parse_bcsq(
        [
            "*missense|GPLUS|TXP|protein_coding|+|20R>20C|125C>T",
            "splice_region|GPLUS|TXP|protein_coding",
            "@35",
        ]
    )
    assert refs == [35]
    first, second = consequences
    assert (first.consequence, first.starred, first.amino_acid_change) == (
        "missense",
        True,
        "20R>20C",
    )
    assert first.is_missense and not first.is_loss_of_function
    assert (second.consequence, second.dna_change, second.starred) == ("splice_region", "", False)


@pytest.mark.parametrize("use_binaries", [True, False], ids=["bcftools-program", "pysam"])
def test_two_snvs_in_one_codon_in_cis_are_one_missense_not_a_stop(
    tmp_path: Path, use_binaries: bool
) -> None:
    # Codon 19 is CAG (c.55-57, chrT 125-127). Alone, c.55C>T makes TAG (a stop); with
    # c.56A>C on the same haplotype the codon is TCG: Gln19Ser, no stop.
    fasta, gff = write_mini_genome(tmp_path)
    vcf = _vcf(
        tmp_path,
        ["chrT\t125\t.\tC\tT\t50\tPASS\t.\tGT\t1|0", "chrT\t126\t.\tA\tC\t50\tPASS\t.\tGT\t1|0"],
    )
    out = run_csq(vcf, fasta, gff, tmp_path / "csq.vcf.gz", use_binaries=use_binaries)
    found = read_consequences(out)
    first = [q.consequence for q in found[("chrT", 125, "C", "T")]]
    second = found[("chrT", 126, "A", "C")]
    assert first == ["missense"]
    assert [q.consequence for q in second] == ["missense"]  # through its @125 reference
    assert second[0].amino_acid_change == "19Q>19S"
    assert "125C>T+126A>C" in second[0].dna_change


def test_the_same_snvs_in_trans_are_a_stop_and_a_missense(tmp_path: Path) -> None:
    fasta, gff = write_mini_genome(tmp_path)
    vcf = _vcf(
        tmp_path,
        ["chrT\t125\t.\tC\tT\t50\tPASS\t.\tGT\t1|0", "chrT\t126\t.\tA\tC\t50\tPASS\t.\tGT\t0|1"],
    )
    found = read_consequences(run_csq(vcf, fasta, gff, tmp_path / "csq.vcf.gz"))
    stop = found[("chrT", 125, "C", "T")]
    assert [(q.consequence, q.amino_acid_change) for q in stop] == [("stop_gained", "19Q>19*")]
    assert stop[0].is_loss_of_function
    assert [q.amino_acid_change for q in found[("chrT", 126, "A", "C")]] == ["19Q>19P"]


def test_minus_strand_consequences_name_the_transcript_and_strand(tmp_path: Path) -> None:
    fasta, gff = write_mini_genome(tmp_path)
    # chrN 166 C>T is c.5G>A on TXM: TGG>TAG.
    vcf = _vcf(tmp_path, ["chrN\t166\t.\tC\tT\t50\tPASS\t.\tGT\t0/1"])
    found = read_consequences(run_csq(vcf, fasta, gff, tmp_path / "csq.vcf.gz"))
    (q,) = found[("chrN", 166, "C", "T")]
    assert (q.consequence, q.gene, q.transcript, q.strand) == ("stop_gained", "GMINUS", "TXM", "-")


@pytest.mark.parametrize("use_binaries", [True, False], ids=["bcftools-program", "pysam"])
def test_a_ref_mismatch_is_a_format_error_naming_the_vcf_and_position(
    tmp_path: Path, use_binaries: bool
) -> None:
    fasta, gff = write_mini_genome(tmp_path)
    vcf = _vcf(tmp_path, ["chrT\t125\t.\tG\tT\t50\tPASS\t.\tGT\t0/1"])  # chrT 125 is C
    with pytest.raises(FormatError, match=r"in\.vcf: REF does not match the reference at chrT:125"):
        run_csq(vcf, fasta, gff, tmp_path / "csq.vcf.gz", use_binaries=use_binaries)


def test_a_cds_phase_bcftools_rejects_is_a_format_error_naming_the_gff3(tmp_path: Path) -> None:
    fasta, gff = write_mini_genome(tmp_path)
    gff.write_text(gff.read_text().replace("\t121\t151\t.\t+\t1\t", "\t121\t151\t.\t+\t2\t"))
    vcf = _vcf(tmp_path, ["chrT\t125\t.\tC\tT\t50\tPASS\t.\tGT\t0/1"])
    with pytest.raises(FormatError, match=r"mini\.gff3: GFF3 assumption failed for transcript TXP"):
        run_csq(vcf, fasta, gff, tmp_path / "csq.vcf.gz")
