"""HGVS names on a hand-made three-exon transcript, checked against hand-derived values.

The contig ``chrT`` (200 bp) is written out below piece by piece; transcript ``TXP`` lies
on its forward strand. ``chrN`` is the reverse complement of ``chrT`` and carries the
same transcript on its minus strand (``TXM``), so a ``TXM`` variant has the same c./p.
name as the ``TXP`` variant it mirrors, at ``chrN`` position ``201 - chrT position`` with
complemented bases. Every expected value was derived by hand from this layout:

    chrT   1-20   upstream         TTGACCTGAG CTTGCAGTCA       (c.-30 .. c.-11)
          21-30   exon 1, 5' UTR   CTTCGCCACC                  (c.-10 .. c.-1)
          31-50   exon 1, CDS      ATG TGG CGA AAA AAG CTT GC  (c.1 .. c.20)
          51-70   intron 1         GTAAGTCTTTTCCCCTGCAG        (c.20+1..+10, c.21-10..-1)
         71-100   exon 2, CDS      T GAG GAG GAG TCC CAT GGT CCA TAC GTC AC (c.21 .. c.50)
        101-120   intron 2         GTGAGTAAAAACTTTTGCAG        (c.50+1..+10, c.51-10..-1)
        121-151   exon 3, CDS      C TTC CAG ATC GAC AAC TGC GTG CCG AGC TGA (c.51 .. c.81)
        152-160   exon 3, 3' UTR   CTAAGTTGA                   (c.*1 .. c.*9)
        161-200   downstream       ACGTTGCAAG CTAGCTTACG GATCCAAGTT CGATCGATCG

    protein  M1 W2 R3 K4 K5 L6 A7 E8 E9 E10 S11 H12 G13 P14 Y15 V16 T17 F18 Q19 I20
             D21 N22 C23 V24 P25 S26 Ter27   (codon 7 = GC|T spans the exon 1/2 junction)

Hence c.N is at chrT 30+N (N<=20), 50+N (21..50), 70+N (51..81); c.*N at 151+N.
"""

from __future__ import annotations

import pysam
import pytest

from seqoia.genomics.hgvs import OrientedTranscript, name_variant
from seqoia.genomics.transcripts import read_gff3
from tests.unit.genomics.mini_genome import CHR_N, CHR_T, PIECES, write_mini_genome

