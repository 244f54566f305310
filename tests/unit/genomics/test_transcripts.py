"""The GFF3 transcript model and its checks against the reference."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from seqoia.errors import FormatError
from seqoia.genomics.transcripts import Interval, read_gff3
from tests.unit.genomics.mini_genome import GFF3, write_mini_genome


def _with_line(gff: Path, number: int, new: str) -> Path:
    lines = GFF3.splitlines()
    lines[number - 1] = new
    gff.write_text("\n".join(lines) + "\n")
    return gff


def test_read_gff3_builds_both_strands_with_exons_and_cds(tmp_path: Path) -> None:
    fasta, gff = write_mini_genome(tmp_path)
    model = read_gff3(gff, fasta)
    plus, minus = model.transcripts["TXP"], model.transcripts["TXM"]
    assert (plus.gene, plus.strand, plus.contig) == ("GPLUS", "+", "chrT")
    assert plus.exons == (Interval(21, 50), Interval(71, 100), Interval(121, 160))
    assert (plus.cds_start, plus.cds_end) == (31, 151)
    assert minus.strand == "-" and minus.exons[0] == Interval(41, 80)
    assert (minus.cds_start, minus.cds_end) == (50, 170)
    assert model.has_gene("GMINUS") and not model.has_gene("BRCA1")
    assert [t.id for t in model.overlapping("chrT", 60, 60)] == ["TXP"]
    assert model.overlapping("chrT", 170, 180) == []


def test_a_feature_on_an_unknown_contig_names_file_and_line(tmp_path: Path) -> None:
    fasta, gff = write_mini_genome(tmp_path)
    bad = "chr9\ttest\texon\t21\t50\t.\t+\t.\tParent=transcript:TXP"
    _with_line(gff, 4, bad)
    with pytest.raises(FormatError, match=r"mini\.gff3:4: contig 'chr9' is not in the reference"):
        read_gff3(gff, fasta)


def test_a_feature_past_the_contig_end_names_file_and_line(tmp_path: Path) -> None:
    fasta, gff = write_mini_genome(tmp_path)
    _with_line(gff, 8, "chrT\ttest\texon\t121\t260\t.\t+\t.\tParent=transcript:TXP")
    with pytest.raises(FormatError, match=r"mini\.gff3:8: exon ends at 260, past the end of chrT"):
        read_gff3(gff, fasta)


def test_a_cds_not_a_multiple_of_three_names_its_last_cds_line(tmp_path: Path) -> None:
    fasta, gff = write_mini_genome(tmp_path)
    _with_line(gff, 9, "chrT\ttest\tCDS\t121\t150\t.\t+\t1\tParent=transcript:TXP")
    with pytest.raises(FormatError, match=r"mini\.gff3:9: CDS of transcript TXP is 80 bp"):
        read_gff3(gff, fasta)


def test_a_cds_outside_its_exons_is_refused(tmp_path: Path) -> None:
    fasta, gff = write_mini_genome(tmp_path)
    _with_line(gff, 7, "chrT\ttest\tCDS\t68\t100\t.\t+\t1\tParent=transcript:TXP")
    with pytest.raises(FormatError, match=r"mini\.gff3:7: CDS 68-100 of TXP is outside its exons"):
        read_gff3(gff, fasta)


def test_an_exon_before_its_transcript_and_a_short_line_are_format_errors(tmp_path: Path) -> None:
    fasta, gff = write_mini_genome(tmp_path)
    _with_line(gff, 4, "chrT\ttest\texon\t21\t50\t.\t+\t.\tParent=transcript:NOPE")
    with pytest.raises(FormatError, match=r":4: exon names unknown transcript 'NOPE'"):
        read_gff3(gff, fasta)
    _with_line(gff, 2, "chrT\ttest\tgene\t21")
    with pytest.raises(FormatError, match=r":2: expected 9 tab-separated columns, got 4"):
        read_gff3(gff, fasta)


def test_a_cds_phase_that_disagrees_with_the_lengths_is_refused(tmp_path: Path) -> None:
    # 50 coding bases come before exon 3's CDS: 50 % 3 = 2, so 1 base completes a codon.
    fasta, gff = write_mini_genome(tmp_path)
    _with_line(gff, 9, "chrT\ttest\tCDS\t121\t151\t.\t+\t2\tParent=transcript:TXP")
    with pytest.raises(FormatError, match=r"mini\.gff3:9: CDS phase 2 of TXP, expected 1"):
        read_gff3(gff, fasta)


def _gff3_cases() -> list[tuple[str, bytes, str]]:
    packed = gzip.compress(GFF3.encode(), mtime=0)
    lines = GFF3.encode().split(b"\n")
    lines[5] = lines[5].replace(b"Parent", b"Par\xffent")
    bad = b"\n".join(lines)
    return [
        ("genes.gff3", bad, r"genes\.gff3:6: not UTF-8"),
        ("genes.gff3.gz", packed[:-12], r"genes\.gff3\.gz: not a readable gzip file"),
        ("genes.gff3.gz", packed[:40] + b"\x00" * 16 + packed[56:],
         r"genes\.gff3\.gz: not a readable gzip file"),
        ("genes.gff3.gz", gzip.compress(bad, mtime=0), r"genes\.gff3\.gz:6: not UTF-8"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "body", "message"),
    _gff3_cases(),
    ids=["not-utf8", "gz-truncated", "gz-corrupt", "gz-not-utf8"],
)
def test_an_unreadable_gff3_is_refused_naming_the_file_and_line(
    tmp_path: Path, name: str, body: bytes, message: str
) -> None:
    # Found by bench/fuzz.py's gff3 kinds: UnicodeDecodeError, zlib.error and EOFError
    # escaped read_gff3.
    fasta, _ = write_mini_genome(tmp_path)
    path = tmp_path / name
    path.write_bytes(body)
    with pytest.raises(FormatError, match=message):
        read_gff3(path, fasta)


def test_a_gff3_with_crlf_line_ends_reads_as_with_lf(tmp_path: Path) -> None:
    fasta, lf = write_mini_genome(tmp_path)
    crlf = tmp_path / "crlf.gff3"
    crlf.write_bytes(GFF3.replace("\n", "\r\n").encode())
    assert read_gff3(crlf, fasta).transcripts == read_gff3(lf, fasta).transcripts


@pytest.mark.parametrize("packed", [False, True], ids=["plain", "gz"])
def test_a_bad_byte_far_into_a_large_file_names_its_line(tmp_path: Path, packed: bool) -> None:
    # Lines are decoded in chunks for speed; a chunk that is not UTF-8 is read again line
    # by line from where the chunks stopped, so the line named is the right one.
    from seqoia.genomics.transcripts import _open_text

    lines = [
        f"chr1\tsrc\tregion\t{i}\t{i + 10}\t.\t+\t.\tID=r{i}\n".encode() for i in range(1, 50_001)
    ]
    lines[40_000] = lines[40_000].replace(b"ID=", b"I\xffD=")
    path = tmp_path / ("big.gff3.gz" if packed else "big.gff3")
    path.write_bytes(gzip.compress(b"".join(lines)) if packed else b"".join(lines))
    seen = 0
    with pytest.raises(FormatError, match=r"big\.gff3(\.gz)?:40001: not UTF-8: byte 0xFF"):
        for line in _open_text(path):
            seen += 1
            assert line == lines[seen - 1].decode()  # nothing skipped, nothing twice
    assert seen == 40_000
