"""Per-sample quality control: the metrics of a sample.

Metrics come from three places, each streamed: the FASTQ (read pairs, Q30, GC), the
duplicate-marked alignment (``samtools stats`` for mapping, pairing, duplicates and
insert size; one ``samtools depth -aa`` pass parsed in numpy chunks for coverage, the
sex-chromosome ratios and the coverage profile) and the VCF (``bcftools stats``:
SNV/indel counts, Ti/Tv, het/hom, chrX heterozygosity). samtools and bcftools run
in-process through pysam; a ``samtools`` binary on PATH is used for the depth stream
only because it can be piped rather than written to a scratch file.

This module measures the alignment and puts the three together (:func:`compute_qc`);
:mod:`seqoia.genomics.fastq_qc`, :mod:`seqoia.genomics.variant_qc` and
:mod:`seqoia.genomics.sex` hold the FASTQ, the VCF and the sex prediction.
:mod:`seqoia.genomics.qc_gate` compares the :class:`QCMetrics` with the laboratory's
thresholds.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pysam
from pydantic import BaseModel, ConfigDict

from seqoia.errors import FormatError, ToolError
from seqoia.genomics.fastq_qc import FastqMetrics, fastq_metrics
from seqoia.genomics.sex import PredictedSex, is_autosome, predict_sex, sex_coverage_ratios
from seqoia.genomics.variant_qc import VariantMetrics, variant_metrics

__all__ = [
    "AlignmentMetrics",
    "CoverageBin",
    "FastqMetrics",
    "PredictedSex",
    "QCMetrics",
    "VariantMetrics",
    "alignment_metrics",
    "compute_qc",
    "coverage_profile",
    "fastq_metrics",
    "predict_sex",
    "samtools_stats",
    "sex_coverage_ratios",
    "variant_metrics",
]

log = logging.getLogger(__name__)

#: Bytes of `samtools depth` output parsed at a time.
_CHUNK_BYTES = 16 << 20
_COVERAGE_LEVELS = (1, 10, 20, 30)


# -- alignment -------------------------------------------------------------------------


class CoverageBin(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    contig: str
    start: int  # 0-based
    mean_depth: float


class AlignmentMetrics(BaseModel):
    """``samtools stats`` numbers plus one depth pass (duplicates excluded)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    total_reads: int
    mapped_reads: int
    properly_paired_reads: int
    duplicate_reads: int
    median_insert_size: float | None
    mean_insert_size: float | None
    region: str  # "autosomes" or the BED's file name
    region_bp: int
    mean_coverage: float
    pct_at_least: dict[int, float]  # depth level -> % of region bases
    contig_lengths: dict[str, int]
    contig_mean_coverage: dict[str, float]
    coverage_profile: tuple[CoverageBin, ...] = ()


def _samtools_error(command: list[str], err: Exception) -> ToolError:
    return ToolError(command, getattr(err, "returncode", 1) or 1, str(err))


def samtools_stats(
    alignment: Path, reference_fasta: Path | None = None, *, threads: int = 1
) -> dict[str, float]:
    """``samtools stats`` SN numbers keyed by their label, plus ``insert size median``."""
    args = ["-@", str(max(0, threads - 1))]
    args += ["--reference", str(reference_fasta)] if reference_fasta else []
    args.append(str(alignment))
    try:
        text = str(pysam.samtools.stats(*args))
    except pysam.utils.SamtoolsError as err:
        raise _samtools_error(["samtools", "stats", *args], err) from err
    summary: dict[str, float] = {}
    sizes, pairs = [], []
    for line in text.splitlines():
        if line.startswith("SN\t"):
            label, value = line.split("\t")[1:3]
            summary[label.rstrip(":")] = float(value)
        elif line.startswith("IS\t"):
            fields = line.split("\t")
            sizes.append(int(fields[1]))
            pairs.append(int(fields[2]))
    if pairs and sum(pairs):
        cumulative = np.cumsum(pairs)
        summary["insert size median"] = float(
            sizes[int(np.searchsorted(cumulative, cumulative[-1] / 2))]
        )
    return summary