# (transcript, VCF chrom, pos, ref, alt, g., c. (without the transcript), p.)
CASES = [
    # -- plus strand: substitutions ---------------------------------------------------
    ("TXP", "chrT", 35, "G", "A", "chrT:g.35G>A", "c.5G>A", "p.(Trp2Ter)"),  # TGG>TAG
    ("TXP", "chrT", 36, "G", "A", "chrT:g.36G>A", "c.6G>A", "p.(Trp2Ter)"),  # TGG>TGA
    ("TXP", "chrT", 37, "C", "G", "chrT:g.37C>G", "c.7C>G", "p.(Arg3Gly)"),  # CGA>GGA
    ("TXP", "chrT", 32, "T", "C", "chrT:g.32T>C", "c.2T>C", "p.(Met1?)"),  # ATG>ACG
    ("TXP", "chrT", 39, "A", "G", "chrT:g.39A>G", "c.9A>G", "p.(Arg3=)"),  # CGA>CGG
    # Codon 7 spans the junction: c.19 is exon 1's last coding base but one (GCT>ACT).
    ("TXP", "chrT", 49, "G", "A", "chrT:g.49G>A", "c.19G>A", "p.(Ala7Thr)"),
    ("TXP", "chrT", 71, "T", "A", "chrT:g.71T>A", "c.21T>A", "p.(Ala7=)"),  # GCT>GCA
    ("TXP", "chrT", 95, "C", "A", "chrT:g.95C>A", "c.45C>A", "p.(Tyr15Ter)"),  # TAC>TAA
    # Stop lost: TGA>TGG reads on into the UTR: CTA (Leu) AGT (Ser) TGA (stop). As in
    # fsTerN, the changed residue counts as 1 (Trp 1, Leu 2, Ser 3, stop 4): HGVS's own
    # Hb Constant Spring, p.(Ter143GlnextTer32), adds 31 residues (Gln + 30).
    ("TXP", "chrT", 151, "A", "G", "chrT:g.151A>G", "c.81A>G", "p.(Ter27TrpextTer4)"),
    # A two-base substitution is a delins: codon 5 AAG>TGG.
    ("TXP", "chrT", 43, "AA", "TG", "chrT:g.43_44delinsTG", "c.13_14delinsTG", "p.(Lys5Trp)"),
    # -- plus strand: splice-adjacent, intronic, UTR, flanks --------------------------
    ("TXP", "chrT", 51, "G", "A", "chrT:g.51G>A", "c.20+1G>A", None),
    ("TXP", "chrT", 69, "A", "G", "chrT:g.69A>G", "c.21-2A>G", None),
    # Intron 1 has 20 bases: the 10th hangs off exon 1, the 11th off exon 2.
    ("TXP", "chrT", 60, "T", "C", "chrT:g.60T>C", "c.20+10T>C", None),
    ("TXP", "chrT", 61, "T", "C", "chrT:g.61T>C", "c.21-10T>C", None),
    ("TXP", "chrT", 101, "G", "A", "chrT:g.101G>A", "c.50+1G>A", None),
    ("TXP", "chrT", 120, "G", "C", "chrT:g.120G>C", "c.51-1G>C", None),
    ("TXP", "chrT", 21, "C", "T", "chrT:g.21C>T", "c.-10C>T", None),
    ("TXP", "chrT", 30, "C", "G", "chrT:g.30C>G", "c.-1C>G", None),
    ("TXP", "chrT", 156, "G", "A", "chrT:g.156G>A", "c.*5G>A", None),
    ("TXP", "chrT", 20, "A", "G", "chrT:g.20A>G", "c.-11A>G", None),  # upstream of exon 1
    ("TXP", "chrT", 161, "A", "G", "chrT:g.161A>G", "c.*10A>G", None),  # downstream
    # -- plus strand: indels and the 3' rule -------------------------------------------
    # c.9-14 is a run of six A (CGA AAA AA|G). Deleting one, left-aligned at the anchor
    # c.8 G, shifts to the last A, c.14. New frame: ...K4 AGC(Ser5) ... GAC(Asp27) then
    # TAA in the UTR = codon 28; 28 - 5 + 1 = Ter24.
    ("TXP", "chrT", 38, "GA", "G", "chrT:g.44del", "c.14del", "p.(Lys5SerfsTer24)"),
    # One more A: a dup of c.14. AAA(K4) AAA(K5) GCT(Ala6, was Leu) TGC(Cys7) TGA: Ter3.
    ("TXP", "chrT", 38, "G", "GA", "chrT:g.44dup", "c.14dup", "p.(Leu6AlafsTer3)"),
    # GAG GAG GAG (c.22-30, E8-E10): one GAG less, shifted to c.28_30; protein 3' = Glu10.
    ("TXP", "chrT", 71, "TGAG", "T", "chrT:g.78_80del", "c.28_30del", "p.(Glu10del)"),
    ("TXP", "chrT", 71, "T", "TGAG", "chrT:g.78_80dup", "c.28_30dup", "p.(Glu10dup)"),
    # TCC (Ser11) deleted; G|TCC|C cannot shift (T != C).
    ("TXP", "chrT", 80, "GTCC", "G", "chrT:g.81_83del", "c.31_33del", "p.(Ser11del)"),
    # AAA between codons 11 and 12: not a repeat of the preceding TCC, so an insertion.
    (
        "TXP", "chrT", 83, "C", "CAAA",
        "chrT:g.83_84insAAA", "c.33_34insAAA", "p.(Ser11_His12insLys)",
    ),
    # The start codon deleted (anchor c.-1 C).
    ("TXP", "chrT", 30, "CATG", "C", "chrT:g.31_33del", "c.1_3del", "p.(Met1?)"),
    # C|TT|C at c.51-54: one T less shifts to c.53. From codon 18: TCC(Ser) AGA TCG ACA
    # ACT GCG TGC CGA GCT GAC TAA, the stop being codon 28: 28 - 18 + 1 = Ter11.
    ("TXP", "chrT", 121, "CT", "C", "chrT:g.123del", "c.53del", "p.(Phe18SerfsTer11)"),
    # Intron 1's TTTT (chrT 58-61): the 3' shift ends on the 11th intron base, c.21-10.
    ("TXP", "chrT", 57, "CT", "C", "chrT:g.61del", "c.21-10del", None),
    # Intron 2's AAAAA (chrT 107-111): an extra A is a dup of the last one, c.51-10.
    ("TXP", "chrT", 106, "T", "TA", "chrT:g.111dup", "c.51-10dup", None),
    # GAG GAG (Glu8 Glu9) replaced by AAA (Lys): in frame, one codon less. The protein
    # A7 E8 E9 E10 S11 becomes A7 K8 E9 S10: after trimming the common ends, E8_E9 -> K.
    (
        "TXP", "chrT", 72, "GAGGAG", "AAA",
        "chrT:g.72_77delinsAAA", "c.22_27delinsAAA", "p.(Glu8_Glu9delinsLys)",
    ),
    # The last exon-2 base and the first intron base: over the border, so p.?; the next
    # base (chrT 102, T) differs from the first deleted one (C), so no shift either way.
    ("TXP", "chrT", 99, "ACG", "A", "chrT:g.100_101del", "c.50_50+1del", "p.?"),
    # GGT TAA (Gly, stop) between codons 11 and 12: an in-frame insertion ending the
    # protein, written as HGVS writes p.(Pro46_Asn47insSerSerTer).
    (
        "TXP", "chrT", 83, "C", "CGGTTAA",
        "chrT:g.83_84insGGTTAA", "c.33_34insGGTTAA", "p.(Ser11_His12insGlyTer)",
    ),
    # TGA>TAA: still a stop.
    ("TXP", "chrT", 150, "G", "A", "chrT:g.150G>A", "c.80G>A", "p.(Ter27=)"),
    # -- minus strand: chrN = reverse complement of chrT, position 201 - p ---------------
    ("TXM", "chrN", 166, "C", "T", "chrN:g.166C>T", "c.5G>A", "p.(Trp2Ter)"),
    ("TXM", "chrN", 164, "G", "C", "chrN:g.164G>C", "c.7C>G", "p.(Arg3Gly)"),
    ("TXM", "chrN", 169, "A", "G", "chrN:g.169A>G", "c.2T>C", "p.(Met1?)"),
    ("TXM", "chrN", 150, "C", "T", "chrN:g.150C>T", "c.20+1G>A", None),
    ("TXM", "chrN", 132, "T", "C", "chrN:g.132T>C", "c.21-2A>G", None),
    ("TXM", "chrN", 50, "T", "C", "chrN:g.50T>C", "c.81A>G", "p.(Ter27TrpextTer4)"),
    ("TXM", "chrN", 180, "G", "A", "chrN:g.180G>A", "c.-10C>T", None),
    ("TXM", "chrN", 45, "C", "T", "chrN:g.45C>T", "c.*5G>A", None),
    # The A run is T at chrN 157-162, flanked by C (156, 163). The VCF anchors left at
    # 156; g. shifts right to 162 while c. shifts to the transcript's 3' end, chrN 157 =
    # c.14 (the genome's left is the transcript's 3').
    ("TXM", "chrN", 156, "CT", "C", "chrN:g.162del", "c.14del", "p.(Lys5SerfsTer24)"),
    ("TXM", "chrN", 156, "C", "CT", "chrN:g.162dup", "c.14dup", "p.(Leu6AlafsTer3)"),
    # GAGx3 is CTCCTCCTC at chrN 121-129 between A (120) and A (130).
    ("TXM", "chrN", 120, "ACTC", "A", "chrN:g.127_129del", "c.28_30del", "p.(Glu10del)"),
    # Intron 1's TTTT is AAAA at chrN 140-143 between G (139) and G (144).
    ("TXM", "chrN", 139, "GA", "G", "chrN:g.143del", "c.21-10del", None),
    # AAA inserted between c.33 (chrN 118) and c.34 (chrN 117) is TTT after chrN 117 (G);
    # the next base, chrN 118, is G, so no shift; the 3 bases before (ATG) are not TTT.
    (
        "TXM", "chrN", 117, "G", "GTTT",
        "chrN:g.117_118insTTT", "c.33_34insAAA", "p.(Ser11_His12insLys)",
    ),
]  # fmt: skip


