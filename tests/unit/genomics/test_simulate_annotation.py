"""The demo's annotation simulator: genes in the reference, GFF3, ClinVar, gnomAD."""

from __future__ import annotations

import pysam

from seqoia.genomics.hgvs import OrientedTranscript, translate
from seqoia.genomics.simulate import TruthVariant
from seqoia.genomics.simulate_annotation import demo_pathogenic_variant, plant_variants
from seqoia.genomics.transcripts import read_gff3
from tests.unit.genomics.annotation_fixture import annotated_reference


def test_the_gff3_describes_multi_exon_coding_genes_on_both_strands() -> None:
    data = annotated_reference()
    model = read_gff3(data.files.gff3, data.files.reference)  # checks contigs, ends, phases
    assert sorted(g.symbol for g in model.genes.values()) == ["SQA1", "SQB2", "SQC3", "SQD4"]
    assert {t.strand for t in model.transcripts.values()} == {"+", "-"}
    with pysam.FastaFile(str(data.files.reference)) as fasta:
        for transcript in model.transcripts.values():
            assert len(transcript.exons) >= 3
            oriented = OrientedTranscript(transcript, fasta)
            cds = oriented.mrna[oriented.cds_m_first : oriented.cds_m_last + 1]
            protein = translate(cds)
            # One open reading frame: ATG ... stop, no stop before the end, codon 10 Trp.
            assert protein[0] == "M" and protein.endswith("*") and "*" not in protein[:-1]
            assert len(protein) * 3 == len(cds) and protein[9] == "W"
            for (_, up_last), (down_first, _) in zip(
                oriented.exons, oriented.exons[1:], strict=False
            ):
                intron = oriented.seq[up_last + 1 : down_first]
                assert intron.startswith("GT") and intron.endswith("AG")


def test_clinvar_and_gnomad_files_carry_the_planted_classes() -> None:
    data = annotated_reference()
    with pysam.VariantFile(str(data.files.clinvar)) as vf:
        significance = [rec.info["CLNSIG"][0] for rec in vf]
    assert sorted(significance).count("Pathogenic") == 4
    assert significance.count("Benign") == 4 and significance.count("Uncertain_significance") == 4
    with pysam.VariantFile(str(data.files.gnomad)) as vf:
        afs = sorted(round(rec.info["AF"][0], 6) for rec in vf)
    assert afs.count(0.230263) == 4 and afs.count(0.05) == 4 and len(afs) == 12


def test_each_demo_sample_gets_a_pathogenic_variant_matching_the_reference() -> None:
    data = annotated_reference()
    planted = [demo_pathogenic_variant(list(data.genes), data.files.reference, i) for i in range(4)]
    assert len({(v.contig, v.pos) for v in planted}) == 4
    with pysam.FastaFile(str(data.files.reference)) as fasta:
        for v in planted:
            assert v.genotype == (0, 1)
            assert fasta.fetch(v.contig, v.pos - 1, v.pos) == v.ref


def test_plant_variants_makes_room_around_the_planted_ones() -> None:
    truth = [
        TruthVariant("chr1", 100, "A", "G", (0, 1)),
        TruthVariant("chr1", 990, "C", "T", (1, 1)),
        TruthVariant("chr2", 50, "G", "A", (0, 1)),
    ]
    planted = [TruthVariant("chr1", 1000, "T", "C", (0, 1))]
    merged = plant_variants(truth, planted, min_gap=20)
    assert [(v.contig, v.pos) for v in merged] == [("chr1", 100), ("chr1", 1000), ("chr2", 50)]