def _depth_stream(
    alignment: Path, reference_fasta: Path, min_mapq: int, scratch: Path
) -> Iterator[bytes]:
    """Chunks of ``samtools depth -aa`` output, piped from a binary or via a scratch file."""
    args = ["-aa", "-Q", str(min_mapq), "--reference", str(reference_fasta)]
    binary = shutil.which("samtools")
    if binary:
        command = [binary, "depth", *args, str(alignment)]
        # stderr goes to a file: a pipe nobody reads would block samtools once it fills.
        with (
            tempfile.TemporaryFile(dir=scratch) as errors,
            subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors) as proc,
        ):
            assert proc.stdout is not None
            while chunk := proc.stdout.read(_CHUNK_BYTES):
                yield chunk
            if proc.wait():
                errors.seek(0)
                raise ToolError(command, proc.returncode, errors.read().decode(errors="replace"))
        return
    out = scratch / "depth.tsv"
    try:
        pysam.samtools.depth(*args, "-o", str(out), str(alignment), catch_stdout=False)
    except pysam.utils.SamtoolsError as err:
        raise _samtools_error(["samtools", "depth", *args, str(alignment)], err) from err
    with open(out, "rb") as fh:
        while chunk := fh.read(_CHUNK_BYTES):
            yield chunk


def _parse_depths(data: bytes) -> np.ndarray:
    """Third column of complete ``contig\\tpos\\tdepth`` lines, vectorised."""
    arr = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(arr == 10)
    tabs = np.flatnonzero(arr == 9)[1::2]
    if len(tabs) != len(ends):
        raise FormatError("samtools depth output is not three columns")
    width = ends - tabs - 1
    value = np.zeros(len(ends), dtype=np.int64)
    for k in range(int(width.max()) if len(width) else 0):
        idx = np.minimum(tabs + 1 + k, ends)
        digit = arr[idx].astype(np.int64) - 48
        value = np.where(k < width, value * 10 + digit, value)
    return value


def _read_bed(bed: Path, contigs: dict[str, int]) -> dict[str, np.ndarray]:
    """BED intervals per contig as an (n, 2) array of merged, sorted [start, end)."""
    raw: dict[str, list[tuple[int, int]]] = {}
    with open(bed) as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            fields = line.split("\t")
            try:
                contig, start, end = fields[0], int(fields[1]), int(fields[2])
            except (IndexError, ValueError) as err:
                raise FormatError("not a BED line", file=str(bed), line=line_no) from err
            if contig not in contigs or not 0 <= start <= end:
                raise FormatError(f"bad interval on {contig!r}", file=str(bed), line=line_no)
            raw.setdefault(contig, []).append((start, min(end, contigs[contig])))
    merged: dict[str, np.ndarray] = {}
    for contig, intervals in raw.items():
        out: list[list[int]] = []
        for start, end in sorted(intervals):
            if out and start <= out[-1][1]:
                out[-1][1] = max(out[-1][1], end)
            else:
                out.append([start, end])
        merged[contig] = np.array(out, dtype=np.int64).reshape(-1, 2)
    return merged


