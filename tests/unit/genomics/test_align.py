"""Alignment of paired FASTQ files into one sorted, fixmated sample BAM."""

from __future__ import annotations

import functools
import gzip
import shutil
from pathlib import Path
from types import SimpleNamespace

import pysam
import pytest

from seqoia.errors import FormatError
from seqoia.genomics import align as align_module
from seqoia.genomics.align import (
    AlignStats,
    FastqPair,
    ReadGroup,
    align_sample,
    read_fastq,
    read_pairs,
)
from seqoia.genomics.fastq_qc import fastq_metrics, metrics_of, new_counts

from .helpers import SampleData, sample_data, write_fastq_pair

_REVCOMP = str.maketrans("ACGT", "TGCA")


@functools.cache
def aligned(use_binaries: bool) -> tuple[Path, AlignStats]:
    """The shared sample aligned once per path (samtools program or pysam in-process)."""
    data = sample_data()
    out = data.folder / f"aligned-{'bin' if use_binaries else 'pysam'}.bam"
    # Small scratch chunks on the pysam path, so that chunking and merging are exercised.
    saved, align_module._CHUNK_PAIRS = align_module._CHUNK_PAIRS, 4000
    try:
        stats = align_sample(data.pairs, data.reference, out, threads=2, use_binaries=use_binaries)
    finally:
        align_module._CHUNK_PAIRS = saved
    return out, stats


@pytest.mark.parametrize("use_binaries", [False, True], ids=["pysam", "samtools-binary"])
def test_mappy_alignment_merges_lanes_into_one_sorted_bam_with_a_read_group_each(
    use_binaries: bool,
) -> None:
    if use_binaries and shutil.which("samtools") is None:
        pytest.skip("samtools program not installed")
    data = sample_data()
    bam, stats = aligned(use_binaries)
    assert stats.read_pairs == 9050
    assert stats.primary_reads == 2 * 9050
    assert stats.mapped_fraction > 0.995
    assert stats.properly_paired > 0.98 * stats.primary_reads
    with pysam.AlignmentFile(str(bam)) as handle:
        header = handle.header.to_dict()
        assert header["HD"]["SO"] == "coordinate"
        assert {g["ID"] for g in header["RG"]} == {"FC1.1", "FC1.2"}
        assert {g["SM"] for g in header["RG"]} == {"S1"}
        last = (-1, -1)
        by_group = {"FC1.1": 0, "FC1.2": 0}
        for read in handle:
            if read.is_unmapped:
                continue
            key = (read.reference_id, read.reference_start)
            assert key >= last
            last = key
            by_group[read.get_tag("RG")] += 1
            assert read.has_tag("MC") and read.has_tag("ms") and read.has_tag("NM")
            assert read.query_length == read.infer_query_length()
    assert by_group["FC1.1"] > 0.99 * 2 * 4550 and by_group["FC1.2"] > 0.99 * 2 * 4500
    assert data.pairs[0].r1.exists()


def test_reverse_strand_reads_are_stored_reverse_complemented_with_reversed_qualities(
    tmp_path: Path,
) -> None:
    data = sample_data()
    genome = pysam.FastaFile(str(data.reference.fasta))
    seq = genome.fetch("chrA", 10_000, 10_400)
    r1 = seq[:100]
    r2 = seq[300:400].translate(_REVCOMP)[::-1]
    # A 30-base adapter tail on R1 must come out as a soft clip.
    tail = "ACGTTGCA" * 3 + "TTAGGC"
    quals1 = "".join(chr(33 + 10 + i % 30) for i in range(130))
    quals2 = "".join(chr(33 + 5 + i % 35) for i in range(100))
    records = [("p1", r1 + tail, quals1, r2, quals2)]
    write_fastq_pair(records, tmp_path / "r1.fq.gz", tmp_path / "r2.fq.gz")
    group = ReadGroup(id="x", sample="X", library="L", platform_unit="u")
    pair = FastqPair(r1=tmp_path / "r1.fq.gz", r2=tmp_path / "r2.fq.gz", read_group=group)
    out = tmp_path / "one.bam"
    align_sample([pair], data.reference, out, threads=1, use_binaries=False)
    with pysam.AlignmentFile(str(out)) as handle:
        reads = {read.is_read1: read for read in handle}
    first, second = reads[True], reads[False]
    assert not first.is_reverse and second.is_reverse
    assert first.reference_start == 10_000 and second.reference_start == 10_300
    # The tail may match the genome for a base or two by chance: the clip takes the rest.
    assert first.cigartuples[-1][0] == 4 and 26 <= first.cigartuples[-1][1] <= 30
    assert first.query_sequence == r1 + tail
    assert first.is_proper_pair and second.is_proper_pair
    assert first.template_length == 400 and second.template_length == -400
    assert second.query_sequence == seq[300:400]
    assert "".join(chr(q + 33) for q in second.query_qualities) == quals2[::-1]
    assert second.next_reference_start == 10_000 and second.mate_is_forward


