"""Per-tile base calls: the ``.bcl`` / ``.bcl.gz`` file of one cycle of one tile.

Layout: a little-endian uint32 cluster count, then one byte per cluster. Byte 0 is a
no-call (``N``, quality 2); otherwise bits 0-1 are the base (A, C, G, T) and bits 2-7 the
Phred quality. ``.bcl.gz`` is the same bytes gzipped (sometimes as several members).

Decoding is two 256-entry lookup tables applied with numpy; reading is streamed in
cluster chunks (:class:`BclCycleReader`) so that memory does not grow with tile size.
"""

from __future__ import annotations

from io import BufferedReader
from pathlib import Path
from typing import BinaryIO, cast

import numpy as np
from isal import isal_zlib

from seqoia.errors import FormatError

__all__ = [
    "BCL_BASE_LUT",
    "BCL_QUAL_LUT",
    "MAX_CLUSTERS_PER_TILE",
    "MAX_PHRED",
    "NO_CALL_QUALITY",
    "BclCycleReader",
    "InflateReader",
    "decode_bcl_bytes",
    "read_bcl",
]

#: isal's stubs declare its exception class as an instance.
_INFLATE_ERROR = cast(type[Exception], isal_zlib.error)

#: Quality given to a no-call, as bcl2fastq, BCL Convert and Picard write it (``#``).
NO_CALL_QUALITY = 2
#: Highest quality a FASTQ can carry (``~`` is Phred+33 93).
MAX_PHRED = 93
#: Most clusters a tile's file may declare: a NovaSeq S4 tile holds about 3 million, and
#: a count past this is corruption that would otherwise size a buffer.
MAX_CLUSTERS_PER_TILE = 1 << 26


def _build_luts() -> tuple[np.ndarray, np.ndarray]:
    codes = np.arange(256, dtype=np.uint8)
    bases = np.frombuffer(b"ACGT", dtype=np.uint8)[codes & 3]
    quals = codes >> 2
    bases[0] = ord("N")
    quals[0] = NO_CALL_QUALITY
    return bases, quals


#: BCL byte -> ASCII base, and BCL byte -> Phred quality.
BCL_BASE_LUT, BCL_QUAL_LUT = _build_luts()


def decode_bcl_bytes(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Decode BCL bytes into (ASCII bases, Phred qualities), both uint8."""
    return BCL_BASE_LUT[raw], BCL_QUAL_LUT[raw]


class InflateReader:
    """Read exactly-sized pieces of a gzip stream without inflating it all at once.

    Uses ``isal_zlib.decompressobj(31)`` (zlib's interface, about twice as fast), which,
    unlike ``gzip.decompress``, accepts members that lack their CRC32/ISIZE trailer (as
    some NovaSeq CBCL blocks do) and lets several members follow each other. ``limit``
    bounds the compressed bytes (one CBCL block).
    """

    #: Compressed bytes per read: one of these (and its inflated bytes) waits per open cycle.
    _READ_BYTES = 1 << 16

    def __init__(
        self, fh: BinaryIO, *, limit: int | None = None, file: str, run: str | None = None
    ) -> None:
        self._fh = fh
        self._left = limit
        self._file = file
        self._run = run
        self._inflater = isal_zlib.decompressobj(31)
        self._pending = b""
        self._buffer = bytearray()

    def _feed(self) -> bool:
        """Inflate some more input into the buffer; False when the input is exhausted."""
        if self._inflater.eof:
            # One member ended; another may follow (multi-member gzip, BGZF).
            rest = self._inflater.unused_data + self._pending
            if not rest:
                rest = self._raw(self._READ_BYTES)
            if not rest:
                return False
            self._inflater = isal_zlib.decompressobj(31)
            self._pending = rest
        chunk = self._pending or self._raw(self._READ_BYTES)
        self._pending = b""
        if not chunk:
            return False
        try:
            out = self._inflater.decompress(chunk, 1 << 22)
        except _INFLATE_ERROR as err:
            raise FormatError(f"corrupt gzip data: {err}", run=self._run, file=self._file) from err
        self._pending = self._inflater.unconsumed_tail
        self._buffer += out
        return True

    def _raw(self, n: int) -> bytes:
        if self._left is not None:
            n = min(n, self._left)
            if n <= 0:
                return b""
        data = self._fh.read(n)
        if self._left is not None:
            self._left -= len(data)
        return data

    def read(self, n: int) -> bytes:
        """Return exactly ``n`` inflated bytes, or raise :class:`FormatError`."""
        while len(self._buffer) < n:
            if not self._feed():
                raise FormatError(
                    f"compressed data ends early (needed {n} more bytes, got {len(self._buffer)})",
                    run=self._run,
                    file=self._file,
                )
        out = bytes(self._buffer[:n])
        del self._buffer[:n]
        return out


class BclCycleReader:
    """Stream the clusters of one ``.bcl`` / ``.bcl.gz`` file in chunks."""

    def __init__(self, path: Path, *, run: str | None = None) -> None:
        self.path = Path(path)
        self._run = run
        try:
            self._fh: BufferedReader = open(self.path, "rb")  # noqa: SIM115 - closed in close()
        except FileNotFoundError as err:
            raise FormatError("cycle file is missing", run=run, file=str(path)) from err
        except OSError as err:
            raise FormatError(f"cannot open cycle file: {err}", run=run, file=str(path)) from err
        self._inflate = (
            InflateReader(self._fh, file=str(path), run=run) if self.path.suffix == ".gz" else None
        )
        try:
            head = self._take(4)
        except FormatError:
            self.close()
            raise
        self.cluster_count = int.from_bytes(head, "little")
        self._remaining = self.cluster_count
        if self.cluster_count > MAX_CLUSTERS_PER_TILE:
            self.close()
            raise FormatError(
                f"BCL file declares {self.cluster_count} clusters "
                f"(at most {MAX_CLUSTERS_PER_TILE} in a tile)",
                run=run,
                file=str(path),
            )

    def _take(self, n: int) -> bytes:
        if self._inflate is not None:
            return self._inflate.read(n)
        data = self._fh.read(n)
        if len(data) != n:
            raise FormatError(
                f"BCL file is truncated (wanted {n} bytes, found {len(data)})",
                run=self._run,
                file=str(self.path),
            )
        return data

    def read(self, n: int) -> np.ndarray:
        """Return the raw bytes of the next ``n`` clusters."""
        if n > self._remaining:
            raise FormatError(
                f"BCL file has {self.cluster_count} clusters, fewer than asked for",
                run=self._run,
                file=str(self.path),
            )
        self._remaining -= n
        return np.frombuffer(self._take(n), dtype=np.uint8)

    def read_into(self, out: np.ndarray) -> None:
        """Fill ``out`` (uint8, contiguous) with the raw bytes of the next ``len(out)`` clusters."""
        n = len(out)
        if self._inflate is not None or n > self._remaining:
            out[:] = self.read(n)
            return
        got = self._fh.readinto(out.data)
        if got != n:
            raise FormatError(
                f"BCL file is truncated (wanted {n} bytes, found {got})",
                run=self._run,
                file=str(self.path),
            )
        self._remaining -= n

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> BclCycleReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_bcl(path: Path, *, run: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Decode a whole BCL file into (ASCII bases, Phred qualities)."""
    with BclCycleReader(path, run=run) as reader:
        raw = reader.read(reader.cluster_count)
        if reader._inflate is None and reader._fh.read(1):
            raise FormatError(
                f"BCL file has bytes beyond its {reader.cluster_count} clusters",
                run=run,
                file=str(path),
            )
    return decode_bcl_bytes(raw)
