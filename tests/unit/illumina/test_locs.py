"""Cluster positions and the coordinates they give read names."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seqoia.illumina.locs import name_coordinates, read_clocs, read_locs

DATA = Path(__file__).parents[2] / "data" / "illumina" / "demux"


def names_in(fastq: Path, lane: int, tile: int) -> set[tuple[int, int]]:
    out = set()
    for line in fastq.read_text().splitlines()[::4]:
        fields = line.split()[0].split(":")
        if int(fields[3]) == lane and int(fields[4]) == tile:
            out.add((int(fields[5]), int(fields[6])))
    return out


def test_clocs_coordinates_reproduce_every_picard_read_name() -> None:
    ds = DATA / "picard-25T8B25T"
    for tile in (1101, 1201, 2101):
        x, y = read_clocs(ds / f"Data/Intensities/L001/s_1_{tile}.clocs")
        ours = set(zip(name_coordinates(x).tolist(), name_coordinates(y).tolist(), strict=True))
        assert len(x) == 60
        assert ours == names_in(ds / "fastq/nonBarcoded.1.fastq", 1, tile)


def test_locs_coordinates_reproduce_every_picard_read_name_in_both_lanes() -> None:
    ds = DATA / "picard-25T8B8B25T"
    for lane, tile in ((1, 1101), (2, 1201)):
        x, y = read_locs(ds / f"Data/Intensities/L00{lane}/s_{lane}_{tile}.locs")
        ours = set(zip(name_coordinates(x).tolist(), name_coordinates(y).tolist(), strict=True))
        expected = set()
        for f in (ds / "fastq").glob("*.multilane.1.fastq"):
            expected |= names_in(f, lane, tile)
        assert ours == expected and len(ours) == 60


def test_s_locs_is_shared_by_tiles_of_a_patterned_flow_cell() -> None:
    x, y = read_locs(
        DATA / "bcl2fastr-novaseq-cbcl/190414_A00111_0296_AHJCWWDSXX/Data/Intensities/s.locs"
    )
    assert name_coordinates(x)[:5].tolist() == [1000, 1018, 1036, 1054, 1072]
    assert set(name_coordinates(y).tolist()) == {1000}


def test_name_coordinates_round_halves_up_unlike_python_round() -> None:
    v = np.array([0.05, 0.25, 1.15, 12.65], dtype=np.float32)  # 10*v+1000 lands near .5
    assert name_coordinates(np.array([0.25], dtype=np.float32)).tolist() == [1003]
    assert round(1002.5) == 1002  # banker's rounding, which read names must not use
    assert name_coordinates(v).tolist() == [1001, 1003, 1012, 1127]
