"""Gene coverage: how much of each panel gene's coding sequence was read deeply enough.

For each gene of the panel, the coding bases of its transcripts (exons clipped to the
CDS, the union over the gene's coding transcripts) are counted at depth >= 20
in the sample's alignments (duplicates, secondary, QC-failed and unmapped reads left out,
as ``samtools depth`` does by default). Exons of the gene's longest coding transcript
below ``low_exon_pct`` are named, in transcript order (``GENE exon 3 (62 %)``), so a
report says where a negative result may be incomplete.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pysam

from seqoia.genomics.clinical_report import GeneCoverage
from seqoia.genomics.transcripts import Interval, Transcript, TranscriptModel

#: The depth :class:`GeneCoverage` reports (its field is ``pct_bases_20x``).
MIN_DEPTH = 20


def coding_parts(transcript: Transcript) -> list[Interval]:
    """The transcript's exons clipped to its CDS, ascending (none if non-coding)."""
    if transcript.cds_start is None or transcript.cds_end is None:
        return []
    parts = []
    for exon in transcript.exons:
        start, end = max(exon.start, transcript.cds_start), min(exon.end, transcript.cds_end)
        if start <= end:
            parts.append(Interval(start, end))
    return parts


def _depths(aln: pysam.AlignmentFile, contig: str, part: Interval) -> list[int]:
    counts = aln.count_coverage(
        contig, part.start - 1, part.end, quality_threshold=0, read_callback="all"
    )
    return [sum(column) for column in zip(*counts, strict=True)]


def panel_coverage(
    alignment: Path,
    reference_fasta: Path,
    model: TranscriptModel,
    genes: Iterable[str],
    *,
    low_exon_pct: float = 95.0,
) -> list[GeneCoverage]:
    """Coverage of each of ``genes`` (symbols of ``model``), sorted by gene."""
    by_symbol = model.by_symbol()
    found = []
    with pysam.AlignmentFile(str(alignment), reference_filename=str(reference_fasta)) as aln:
        for symbol in sorted(set(genes)):
            gene = by_symbol.get(symbol)
            coding = [t for t in (gene.transcripts if gene else ()) if t.is_coding]
            if gene is None or not coding:
                continue
            depth: dict[int, int] = {}
            for transcript in coding:
                for part in coding_parts(transcript):
                    for offset, value in enumerate(_depths(aln, gene.contig, part)):
                        depth[part.start + offset] = value
            covered = sum(value >= MIN_DEPTH for value in depth.values())
            longest = max(coding, key=lambda t: sum(p.length for p in coding_parts(t)))
            parts = coding_parts(longest)
            exons = longest.exons if longest.strand == "+" else tuple(reversed(longest.exons))
            low = []
            for number, exon in enumerate(exons, start=1):
                bases = [
                    depth[pos]
                    for part in parts
                    for pos in range(max(part.start, exon.start), min(part.end, exon.end) + 1)
                ]
                if not bases:
                    continue  # an untranslated exon
                pct = 100.0 * sum(value >= MIN_DEPTH for value in bases) / len(bases)
                if pct < low_exon_pct:
                    low.append(f"{symbol} exon {number} ({pct:.0f} %)")
            found.append(
                GeneCoverage(
                    gene=symbol,
                    pct_bases_20x=round(100.0 * covered / len(depth), 1) if depth else 0.0,
                    low_coverage_exons=tuple(low),
                )
            )
    return found
