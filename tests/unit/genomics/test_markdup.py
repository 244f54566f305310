"""Duplicate marking into a reference-compressed, indexed CRAM."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import pysam
import pytest

from seqoia.errors import InputError
from seqoia.genomics.markdup import DuplicateStats, mark_duplicates

from .helpers import sample_data
from .test_align import aligned


@functools.cache
def marked(use_binaries: bool) -> tuple[Path, DuplicateStats]:
    data = sample_data()
    bam, _ = aligned(bool(use_binaries and shutil.which("samtools")))
    out = data.folder / f"S1-{'bin' if use_binaries else 'pysam'}.md.cram"
    return out, mark_duplicates(bam, data.reference, out, threads=2, use_binaries=use_binaries)


@pytest.mark.parametrize("use_binaries", [False, True], ids=["pysam", "samtools-binary"])
def test_markdup_writes_an_indexed_cram_with_planted_duplicates_flagged(
    use_binaries: bool,
) -> None:
    if use_binaries and shutil.which("samtools") is None:
        pytest.skip("samtools program not installed")
    data = sample_data()
    cram, stats = marked(use_binaries)
    assert Path(str(cram) + ".crai").exists()
    # Planted: 50 exact copies of earlier pairs; random collisions may add a few more.
    assert 2 * data.duplicate_pairs <= stats.duplicate_pair_reads <= 2 * data.duplicate_pairs + 30
    assert stats.duplicate_total == stats.duplicate_pair_reads + stats.duplicate_single_reads
    assert stats.duplicate_fraction == pytest.approx(stats.duplicate_total / stats.examined)
    assert stats.reads == 2 * 9050
    with pysam.AlignmentFile(str(cram), reference_filename=str(data.reference.fasta)) as handle:
        assert handle.is_cram and handle.has_index()
        assert {g["ID"] for g in handle.header.to_dict()["RG"]} == {"FC1.1", "FC1.2"}
        flagged = [r.query_name for r in handle if r.is_duplicate]
        # Region queries work through the .crai.
        assert handle.count("chrB", 5000, 6000) > 50
    assert len(flagged) == stats.duplicate_total
    originals = {f"sim{i}" for i in range(data.duplicate_pairs)}
    copies = {f"dup{i}" for i in range(data.duplicate_pairs)}
    # Of each planted original/copy pair exactly one is marked, never both.
    for i in range(data.duplicate_pairs):
        assert (f"sim{i}" in flagged) != (f"dup{i}" in flagged)
    assert len(set(flagged) & (originals | copies)) == data.duplicate_pairs


def test_markdup_refuses_a_bam_that_is_not_coordinate_sorted(tmp_path: Path) -> None:
    data = sample_data()
    bam, _ = aligned(False)
    collated = tmp_path / "collated.bam"
    pysam.samtools.collate("-o", str(collated), str(bam), catch_stdout=False)
    with pytest.raises(InputError, match="coordinate-sorted"):
        mark_duplicates(collated, data.reference, tmp_path / "x.cram", threads=1)
