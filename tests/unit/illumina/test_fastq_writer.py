"""FASTQ record matrices: filled from codes two cycles per lookup, they give the same text
as the straightforward formatter, for odd and even read lengths."""

from __future__ import annotations

import numpy as np
import pytest

from seqoia.illumina.bcl import BCL_BASE_LUT, BCL_QUAL_LUT
from seqoia.illumina.fastq_writer import (
    RecordMatrix,
    digits,
    fastq_text,
    format_fastq,
    pair_table,
)


def test_digits_right_align_in_a_fixed_width_and_pad_with_zero_bytes() -> None:
    out = digits(np.array([0, 7, 1234, -56]), width=6)
    assert out.shape == (4, 6)
    texts = [bytes(row[row != 0]).decode() for row in out]
    assert texts == ["0", "7", "1234", "-56"]
    assert out[2].tolist()[:2] == [0, 0]
    with pytest.raises(ValueError):
        digits(np.array([123456]), width=3)


@pytest.mark.parametrize("length", [1, 8, 151, 150])
def test_record_matrix_from_codes_matches_format_fastq(length: int) -> None:
    rng = np.random.default_rng(length)
    n = 2500  # more than one lookup block
    codes = rng.integers(0, 256, size=(n, length + (length & 1) + 2), dtype=np.uint8)
    codes[:, 0] = 0  # no-calls
    seg = codes[:, 2 : 2 + length]
    bases, quals = BCL_BASE_LUT[seg], BCL_QUAL_LUT[seg]
    x = rng.integers(0, 30000, size=n)
    header = [b"M:1:FC:1:1101:", x, b" 1:N:0:ACGT"]
    want = format_fastq(header, bases, quals)

    # The header zero-padded to a fixed width, as the demultiplexer lays it out.
    parts = [
        np.broadcast_to(np.frombuffer(b"@M:1:FC:1:1101:", dtype=np.uint8), (n, 15)),
        digits(x, 5),
        np.broadcast_to(np.frombuffer(b" 1:N:0:ACGT\n", dtype=np.uint8), (n, 12)),
    ]
    head = np.concatenate(parts, axis=1)
    col = head.shape[1]
    rec = RecordMatrix(col, length, capacity=n + 10)
    assert rec.seq_col % 2 == 0 and rec.qual_col % 2 == 0 and rec.width % 2 == 0
    rec.rows[:n, :col] = head[:, :col]
    rec.fill(n, codes, 1, pair_table(BCL_BASE_LUT), pair_table(BCL_QUAL_LUT, 33))
    assert fastq_text(rec.rows[:n]) == want
    # The same rows from ASCII bases and scores (the EAMSS path).
    rec.put(n, bases, quals)
    assert fastq_text(rec.rows[:n]) == want
