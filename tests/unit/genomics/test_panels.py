"""Gene panels: gene lists and BED files, checked against the GFF3."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

import seqoia.genomics.panels as panels
from seqoia.errors import FormatError
from seqoia.genomics.panels import read_panel
from seqoia.genomics.transcripts import TranscriptModel, read_gff3
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


def _gzipped_bed() -> bytes:
    return gzip.compress(b"chrT\t30\t50\tGPLUS_exon1\nchrN\t150\t180\tGMINUS\n", mtime=0)


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [
        ("panel.tsv", b"#name=P\n#version=1\nGPLUS\nGMI\xffNUS\n", r"panel\.tsv:4: not UTF-8"),
        ("exons.bed", b"chrT\t30\t50\tGPLUS\n\xfe\xff\n", r"exons\.bed:2: not UTF-8"),
        ("exons.bed.gz", _gzipped_bed()[:-12], r"exons\.bed\.gz: not a readable gzip file"),
        ("exons.bed.gz", _gzipped_bed()[:30] + b"\xff" * 8 + _gzipped_bed()[38:],
         r"exons\.bed\.gz: not a readable gzip file"),
        ("exons.bed.gz", _gzipped_bed()[:2] + b"\x07" + _gzipped_bed()[3:],
         r"exons\.bed\.gz: not a readable gzip file"),
    ],
    ids=["list-not-utf8", "bed-not-utf8", "gz-truncated", "gz-corrupt", "gz-method"],
)  # fmt: skip
def test_an_unreadable_panel_is_refused_naming_the_file(
    tmp_path: Path, model: TranscriptModel, name: str, body: bytes, message: str
) -> None:
    # Found by bench/fuzz.py's panel kinds: UnicodeDecodeError, zlib.error, EOFError and
    # BadGzipFile escaped read_panel.
    path = tmp_path / name
    path.write_bytes(body)
    with pytest.raises(FormatError, match=message):
        read_panel(path, model)


def test_a_panel_past_the_size_bound_is_refused_and_a_bom_is_not(
    tmp_path: Path, model: TranscriptModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "panel.tsv"
    path.write_bytes("\ufeff#name=P\n#version=1\nGPLUS\n".encode())
    assert read_panel(path, model).name == "P"
    monkeypatch.setattr(panels, "MAX_PANEL_BYTES", 1000)
    bomb = tmp_path / "big.bed.gz"
    bomb.write_bytes(gzip.compress(b"chrT\t30\t50\n" * 1000))  # 11 kB inflated from < 100 B
    with pytest.raises(FormatError, match=r"big\.bed\.gz: larger than"):
        read_panel(bomb, model)
