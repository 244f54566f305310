"""NovaSeq concatenated base calls: the ``.cbcl`` file of one cycle, holding many tiles.

Header (little-endian): uint16 version, uint32 header size, uint8 bits per base call,
uint8 bits per quality, uint32 bin count and that many (uint32 bin, uint32 quality)
pairs, uint32 tile count and per tile (uint32 tile number, uint32 cluster count,
uint32 uncompressed block size, uint32 compressed block size), then one uint8 flag
``non_PF_clusters_excluded``. Tile blocks follow the header in record order, each a
gzip member (some lack their CRC/ISIZE trailer). Each block packs two 4-bit values per
byte, low nibble first: 0 is a no-call, otherwise bits 0-1 are the base (A, C, G, T) and
bits 2-3 the quality bin. When the flag is set, a block holds PF clusters only and the
tile's ``.filter`` file places them.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from seqoia.errors import FormatError
from seqoia.illumina.bcl import MAX_CLUSTERS_PER_TILE, MAX_PHRED, NO_CALL_QUALITY, InflateReader
from seqoia.illumina.limits import MAX_TILES_PER_LANE

__all__ = [
    "CbclHeader",
    "CbclTileReader",
    "CbclTileRecord",
    "cbcl_luts",
    "nibble_pair_table",
    "read_cbcl_header",
    "read_cbcl_tile",
]


#: Fixed fields of a header: version, size, bits per base and quality, bin and tile counts,
#: and the trailing flag.
_MIN_HEADER_BYTES = 2 + 4 + 1 + 1 + 4 + 4 + 1
#: Quality bins a header may list: 2 bits of quality make 4; older drafts used up to 8.
_MAX_BINS = 256
#: A CBCL holds the tiles of one lane and surface.
_MAX_TILES = MAX_TILES_PER_LANE
_MAX_HEADER_BYTES = _MIN_HEADER_BYTES + 8 * _MAX_BINS + 16 * _MAX_TILES


@dataclass(frozen=True)
class CbclTileRecord:
    """Where one tile's block sits in a CBCL file."""

    tile: int
    cluster_count: int
    uncompressed_size: int
    compressed_size: int
    offset: int


@dataclass(frozen=True)
class CbclHeader:
    """A parsed CBCL header."""

    path: str
    version: int
    header_size: int
    bits_per_base: int
    bits_per_quality: int
    #: Quality bin -> Phred score.
    bins: tuple[int, ...]
    tiles: tuple[CbclTileRecord, ...]
    non_pf_clusters_excluded: bool

    def record(self, tile: int) -> CbclTileRecord:
        for rec in self.tiles:
            if rec.tile == tile:
                return rec
        raise FormatError(f"tile {tile} is not in this CBCL file", file=self.path)


