"""FASTQ output of the demultiplexer: file names, record formatting in bulk, gzip parts.

Records of a chunk are built as one uint8 matrix, one row per record, in which the
variable-width parts (decimal coordinates) are right-aligned and padded with byte 0;
dropping the zero bytes leaves the FASTQ text. No per-record Python formatting.

Compression uses isal (``isal_zlib``, level 1 by default), one gzip member per file per
tile part, so parts written by different processes or machines concatenate into a valid
``.fastq.gz`` (gzip members concatenate legally).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
from isal import isal_zlib

__all__ = [
    "GzipMemberWriter",
    "digits",
    "format_fastq",
    "illumina_fastq_name",
    "picard_fastq_name",
]

#: A header part: constant bytes, a fixed-width ASCII matrix (n, w), or integers (n,).
Part = bytes | np.ndarray


def illumina_fastq_name(sample_id: str, sample_number: int, lane: int | None, read: str) -> str:
    """``{Sample_ID}_S{n}_L00{lane}_{R1|R2|I1|I2}_001.fastq.gz``; no lane part when None."""
    lane_part = f"_L{lane:03d}" if lane is not None else ""
    return f"{sample_id}_S{sample_number}{lane_part}_{read}_001.fastq.gz"


def picard_fastq_name(prefix: str, read: str) -> str:
    """Picard's ``{prefix}.1.fastq``, ``.barcode_1``, ``.index_1`` names (gzipped here)."""
    return f"{prefix}.{read}.fastq.gz"


def digits(values: np.ndarray) -> np.ndarray:
    """Decimal ASCII of integers as an (n, w) matrix, right-aligned, padded with 0 bytes."""
    v = np.asarray(values, dtype=np.int64)
    n = len(v)
    negative = v < 0
    mag = np.abs(v)
    top = int(mag.max()) if n else 0
    width = max(len(str(top)), 1)
    out = np.zeros((n, width + int(negative.any())), dtype=np.uint8)
    rest = mag.copy()
    for k in range(width - 1, -1, -1):
        col = out.shape[1] - width + k
        d = (rest % 10).astype(np.uint8) + 48
        # A leading zero is padding, except the units digit of 0 itself.
        keep = (rest > 0) | (k == width - 1)
        out[:, col] = np.where(keep, d, 0)
        rest //= 10
    if negative.any():
        lengths = (out != 0).sum(axis=1)
        rows = np.flatnonzero(negative)
        out[rows, out.shape[1] - lengths[rows] - 1] = ord("-")
    return out


def _as_matrix(part: Part, n: int) -> np.ndarray:
    if isinstance(part, bytes):
        return np.broadcast_to(np.frombuffer(part, dtype=np.uint8), (n, len(part)))
    if part.ndim == 1:
        return digits(part)
    return part


def format_fastq(
    header: Sequence[Part], bases: np.ndarray, quals: np.ndarray, *, phred_offset: int = 33
) -> bytes:
    """Format ``n`` records: ``@`` + header parts, sequence, ``+``, qualities.

    ``bases`` are ASCII (n, L); ``quals`` are Phred scores (n, L).
    """
    n, length = bases.shape
    if n == 0:
        return b""
    mats = [_as_matrix(p, n) for p in (b"@", *header, b"\n")]
    head_w = sum(m.shape[1] for m in mats)
    width = head_w + 2 * length + 4
    out = np.empty((n, width), dtype=np.uint8)
    col = 0
    for m in mats:
        out[:, col : col + m.shape[1]] = m
        col += m.shape[1]
    out[:, col : col + length] = bases
    col += length
    out[:, col : col + 3] = np.frombuffer(b"\n+\n", dtype=np.uint8)
    col += 3
    np.add(quals, phred_offset, out=out[:, col : col + length], dtype=np.uint8, casting="unsafe")
    out[:, -1] = ord("\n")
    # Only the header can hold padding (byte 0); bases and qualities never contain 0.
    if any(isinstance(p, np.ndarray) and (p.ndim == 1 or not p.all()) for p in header):
        return out[out != 0].tobytes()
    return out.tobytes()


class GzipMemberWriter:
    """Append one gzip member (isal) to a file; ``close`` ends the member."""

    def __init__(self, path: Path, *, level: int = 1) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: BinaryIO = open(self.path, "ab")  # noqa: SIM115 - closed in close()
        self._z = isal_zlib.compressobj(level, isal_zlib.DEFLATED, 31)
        self.records = 0

    def write(self, data: bytes, records: int = 0) -> None:
        self._fh.write(self._z.compress(data))
        self.records += records

    def close(self) -> None:
        self._fh.write(self._z.flush())
        self._fh.close()
