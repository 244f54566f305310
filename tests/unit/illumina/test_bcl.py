"""Per-tile BCL decoding: lookup tables, gzip variants, and errors naming the file."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from seqoia.errors import FormatError
from seqoia.illumina.bcl import BclCycleReader, decode_bcl_bytes, read_bcl
from seqoia.illumina.filters import read_filter

DATA = Path(__file__).parents[2] / "data" / "illumina" / "demux"
BCL = DATA / "picard-25T8B25T/Data/Intensities/BaseCalls/L001/C1.1/s_1_1101.bcl"


def test_bcl_bytes_decode_to_bases_and_qualities_with_zero_as_no_call() -> None:
    raw = np.array([0, 0b100000_00, 0b100001_01, 0b000010_10, 0b111111_11], dtype=np.uint8)
    bases, quals = decode_bcl_bytes(raw)
    assert bases.tobytes() == b"NACGT"
    assert quals.tolist() == [2, 32, 33, 2, 63]


def test_read_bcl_decodes_a_real_picard_tile() -> None:
    bases, quals = read_bcl(BCL)
    assert len(bases) == 60
    assert bases[:10].tobytes() == b"NNNNNNNTNG"
    assert quals[7] == 34 and quals[0] == 2


def test_bcl_gz_and_multi_member_gzip_decode_like_plain_bcl(tmp_path: Path) -> None:
    data = BCL.read_bytes()
    one = tmp_path / "one.bcl.gz"
    one.write_bytes(gzip.compress(data))
    two = tmp_path / "two.bcl.gz"
    two.write_bytes(gzip.compress(data[:30]) + gzip.compress(data[30:]))
    plain = read_bcl(BCL)
    for path in (one, two):
        got = read_bcl(path)
        assert np.array_equal(got[0], plain[0]) and np.array_equal(got[1], plain[1])


def test_bcl_reader_streams_clusters_in_chunks() -> None:
    with BclCycleReader(BCL) as reader:
        chunks = [reader.read(25), reader.read(25), reader.read(10)]
        with pytest.raises(FormatError):
            reader.read(1)
    assert np.concatenate(chunks).tobytes() == BCL.read_bytes()[4:]


def test_truncated_bcl_is_a_format_error_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "s_1_1101.bcl"
    bad.write_bytes(BCL.read_bytes()[:-7])
    with pytest.raises(FormatError, match="truncated") as info:
        read_bcl(bad)
    assert info.value.file == str(bad)


def test_corrupt_bcl_gz_is_a_format_error_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "s_1_1101.bcl.gz"
    packed = bytearray(gzip.compress(BCL.read_bytes()))
    packed[12:20] = b"\xff" * 8
    bad.write_bytes(bytes(packed))
    with pytest.raises(FormatError) as info:
        read_bcl(bad)
    assert info.value.file == str(bad)


def test_missing_bcl_is_a_format_error_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="missing") as info:
        read_bcl(tmp_path / "C9.1" / "s_1_1101.bcl")
    assert info.value.file.endswith("C9.1/s_1_1101.bcl")


def test_filter_file_gives_pf_flags_and_checks_its_count(tmp_path: Path) -> None:
    path = DATA / "picard-25T8B25T/Data/Intensities/BaseCalls/L001/s_1_1101.filter"
    pf = read_filter(path)
    assert pf.dtype == bool and len(pf) == 60 and pf.sum() == 50
    bad = tmp_path / "s_1_1101.filter"
    bad.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(FormatError, match="declares 60 clusters"):
        read_filter(bad)