def read_cbcl_header(path: Path, *, run: str | None = None) -> CbclHeader:
    """Parse the header of a CBCL file (without reading any tile block)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(6)
            if len(head) < 6:
                raise FormatError("CBCL file is truncated in its header", run=run, file=str(path))
            version, header_size = struct.unpack("<HI", head)
            if not _MIN_HEADER_BYTES <= header_size <= _MAX_HEADER_BYTES:
                raise FormatError(
                    f"CBCL header size {header_size} is out of range "
                    f"({_MIN_HEADER_BYTES} to {_MAX_HEADER_BYTES} bytes)",
                    run=run,
                    file=str(path),
                )
            rest = fh.read(header_size - 6)
            size = fh.seek(0, 2)
    except FileNotFoundError as err:
        raise FormatError("CBCL file is missing", run=run, file=str(path)) from err
    except OSError as err:
        raise FormatError(f"cannot read CBCL file: {err}", run=run, file=str(path)) from err
    try:
        bits_base, bits_qual, n_bins = struct.unpack_from("<BBI", rest, 0)
        if n_bins > _MAX_BINS:
            raise FormatError(f"CBCL header lists {n_bins} quality bins (at most {_MAX_BINS})",
                              run=run, file=str(path))  # fmt: skip
        pos = 6
        pairs = struct.unpack_from(f"<{2 * n_bins}I", rest, pos)
        pos += 8 * n_bins
        (n_tiles,) = struct.unpack_from("<I", rest, pos)
        if n_tiles > _MAX_TILES:
            raise FormatError(f"CBCL header lists {n_tiles} tiles (at most {_MAX_TILES})",
                              run=run, file=str(path))  # fmt: skip
        pos += 4
        records = struct.unpack_from(f"<{4 * n_tiles}I", rest, pos)
        pos += 16 * n_tiles
        (flag,) = struct.unpack_from("<B", rest, pos)
    except struct.error as err:
        raise FormatError(f"CBCL header is truncated: {err}", run=run, file=str(path)) from err
    if (bits_base, bits_qual) != (2, 2):
        raise FormatError(
            f"unsupported CBCL packing: {bits_base} bits per base, {bits_qual} per quality",
            run=run,
            file=str(path),
        )
    bins = [0] * (1 << bits_qual)
    for i in range(n_bins):
        b, q = pairs[2 * i], pairs[2 * i + 1]
        if q > MAX_PHRED:
            raise FormatError(f"CBCL quality bin {b} maps to Phred {q} (at most {MAX_PHRED})",
                              run=run, file=str(path))  # fmt: skip
        if b < len(bins):
            bins[b] = q
    tiles = []
    offset = header_size
    for i in range(n_tiles):
        tile, clusters, usize, csize = records[4 * i : 4 * i + 4]
        if clusters > MAX_CLUSTERS_PER_TILE:
            raise FormatError(f"CBCL tile {tile} declares {clusters} clusters (at most "
                              f"{MAX_CLUSTERS_PER_TILE})", run=run, file=str(path))  # fmt: skip
        tiles.append(CbclTileRecord(tile, clusters, usize, csize, offset))
        offset += csize
    if offset > size:
        raise FormatError(
            f"CBCL file is truncated: blocks need {offset} bytes, file has {size}",
            run=run,
            file=str(path),
        )
    return CbclHeader(
        path=str(path),
        version=version,
        header_size=header_size,
        bits_per_base=bits_base,
        bits_per_quality=bits_qual,
        bins=tuple(bins),
        tiles=tuple(tiles),
        non_pf_clusters_excluded=bool(flag),
    )


def cbcl_luts(bins: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """4-bit value -> ASCII base and -> Phred quality (bin 0 on a called base stays Q0)."""
    values = np.arange(16, dtype=np.uint8)
    bases = np.frombuffer(b"ACGT", dtype=np.uint8)[values & 3].copy()
    quals = np.asarray(bins, dtype=np.uint8)[values >> 2]
    bases[0] = ord("N")
    quals[0] = NO_CALL_QUALITY
    return bases, quals


def nibble_pair_table(codes: np.ndarray) -> np.ndarray:
    """Packed byte -> the codes of its two values as one little-endian uint16.

    ``codes[v]`` is the code of 4-bit value ``v``. One lookup per byte unpacks both
    clusters and translates them, which is about twice as fast as masking, shifting and
    interleaving the nibbles.
    """
    packed = np.arange(256)
    codes = np.asarray(codes, dtype=np.uint16)
    return (codes[packed & 0x0F] | (codes[packed >> 4] << 8)).astype("<u2")


_IDENTITY_PAIRS = nibble_pair_table(np.arange(16))


class CbclTileReader:
    """Stream one tile's 4-bit values from one CBCL file, in cluster chunks.

    Seeks straight to the tile's block, so other tiles are never read. With a PF-only
    block, ``read`` takes the chunk's PF mask and returns value 0 (no-call) for the
    clusters the block does not hold.
    """

    def __init__(
        self, header: CbclHeader, tile: int, *, cluster_count: int, run: str | None = None
    ) -> None:
        self.header = header
        self.record = header.record(tile)
        self._run = run
        self._excluded = header.non_pf_clusters_excluded
        if not self._excluded and self.record.cluster_count != cluster_count:
            raise FormatError(
                f"tile {tile} holds {self.record.cluster_count} clusters, "
                f"the filter file {cluster_count}",
                run=run,
                file=header.path,
            )
        if self.record.uncompressed_size != (self.record.cluster_count + 1) // 2:
            raise FormatError(
                f"tile {tile}: block of {self.record.uncompressed_size} bytes cannot hold "
                f"{self.record.cluster_count} clusters",
                run=run,
                file=header.path,
            )
        try:
            self._fh: BinaryIO = open(header.path, "rb")  # noqa: SIM115 - closed in close()
        except OSError as err:
            raise FormatError(f"cannot open CBCL file: {err}", run=run, file=header.path) from err
        self._fh.seek(self.record.offset)
        self._inflate = InflateReader(
            self._fh, limit=self.record.compressed_size, file=header.path, run=run
        )
        #: Decoded codes of a byte's second value, not yet handed out.
        self._carry: np.ndarray = np.empty(0, dtype=np.uint8)
        self._stored_left = self.record.cluster_count

    def _take(self, k: int, out: np.ndarray, table: np.ndarray) -> None:
        """Decode the next ``k`` stored values into ``out[:k]`` as codes."""
        if k > self._stored_left:
            raise FormatError(
                f"tile {self.record.tile}: block holds {self.record.cluster_count} clusters, "
                "fewer than the filter file says",
                run=self._run,
                file=self.header.path,
            )
        self._stored_left -= k
        carried = min(len(self._carry), k)
        out[:carried] = self._carry[:carried]
        need = k - carried
        nbytes = (need + 1) // 2
        if nbytes:
            raw = np.frombuffer(self._inflate.read(nbytes), dtype=np.uint8)
            codes = np.take(table, raw).view(np.uint8)
            out[carried:k] = codes[:need]
            self._carry = codes[need:].copy()  # a view would keep the whole array alive
        else:
            self._carry = self._carry[carried:]

    def read_codes(self, out: np.ndarray, pf: np.ndarray | None, table: np.ndarray) -> None:
        """Fill ``out`` with the codes of the next ``len(out)`` clusters.

        ``table`` is a :func:`nibble_pair_table`; ``pf`` the clusters' PF flags, needed when
        the block holds PF clusters only (the others get value 0's code: a no-call).
        """
        n = len(out)
        if not self._excluded:
            self._take(n, out, table)
            return
        if pf is None or len(pf) != n:
            raise ValueError("a PF-only CBCL block needs the chunk's PF flags")
        stored = int(np.count_nonzero(pf))
        values = np.empty(stored, dtype=np.uint8)
        self._take(stored, values, table)
        out.fill(table[0] & 0xFF)
        out[pf] = values

    def read(self, n: int, pf: np.ndarray | None = None) -> np.ndarray:
        """Return the 4-bit values of the next ``n`` clusters (``pf``: their PF flags)."""
        out = np.empty(n, dtype=np.uint8)
        self.read_codes(out, pf, _IDENTITY_PAIRS)
        return out

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> CbclTileReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_cbcl_tile(
    path: Path, tile: int, *, pf: np.ndarray, run: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Decode one tile of one CBCL file into (ASCII bases, Phred qualities) for all clusters."""
    header = read_cbcl_header(path, run=run)
    bases_lut, quals_lut = cbcl_luts(header.bins)
    with CbclTileReader(header, tile, cluster_count=len(pf), run=run) as reader:
        values = reader.read(len(pf), pf)
    return bases_lut[values], quals_lut[values]
