"""Stable deliverable headers: scratch paths, dates and local reference paths go."""

from __future__ import annotations

from pathlib import Path

from seqoia.genomics.provenance import Provenance, stable_sam_header, stable_vcf_header

REF = Path("/scratch/attempt-7f3a/cache/prepared/ab12/genome.fa")
PROV = Provenance(reference_uri="refs/GRCh38/genome.fa", reference_sha256="ab" * 32, version="9.9")


def test_scrub_replaces_the_reference_and_keeps_basenames_of_other_paths() -> None:
    text = (
        f"markdup -T /scratch/attempt-7f3a/.markdup-lw1dcto5/md --reference {REF} "
        "/scratch/attempt-7f3a/in/S1.sorted.bam /scratch/attempt-7f3a/.call-jsmqt8o9 "
        "-a FORMAT/AD,INFO/AD"
    )
    assert PROV.scrub(text, REF) == (
        "markdup -T md --reference refs/GRCh38/genome.fa S1.sorted.bam .call -a FORMAT/AD,INFO/AD"
    )


def test_sam_header_gets_stable_ur_md5_and_a_seqoia_program_line() -> None:
    header = (
        "@HD\tVN:1.6\tSO:coordinate\n"
        f"@SQ\tSN:chr1\tLN:100\tM5:old\tUR:{REF}\n"
        "@PG\tID:samtools\tPN:samtools\t"
        "CL:/usr/bin/samtools sort -T /scratch/a1/.align-abcdefgh/x\n"
    )
    out = stable_sam_header(header, PROV, REF, {"chr1": "0" * 32})
    lines = out.splitlines()
    assert lines[1] == f"@SQ\tSN:chr1\tLN:100\tM5:{'0' * 32}\tUR:refs/GRCh38/genome.fa"
    assert lines[2] == "@PG\tID:samtools\tPN:samtools\tCL:samtools sort -T x"
    assert lines[3] == "@PG\tID:seqoia\tPN:seqoia\tVN:9.9\tPP:samtools"
    assert stable_sam_header(out, PROV, REF, {"chr1": "0" * 32}) == out  # idempotent


def test_vcf_header_loses_dates_and_paths_and_gains_source() -> None:
    header = (
        "##fileformat=VCFv4.2\n"
        f"##reference=file://{REF}\n"
        '##INFO=<ID=MQ,Number=1,Type=Integer,Description="Average mapping quality">\n'
        "##bcftools_callCommand=call -m -o /scratch/a1/.call-jsmqt8o9/job0.bcf -; "
        "Date=Wed Dec  2 19:43:45 2026\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\n"
    )
    lines = stable_vcf_header(header, PROV, REF).splitlines()
    assert lines[:4] == [
        "##fileformat=VCFv4.2",
        "##source=seqoia-9.9",
        "##reference=file:///refs/GRCh38/genome.fa",
        f"##referenceSha256={'ab' * 32}",
    ]
    assert '##INFO=<ID=MQ,Number=1,Type=Float,Description="Average mapping quality">' in lines
    assert "##bcftools_callCommand=call -m -o job0.bcf -" in lines
