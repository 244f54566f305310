"""One tile of a run folder as a stream of cluster chunks: base-call codes of the cycles
asked for, plus PF flags and read-name coordinates.

Finds its files in ``Data/Intensities/BaseCalls`` (per-tile ``.bcl``/``.bcl.gz`` under
``L00N/C<cycle>.1/``, or NovaSeq ``.cbcl`` holding many tiles), ``.filter`` files and
positions (``s.locs``, per-tile ``.locs`` or ``.clocs``). Memory per tile is one chunk of
clusters x cycles, whatever the tile's size: every cycle file stays open and is read
forward chunk by chunk into one reused buffer.

A chunk holds one byte per cluster and cycle, a *code* that the reader's two 256-entry
tables turn into an ASCII base and a Phred quality. For BCL the code is the BCL byte; for
CBCL it is the 4-bit value when every cycle shares one quality-bin table (codes past 15
stand for the (base, quality) pairs of cycles whose bins differ). Keeping one byte per
cell instead of a base and a quality halves what the demultiplexer has to reorder.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from seqoia.errors import FormatError, RunFolderError
from seqoia.illumina.bcl import BCL_BASE_LUT, BCL_QUAL_LUT, BclCycleReader
from seqoia.illumina.cbcl import CbclTileReader, cbcl_luts, nibble_pair_table, read_cbcl_header
from seqoia.illumina.filters import read_filter
from seqoia.illumina.locs import name_coordinates, read_positions

__all__ = ["TileChunk", "TileRef", "TileReader", "discover_tiles"]

_FILTER_RE = re.compile(r"^s_(\d+)_(\d+)\.filter$")


@dataclass(frozen=True)
class TileRef:
    """A tile to process: lane, tile number, and where its base calls live."""

    lane: int
    tile: int
    format: Literal["bcl", "cbcl"]
    #: CBCL only: the file name (e.g. ``L001_2.cbcl``) holding this tile in every cycle.
    cbcl_name: str | None = None


@dataclass
class TileChunk:
    """Clusters ``[start, stop)`` of a tile as codes, cycle-major: ``codes[cycle, cluster]``.

    ``codes`` is a view of the reader's buffer, overwritten by the next chunk.
    ``base_lut[code]`` is the ASCII base and ``qual_lut[code]`` the Phred quality.
    """

    start: int
    stop: int
    codes: np.ndarray
    base_lut: np.ndarray
    qual_lut: np.ndarray

    @property
    def bases(self) -> np.ndarray:
        """ASCII bases, (clusters, cycles)."""
        return self.base_lut[self.codes.T]

    @property
    def quals(self) -> np.ndarray:
        """Phred qualities, (clusters, cycles)."""
        return self.qual_lut[self.codes.T]


def _row_stride(n: int) -> int:
    """Row length of a cycle-major buffer of ``n`` clusters.

    A multiple of 4096 would put every cycle's row in the same cache sets, which makes
    the transposition to cluster-major several times slower; one extra line avoids it.
    """
    stride = -(-n // 64) * 64
    return stride + 64 if stride % 4096 == 0 else stride


def _lane_dir(basecalls: Path, lane: int) -> Path:
    return basecalls / f"L{lane:03d}"


def discover_tiles(
    basecalls: Path, lane: int, *, run: str | None = None, tiles: Sequence[int] = ()
) -> list[TileRef]:
    """List a lane's tiles (in file order for CBCL, tile order otherwise).

    ``tiles`` (e.g. from RunInfo) is used as given for per-tile BCL; otherwise tiles are
    found from the CBCL headers of cycle 1 or from the ``.filter`` files.
    """
    lane_dir = _lane_dir(basecalls, lane)
    first_cycle = lane_dir / "C1.1"
    cbcls = sorted(first_cycle.glob("*.cbcl")) if first_cycle.is_dir() else []
    if cbcls:
        refs: list[TileRef] = []
        for path in cbcls:
            header = read_cbcl_header(path, run=run)
            refs.extend(TileRef(lane, rec.tile, "cbcl", path.name) for rec in header.tiles)
        if tiles:
            wanted = set(tiles)
            refs = [r for r in refs if r.tile in wanted]
        return refs
    if tiles:
        return [TileRef(lane, t, "bcl") for t in tiles]
    found = set()
    for folder in (lane_dir, basecalls):
        if folder.is_dir():
            for p in folder.iterdir():
                m = _FILTER_RE.match(p.name)
                if m and int(m.group(1)) == lane:
                    found.add(int(m.group(2)))
    if not found:
        raise RunFolderError(f"no tiles found for lane {lane}", run=run, file=str(lane_dir))
    return [TileRef(lane, t, "bcl") for t in sorted(found)]


class TileReader:
    """Open one tile's files; iterate its clusters in chunks."""

    def __init__(
        self,
        run_dir: Path,
        ref: TileRef,
        cycles: Sequence[int],
        *,
        run: str | None = None,
        need_positions: bool = True,
    ) -> None:
        """``cycles``: 1-based cycle numbers to read, in output column order."""
        self.ref = ref
        self._run = run
        intensities = Path(run_dir) / "Data" / "Intensities"
        self.basecalls = intensities / "BaseCalls"
        lane_dir = _lane_dir(self.basecalls, ref.lane)
        self.pf = read_filter(self._filter_path(lane_dir), run=run)
        self.cluster_count = len(self.pf)
        self.x: np.ndarray | None = None
        self.y: np.ndarray | None = None
        if need_positions:
            self._read_positions(intensities)
        self.cycles = list(cycles)
        self._readers: list[BclCycleReader | CbclTileReader] = []
        #: CBCL only, per cycle: packed byte -> the codes of its two clusters.
        self._tables: list[np.ndarray] = []
        self.base_lut: np.ndarray = BCL_BASE_LUT
        self.qual_lut: np.ndarray = BCL_QUAL_LUT
        self._pairs: dict[tuple[int, int], int] = {}
        self._next_code = 16
        try:
            for c in self.cycles:
                self._open_cycle(lane_dir, c)
        except BaseException:
            self.close()
            raise

    def _filter_path(self, lane_dir: Path) -> Path:
        name = f"s_{self.ref.lane}_{self.ref.tile}.filter"
        for candidate in (lane_dir / name, self.basecalls / name):
            if candidate.exists():
                return candidate
        return lane_dir / name  # read_filter names the missing file

    def _read_positions(self, intensities: Path) -> None:
        lane, tile = self.ref.lane, self.ref.tile
        candidates = [
            intensities / "s.locs",
            intensities / f"L{lane:03d}" / f"s_{lane}_{tile}.locs",
            intensities / f"L{lane:03d}" / f"s_{lane}_{tile}.clocs",
            self.basecalls / f"L{lane:03d}" / f"s_{lane}_{tile}.locs",
        ]
        for path in candidates:
            if path.exists():
                x, y = read_positions(path, run=self._run)
                if len(x) != self.cluster_count:
                    raise FormatError(
                        f"positions file has {len(x)} clusters, the filter file "
                        f"{self.cluster_count} (tile {tile})",
                        run=self._run,
                        file=str(path),
                    )
                self.x, self.y = name_coordinates(x), name_coordinates(y)
                return
        raise FormatError(
            f"no cluster positions (s.locs, .locs or .clocs) for lane {lane} tile {tile}",
            run=self._run,
            file=str(candidates[0]),
        )

    def _open_cycle(self, lane_dir: Path, cycle: int) -> None:
        folder = lane_dir / f"C{cycle}.1"
        if self.ref.format == "cbcl":
            path = folder / str(self.ref.cbcl_name)
            header = read_cbcl_header(path, run=self._run)
            self._readers.append(
                CbclTileReader(
                    header, self.ref.tile, cluster_count=self.cluster_count, run=self._run
                )
            )
            self._tables.append(nibble_pair_table(self._cbcl_codes(header.bins, path)))
            return
        name = f"s_{self.ref.lane}_{self.ref.tile}.bcl"
        path = folder / name
        if not path.exists() and (folder / (name + ".gz")).exists():
            path = folder / (name + ".gz")
        reader = BclCycleReader(path, run=self._run)
        if reader.cluster_count != self.cluster_count:
            reader.close()
            raise FormatError(
                f"BCL file has {reader.cluster_count} clusters, the filter file "
                f"{self.cluster_count} (tile {self.ref.tile})",
                run=self._run,
                file=str(path),
            )
        self._readers.append(reader)

    def _cbcl_codes(self, bins: tuple[int, ...], path: Path) -> np.ndarray:
        """Codes of a CBCL cycle's 16 values; the first cycle's values are their own codes."""
        bases, quals = cbcl_luts(bins)
        if not self._pairs:
            self.base_lut = np.zeros(256, dtype=np.uint8)
            self.qual_lut = np.zeros(256, dtype=np.uint8)
            self.base_lut[:16], self.qual_lut[:16] = bases, quals
            for v in range(15, -1, -1):  # the lowest value of a pair is its code
                self._pairs[(int(bases[v]), int(quals[v]))] = v
            return np.arange(16, dtype=np.uint8)
        codes = np.empty(16, dtype=np.uint8)
        for v in range(16):
            pair = (int(bases[v]), int(quals[v]))
            code = self._pairs.get(pair)
            if code is None:
                code = self._next_code
                if code > 255:
                    raise FormatError(
                        "too many different quality-bin tables across the cycles of a tile",
                        run=self._run,
                        file=str(path),
                    )
                self._next_code += 1
                self._pairs[pair] = code
                self.base_lut[code], self.qual_lut[code] = pair
            codes[v] = code
        return codes

    def chunks(self, chunk_clusters: int) -> Iterator[TileChunk]:
        """Yield the tile's clusters in chunks of at most ``chunk_clusters``."""
        n_cycles = len(self.cycles)
        size = min(chunk_clusters, self.cluster_count)
        # One buffer for the whole tile: no page faults per chunk, flat memory.
        buffer = np.empty((n_cycles, _row_stride(size)), dtype=np.uint8)
        for start in range(0, self.cluster_count, chunk_clusters):
            stop = min(start + chunk_clusters, self.cluster_count)
            n = stop - start
            pf = self.pf[start:stop]
            codes = buffer[:, :n]
            for k, reader in enumerate(self._readers):
                if isinstance(reader, CbclTileReader):
                    reader.read_codes(codes[k], pf, self._tables[k])
                else:
                    reader.read_into(codes[k])
            yield TileChunk(start, stop, codes, self.base_lut, self.qual_lut)

    def close(self) -> None:
        for reader in self._readers:
            reader.close()
        self._readers = []

    def __enter__(self) -> TileReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
