"""TMB's coding territory from a GFF3: every coding transcript's exons clipped to its CDS."""

from __future__ import annotations

from pathlib import Path

from seqoia.genomics.simulate import simulate_reference
from seqoia.genomics.simulate_annotation import add_genes, write_gff3
from seqoia.genomics.tmb import coding_territory
from seqoia.genomics.transcripts import read_gff3


def test_coding_territory_is_the_cds_bases_of_the_simulated_genes(tmp_path: Path) -> None:
    fasta = tmp_path / "genome.fa"
    simulate_reference(fasta, contigs={"chr1": 120_000, "chr2": 80_000}, seed=4)
    genes = add_genes(fasta, seed=4)
    model = read_gff3(write_gff3(genes, tmp_path / "genes.gff3", fasta), fasta)
    territory = coding_territory(model)
    # The simulator's own CDS list (1-based inclusive) is the truth, base for base.
    expected: dict[str, set[int]] = {}
    for gene in genes:
        for start, end in gene.cds:
            expected.setdefault(gene.contig, set()).update(range(start - 1, end))
    found = {
        contig: {b for start, end in spans for b in range(start, end)}
        for contig, spans in territory.items()
    }
    assert found == expected
    for spans in territory.values():  # merged, sorted, non-overlapping
        assert all(a[1] < b[0] for a, b in zip(spans, spans[1:], strict=False))