@pytest.mark.parametrize("program", ["minimap2", "bwa"])
def test_external_aligners_produce_the_same_kind_of_bam(program: str, tmp_path: Path) -> None:
    if shutil.which(program) is None:
        pytest.skip(f"{program} program not installed")
    data = sample_data()
    if program == "bwa" and data.reference.bwa_index is None:
        pytest.skip("reference prepared without bwa")
    out = tmp_path / f"{program}.bam"
    stats = align_sample(data.pairs[1:], data.reference, out, threads=2, aligner=program)
    assert stats.read_pairs == 4500 and stats.mapped_fraction > 0.995
    with pysam.AlignmentFile(str(out)) as handle:
        assert [g["ID"] for g in handle.header.to_dict()["RG"]] == ["FC1.2"]
        assert all(r.get_tag("RG") == "FC1.2" and r.has_tag("MC") for r in handle.head(200))


def _pair_from(data: SampleData, tmp_path: Path, r1: bytes, r2: bytes) -> FastqPair:
    (tmp_path / "a_R1.fastq.gz").write_bytes(r1)
    (tmp_path / "a_R2.fastq.gz").write_bytes(r2)
    return FastqPair(r1=tmp_path / "a_R1.fastq.gz", r2=tmp_path / "a_R2.fastq.gz",
                     read_group=data.pairs[0].read_group)  # fmt: skip


def _lane_bytes(data: SampleData) -> tuple[bytes, bytes]:
    return data.pairs[1].r1.read_bytes(), data.pairs[1].r2.read_bytes()


