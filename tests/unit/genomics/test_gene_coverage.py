"""Panel gene coverage on alignments written by hand over a simulated gene.

Reads of 100 bp start every 4 bp over a chosen span (a depth of 25 inside it), so which
coding bases reach 20x is known exactly.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from seqoia.genomics.gene_coverage import coding_parts, panel_coverage
from seqoia.genomics.transcripts import read_gff3
from tests.unit.genomics.annotation_fixture import annotated_reference, write_tiled_cram


@pytest.fixture(scope="module")
def gene():  # type: ignore[no-untyped-def]
    area = annotated_reference()
    model = read_gff3(area.files.gff3, area.files.reference)
    return area, model, area.genes[0]


def test_a_gene_read_end_to_end_at_25x_is_fully_covered(gene, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    area, model, simulated = gene
    cram = write_tiled_cram(
        area.files.reference, simulated.contig, simulated.start, simulated.end, tmp_path / "a.cram"
    )
    [coverage] = panel_coverage(cram, area.files.reference, model, [simulated.symbol])
    assert coverage.gene == simulated.symbol
    assert coverage.pct_bases_20x == 100.0
    assert coverage.low_coverage_exons == ()


def test_exons_left_unread_are_named_in_transcript_order(gene, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    area, model, simulated = gene
    transcript = model.transcripts[simulated.transcript_id]
    parts = coding_parts(transcript)
    first_cds = parts[0]  # the + strand gene's first coding exon
    cram = write_tiled_cram(
        area.files.reference, simulated.contig, first_cds.start, first_cds.end, tmp_path / "b.cram"
    )
    [coverage] = panel_coverage(cram, area.files.reference, model, [simulated.symbol])
    coding = sum(p.length for p in parts)
    assert coverage.pct_bases_20x == pytest.approx(100.0 * first_cds.length / coding, abs=0.1)
    exons = len(transcript.exons)
    assert simulated.strand == "+"
    assert coverage.low_coverage_exons == tuple(
        f"{simulated.symbol} exon {n} (0 %)" for n in range(2, exons + 1)
    )
