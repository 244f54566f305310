"""Picard's EAMSS mask: reproduces Picard's qualities on every read of a real tile set."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seqoia.illumina.bcl import read_bcl
from seqoia.illumina.eamss import apply_eamss
from seqoia.illumina.locs import name_coordinates, read_clocs

DATA = Path(__file__).parents[2] / "data" / "illumina" / "demux" / "picard-25T8B25T"


def one(seq: str, quals: list[int]) -> list[int]:
    b = np.frombuffer(seq.encode(), dtype=np.uint8).reshape(1, -1).copy()
    q = np.asarray([quals], dtype=np.uint8)
    apply_eamss(b, q)
    return q[0].tolist()


def test_eamss_masks_from_the_earliest_maximum_of_the_tail_tally() -> None:
    # Picard's documented example: the mask starts at the third base.
    assert one("ACTGGGTCA", [32, 32, 16, 15, 8, 10, 32, 2, 2]) == [32, 32] + [2] * 7


def test_eamss_leaves_high_quality_reads_alone() -> None:
    assert one("ACGTACGTAC", [35] * 10) == [35] * 10
    assert one("ACGTACGTAC", [35] * 9 + [20]) == [35] * 9 + [20]


def test_eamss_extends_the_mask_over_a_poly_g_stretch() -> None:
    seq = "ACGTACGTAC" + "G" * 12 + "ACG"
    quals = [35] * 10 + [35] * 12 + [5, 5, 5]
    got = one(seq, quals)
    assert got == [35] * 10 + [2] * 15


def test_eamss_reproduces_picard_qualities_of_every_non_barcoded_read() -> None:
    expected = {}
    for r in (1, 2):
        lines = (DATA / f"fastq/nonBarcoded.{r}.fastq").read_text().splitlines()
        for i in range(0, len(lines), 4):
            expected[(lines[i].split()[0], r)] = (lines[i + 1], lines[i + 3])
    checked = masked = 0
    for tile in (1101, 1201, 2101):
        calls = [
            read_bcl(DATA / f"Data/Intensities/BaseCalls/L001/C{c}.1/s_1_{tile}.bcl")
            for c in range(1, 59)
        ]
        bases = np.stack([b for b, _ in calls], axis=1)
        quals = np.stack([q for _, q in calls], axis=1)
        x, y = read_clocs(DATA / f"Data/Intensities/L001/s_1_{tile}.clocs")
        xs, ys = name_coordinates(x), name_coordinates(y)
        for r, cols in ((1, slice(0, 25)), (2, slice(33, 58))):
            b, q = bases[:, cols].copy(), quals[:, cols].copy()
            masked += int(apply_eamss(b, q).sum())
            for i in range(len(b)):
                seq, qual = expected[(f"@machine1:HiMom:abcdeACXX:1:{tile}:{xs[i]}:{ys[i]}", r)]
                assert b[i].tobytes().decode() == seq
                assert (q[i] + 33).tobytes().decode() == qual
                checked += 1
    assert checked == 360 and masked > 50