class _DepthAccumulator:
    """Folds depth values, in genome order, into region and per-contig summaries."""

    def __init__(self, contigs: dict[str, int], bed: dict[str, np.ndarray] | None, bins: int):
        self.names = list(contigs)
        self.lengths = np.array(list(contigs.values()), dtype=np.int64)
        self.starts = np.r_[0, np.cumsum(self.lengths)]
        self.bed = bed
        self.bin_bp = max(1, int(np.ceil(self.starts[-1] / max(1, bins))))
        nbins = -(-self.lengths // self.bin_bp)
        self.bin_offsets = np.r_[0, np.cumsum(nbins)]
        self.bin_sums = np.zeros(int(self.bin_offsets[-1]), dtype=np.float64)
        self.contig_sums = np.zeros(len(self.names), dtype=np.int64)
        self.region_bp = 0
        self.region_sum = 0
        self.at_least = np.zeros(len(_COVERAGE_LEVELS), dtype=np.int64)
        self.cursor = 0

    def add(self, depths: np.ndarray) -> None:
        lo = self.cursor
        self.cursor += len(depths)
        if self.cursor > self.starts[-1]:
            raise FormatError("samtools depth reported more positions than the reference has")
        first = int(np.searchsorted(self.starts, lo, side="right")) - 1
        for c in range(first, len(self.names)):
            c_lo, c_hi = max(lo, self.starts[c]), min(self.cursor, self.starts[c + 1])
            if c_lo >= c_hi:
                break
            d = depths[c_lo - lo : c_hi - lo]
            local = np.arange(c_lo - self.starts[c], c_hi - self.starts[c])
            self.contig_sums[c] += int(d.sum())
            self.bin_sums += np.bincount(
                local // self.bin_bp + self.bin_offsets[c], weights=d, minlength=len(self.bin_sums)
            )
            if self.bed is not None:
                d = d[self._mask(self.names[c], int(local[0]), len(local))]
            elif not is_autosome(self.names[c]):
                continue
            self.region_bp += len(d)
            self.region_sum += int(d.sum())
            self.at_least += [int(np.count_nonzero(d >= level)) for level in _COVERAGE_LEVELS]

    def _mask(self, contig: str, start: int, length: int) -> np.ndarray:
        assert self.bed is not None
        diff = np.zeros(length + 1, dtype=np.int64)
        for s, e in self.bed.get(contig, np.empty((0, 2), dtype=np.int64)):
            s, e = max(s - start, 0), min(e - start, length)
            if s < e:
                diff[s] += 1
                diff[e] -= 1
        return np.cumsum(diff[:-1]) > 0

    def profile(self) -> tuple[CoverageBin, ...]:
        out = []
        for c, name in enumerate(self.names):
            for b in range(int(self.bin_offsets[c]), int(self.bin_offsets[c + 1])):
                start = (b - int(self.bin_offsets[c])) * self.bin_bp
                width = min(self.bin_bp, int(self.lengths[c]) - start)
                out.append(
                    CoverageBin(contig=name, start=start, mean_depth=self.bin_sums[b] / width)
                )
        return tuple(out)


def _depth_pass(
    alignment: Path, reference_fasta: Path, bed: Path | None, bins: int, min_mapq: int
) -> _DepthAccumulator:
    with pysam.FastaFile(str(reference_fasta)) as fasta:
        contigs = dict(zip(fasta.references, fasta.lengths, strict=True))
    acc = _DepthAccumulator(contigs, _read_bed(bed, contigs) if bed else None, bins)
    with tempfile.TemporaryDirectory(prefix="seqoia-depth-") as scratch:
        leftover = b""
        for chunk in _depth_stream(alignment, reference_fasta, min_mapq, Path(scratch)):
            data = leftover + chunk
            cut = data.rfind(b"\n") + 1
            acc.add(_parse_depths(data[:cut]))
            leftover = data[cut:]
    if leftover.strip() or acc.cursor != acc.starts[-1]:
        raise FormatError(
            f"samtools depth covered {acc.cursor} of {int(acc.starts[-1])} reference positions",
            file=str(alignment),
        )
    return acc


def alignment_metrics(
    alignment: Path,
    reference_fasta: Path,
    bed: Path | None = None,
    *,
    profile_bins: int = 400,
    min_mapq: int = 0,
    threads: int = 1,
) -> AlignmentMetrics:
    """Mapping, pairing, duplicate, insert-size and coverage metrics of a BAM or CRAM.

    Coverage excludes duplicates, secondary and QC-failed reads (samtools depth's
    defaults) and counts the autosomes only (so that a haploid chrX does not fail an XY
    sample) or, with ``bed``, the BED's bases; the profile and the per-contig means
    always span the whole reference.
    """
    stats = samtools_stats(alignment, reference_fasta, threads=threads)
    acc = _depth_pass(Path(alignment), Path(reference_fasta), bed, profile_bins, min_mapq)
    region_bp = acc.region_bp
    return AlignmentMetrics(
        total_reads=int(stats.get("raw total sequences", 0)),
        mapped_reads=int(stats.get("reads mapped", 0)),
        properly_paired_reads=int(stats.get("reads properly paired", 0)),
        duplicate_reads=int(stats.get("reads duplicated", 0)),
        median_insert_size=stats.get("insert size median"),
        mean_insert_size=stats.get("insert size average") or None,
        region=Path(bed).name if bed else "autosomes",
        region_bp=region_bp,
        mean_coverage=acc.region_sum / region_bp if region_bp else 0.0,
        pct_at_least={
            level: 100.0 * int(n) / region_bp if region_bp else 0.0
            for level, n in zip(_COVERAGE_LEVELS, acc.at_least, strict=True)
        },
        contig_lengths={name: int(acc.lengths[c]) for c, name in enumerate(acc.names)},
        contig_mean_coverage={
            name: float(acc.contig_sums[c] / acc.lengths[c]) for c, name in enumerate(acc.names)
        },
        coverage_profile=acc.profile(),
    )


def coverage_profile(
    alignment: Path, reference_fasta: Path, *, bins: int = 400, min_mapq: int = 0
) -> list[tuple[str, int, float]]:
    """``(contig, bin_start, mean_depth)`` over about ``bins`` equal bins of the genome."""
    acc = _depth_pass(Path(alignment), Path(reference_fasta), None, bins, min_mapq)
    return [(b.contig, b.start, b.mean_depth) for b in acc.profile()]


# -- metrics and gate ------------------------------------------------------------------


class QCMetrics(BaseModel):
    """Everything the gate and the reports look at; None where it was not measured."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    read_pairs: int | None = None
    q30_pct: float | None = None
    gc_pct: float | None = None
    mapped_pct: float | None = None
    properly_paired_pct: float | None = None
    duplicate_pct: float | None = None
    median_insert_size: float | None = None
    coverage_region: str | None = None
    mean_coverage: float | None = None
    pct_10x: float | None = None
    pct_20x: float | None = None
    pct_30x: float | None = None
    snvs: int | None = None
    indels: int | None = None
    ti_tv: float | None = None
    het_hom_ratio: float | None = None
    chrx_coverage_ratio: float | None = None
    chry_coverage_ratio: float | None = None
    chrx_het_fraction: float | None = None
    predicted_sex: PredictedSex | None = None


def compute_qc(
    *,
    fastqs: Sequence[Path] = (),
    paired: bool = True,
    alignment: Path | None = None,
    reference_fasta: Path | None = None,
    vcf: Path | None = None,
    bed: Path | None = None,
    alignment_result: AlignmentMetrics | None = None,
    threads: int = 1,
) -> QCMetrics:
    """Measure what the given files allow; pass ``alignment_result`` to reuse a depth pass."""
    values: dict[str, object] = {}
    if fastqs:
        fq = fastq_metrics(fastqs)
        values.update(
            read_pairs=fq.records // 2 if paired else fq.records,
            q30_pct=fq.q30_pct,
            gc_pct=fq.gc_pct,
        )
    aln = alignment_result
    if aln is None and alignment is not None:
        if reference_fasta is None:
            raise ValueError("alignment metrics need the reference FASTA")
        aln = alignment_metrics(alignment, reference_fasta, bed, threads=threads)
    variants = variant_metrics(vcf) if vcf is not None else None
    if aln is not None:
        total = aln.total_reads or 1
        values.update(
            mapped_pct=100.0 * aln.mapped_reads / total,
            properly_paired_pct=100.0 * aln.properly_paired_reads / total,
            duplicate_pct=100.0 * aln.duplicate_reads / (aln.mapped_reads or 1),
            median_insert_size=aln.median_insert_size,
            coverage_region=aln.region,
            mean_coverage=aln.mean_coverage,
            pct_10x=aln.pct_at_least[10],
            pct_20x=aln.pct_at_least[20],
            pct_30x=aln.pct_at_least[30],
        )
        x, y = sex_coverage_ratios(aln.contig_mean_coverage, aln.contig_lengths)
        het_x = variants.chrx_het_fraction if variants else None
        values.update(
            chrx_coverage_ratio=x,
            chry_coverage_ratio=y,
            predicted_sex=predict_sex(x, y, het_x),
        )
    if variants is not None:
        values.update(
            snvs=variants.snvs,
            indels=variants.indels,
            ti_tv=variants.ti_tv,
            het_hom_ratio=variants.het_hom_ratio,
            chrx_het_fraction=variants.chrx_het_fraction,
        )
    return QCMetrics(**values)  # type: ignore[arg-type]
