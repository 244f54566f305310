"""NovaSeq CBCL: header, random access to one tile, PF-only blocks, trailer-less members."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np
import pytest

from seqoia.errors import FormatError
from seqoia.illumina.cbcl import CbclTileReader, read_cbcl_header, read_cbcl_tile
from seqoia.illumina.filters import read_filter

DATA = Path(__file__).parents[2] / "data" / "illumina" / "demux"
NOVA = DATA / "bcl2fastr-novaseq-cbcl/190414_A00111_0296_AHJCWWDSXX/Data/Intensities/BaseCalls/L001"
P151 = DATA / "picard-151T8B8B151T-cbcl/Data/Intensities/BaseCalls/L001"


def test_cbcl_header_lists_bins_tiles_and_the_pf_only_flag() -> None:
    h = read_cbcl_header(NOVA / "C21.1" / "L001_1.cbcl")
    assert (h.version, h.bits_per_base, h.bits_per_quality) == (1, 2, 2)
    assert h.bins == (0, 11, 25, 37)
    assert [(t.tile, t.cluster_count) for t in h.tiles] == [(1101, 79), (1102, 83), (1103, 83)]
    assert h.non_pf_clusters_excluded
    assert not read_cbcl_header(NOVA / "C1.1" / "L001_1.cbcl").non_pf_clusters_excluded


def test_cbcl_reader_places_pf_only_blocks_through_filter() -> None:
    pf = read_filter(NOVA / "s_1_1102.filter")
    bases, quals = read_cbcl_tile(NOVA / "C22.1" / "L001_1.cbcl", 1102, pf=pf)
    assert len(bases) == 100
    # Non-PF clusters are absent from the block: they come back as no-calls.
    assert set(bases[~pf].tobytes()) == {ord("N")}
    assert np.count_nonzero(bases[pf] != ord("N")) > 70
    # The first cycle of read 2 is a no-call on every cluster, PF or not.
    first, _ = read_cbcl_tile(NOVA / "C21.1" / "L001_1.cbcl", 1102, pf=pf)
    assert set(first.tobytes()) == {ord("N")}


def test_cbcl_tile_is_read_without_touching_other_tiles(tmp_path: Path) -> None:
    src = NOVA / "C1.1" / "L001_1.cbcl"
    h = read_cbcl_header(src)
    data = bytearray(src.read_bytes())
    first = h.record(1101)
    data[first.offset : first.offset + first.compressed_size] = b"\0" * first.compressed_size
    damaged = tmp_path / "L001_1.cbcl"
    damaged.write_bytes(bytes(data))
    pf = read_filter(NOVA / "s_1_1103.filter")
    want = read_cbcl_tile(src, 1103, pf=pf)
    got = read_cbcl_tile(damaged, 1103, pf=pf)
    assert np.array_equal(want[0], got[0]) and np.array_equal(want[1], got[1])
    with pytest.raises(FormatError):
        read_cbcl_tile(damaged, 1101, pf=pf)


def test_gzip_members_without_trailer_decode_and_keep_bin_zero_as_q0() -> None:
    path = P151 / "C1.1" / "L001_1.cbcl"
    h = read_cbcl_header(path)
    rec = h.record(1101)
    block = path.read_bytes()[rec.offset : rec.offset + rec.compressed_size]
    trailerless = 0
    for cycle in range(1, 319):
        p = P151 / f"C{cycle}.1" / "L001_1.cbcl"
        r = read_cbcl_header(p).record(1101)
        b = p.read_bytes()[r.offset : r.offset + r.compressed_size]
        try:
            gzip.decompress(b)
        except EOFError:
            trailerless += 1
    assert trailerless > 0  # the quirk this dataset is known for
    assert len(zlib.decompressobj(31).decompress(block)) == rec.uncompressed_size
    pf = read_filter(P151 / "s_1_1101.filter")
    bases, quals = read_cbcl_tile(path, 1101, pf=pf)
    assert len(bases) == 28
    called_q0 = (bases != ord("N")) & (quals == 0)
    nocall = bases == ord("N")
    assert set(quals[nocall].tolist()) <= {2}
    assert set(quals[~nocall].tolist()) <= {0, 12, 23, 37}
    # Bin 0 on a called base is Q0 (Picard writes "!"), not a no-call.
    assert called_q0.any()


def test_cbcl_chunked_reads_join_to_the_whole_tile() -> None:
    path = NOVA / "C23.1" / "L001_1.cbcl"
    pf = read_filter(NOVA / "s_1_1101.filter")
    h = read_cbcl_header(path)
    with CbclTileReader(h, 1101, cluster_count=100) as reader:
        parts = [reader.read(n, pf[a : a + n]) for a, n in ((0, 33), (33, 1), (34, 66))]
    with CbclTileReader(h, 1101, cluster_count=100) as reader:
        whole = reader.read(100, pf)
    assert np.array_equal(np.concatenate(parts), whole)


def test_truncated_cbcl_block_is_a_format_error_naming_the_file(tmp_path: Path) -> None:
    src = NOVA / "C2.1" / "L001_1.cbcl"
    bad = tmp_path / "L001_1.cbcl"
    bad.write_bytes(src.read_bytes()[:-10])
    with pytest.raises(FormatError, match="truncated") as info:
        read_cbcl_header(bad)
    assert info.value.file == str(bad)


def test_corrupt_cbcl_gzip_is_a_format_error_naming_the_file(tmp_path: Path) -> None:
    src = NOVA / "C2.1" / "L001_1.cbcl"
    h = read_cbcl_header(src)
    data = bytearray(src.read_bytes())
    rec = h.record(1102)
    data[rec.offset + 10 : rec.offset + 16] = b"\xff" * 6
    bad = tmp_path / "L001_1.cbcl"
    bad.write_bytes(bytes(data))
    with pytest.raises(FormatError) as info:
        read_cbcl_tile(bad, 1102, pf=read_filter(NOVA / "s_1_1102.filter"))
    assert info.value.file == str(bad)
