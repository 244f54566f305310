"""Gene panels: gene lists and BED files, checked against the GFF3."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqoia.errors import FormatError
from seqoia.genomics.panels import read_panel
from seqoia.genomics.transcripts import read_gff3
from tests.unit.genomics.mini_genome import write_mini_genome


@pytest.fixture
def model(tmp_path: Path):  # type: ignore[no-untyped-def]
    fasta, gff = write_mini_genome(tmp_path)
    return read_gff3(gff, fasta)


def test_a_gene_list_reads_its_name_version_and_genes(tmp_path: Path, model) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "cardiac.tsv"
    path.write_text("#name=Cardiac arrhythmia\n# version: 2.3\n\nGPLUS\n# a comment\nGMINUS\n")
    panel = read_panel(path, model)
    assert (panel.name, panel.version) == ("Cardiac arrhythmia", "2.3")
    assert panel.genes == frozenset({"GPLUS", "GMINUS"})
    assert panel.covers("chrT", 40, model.transcripts["TXP"])
    assert not panel.covers("chrT", 40, None)


def test_a_gene_unknown_to_the_gff3_names_file_and_line(tmp_path: Path, model) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "panel.tsv"
    path.write_text("#name=P\n#version=1\nGPLUS\nBRCA1\n")
    with pytest.raises(FormatError, match=r"panel\.tsv:4: gene 'BRCA1' is not in the annotation"):
        read_panel(path, model)


def test_a_gene_list_without_its_header_is_refused(tmp_path: Path, model) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "panel.tsv"
    path.write_text("#name=P\nGPLUS\n")
    with pytest.raises(FormatError, match=r"panel\.tsv:1: gene list lacks a #version= header"):
        read_panel(path, model)


def test_a_bed_panel_covers_its_regions_and_checks_gene_names(tmp_path: Path, model) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "exons.bed"
    path.write_text('track name="exome-lite"\nchrT\t30\t50\tGPLUS_exon1\nchrN\t150\t180\tGMINUS\n')
    panel = read_panel(path, model)
    assert panel.name == "exome-lite" and panel.genes == frozenset({"GPLUS", "GMINUS"})
    assert panel.covers_position("chrT", 31) and not panel.covers_position("chrT", 30)
    assert panel.covers_position("chrT", 50) and not panel.covers_position("chrT", 51)
    bad = tmp_path / "bad.bed"
    bad.write_text("chrT\t30\t50\tGPLUS\nchrT\t60\t70\tTTN_exon3\n")
    with pytest.raises(FormatError, match=r"bad\.bed:2: gene 'TTN' is not in the annotation"):
        read_panel(bad, model)
    wrong = tmp_path / "wrong.bed"
    wrong.write_text("chr7\t30\t50\n")
    with pytest.raises(FormatError, match=r"wrong\.bed:1: contig 'chr7' carries no gene"):
        read_panel(wrong, model)
