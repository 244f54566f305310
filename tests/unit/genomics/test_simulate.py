"""The demo simulator: reference, truth set and reads are realistic enough and reproducible."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import mappy
import numpy as np
import pysam
import pysam.bcftools
import pytest

from seqoia.genomics.simulate import (
    ErrorProfile,
    simulate_poor_sample,
    simulate_reads,
    simulate_reference,
    simulate_variants,
    write_truth_vcf,
)

CONTIGS = {"chr1": 60_000, "chr2": 40_000}
NAME = re.compile(rb"^@A00123:42:HSIMFLOWX:1:\d{4}:\d+:\d+ [12]:N:0:ACGTACGT\+TTGCAGGA$")


@pytest.fixture(scope="module")
def genome(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ref = tmp_path_factory.mktemp("sim") / "ref.fa"
    simulate_reference(ref, contigs=CONTIGS, seed=7, sex_chromosomes=True)
    return ref


def _records(path: Path) -> list[tuple[bytes, bytes, bytes]]:
    with gzip.open(path, "rb") as fh:
        lines = fh.read().split(b"\n")
    return [(lines[i], lines[i + 1], lines[i + 3]) for i in range(0, len(lines) - 1, 4)]


def test_reference_has_sex_contigs_repeats_and_homopolymers(genome: Path) -> None:
    with pysam.FastaFile(str(genome)) as fasta:
        assert list(fasta.references) == ["chr1", "chr2", "chrX", "chrY"]
        assert list(fasta.lengths[:2]) == [60_000, 40_000]
        chr1 = fasta.fetch("chr1")
    gc = (chr1.count("G") + chr1.count("C")) / len(chr1)
    assert 0.33 < gc < 0.50
    assert re.search(r"A{10,}|C{10,}|G{10,}|T{10,}", chr1)
    # The interspersed element family makes some 40-mers occur more than once.
    kmers = [chr1[i : i + 40] for i in range(0, len(chr1) - 40, 7)]
    assert len(set(kmers)) < len(kmers)


def test_same_seed_gives_same_genome_and_variants(genome: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.fa"
    simulate_reference(again, contigs=CONTIGS, seed=7, sex_chromosomes=True)
    assert again.read_bytes() == genome.read_bytes()
    other = tmp_path / "other.fa"
    simulate_reference(other, contigs=CONTIGS, seed=8, sex_chromosomes=True)
    assert other.read_bytes() != genome.read_bytes()
    assert simulate_variants(genome, seed=3) == simulate_variants(genome, seed=3)
    assert simulate_variants(genome, seed=3) != simulate_variants(genome, seed=4)


def test_variants_are_normalised_sorted_and_match_the_reference(genome: Path) -> None:
    variants = simulate_variants(genome, seed=1, snv_rate=4e-3, indel_rate=1e-3)
    with pysam.FastaFile(str(genome)) as fasta:
        for prev, v in zip(variants, variants[1:], strict=False):
            if prev.contig == v.contig:
                assert v.pos > prev.end + 1
        for v in variants:
            assert fasta.fetch(v.contig, v.pos - 1, v.end) == v.ref
            if not v.is_snv:  # left-aligned: the anchor differs from the indel's last base
                indel = v.ref[1:] or v.alt[1:]
                assert v.ref[0] == v.alt[0] and v.ref[0] != indel[-1]
    snvs = [v for v in variants if v.is_snv]
    transitions = sum({v.ref, v.alt} in ({"A", "G"}, {"C", "T"}) for v in snvs)
    assert 1.7 < transitions / (len(snvs) - transitions) < 2.5
    autosomal = [v for v in variants if v.contig.startswith("chr") and v.contig[3:].isdigit()]
    het = sum(v.genotype != (1, 1) for v in autosomal) / len(autosomal)
    assert 0.55 < het < 0.70
    assert len(variants) - len(snvs) > 50


def test_sex_sets_ploidy_of_chrx_and_chry(genome: Path) -> None:
    xx = simulate_variants(genome, seed=1, snv_rate=4e-3, sex="XX")
    xy = simulate_variants(genome, seed=1, snv_rate=4e-3, sex="XY")
    assert not [v for v in xx if v.contig == "chrY"]
    assert any(v.genotype != (1, 1) for v in xx if v.contig == "chrX")
    assert [v for v in xy if v.contig == "chrY"]
    assert all(v.genotype == (1, 1) for v in xy if v.contig in ("chrX", "chrY"))


def test_truth_vcf_is_indexed_and_bcftools_finds_nothing_to_realign(
    genome: Path, tmp_path: Path
) -> None:
    variants = simulate_variants(genome, seed=2, snv_rate=2e-3, indel_rate=1e-3)
    vcf = write_truth_vcf(reversed(variants), tmp_path / "truth.vcf.gz", reference=genome)
    assert Path(str(vcf) + ".tbi").exists()
    with pysam.VariantFile(str(vcf)) as fh:
        records = list(fh.fetch("chr2"))
    expected = [v for v in variants if v.contig == "chr2"]
    assert [(r.pos, r.ref, r.alts[0]) for r in records] == [(v.pos, v.ref, v.alt) for v in expected]
    out = tmp_path / "norm.vcf"
    pysam.bcftools.norm("-f", str(genome), "-o", str(out), str(vcf), catch_stdout=False)
    with pysam.VariantFile(str(out)) as fh:
        normed = [(r.contig, r.pos, r.ref, r.alts[0]) for r in fh]
    assert normed == [(v.contig, v.pos, v.ref, v.alt) for v in variants]


def test_reads_are_deterministic_named_like_illumina_and_sized_by_coverage(
    genome: Path, tmp_path: Path
) -> None:
    variants = simulate_variants(genome, seed=5)
    paths = [tmp_path / n for n in ("a1.fq.gz", "a2.fq.gz", "b1.fq.gz", "b2.fq.gz")]
    s1 = simulate_reads(genome, variants, paths[0], paths[1], coverage=4, seed=9)
    s2 = simulate_reads(genome, variants, paths[2], paths[3], coverage=4, seed=9)
    assert s1 == s2
    r1, r2 = _records(paths[0]), _records(paths[1])
    assert r1 == _records(paths[2]) and r2 == _records(paths[3])
    # XX sample: chr1+chr2+chrX are diploid, chrY absent.
    diploid_bp = 60_000 + 40_000 + 15_000
    assert s1.read_pairs == round(4 * 2 * diploid_bp / (4 * 150))
    assert len(r1) == len(r2) == s1.read_pairs
    assert all(NAME.match(h) for h, _, _ in r1 + r2)
    assert len({h.split()[0] for h, _, _ in r1}) == len(r1)
    assert [h.split()[0] for h, _, _ in r1] == [h.split()[0] for h, _, _ in r2]
    assert all(len(s) == len(q) == 150 for _, s, q in r1)


def test_error_profile_q30_and_substitution_rate_match_the_truth(
    genome: Path, tmp_path: Path
) -> None:
    r1, r2 = tmp_path / "r1.fq.gz", tmp_path / "r2.fq.gz"
    summary = simulate_reads(genome, [], r1, r2, coverage=6, seed=3, sex="XY")
    quals = np.frombuffer(b"".join(q for _, _, q in _records(r1) + _records(r2)), np.uint8) - 33
    assert set(np.unique(quals).tolist()) <= {2, 12, 23, 37}  # NovaSeq binning
    q30 = float(np.mean(quals >= 30))
    assert q30 == pytest.approx(summary.q30_bases / summary.bases)
    assert 0.80 < q30 < 0.93
    # With no variants, every mismatch of a unique alignment is a sequencing error or an N.
    aligner = mappy.Aligner(str(genome), preset="sr")
    mismatches = aligned = 0
    for _, seq, _ in _records(r1)[:1500]:
        hits = [h for h in aligner.map(seq.decode()) if h.is_primary and h.mapq >= 30]
        if hits and hits[0].q_en - hits[0].q_st == 150 and "I" not in hits[0].cigar_str:
            mismatches += hits[0].NM
            aligned += 150
    observed = mismatches / aligned
    expected = (summary.substitution_errors + summary.n_bases) / summary.bases
    assert aligned > 1000 * 150
    assert expected == pytest.approx(observed, rel=0.3)
    assert 2e-4 < observed < 3e-3


def test_poor_samples_have_fewer_reads_worse_qualities_or_more_duplicates(
    genome: Path, tmp_path: Path
) -> None:
    args = (genome, [], tmp_path / "p1.fq.gz", tmp_path / "p2.fq.gz")
    good = simulate_reads(*args, coverage=5, seed=1)
    low = simulate_poor_sample(*args, kind="low_coverage", coverage=5, seed=1)
    noisy = simulate_poor_sample(*args, kind="high_error", coverage=5, seed=1)
    dups = simulate_poor_sample(*args, kind="high_duplicates", coverage=5, seed=1)
    assert low.read_pairs < good.read_pairs / 4
    assert noisy.q30_bases / noisy.bases < 0.5
    assert noisy.substitution_errors / noisy.bases > 5 * good.substitution_errors / good.bases
    assert dups.duplicate_pairs > 0.35 * dups.read_pairs
    assert good.duplicate_pairs < 0.05 * good.read_pairs


def test_error_profile_without_binning_reports_raw_qualities(genome: Path, tmp_path: Path) -> None:
    r1, r2 = tmp_path / "r1.fq.gz", tmp_path / "r2.fq.gz"
    profile = ErrorProfile(novaseq_binning=False, n_rate=0.0)
    simulate_reads(genome, [], r1, r2, coverage=1, seed=1, error_profile=profile)
    quals = np.frombuffer(b"".join(q for _, _, q in _records(r1)), np.uint8) - 33
    assert len(np.unique(quals)) > 10
    assert not any(b"N" in s for _, s, _ in _records(r1))
