"""Copy-number segments of a tumour from its depth ratio to the matched normal.

Reads are counted in fixed windows of the reference in both samples (duplicates, secondary
and unmapped reads left out), each count scaled by its sample's total, and the log2 ratio
tumour/normal segmented by binary segmentation: a segment is split where a two-sample t
statistic of the windows on either side is largest, while it exceeds ``min_t`` and both
sides keep ``min_windows`` windows (the idea of circular binary segmentation, without the
permutation test). B-allele fractions of the normal's heterozygous sites, mirrored about
0.5, tell a copy-neutral loss of heterozygosity from a balanced segment.

A segment is called ``gain`` or ``loss`` when its mean log2 ratio passes ``gain_log2`` or
``loss_log2`` (tumour purity dilutes the ratio: a one-copy gain in 80 % tumour cells is
log2(1.4) = 0.49, a one-copy loss log2(0.6) = -0.74), ``loh`` when it is balanced in depth
but its mirrored BAF exceeds ``loh_baf``, else ``neutral``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pysam
from pydantic import BaseModel, ConfigDict, Field

from seqoia.errors import InputError
from seqoia.genomics.reference import PreparedReference


class CopyNumberParams(BaseModel):
    """Windowing and segmentation thresholds (a stage parameter)."""

    model_config = ConfigDict(frozen=True)

    window_bp: int = Field(10_000, ge=500)
    min_normal_reads: int = Field(50, ge=1)
    min_windows: int = Field(3, ge=1)
    min_t: float = Field(8.0, gt=0)
    gain_log2: float = 0.2
    loss_log2: float = -0.25
    loh_baf: float = Field(0.65, gt=0.5, lt=1)
    min_het_depth: int = Field(15, ge=1)


class Window(BaseModel):
    model_config = ConfigDict(frozen=True)

    contig: str
    start: int  # 0-based
    end: int
    log2_ratio: float


class Segment(BaseModel):
    """A run of windows with one copy-number state."""

    model_config = ConfigDict(frozen=True)

    contig: str
    start: int  # 0-based, half-open
    end: int
    windows: int
    log2_ratio: float
    baf: float | None  # median mirrored B-allele fraction of het sites, when there are some
    het_sites: int
    call: str  # gain / loss / loh / neutral


def count_windows(
    alignment: Path, reference: PreparedReference, window_bp: int
) -> dict[str, np.ndarray]:
    """Reads starting in each window of each contig (primary, mapped, not duplicates)."""
    counts = {
        c.name: np.zeros(math.ceil(c.length / window_bp), dtype=np.int64) for c in reference.contigs
    }
    try:
        with pysam.AlignmentFile(str(alignment), reference_filename=str(reference.fasta)) as bam:
            for contig in counts:
                per_contig = counts[contig]
                for read in bam.fetch(contig):
                    if (
                        read.flag & 0xD04 or read.mapping_quality < 20
                    ):  # unmapped/secondary/dup/supp
                        continue
                    if read.is_paired and not read.is_read1:
                        continue  # count fragments once
                    per_contig[read.reference_start // window_bp] += 1
    except (OSError, ValueError) as err:
        raise InputError(f"cannot count reads: {err}", file=alignment.name) from err
    return counts


def log2_ratios(
    tumour: dict[str, np.ndarray],
    normal: dict[str, np.ndarray],
    window_bp: int,
    lengths: dict[str, int],
    min_normal_reads: int,
) -> list[Window]:
    """Windows with enough normal reads and their total-normalised log2 tumour/normal ratio."""
    total_t = sum(int(v.sum()) for v in tumour.values())
    total_n = sum(int(v.sum()) for v in normal.values())
    if total_t == 0 or total_n == 0:
        raise InputError("no aligned reads to compare for copy number")
    out = []
    for contig, n_counts in normal.items():
        t_counts = tumour[contig]
        for i, (t, n) in enumerate(zip(t_counts.tolist(), n_counts.tolist(), strict=True)):
            if n < min_normal_reads:
                continue
            ratio = ((t + 0.5) / total_t) / ((n + 0.5) / total_n)
            start = i * window_bp
            out.append(
                Window(
                    contig=contig,
                    start=start,
                    end=min(start + window_bp, lengths[contig]),
                    log2_ratio=math.log2(ratio),
                )
            )
    # Centre on the median, so a tumour whose genome is mostly gained still has its
    # commonest state at 0 (the usual normalisation of depth-ratio callers).
    median = float(np.median([w.log2_ratio for w in out])) if out else 0.0
    return [w.model_copy(update={"log2_ratio": w.log2_ratio - median}) for w in out]


def binary_segments(
    values: Sequence[float], min_windows: int, min_t: float
) -> list[tuple[int, int]]:
    """Split ``values`` into ``[start, end)`` runs by recursive best t-statistic splits."""
    x = np.asarray(values, dtype=float)
    found: list[tuple[int, int]] = []
    stack = [(0, len(x))]
    while stack:
        lo, hi = stack.pop()
        best = _best_split(x[lo:hi], min_windows)
        if best is None or best[1] < min_t:
            found.append((lo, hi))
            continue
        cut = lo + best[0]
        stack += [(cut, hi), (lo, cut)]
    return sorted(found)


def _best_split(x: np.ndarray, min_windows: int) -> tuple[int, float] | None:
    n = len(x)
    if n < 2 * min_windows:
        return None
    noise = _robust_sd(x)
    prefix = np.cumsum(x)
    total = prefix[-1]
    best: tuple[int, float] | None = None
    for k in range(min_windows, n - min_windows + 1):
        left, right = prefix[k - 1] / k, (total - prefix[k - 1]) / (n - k)
        t = abs(left - right) / (noise * math.sqrt(1 / k + 1 / (n - k)))
        if best is None or t > best[1]:
            best = (k, t)
    return best


def _robust_sd(x: np.ndarray) -> float:
    """Noise from successive differences (MAD-based), robust to the steps being sought."""
    if len(x) < 3:
        return 1.0
    mad = float(np.median(np.abs(np.diff(x) - np.median(np.diff(x)))))
    return max(1e-3, 1.4826 * mad / math.sqrt(2))


def mirrored_bafs(
    bcf: Path, *, tumour: int = 0, normal: int = 1, min_depth: int = 15
) -> dict[str, list[tuple[int, float]]]:
    """(position, mirrored tumour BAF) of sites the normal is heterozygous at."""
    out: dict[str, list[tuple[int, float]]] = {}
    with pysam.VariantFile(str(bcf)) as records:
        for rec in records:
            if rec.alts is None or rec.ref is None or len(rec.ref) != 1:
                continue
            samples = list(rec.samples.values())
            n_ad, t_ad = samples[normal].get("AD"), samples[tumour].get("AD")
            if not n_ad or not t_ad or len(n_ad) < 2:
                continue
            n_depth, t_depth = sum(c or 0 for c in n_ad), sum(c or 0 for c in t_ad)
            if n_depth < min_depth or t_depth < min_depth:
                continue
            n_alt = n_ad[1] or 0
            if not 0.3 <= n_alt / n_depth <= 0.7 or len(rec.alts[0]) != 1:
                continue
            baf = (t_ad[1] or 0) / t_depth
            out.setdefault(rec.contig, []).append((rec.pos, 0.5 + abs(baf - 0.5)))
    return out


def segment(
    windows: Sequence[Window],
    bafs: dict[str, list[tuple[int, float]]],
    params: CopyNumberParams,
) -> list[Segment]:
    """Segments of each contig with their mean log2 ratio, median mirrored BAF and call."""
    out = []
    by_contig: dict[str, list[Window]] = {}
    for w in windows:
        by_contig.setdefault(w.contig, []).append(w)
    for contig, ws in by_contig.items():
        ratios = [w.log2_ratio for w in ws]
        for lo, hi in binary_segments(ratios, params.min_windows, params.min_t):
            start, end = ws[lo].start, ws[hi - 1].end
            mean = float(np.mean(ratios[lo:hi]))
            het = [b for pos, b in bafs.get(contig, []) if start < pos <= end]
            baf = float(np.median(het)) if het else None
            out.append(
                Segment(
                    contig=contig,
                    start=start,
                    end=end,
                    windows=hi - lo,
                    log2_ratio=round(mean, 4),
                    baf=None if baf is None else round(baf, 4),
                    het_sites=len(het),
                    call=_call(mean, baf, params),
                )
            )
    return out


def _call(log2_ratio: float, baf: float | None, params: CopyNumberParams) -> str:
    if log2_ratio >= params.gain_log2:
        return "gain"
    if log2_ratio <= params.loss_log2:
        return "loss"
    if baf is not None and baf >= params.loh_baf:
        return "loh"
    return "neutral"


def copy_number_segments(
    tumour: Path,
    normal: Path,
    reference: PreparedReference,
    *,
    pileup_bcf: Path | None = None,
    params: CopyNumberParams | None = None,
) -> tuple[list[Window], list[Segment]]:
    """Windows and segments of ``tumour`` against ``normal`` (BAFs from ``pileup_bcf``)."""
    params = params or CopyNumberParams()
    lengths = {c.name: c.length for c in reference.contigs}
    t = count_windows(tumour, reference, params.window_bp)
    n = count_windows(normal, reference, params.window_bp)
    windows = log2_ratios(t, n, params.window_bp, lengths, params.min_normal_reads)
    bafs = mirrored_bafs(pileup_bcf, min_depth=params.min_het_depth) if pileup_bcf else {}
    return windows, segment(windows, bafs, params)


def breakpoints(segments: Iterable[Segment]) -> list[tuple[str, int]]:
    """Where the call changes between neighbouring segments of a contig (contig, position)."""
    out: list[tuple[str, int]] = []
    previous: Segment | None = None
    for seg in segments:
        if previous is not None and previous.contig == seg.contig and previous.call != seg.call:
            out.append((seg.contig, seg.start))
        previous = seg
    return out
