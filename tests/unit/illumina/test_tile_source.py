"""Tile reader: chunks of one-byte codes whose tables give back the files' bases and
qualities, for CBCL (including cycles whose quality bins differ) and per-tile BCL."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from seqoia.illumina.bcl import read_bcl
from seqoia.illumina.cbcl import read_cbcl_header, read_cbcl_tile
from seqoia.illumina.filters import read_filter
from seqoia.illumina.simulate import RunSpec, write_run_folder
from seqoia.illumina.tile_source import TileReader, discover_tiles

CYCLES = list(range(1, 21))


def _cbcl_run(tmp_path: Path) -> Path:
    spec = RunSpec(
        format="cbcl",
        tiles_per_swath=2,
        clusters_per_tile=301,
        read_cycles=(10, 4, 4, 10),
        pf_excluded_cycles=(3, 12),
        seed=11,
    )
    run = tmp_path / "run"
    write_run_folder(run, spec)
    return run


def _set_bin_quality(path: Path, bin_no: int, quality: int) -> None:
    """Rewrite one quality bin of a CBCL header in place."""
    data = bytearray(path.read_bytes())
    (n_bins,) = struct.unpack_from("<I", data, 8)
    for i in range(n_bins):
        b, _ = struct.unpack_from("<II", data, 12 + 8 * i)
        if b == bin_no:
            struct.pack_into("<II", data, 12 + 8 * i, b, quality)
    path.write_bytes(bytes(data))


def _chunks(reader: TileReader, size: int) -> tuple[np.ndarray, np.ndarray]:
    bases, quals = [], []
    for chunk in reader.chunks(size):
        bases.append(chunk.bases.copy())
        quals.append(chunk.quals.copy())
    return np.concatenate(bases), np.concatenate(quals)


def test_cbcl_codes_decode_to_each_cycles_bases_and_quality_bins(tmp_path: Path) -> None:
    run = _cbcl_run(tmp_path)
    lane_dir = run / "Data" / "Intensities" / "BaseCalls" / "L001"
    # Cycles 5 and 7 get their own bin tables, so their values need codes past 15.
    _set_bin_quality(lane_dir / "C5.1" / "L001_1.cbcl", 3, 40)
    _set_bin_quality(lane_dir / "C7.1" / "L001_1.cbcl", 2, 30)
    ref = discover_tiles(run / "Data" / "Intensities" / "BaseCalls", 1)[1]
    pf = read_filter(lane_dir / f"s_1_{ref.tile}.filter")
    with TileReader(run, ref, CYCLES) as reader:
        # Odd chunk sizes cut packed bytes in two.
        bases, quals = _chunks(reader, 37)
    for k, cycle in enumerate(CYCLES):
        want_b, want_q = read_cbcl_tile(lane_dir / f"C{cycle}.1" / "L001_1.cbcl", ref.tile, pf=pf)
        assert np.array_equal(bases[:, k], want_b), cycle
        assert np.array_equal(quals[:, k], want_q), cycle
    assert 40 in set(quals[:, 4].tolist()) and 37 not in set(quals[:, 4].tolist())
    assert 30 in set(quals[:, 6].tolist())
    assert read_cbcl_header(lane_dir / "C3.1" / "L001_1.cbcl").non_pf_clusters_excluded
    assert set(bases[~pf, 2].tobytes()) == {ord("N")}


def test_bcl_codes_are_the_bcl_bytes(tmp_path: Path) -> None:
    for fmt in ("bcl", "bcl.gz"):
        spec = RunSpec(format=fmt, clusters_per_tile=257, read_cycles=(10, 4, 4, 10), seed=3)
        run = tmp_path / fmt
        write_run_folder(run, spec)
        ref = discover_tiles(run / "Data" / "Intensities" / "BaseCalls", 1)[0]
        with TileReader(run, ref, CYCLES) as reader:
            bases, quals = _chunks(reader, 100)
        suffix = ".gz" if fmt == "bcl.gz" else ""
        for k, cycle in enumerate(CYCLES):
            path = run / "Data/Intensities/BaseCalls/L001" / f"C{cycle}.1"
            want_b, want_q = read_bcl(path / f"s_1_{ref.tile}.bcl{suffix}")
            assert np.array_equal(bases[:, k], want_b), (fmt, cycle)
            assert np.array_equal(quals[:, k], want_q), (fmt, cycle)
