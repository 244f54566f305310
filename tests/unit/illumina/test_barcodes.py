"""Barcode matching: bcl2fastq's per-index mismatches and Picard's concatenated rule."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from seqoia.errors import SampleSheetError
from seqoia.illumina.barcodes import IndexMatcher, PicardMatcher

DATA = Path(__file__).parents[2] / "data" / "illumina" / "demux"


def rows(*seqs: str) -> np.ndarray:
    return np.frombuffer("".join(seqs).encode(), dtype=np.uint8).reshape(len(seqs), -1)


def test_index_matcher_allows_mismatches_per_index_read_and_counts_n_as_one() -> None:
    m = IndexMatcher([("ACGTACGT", "TTTTCCCC"), ("GGGGAAAA", "CACACACA")], (1, 1))
    i7 = rows("ACGTACGT", "ACGTACGA", "ACGTACNT", "GGGGAAAA", "ACGTACAA", "GGGGAAAA")
    i5 = rows("TTTTCCCC", "TTTTCCCA", "TTTTCCCC", "CACACACA", "TTTTCCCC", "CACACAGG")
    assert m.match([i7, i5]).tolist() == [0, 0, 0, 1, -1, -1]


def test_index_matcher_refuses_colliding_samples_at_build_time() -> None:
    with pytest.raises(SampleSheetError, match="collision"):
        IndexMatcher([("ACGTACGT",), ("ACGTACCA",)], (1,))
    # Two mismatches apart is fine with 0 mismatches allowed, and with 1 only if unique.
    IndexMatcher([("ACGTACGT",), ("ACGTACCA",)], (0,))
    with pytest.raises(SampleSheetError, match="same index"):
        IndexMatcher([("ACGT", "AAAA"), ("ACGT", "AAAA")], (0, 0))


def test_index_matcher_resolves_shared_i7_through_i5() -> None:
    m = IndexMatcher([("ACGTACGT", "AAAAAAAA"), ("ACGTACGT", "CCCCCCCC")], (1, 1))
    got = m.match([rows("ACGTACGA", "ACGTACGT"), rows("CCCCCCCA", "AAAAAAAA")])
    assert got.tolist() == [1, 0]


def test_index_matcher_supports_two_mismatches() -> None:
    m = IndexMatcher([("AAAAAAAA",), ("CCCCCCCC",)], (2,))
    assert m.match([rows("AAAAAATT", "AAAAATTT", "CCCCCCNN")]).tolist() == [0, -1, 1]


def test_picard_matcher_reproduces_extract_illumina_barcodes_truth() -> None:
    ds = DATA / "picard-25T8B25T"
    params = (ds / "fastq/mp_barcode.params").read_text().splitlines()[1:]
    barcodes = [line.split("\t")[0] for line in params if line.split("\t")[0] != "N"]
    matcher = PicardMatcher(barcodes)
    for tile in (1101, 1201, 2101):
        truth = [
            line.split("\t")
            for line in gzip.decompress(
                (ds / f"Data/Intensities/BaseCalls/s_1_{tile}_barcode.txt.gz").read_bytes()
            )
            .decode()
            .splitlines()
        ]
        observed = rows(*(t[0].replace(".", "N") for t in truth))
        got, mism = matcher.match(observed)
        for k, t in enumerate(truth):
            matched = t[1] == "Y"
            assert (got[k] >= 0) == matched, t
            if matched:
                assert barcodes[got[k]] == t[2]
                assert mism[k] == int(t[3])


def test_picard_matcher_requires_a_margin_over_the_second_best() -> None:
    m = PicardMatcher(["AAAAAAAA", "AAAAAACC"], max_mismatches=1, min_mismatch_delta=1)
    got, _ = m.match(rows("AAAAAAAA", "AAAAAAAC", "AAAANAAA", "ANNNAAAA"))
    # exact; equidistant (1 vs 1) -> unmatched; no-calls don't count; too many no-calls.
    assert got.tolist() == [0, -1, 0, -1]
