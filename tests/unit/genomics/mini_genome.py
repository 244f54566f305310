"""A 200 bp hand-made contig with one three-exon transcript on each strand.

The layout is written out in ``test_hgvs.py``; ``chrN`` is the reverse complement of
``chrT``, so ``TXM`` on chrN's minus strand is the same transcript as ``TXP``.
"""

from __future__ import annotations

from pathlib import Path

import pysam

from seqoia.genomics.hgvs import reverse_complement

PIECES = [
    "TTGACCTGAGCTTGCAGTCA",  # 1-20
    "CTTCGCCACC",  # 21-30
    "ATGTGGCGAAAAAAGCTTGC",  # 31-50
    "GTAAGTCTTTTCCCCTGCAG",  # 51-70
    "TGAGGAGGAGTCCCATGGTCCATACGTCAC",  # 71-100
    "GTGAGTAAAAACTTTTGCAG",  # 101-120
    "CTTCCAGATCGACAACTGCGTGCCGAGCTGA",  # 121-151
    "CTAAGTTGA",  # 152-160
    "ACGTTGCAAGCTAGCTTACGGATCCAAGTTCGATCGATCG",  # 161-200
]
CHR_T = "".join(PIECES)
CHR_N = reverse_complement(CHR_T)

GFF3 = """##gff-version 3
chrT\ttest\tgene\t21\t160\t.\t+\t.\tID=gene:GP;Name=GPLUS;biotype=protein_coding
chrT\ttest\tmRNA\t21\t160\t.\t+\t.\tID=transcript:TXP;Parent=gene:GP;biotype=protein_coding
chrT\ttest\texon\t21\t50\t.\t+\t.\tParent=transcript:TXP
chrT\ttest\tCDS\t31\t50\t.\t+\t0\tParent=transcript:TXP
chrT\ttest\texon\t71\t100\t.\t+\t.\tParent=transcript:TXP
chrT\ttest\tCDS\t71\t100\t.\t+\t1\tParent=transcript:TXP
chrT\ttest\texon\t121\t160\t.\t+\t.\tParent=transcript:TXP
chrT\ttest\tCDS\t121\t151\t.\t+\t1\tParent=transcript:TXP
chrN\ttest\tgene\t41\t180\t.\t-\t.\tID=gene:GM;Name=GMINUS;biotype=protein_coding
chrN\ttest\tmRNA\t41\t180\t.\t-\t.\tID=transcript:TXM;Parent=gene:GM;biotype=protein_coding
chrN\ttest\texon\t151\t180\t.\t-\t.\tParent=transcript:TXM
chrN\ttest\tCDS\t151\t170\t.\t-\t0\tParent=transcript:TXM
chrN\ttest\texon\t101\t130\t.\t-\t.\tParent=transcript:TXM
chrN\ttest\tCDS\t101\t130\t.\t-\t1\tParent=transcript:TXM
chrN\ttest\texon\t41\t80\t.\t-\t.\tParent=transcript:TXM
chrN\ttest\tCDS\t50\t80\t.\t-\t1\tParent=transcript:TXM
"""


def write_mini_genome(folder: Path) -> tuple[Path, Path]:
    """Write ``mini.fa`` (+ .fai) and ``mini.gff3`` into ``folder``."""
    fasta = folder / "mini.fa"
    fasta.write_text(f">chrT\n{CHR_T}\n>chrN\n{CHR_N}\n")
    pysam.faidx(str(fasta))
    gff = folder / "mini.gff3"
    gff.write_text(GFF3)
    return fasta, gff
