"""Germline variant calling over CRAMs, single-sample and joint."""

from __future__ import annotations

import shutil
from pathlib import Path

import pydantic
import pysam
import pytest

from seqoia.genomics.align import FastqPair, ReadGroup, align_sample
from seqoia.genomics.evaluate import evaluate_calls
from seqoia.genomics.markdup import mark_duplicates
from seqoia.genomics.variants import (
    CallParams,
    bcftools_version,
    call_variants,
    split_regions,
    summarise_vcf,
)

from .helpers import sample_data
from .test_markdup import marked


@pytest.mark.parametrize("use_binaries", [False, True], ids=["pysam", "bcftools-binary"])
def test_calls_find_the_planted_variants_with_good_precision(
    use_binaries: bool, tmp_path: Path
) -> None:
    if use_binaries and shutil.which("bcftools") is None:
        pytest.skip("bcftools program not installed")
    data = sample_data()
    cram, _ = marked(bool(shutil.which("samtools")))
    out = tmp_path / "S1.bcftools.vcf.gz"
    stats = call_variants([cram], data.reference, out, threads=2, use_binaries=use_binaries)
    assert Path(str(out) + ".tbi").exists()
    result = evaluate_calls(out, data.truth_vcf, data.reference.fasta)
    planted_snvs = sum(len(v.ref) == len(v.alt) for v in data.variants)
    assert result.snv.tp + result.snv.fn == planted_snvs
    assert result.snv.recall >= 0.95 and result.snv.precision >= 0.95
    assert result.indel.recall >= 0.85 and result.indel.precision >= 0.9
    assert result.snv_genotype.recall >= 0.9
    assert stats.snvs >= result.snv.tp and stats.indels >= result.indel.tp
    assert stats.het > 0 and stats.hom_alt > 0
    with pysam.VariantFile(str(out)) as vcf:
        assert list(vcf.header.samples) == ["S1"]
        assert all(len(r.alts) == 1 for r in vcf)  # split multi-allelics
        assert len(list(vcf.fetch("chrB"))) > 0  # indexed


def test_joint_calling_of_two_samples_gives_one_multi_sample_vcf(tmp_path: Path) -> None:
    data = sample_data()
    cram1, _ = marked(bool(shutil.which("samtools")))
    lane = data.pairs[1]
    group = ReadGroup(id="S2.1", sample="S2", library="LIB2", platform_unit="FC2.1")
    bam = tmp_path / "S2.bam"
    align_sample([FastqPair(r1=lane.r1, r2=lane.r2, read_group=group)], data.reference, bam,
                 threads=2)  # fmt: skip
    cram2 = tmp_path / "S2.md.cram"
    mark_duplicates(bam, data.reference, cram2, threads=2)
    out = tmp_path / "joint.vcf.gz"
    call_variants([cram1, cram2], data.reference, out, threads=2)
    with pysam.VariantFile(str(out)) as vcf:
        assert list(vcf.header.samples) == ["S1", "S2"]
        genotyped = sum(1 for r in vcf if r.samples["S2"]["GT"] not in ((None, None), (0, 0)))
    assert genotyped > 0.8 * len(data.variants)
    assert evaluate_calls(out, data.truth_vcf, data.reference.fasta, sample="S2").snv.recall > 0.9


def test_call_params_are_frozen_and_validated() -> None:
    params = CallParams()
    with pytest.raises(pydantic.ValidationError):
        params.min_mapq = 0  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError):
        CallParams(min_indel_fraction=2.0)
    assert "-B" in CallParams(baq=False).mpileup_args()
    assert CallParams(ploidy="1").call_args()[-2:] == ["--ploidy", "1"]


def test_illumina_indel_profile_is_asked_only_of_bcftools_that_has_it() -> None:
    newer = CallParams().mpileup_args((1, 24))
    assert newer[:2] == ["-X", "illumina-1.20"]  # first, so explicit options override it
    assert newer[2:] == CallParams().mpileup_args((1, 16))
    for args in (
        CallParams().mpileup_args((1, 19)),
        CallParams().mpileup_args(None),
        CallParams(illumina_profile=False).mpileup_args((1, 24)),
    ):
        assert "-X" not in args and "--indels-cns" not in args


def test_bcftools_version_is_read_from_pysam_and_from_the_program() -> None:
    import importlib

    pysam_text = importlib.import_module("pysam.version").__bcftools_version__
    major, minor = bcftools_version(None) or (0, 0)
    assert f"{major}.{minor}" == ".".join(pysam_text.split(".")[:2])
    assert bcftools_version("/nonexistent/bcftools") is None
    program = shutil.which("bcftools")
    if program:
        version = bcftools_version(program)
        assert version is not None and version >= (1, 0)


def test_calling_jobs_tile_every_contig_in_order_without_gaps_or_overlaps() -> None:
    data = sample_data()
    jobs = split_regions(data.reference, pieces=4)
    assert len(jobs) == 4
    lengths = []
    covered: dict[str, list[tuple[int, int]]] = {}
    for job in jobs:
        total = 0
        for region in job:
            chrom, span = region.split(":")
            start, end = map(int, span.split("-"))
            covered.setdefault(chrom, []).append((start, end))
            total += end - start + 1
        lengths.append(total)
    assert max(lengths) - min(lengths) <= 1
    assert list(covered) == [c.name for c in data.reference.contigs]
    for contig in data.reference.contigs:
        spans = covered[contig.name]
        assert spans[0][0] == 1 and spans[-1][1] == contig.length
        assert all(a[1] + 1 == b[0] for a, b in zip(spans, spans[1:], strict=False))


def test_summary_counts_transitions_and_genotypes(tmp_path: Path) -> None:
    vcf = tmp_path / "x.vcf"
    vcf.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=c,length=100>\n"
        '##FILTER=<ID=LowQual,Description="low">\n'
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="GT">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ts\n"
        "c\t1\t.\tA\tG\t50\tPASS\t.\tGT\t0/1\n"
        "c\t2\t.\tA\tC\t50\tPASS\t.\tGT\t1/1\n"
        "c\t3\t.\tC\tT\t50\t.\t.\tGT\t1/1\n"
        "c\t4\t.\tA\tAT\t50\tPASS\t.\tGT\t0/1\n"
        "c\t5\t.\tA\tT\t5\tLowQual\t.\tGT\t0/1\n"
    )
    stats = summarise_vcf(vcf)
    assert (stats.records, stats.passing, stats.snvs, stats.indels) == (5, 4, 3, 1)
    assert (stats.transitions, stats.transversions) == (2, 1)
    assert stats.ti_tv == 2.0 and (stats.het, stats.hom_alt) == (2, 2)
