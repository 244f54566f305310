"""Adopted FASTQ lose the file name gzip stored in their header (issue 12, item 15)."""

from __future__ import annotations

import gzip
import subprocess
from pathlib import Path

import pytest

from seqoia.errors import FormatError
from seqoia.illumina.gzip_header import copy_without_name


def test_a_named_gzip_is_copied_without_its_name_and_with_the_same_content(
    tmp_path: Path,
) -> None:
    source = tmp_path / "DUPONT_Marie_S1_L001_R1_001.fastq"
    source.write_text("@r1\nACGT\n+\nFFFF\n" * 1000)
    subprocess.run(["gzip", "-k", str(source)], check=True)  # gzip(1) stores the name
    named = source.with_suffix(".fastq.gz")
    assert b"DUPONT" in named.read_bytes()[:64]
    target = tmp_path / "S01_S1_L001_R1_001.fastq.gz"
    copy_without_name(named, target)
    assert b"DUPONT" not in target.read_bytes()
    assert gzip.decompress(target.read_bytes()) == source.read_bytes()
    result = subprocess.run(["gzip", "-t", str(target)], capture_output=True)
    assert result.returncode == 0, result.stderr


def test_a_gzip_without_a_name_is_copied_unchanged(tmp_path: Path) -> None:
    source = tmp_path / "a.gz"
    source.write_bytes(gzip.compress(b"@r\nA\n+\nF\n", mtime=0))
    copy_without_name(source, tmp_path / "b.gz")
    assert (tmp_path / "b.gz").read_bytes() == source.read_bytes()


def test_a_file_that_is_not_gzip_is_a_format_error(tmp_path: Path) -> None:
    source = tmp_path / "plain.fastq.gz"
    source.write_text("@r\nA\n+\nF\n")
    with pytest.raises(FormatError, match="not a gzip file"):
        copy_without_name(source, tmp_path / "out.gz")
