"""Per-sample QC: metrics measured on a small simulated, aligned sample, and the gate."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import mappy
import pysam
import pytest

from seqoia.errors import FormatError, ToolError
from seqoia.genomics import qc
from seqoia.genomics.qc import QCMetrics, compute_qc
from seqoia.genomics.qc_gate import QCThresholds, evaluate_gate
from seqoia.genomics.simulate import (
    SimulationSummary,
    simulate_poor_sample,
    simulate_reads,
    simulate_reference,
    simulate_variants,
    write_truth_vcf,
)
from seqoia.tasks.delivery import _coverage_profile
from seqoia.tasks.quality import COVERAGE_PROFILE
from seqoia.tasks.stage import InputSet

COVERAGE = 12.0
# Thresholds scaled to the 12x test sample; the shape of the gate is what is tested.
SMALL = QCThresholds(min_mean_coverage=9.0, min_pct_20x=None, min_read_pairs=1000)


def _fastq(path: Path) -> Iterator[tuple[str, str, str]]:
    with gzip.open(path, "rt") as fh:
        while header := fh.readline():
            seq, _, qual = fh.readline().strip(), fh.readline(), fh.readline().strip()
            yield header[1:].split()[0], seq, qual


def _align(reference: Path, r1: Path, r2: Path, out_bam: Path) -> Path:
    """A minimal paired aligner (mappy), then fixmate, sort and markdup through pysam."""
    aligner = mappy.Aligner(str(reference), preset="sr")
    names = list(aligner.seq_names)
    header = {
        "HD": {"VN": "1.6", "SO": "unsorted"},
        "SQ": [{"SN": n, "LN": len(aligner.seq(n))} for n in names],
    }
    raw = out_bam.with_suffix(".raw.bam")
    with pysam.AlignmentFile(str(raw), "wb", header=header) as out:
        for (name, s1, q1), (_, s2, q2) in zip(_fastq(r1), _fastq(r2), strict=True):
            hits: dict[int, mappy.Alignment | None] = {1: None, 2: None}
            for h in aligner.map(s1, s2):
                if h.is_primary and hits[h.read_num] is None:
                    hits[h.read_num] = h
            pair = []
            for num, (seq, qual) in ((1, (s1, q1)), (2, (s2, q2))):
                a, h = pysam.AlignedSegment(out.header), hits[num]
                a.query_name, a.flag = name, 0x1 | (0x40 if num == 1 else 0x80)
                if h is None:
                    a.flag |= 0x4
                else:
                    left, right = h.q_st, len(seq) - h.q_en
                    if num == 2:  # mappy's pair mode gives read 2's q_st/q_en on its revcomp
                        left, right = right, left
                    if h.strand < 0:
                        a.flag |= 0x10
                        seq, qual, left, right = mappy.revcomp(seq), qual[::-1], right, left
                    a.reference_id, a.reference_start = names.index(h.ctg), h.r_st
                    clip = (f"{left}S" if left else "", f"{right}S" if right else "")
                    a.cigarstring = clip[0] + h.cigar_str + clip[1]
                    a.mapping_quality = h.mapq
                a.query_sequence = seq
                a.query_qualities = pysam.qualitystring_to_array(qual)
                pair.append(a)
            (a1, a2), (h1, h2) = pair, (hits[1], hits[2])
            for a, b in ((a1, a2), (a2, a1)):
                a.next_reference_id, a.next_reference_start = b.reference_id, b.reference_start
                a.flag |= (0x8 if b.is_unmapped else 0) | (0x20 if b.is_reverse else 0)
                if a.is_unmapped and not b.is_unmapped:
                    a.reference_id, a.reference_start = b.reference_id, b.reference_start
            if h1 and h2 and h1.ctg == h2.ctg and h1.strand != h2.strand:
                lo = min(a1.reference_start, a2.reference_start)
                hi = max(a1.reference_end, a2.reference_end)
                if hi - lo < 1000:
                    a1.flag, a2.flag = a1.flag | 0x2, a2.flag | 0x2
            out.write(a1)
            out.write(a2)
    fixed, ordered = out_bam.with_suffix(".fix.bam"), out_bam.with_suffix(".srt.bam")
    pysam.samtools.fixmate("-m", str(raw), str(fixed), catch_stdout=False)
    pysam.samtools.sort("-o", str(ordered), str(fixed), catch_stdout=False)
    pysam.samtools.markdup(str(ordered), str(out_bam), catch_stdout=False)
    pysam.samtools.index(str(out_bam))
    return out_bam


class Sample:
    def __init__(self, root: Path, name: str, summary: SimulationSummary, reference: Path):
        self.r1, self.r2 = root / f"{name}_R1.fq.gz", root / f"{name}_R2.fq.gz"
        self.summary, self.reference = summary, reference
        self.bam = root / f"{name}.md.bam"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("qc")
    ref = root / "ref.fa"
    simulate_reference(ref, contigs={"chr1": 60_000, "chr2": 40_000}, seed=11, sex_chromosomes=True)
    variants = simulate_variants(ref, seed=11, snv_rate=3e-3, sex="XY")
    vcf = write_truth_vcf(variants, root / "truth.vcf.gz", reference=ref)
    good = Sample(root, "good", None, ref)  # type: ignore[arg-type]
    good.summary = simulate_reads(
        ref, variants, good.r1, good.r2, coverage=COVERAGE, seed=11, sex="XY"
    )
    _align(ref, good.r1, good.r2, good.bam)
    dups = Sample(root, "dups", None, ref)  # type: ignore[arg-type]
    dups.summary = simulate_poor_sample(
        ref,
        variants,
        dups.r1,
        dups.r2,
        kind="high_duplicates",
        coverage=COVERAGE,
        seed=12,
        sex="XY",
    )
    _align(ref, dups.r1, dups.r2, dups.bam)
    return {"ref": ref, "vcf": vcf, "good": good, "dups": dups, "root": root}


def test_fastq_metrics_count_pairs_q30_and_gc_like_the_simulator(world: dict) -> None:
    good: Sample = world["good"]
    fq = qc.fastq_metrics([good.r1, good.r2])
    assert fq.records == 2 * good.summary.read_pairs
    assert fq.bases == good.summary.bases
    assert fq.q30_bases == good.summary.q30_bases
    assert fq.n_bases == good.summary.n_bases
    assert 35.0 < fq.gc_pct < 48.0


def test_fastq_metrics_name_the_line_of_a_truncated_record(tmp_path: Path) -> None:
    bad = tmp_path / "bad.fq"
    bad.write_text("@r1\nACGT\n+\nIIII\n@r2\nACGT\n+\n")
    with pytest.raises(FormatError, match="truncated") as err:
        qc.fastq_metrics([bad])
    assert err.value.line == 5 and err.value.file == str(bad)
    bad.write_text("@r1\nACGT\n+\nIIII\nr2\nACGT\n+\nIIII\n")
    with pytest.raises(FormatError, match="not a FASTQ record") as err:
        qc.fastq_metrics([bad])
    assert err.value.line == 5


def test_alignment_metrics_of_a_good_xy_sample_fall_in_expected_ranges(world: dict) -> None:
    good: Sample = world["good"]
    aln = qc.alignment_metrics(good.bam, good.reference, profile_bins=50)
    assert aln.total_reads == 2 * good.summary.read_pairs
    assert aln.mapped_reads / aln.total_reads > 0.97
    assert aln.properly_paired_reads / aln.total_reads > 0.95
    dup_pct = 100 * aln.duplicate_reads / aln.mapped_reads
    assert 0.5 < dup_pct < 4.0
    assert 335 <= aln.median_insert_size <= 365
    assert aln.region == "autosomes" and aln.region_bp == 100_000
    assert COVERAGE * 0.85 < aln.mean_coverage < COVERAGE
    assert aln.pct_at_least[1] > 99.0 and aln.pct_at_least[20] < 20.0
    assert aln.contig_mean_coverage["chrX"] / aln.mean_coverage == pytest.approx(0.5, abs=0.1)
    assert len(aln.coverage_profile) >= 50
    assert {b.contig for b in aln.coverage_profile} == {"chr1", "chr2", "chrX", "chrY"}


def test_depth_parsing_agrees_without_a_samtools_binary(world: dict, monkeypatch) -> None:
    good: Sample = world["good"]
    piped = qc.coverage_profile(good.bam, good.reference, bins=20)
    monkeypatch.setattr(qc.shutil, "which", lambda _name: None)
    assert qc.coverage_profile(good.bam, good.reference, bins=20) == piped
    # An independent count: samtools' own mean depth over chr2 (duplicates excluded).
    mean = float(pysam.samtools.coverage("-r", "chr2", str(good.bam)).splitlines()[1].split()[6])
    chr2 = [depth for contig, _, depth in piped if contig == "chr2"]
    assert sum(chr2) / len(chr2) == pytest.approx(mean, rel=0.02)


def test_qc_stage_profile_stands_for_the_report_stages_depth_pass(world: dict) -> None:
    """``qc`` records its depth pass's profile in its summary (JSON) and ``report`` draws
    that instead of a second depth pass: the two must be the same numbers."""
    good: Sample = world["good"]
    aln = qc.alignment_metrics(good.bam, good.reference)
    summary = json.loads(json.dumps({COVERAGE_PROFILE: [
        [b.contig, b.start, b.mean_depth] for b in aln.coverage_profile
    ]}))  # fmt: skip
    inputs = {
        "qc": InputSet("qc", "good", {}, summary),
        "markduplicates": InputSet("markduplicates", "good", {"x.md.cram": good.bam}, {}),
    }
    ctx = SimpleNamespace(one=lambda stage: inputs[stage])
    recorded = _coverage_profile(ctx, good.reference)  # type: ignore[arg-type]
    assert recorded == qc.coverage_profile(good.bam, good.reference)
    assert len(recorded) >= 50 and any(depth > 0 for _, _, depth in recorded)
    # An older qc generation without the profile: the report measures it from the CRAM.
    inputs["qc"] = InputSet("qc", "good", {}, {})
    assert _coverage_profile(ctx, good.reference) == recorded  # type: ignore[arg-type]
    inputs["markduplicates"] = InputSet("markduplicates", "good", {}, {})
    with pytest.raises(KeyError, match="md.cram"):
        _coverage_profile(ctx, good.reference)  # type: ignore[arg-type]


def test_bed_restricts_coverage_to_its_intervals(world: dict, tmp_path: Path) -> None:
    good: Sample = world["good"]
    bed = tmp_path / "targets.bed"
    bed.write_text("chr1\t1000\t2000\nchr1\t1500\t2500\nchrX\t0\t500\n")
    aln = qc.alignment_metrics(good.bam, good.reference, bed)
    assert aln.region == "targets.bed" and aln.region_bp == 2000
    bed.write_text("chr9\t1\t10\n")
    with pytest.raises(FormatError) as err:
        qc.alignment_metrics(good.bam, good.reference, bed)
    assert err.value.line == 1


def test_compute_qc_predicts_xy_and_the_gate_passes_a_good_sample(world: dict) -> None:
    good: Sample = world["good"]
    metrics = compute_qc(
        fastqs=[good.r1, good.r2],
        alignment=good.bam,
        reference_fasta=good.reference,
        vcf=world["vcf"],
    )
    assert metrics.read_pairs == good.summary.read_pairs
    assert metrics.chry_coverage_ratio == pytest.approx(0.5, abs=0.12)
    assert metrics.chrx_het_fraction == 0.0
    assert metrics.predicted_sex == "XY"
    assert 1.7 < metrics.ti_tv < 2.5
    assert metrics.snvs > 200 and metrics.indels > 0
    verdict = evaluate_gate(metrics, SMALL, expected_sex="XY")
    assert verdict.passed, verdict.failures
    assert {c.metric for c in verdict.checks} >= {"q30_pct", "duplicate_pct", "sex"}
    swapped = evaluate_gate(metrics, SMALL, expected_sex="XX")
    assert [f.metric for f in swapped.failures] == ["sex"]


def test_gate_fails_a_duplicated_sample_for_its_duplicates(world: dict) -> None:
    dups: Sample = world["dups"]
    metrics = compute_qc(
        fastqs=[dups.r1, dups.r2], alignment=dups.bam, reference_fasta=dups.reference
    )
    verdict = evaluate_gate(metrics, SMALL)
    assert not verdict.passed
    assert "duplicate_pct" in [f.metric for f in verdict.failures]
    failure = next(f for f in verdict.failures if f.metric == "duplicate_pct")
    assert failure.value > 35.0 and failure.threshold == "≤ 20.00"
    assert "misses" in failure.message


def test_gate_fails_noisy_and_shallow_samples_for_q30_and_coverage(
    world: dict, tmp_path: Path
) -> None:
    ref = world["ref"]
    r1, r2 = tmp_path / "n1.fq.gz", tmp_path / "n2.fq.gz"
    simulate_poor_sample(ref, [], r1, r2, kind="high_error", coverage=3, seed=1)
    noisy = evaluate_gate(compute_qc(fastqs=[r1, r2]), SMALL)
    assert [f.metric for f in noisy.failures] == ["q30_pct"]
    simulate_poor_sample(ref, [], r1, r2, kind="low_coverage", coverage=COVERAGE, seed=1)
    bam = _align(ref, r1, r2, tmp_path / "low.bam")
    shallow = evaluate_gate(compute_qc(alignment=bam, reference_fasta=ref), SMALL)
    assert [f.metric for f in shallow.failures] == ["mean_coverage"]


def test_unmeasured_metrics_are_reported_and_only_fail_when_required() -> None:
    metrics = QCMetrics(q30_pct=90.0, ti_tv=1.2)
    verdict = evaluate_gate(metrics)
    assert [f.metric for f in verdict.failures] == ["ti_tv"]
    assert any(c.metric == "mean_coverage" and c.passed is None for c in verdict.checks)
    strict = evaluate_gate(metrics, QCThresholds(fail_on_missing=True))
    assert "mean_coverage" in [f.metric for f in strict.failures]
    unknown = evaluate_gate(QCMetrics(predicted_sex="unknown"), expected_sex="XX")
    assert next(c for c in unknown.checks if c.metric == "sex").passed is None


def test_sex_prediction_from_dosage_and_chrx_heterozygosity() -> None:
    assert qc.predict_sex(1.0, 0.0) == "XX"
    assert qc.predict_sex(0.5, 0.5) == "XY"
    assert qc.predict_sex(0.5, 0.5, chrx_het_fraction=0.6) == "unknown"
    assert qc.predict_sex(1.0, 0.5) == "unknown"  # XXY-like dosage
    assert qc.predict_sex(None, None) is None


def test_a_file_that_is_not_an_alignment_raises_tool_error(world: dict) -> None:
    with pytest.raises(ToolError, match="samtools"):
        qc.alignment_metrics(world["vcf"], world["ref"])
    with pytest.raises(ToolError, match="depth"):
        qc.coverage_profile(world["vcf"], world["ref"])
