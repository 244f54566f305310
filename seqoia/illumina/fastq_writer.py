"""FASTQ output of the demultiplexer: file names, record formatting in bulk, gzip parts.

Records of a chunk are built as one uint8 matrix, one row per record, in which the
variable-width parts (decimal coordinates) are right-aligned and padded with byte 0;
dropping the zero bytes leaves the FASTQ text. No per-record Python formatting.
:class:`RecordMatrix` is the demultiplexer's form of it: a reused matrix whose sequence
and quality columns are filled straight from base-call codes, two cycles per lookup.

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
    "RecordMatrix",
    "digits",
    "fastq_text",
    "format_fastq",
    "pair_table",
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


def digits(
    values: np.ndarray, width: int | None = None, out: np.ndarray | None = None
) -> np.ndarray:
    """Decimal ASCII of integers as an (n, w) matrix, right-aligned, padded with 0 bytes.

    ``width`` (at least the widest value's, sign included) fixes ``w``; ``out`` receives
    the matrix (any (n, w) uint8 view) instead of a new array.
    """
    v = np.asarray(values, dtype=np.int64)
    n = len(v)
    negative = v < 0
    mag = np.abs(v)
    top = int(mag.max()) if n else 0
    need = max(len(str(top)), 1) + int(negative.any())
    total = need if width is None else width
    if total < need:
        raise ValueError(f"{need} characters do not fit in {total}")
    if out is None:
        out = np.empty((n, total), dtype=np.uint8)
    num = need - int(negative.any())
    out[:, : total - num] = 0
    rest = mag.copy()
    for k in range(num - 1, -1, -1):
        col = total - num + k
        d = (rest % 10).astype(np.uint8) + 48
        # A leading zero is padding, except the units digit of 0 itself.
        keep = (rest > 0) | (k == num - 1)
        out[:, col] = np.where(keep, d, 0)
        rest //= 10
    if negative.any():
        lengths = (out != 0).sum(axis=1)
        rows = np.flatnonzero(negative)
        out[rows, total - lengths[rows] - 1] = ord("-")
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


def pair_table(lut: np.ndarray, offset: int = 0) -> np.ndarray:
    """Two codes (one little-endian uint16) -> their two bytes ``lut[code] + offset``.

    numpy's lookups cost about the same per element whatever the element size, so
    translating two cycles per lookup halves the cost of turning codes into text.
    """
    v = np.arange(1 << 16)
    out = (lut[v & 0xFF].astype(np.uint16) + offset) & 0xFF
    out |= ((lut[v >> 8].astype(np.uint16) + offset) & 0xFF) << 8
    return out.astype("<u2")


def fastq_text(rows: np.ndarray) -> bytes:
    """The FASTQ text of record rows: their bytes without the padding zeros."""
    # bytes.replace skips to each zero with memchr: much cheaper than a boolean mask.
    return rows.tobytes().replace(b"\0", b"")


class RecordMatrix:
    """Fixed-width rows for the FASTQ records of one read of a chunk of clusters.

    A row is ``header`` (``@`` ... ``\n``, zero-padded to ``header_width``), the sequence,
    ``\n+\n``, the qualities and ``\n``, with zero bytes where needed to start the
    sequence and the qualities at even columns: they are filled two cycles at a time from
    codes laid out in pairs (:meth:`fill`). :func:`fastq_text` drops the zeros.
    """

    _BLOCK_ROWS = 1024  # rows per lookup call: keeps numpy's index temporaries in cache

    def __init__(self, header_width: int, length: int, capacity: int) -> None:
        self.header_width = header_width
        self.length = length
        self.seq_col = header_width + (header_width & 1)
        self.qual_col = self.seq_col + length + 3
        self.qual_col += self.qual_col & 1
        self.width = self.qual_col + length + 1
        self.width += self.width & 1
        # Zeroed once: alignment gaps stay zero, every other byte is rewritten per chunk.
        self.rows = np.zeros((capacity, self.width), dtype=np.uint8)

    def fill(
        self,
        n: int,
        codes: np.ndarray,
        first_pair: int,
        base_pairs: np.ndarray,
        qual_pairs: np.ndarray,
    ) -> None:
        """Sequence and qualities of rows ``[0, n)`` from cluster-major codes.

        ``codes``: (n, even width) uint8 whose columns ``2 * first_pair`` onwards hold
        the read's cycles (one spare column after them if the length is odd);
        ``base_pairs``/``qual_pairs``: :func:`pair_table` of the bases and of Phred + 33.
        """
        half = (self.length + 1) // 2
        src = codes.view("<u2")[:, first_pair : first_pair + half]
        rows16 = self.rows.view("<u2")
        s0, q0 = self.seq_col // 2, self.qual_col // 2
        for a in range(0, n, self._BLOCK_ROWS):
            b = min(a + self._BLOCK_ROWS, n)
            np.take(base_pairs, src[a:b], out=rows16[a:b, s0 : s0 + half], mode="clip")
            np.take(qual_pairs, src[a:b], out=rows16[a:b, q0 : q0 + half], mode="clip")
        self.finish(n)

    def put(self, n: int, bases: np.ndarray, quals: np.ndarray, phred_offset: int = 33) -> None:
        """Sequence and qualities of rows ``[0, n)`` from ASCII bases and Phred scores."""
        r = self.rows
        r[:n, self.seq_col : self.seq_col + self.length] = bases
        np.add(
            quals,
            phred_offset,
            out=r[:n, self.qual_col : self.qual_col + self.length],
            dtype=np.uint8,
            casting="unsafe",
        )
        self.finish(n)

    def finish(self, n: int) -> None:
        """Write the separators (an odd length's spare column is overwritten here)."""
        r, end = self.rows, self.seq_col + self.length
        r[:n, end] = ord("\n")
        r[:n, end + 1] = ord("+")
        r[:n, end + 2] = ord("\n")
        r[:n, self.qual_col + self.length] = ord("\n")


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