def test_truncated_gzip_fastq_raises_format_error_naming_the_file(tmp_path: Path) -> None:
    data = sample_data()
    r1, r2 = _lane_bytes(data)
    pair = _pair_from(data, tmp_path, r1, r2[: len(r2) // 2])
    with pytest.raises(FormatError, match="a_R2.fastq.gz"):
        align_sample([pair], data.reference, tmp_path / "x.bam", threads=2, use_binaries=False)


def test_corrupt_gzip_fastq_raises_format_error_naming_the_file(tmp_path: Path) -> None:
    data = sample_data()
    r1, r2 = _lane_bytes(data)
    broken = bytearray(r1)
    broken[len(broken) // 3 : len(broken) // 3 + 64] = bytes(64)
    pair = _pair_from(data, tmp_path, bytes(broken), r2)
    with pytest.raises(FormatError, match="a_R1.fastq.gz"):
        align_sample([pair], data.reference, tmp_path / "x.bam", threads=2)
    assert not (tmp_path / "x.bam").exists()


def test_r2_with_fewer_records_than_r1_raises_format_error_naming_r2(tmp_path: Path) -> None:
    data = sample_data()
    text = gzip.decompress(data.pairs[1].r2.read_bytes()).decode()
    shorter = "".join(text.splitlines(keepends=True)[:-8])
    r1, _ = _lane_bytes(data)
    pair = _pair_from(data, tmp_path, r1, gzip.compress(shorter.encode()))
    with pytest.raises(FormatError, match=r"a_R2.fastq.gz.*fewer records"):
        align_sample([pair], data.reference, tmp_path / "x.bam", threads=2)


def test_a_record_cut_in_the_middle_raises_format_error_with_its_line(tmp_path: Path) -> None:
    fastq = tmp_path / "cut.fastq"
    fastq.write_text("@r1/1\nACGT\n+\nIIII\n@r2/1\nACGT\n")
    with pytest.raises(FormatError, match=r"cut.fastq:5") as caught:
        list(read_fastq(fastq))
    assert caught.value.line == 5


def test_fastq_read_in_small_chunks_gives_the_same_records_and_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records cut by chunk boundaries are whole, and the metrics counted on the way are
    fastq_metrics' own (align reads its FASTQ once)."""
    data = sample_data()
    pair = data.pairs[1]
    whole = list(read_pairs(pair))
    counts = new_counts()
    monkeypatch.setattr(align_module, "_READ_BYTES", 997)  # cuts records anywhere
    assert list(read_pairs(pair, counts=counts)) == whole
    assert metrics_of(counts) == fastq_metrics([pair.r1, pair.r2])
    assert metrics_of(counts).records == 2 * len(whole) > 0


def test_a_blank_line_inside_the_fastq_is_refused_with_its_line_across_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(align_module, "_READ_BYTES", 7)
    fastq = tmp_path / "blank.fastq"
    fastq.write_text("@r1/1\nACGT\n+\nIIII\n\n\n\n\n@r2/1\nACGT\n+\nIIII\n")
    with pytest.raises(FormatError, match=r"blank.fastq:5: blank line inside"):
        list(read_fastq(fastq))
    fastq.write_text("@r1/1\nACGT\n+\nIIII\n\n \n\n\n\n\n")
    assert list(read_fastq(fastq)) == [("r1", "ACGT", "IIII")]


def test_mismatched_read_names_raise_format_error_with_the_line(tmp_path: Path) -> None:
    data = sample_data()
    (tmp_path / "1.fq").write_text("@a/1\nACGT\n+\nIIII\n")
    (tmp_path / "2.fq").write_text("@b/2\nACGT\n+\nIIII\n")
    pair = FastqPair(r1=tmp_path / "1.fq", r2=tmp_path / "2.fq",
                     read_group=data.pairs[0].read_group)  # fmt: skip
    with pytest.raises(FormatError, match=r"2.fq:1: read names differ"):
        align_sample([pair], data.reference, tmp_path / "x.bam", threads=1)


def test_read_group_fields_refuse_tabs() -> None:
    with pytest.raises(ValueError, match="tabs"):
        ReadGroup(id="a\tb", sample="S", library="L", platform_unit="u")


def test_empty_reads_and_trailing_blank_lines_are_accepted(tmp_path: Path) -> None:
    data = sample_data()
    seq = pysam.FastaFile(str(data.reference.fasta)).fetch("chrB", 1000, 1100)
    (tmp_path / "1.fq").write_text("@t/1\n\n+\n\n\n")
    (tmp_path / "2.fq").write_text(f"@t/2\n{seq}\n+\n{'F' * 100}\n\n")
    assert list(read_fastq(tmp_path / "1.fq")) == [("t", "", "")]
    pair = FastqPair(r1=tmp_path / "1.fq", r2=tmp_path / "2.fq",
                     read_group=data.pairs[0].read_group)  # fmt: skip
    stats = align_sample([pair], data.reference, tmp_path / "e.bam", threads=1, use_binaries=False)
    assert (stats.read_pairs, stats.mapped_primary) == (1, 1)
    with pysam.AlignmentFile(str(tmp_path / "e.bam")) as handle:
        reads = {r.is_read1: r for r in handle}
    assert reads[True].is_unmapped and reads[True].query_sequence is None
    assert reads[False].reference_start == 1000 and reads[True].reference_start == 1000


def test_a_chimeric_read_gets_a_supplementary_record_and_sa_tags(tmp_path: Path) -> None:
    # minimap2 reports supplementary alignments of single reads; in paired mode it keeps
    # one, so the formatter is fed a chimeric R1's hits as mappy gives them unpaired.
    import mappy

    data = sample_data()
    fasta = pysam.FastaFile(str(data.reference.fasta))
    r1 = fasta.fetch("chrA", 5000, 5100) + fasta.fetch("chrB", 8000, 8100)
    r2 = fasta.fetch("chrA", 5200, 5300).translate(_REVCOMP)[::-1]
    index = mappy.Aligner(str(data.reference.mmi), preset="sr")
    fields = ("ctg", "r_st", "r_en", "q_st", "q_en", "strand", "mapq", "cigar_str", "cigar",
              "NM", "is_primary")  # fmt: skip
    hits = [SimpleNamespace(read_num=n, **{f: getattr(h, f) for f in fields})
            for n, seq in ((1, r1), (2, r2)) for h in index.map(seq)]  # fmt: skip
    assert sum(h.read_num == 1 for h in hits) == 2
    lines: list[str] = []
    align_module.format_pair(lines, "c1", r1, "F" * 200, r2, "F" * 100, hits, "x", 1000, False)
    sam = tmp_path / "c.sam"
    header = "".join(f"@SQ\tSN:{c.name}\tLN:{c.length}\n" for c in data.reference.contigs)
    sam.write_text(header + "@RG\tID:x\tSM:X\n" + "".join(lines))
    with pysam.AlignmentFile(str(sam)) as handle:
        records = list(handle)
    assert len(records) == 3
    primary, supplementary, mate = records
    assert primary.is_read1 and not primary.is_supplementary and primary.reference_name == "chrA"
    assert supplementary.is_supplementary and supplementary.reference_name == "chrB"
    assert supplementary.reference_start == 8000 and supplementary.cigarstring.startswith("100S")
    assert primary.get_tag("SA").startswith("chrB,8001,+,100S100M,")
    assert supplementary.get_tag("SA").startswith("chrA,5001,+,")
    assert mate.is_read2 and mate.is_reverse and mate.next_reference_start == 5000
    assert primary.template_length == 300 and supplementary.template_length == 0
