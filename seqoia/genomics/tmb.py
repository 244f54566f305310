"""Tumour mutational burden: somatic coding mutations per megabase of callable territory.

Callable territory is where both samples could have shown a somatic variant: the tumour has
at least ``min_tumour_depth`` reads and the normal ``min_normal_depth`` (Mutect's and the
TMB harmonisation project's notion), intersected with the coding regions when they are
given. Counting only PASS calls inside that territory keeps numerator and denominator over
the same bases.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pysam
from pydantic import BaseModel, ConfigDict

from seqoia.errors import InputError
from seqoia.genomics.reference import PreparedReference
from seqoia.genomics.transcripts import TranscriptModel

Intervals = dict[str, list[tuple[int, int]]]  # contig -> 0-based half-open spans


class TumourBurden(BaseModel):
    """TMB and what it was computed over."""

    model_config = ConfigDict(frozen=True)

    mutations: int
    callable_bp: int
    per_mb: float
    territory: str  # "coding" or "whole callable genome"


def depth_mask(
    alignment: Path, reference: PreparedReference, min_depth: int
) -> dict[str, np.ndarray]:
    """Per contig, a boolean array: base covered by at least ``min_depth`` usable reads."""
    out = {}
    try:
        with pysam.AlignmentFile(str(alignment), reference_filename=str(reference.fasta)) as bam:
            for contig in reference.contigs:
                # quality_threshold 0: count every base; read_callback drops dups/secondary.
                acgt = bam.count_coverage(
                    contig.name, 0, contig.length, quality_threshold=0, read_callback="all"
                )
                # array.array('L') is 8 bytes on 64-bit Linux: read it at its own width.
                depth = np.sum([np.frombuffer(a, dtype=f"u{a.itemsize}") for a in acgt], axis=0)
                out[contig.name] = depth >= min_depth
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read depth: {err}", file=alignment.name) from err
    return out


def callable_mask(
    tumour: Path,
    normal: Path | None,
    reference: PreparedReference,
    *,
    min_tumour_depth: int = 10,
    min_normal_depth: int = 8,
    coding: Intervals | None = None,
) -> dict[str, np.ndarray]:
    """Bases callable in the pair (and coding, when ``coding`` is given)."""
    mask = depth_mask(tumour, reference, min_tumour_depth)
    if normal is not None:
        for contig, covered in depth_mask(normal, reference, min_normal_depth).items():
            mask[contig] &= covered
    return mask if coding is None else restrict_mask(mask, coding)


def restrict_mask(mask: dict[str, np.ndarray], coding: Intervals) -> dict[str, np.ndarray]:
    """``mask`` inside ``coding`` only (a new mask; ``mask`` is left as it is)."""
    out = {}
    for contig, covered in mask.items():
        in_coding = np.zeros_like(covered)
        for start, end in coding.get(contig, []):
            in_coding[start:end] = True
        out[contig] = covered & in_coding
    return out


def tumour_mutational_burden(
    somatic_vcf: Path, mask: dict[str, np.ndarray], *, coding: bool
) -> TumourBurden:
    """PASS somatic calls inside ``mask``, per megabase of ``mask``."""
    callable_bp = int(sum(int(m.sum()) for m in mask.values()))
    mutations = 0
    with pysam.VariantFile(str(somatic_vcf)) as records:
        for rec in records:
            if rec.filter.keys() and "PASS" not in rec.filter:
                continue
            contig_mask = mask.get(rec.contig)
            if contig_mask is not None and contig_mask[rec.pos - 1]:
                mutations += 1
    per_mb = mutations / (callable_bp / 1e6) if callable_bp else 0.0
    return TumourBurden(
        mutations=mutations,
        callable_bp=callable_bp,
        per_mb=round(per_mb, 3),
        territory="coding" if coding else "whole callable genome",
    )


def read_bed(bed: Path) -> Intervals:
    """A BED file's intervals; a malformed line is an InputError naming its number."""
    out: Intervals = {}
    with bed.open() as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            fields = line.rstrip("\n").split("\t")
            try:
                contig, start, end = fields[0], int(fields[1]), int(fields[2])
            except (IndexError, ValueError):
                raise InputError("not a BED line", file=bed.name, line=number) from None
            if start < 0 or end < start:
                raise InputError("BED interval ends before it starts", file=bed.name, line=number)
            out.setdefault(contig, []).append((start, end))
    return out


def covered_bp(intervals: Intervals, mask: dict[str, np.ndarray]) -> Iterable[int]:
    for contig, spans in intervals.items():
        m = mask.get(contig)
        if m is not None:
            for start, end in spans:
                yield int(m[start:end].sum())


def coding_territory(model: TranscriptModel) -> Intervals:
    """The coding bases of a transcript model (every coding transcript's exons clipped to
    its CDS span), merged per contig, as 0-based half-open spans for :func:`callable_mask`.

    What TMB counts over when the reference area carries a GFF3 (``refs/<NAME>/genes.gff3``).
    """
    spans: dict[str, list[tuple[int, int]]] = {}
    for tx in model.transcripts.values():
        if tx.cds_start is None or tx.cds_end is None:
            continue
        for exon in tx.exons:
            start, end = max(exon.start, tx.cds_start), min(exon.end, tx.cds_end)
            if start <= end:
                spans.setdefault(tx.contig, []).append((start - 1, end))
    merged: Intervals = {}
    for contig, items in spans.items():
        out: list[tuple[int, int]] = []
        for start, end in sorted(items):
            if out and start <= out[-1][1]:
                out[-1] = (out[-1][0], max(out[-1][1], end))
            else:
                out.append((start, end))
        merged[contig] = out
    return merged
