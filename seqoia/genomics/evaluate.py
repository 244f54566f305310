"""Truth evaluation: how a call set compares with known variants, and where to trust it.

Calls and truth are both normalised (``bcftools norm -f REF -m -any``: left-aligned, one
allele per record), then matched on ``(chrom, pos, ref, alt)``, separately for SNVs and
indels, with and without agreement on zygosity. :func:`repeat_mask` finds the parts of a
reference that short reads cannot place uniquely, so accuracy can be reported outside
them as well as genome-wide.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import tempfile
import threading
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pysam
import pysam.bcftools
from pydantic import BaseModel, ConfigDict

from seqoia.genomics.reference import PreparedReference
from seqoia.genomics.tools import run_pysam

log = logging.getLogger(__name__)

Key = tuple[str, int, str, str]


class Counts(BaseModel):
    """True positives, false positives and false negatives of one variant class."""

    model_config = ConfigDict(frozen=True)

    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


class Evaluation(BaseModel):
    """Allele matches (genotype-agnostic) and allele+zygosity matches, per class."""

    model_config = ConfigDict(frozen=True)

    snv: Counts
    indel: Counts
    snv_genotype: Counts
    indel_genotype: Counts


def evaluate_calls(
    calls_vcf: Path,
    truth_vcf: Path,
    reference_fasta: Path,
    *,
    mask_bed: Path | None = None,
    include_bed: Path | None = None,
    sample: str | None = None,
) -> Evaluation:
    """Compare PASS calls with the truth, outside ``mask_bed`` and inside ``include_bed``.

    ``sample`` picks the genotype column of multi-sample call sets (default: the first).
    """
    mask = _Intervals.from_bed(mask_bed) if mask_bed else None
    include = _Intervals.from_bed(include_bed) if include_bed else None

    def keep(key: Key) -> bool:
        chrom, pos, ref, _ = key
        start, end = pos - 1, pos - 1 + len(ref)
        if mask is not None and mask.overlaps(chrom, start, end):
            return False
        return include is None or include.contains(chrom, start, end)

    with tempfile.TemporaryDirectory(prefix="seqoia-eval-") as scratch:
        calls = _load(calls_vcf, reference_fasta, Path(scratch) / "calls.vcf", sample, True)
        truth = _load(truth_vcf, reference_fasta, Path(scratch) / "truth.vcf", None, False)
    calls = {k: v for k, v in calls.items() if keep(k)}
    truth = {k: v for k, v in truth.items() if keep(k)}
    result: dict[str, Counts] = {}
    for kind in ("snv", "indel"):
        c = {k: z for k, z in calls.items() if _kind(k) == kind}
        t = {k: z for k, z in truth.items() if _kind(k) == kind}
        tp = len(c.keys() & t.keys())
        result[kind] = Counts(tp=tp, fp=len(c) - tp, fn=len(t) - tp)
        gt_tp = sum(1 for k in c.keys() & t.keys() if c[k] == t[k])
        result[f"{kind}_genotype"] = Counts(tp=gt_tp, fp=len(c) - gt_tp, fn=len(t) - gt_tp)
    return Evaluation(**result)


def _kind(key: Key) -> str:
    return "snv" if len(key[2]) == len(key[3]) else "indel"


def _load(
    vcf: Path, fasta: Path, normed: Path, sample: str | None, pass_only: bool
) -> dict[Key, str]:
    """Normalise ``vcf`` and return ``{(chrom, pos, ref, alt): zygosity}`` of its alleles."""
    run_pysam(pysam.bcftools.norm, "-f", fasta, "-m", "-any", "-c", "w", "-Ov", "-o", normed, vcf)
    found: dict[Key, str] = {}
    with pysam.VariantFile(str(normed)) as handle:
        names = list(handle.header.samples)
        column = sample or (names[0] if names else None)
        for record in handle:
            filters = list(record.filter)
            if pass_only and filters and filters != ["PASS"]:
                continue
            for index, alt in enumerate(record.alts or (), start=1):
                if alt.startswith("<") or alt == "*":
                    continue
                zygosity = "hom"
                if column is not None:
                    gt = [a for a in (record.samples[column].get("GT") or ()) if a is not None]
                    if gt and index not in gt:
                        continue  # a genotyped allele that this sample does not carry
                    zygosity = "hom" if gt and all(a == index for a in gt) else "het"
                key = (record.chrom, record.pos, (record.ref or "").upper(), alt.upper())
                found[key] = zygosity
    return found


class _Intervals:
    """Sorted, merged half-open intervals per contig, for overlap queries."""

    def __init__(self, spans: dict[str, list[tuple[int, int]]]) -> None:
        self._starts: dict[str, list[int]] = {}
        self._ends: dict[str, list[int]] = {}
        for chrom, items in spans.items():
            merged: list[list[int]] = []
            for start, end in sorted(items):
                if merged and start <= merged[-1][1]:
                    merged[-1][1] = max(merged[-1][1], end)
                else:
                    merged.append([start, end])
            self._starts[chrom] = [s for s, _ in merged]
            self._ends[chrom] = [e for _, e in merged]

    @classmethod
    def from_bed(cls, bed: Path) -> _Intervals:
        spans: dict[str, list[tuple[int, int]]] = defaultdict(list)
        with bed.open() as handle:
            for line in handle:
                if not line.strip() or line.startswith(("#", "track", "browser")):
                    continue
                chrom, start, end = line.split("\t")[:3]
                spans[chrom].append((int(start), int(end)))
        return cls(spans)

    def overlaps(self, chrom: str, start: int, end: int) -> bool:
        starts = self._starts.get(chrom)
        if not starts:
            return False
        i = bisect.bisect_left(starts, max(end, start + 1)) - 1
        return i >= 0 and self._ends[chrom][i] > start

    def contains(self, chrom: str, start: int, end: int) -> bool:
        starts = self._starts.get(chrom)
        if not starts:
            return False
        i = bisect.bisect_right(starts, start) - 1
        return i >= 0 and self._ends[chrom][i] >= max(end, start + 1)


def repeat_mask(
    reference: PreparedReference,
    out_bed: Path,
    *,
    k: int = 100,
    step: int = 10,
    min_identity: float = 0.9,
    threads: int = 2,
) -> int:
    """Write a BED of reference windows that a ``k``-mer read could not place uniquely.

    Every ``k``-mer starting each ``step`` bases is mapped back with mappy (``sr``); a
    window is repetitive when its best hit has MAPQ 0 or another hit with identity of at
    least ``min_identity`` over most of the ``k``-mer exists. Returns the masked bases.
    """
    import mappy

    aligner = mappy.Aligner(str(reference.mmi), preset="sr")
    local = threading.local()

    def repeats(seqs: list[str]) -> list[bool]:
        buf = local.__dict__.setdefault("buf", mappy.ThreadBuffer())
        flags = []
        for seq in seqs:
            hits = list(aligner.map(seq, buf=buf))
            flags.append(
                bool(hits)
                and (
                    hits[0].mapq == 0
                    or any(h.blen >= 0.8 * k and h.mlen >= min_identity * h.blen for h in hits[1:])
                )
            )
        return flags

    masked = 0
    with pysam.FastaFile(str(reference.fasta)) as fasta, out_bed.open("w") as bed:
        for contig in reference.contigs:
            sequence = fasta.fetch(contig.name).upper()
            starts = list(range(0, max(1, contig.length - k + 1), step))
            batches = (
                [sequence[s : s + k] for s in starts[i : i + 2048]]
                for i in range(0, len(starts), 2048)
            )
            with ThreadPoolExecutor(max(1, threads)) as pool:
                flags = itertools.chain.from_iterable(pool.map(repeats, batches))
                for start, end in _merge_windows(starts, flags, k, contig.length):
                    bed.write(f"{contig.name}\t{start}\t{end}\n")
                    masked += end - start
    return masked


def _merge_windows(
    starts: list[int], flags: Iterator[bool], k: int, length: int
) -> Iterator[tuple[int, int]]:
    current: list[int] | None = None
    for start, flagged in zip(starts, flags, strict=True):
        if not flagged:
            continue
        end = min(length, start + k)
        if current is not None and start <= current[1]:
            current[1] = end
        else:
            if current is not None:
                yield current[0], current[1]
            current = [start, end]
    if current is not None:
        yield current[0], current[1]