@pytest.fixture(scope="module")
def genome(tmp_path_factory: pytest.TempPathFactory) -> tuple[pysam.FastaFile, dict]:
    fasta, gff = write_mini_genome(tmp_path_factory.mktemp("hgvs"))
    model = read_gff3(gff, fasta)
    handle = pysam.FastaFile(str(fasta))
    oriented = {tx_id: OrientedTranscript(tx, handle) for tx_id, tx in model.transcripts.items()}
    return handle, oriented


def test_the_hand_made_contig_has_the_layout_the_table_assumes() -> None:
    assert [len(p) for p in PIECES] == [20, 10, 20, 20, 30, 20, 31, 9, 40]
    assert CHR_T[30:33] == "ATG" and CHR_T[148:151] == "TGA"
    assert len(CASES) >= 40


@pytest.mark.parametrize(("tx", "chrom", "pos", "ref", "alt", "g", "c", "p"), CASES)
def test_hgvs_names_match_the_hand_derived_table(
    genome: tuple[pysam.FastaFile, dict],
    tx: str,
    chrom: str,
    pos: int,
    ref: str,
    alt: str,
    g: str,
    c: str,
    p: str | None,
) -> None:
    handle, oriented = genome
    seq = CHR_T if chrom == "chrT" else CHR_N
    assert seq[pos - 1 : pos - 1 + len(ref)] == ref, "the table's REF must match the contig"
    names = name_variant(oriented[tx], handle, pos, ref, alt)
    assert (names.g, names.c, names.p) == (g, f"{tx}:{c}", p)
