"""One tile of a run folder as a stream of cluster chunks: bases and qualities of the
cycles asked for, plus PF flags and read-name coordinates.

Finds its files in ``Data/Intensities/BaseCalls`` (per-tile ``.bcl``/``.bcl.gz`` under
``L00N/C<cycle>.1/``, or NovaSeq ``.cbcl`` holding many tiles), ``.filter`` files and
positions (``s.locs``, per-tile ``.locs`` or ``.clocs``). Memory per tile is one chunk of
clusters x cycles, whatever the tile's size: every cycle file stays open and is read
forward chunk by chunk.
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
from seqoia.illumina.cbcl import CbclTileReader, cbcl_luts, read_cbcl_header
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
    """Clusters ``[start, stop)`` of a tile: ASCII bases and Phred qualities (n, cycles).

    The arrays are transposed views of cycle-major buffers; slice the columns you need.
    """

    start: int
    stop: int
    bases: np.ndarray
    quals: np.ndarray


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
        refs = []
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
        self._luts: list[tuple[np.ndarray, np.ndarray]] = []
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
            self._luts.append(cbcl_luts(header.bins))
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

    def chunks(self, chunk_clusters: int) -> Iterator[TileChunk]:
        """Yield the tile's clusters in chunks of at most ``chunk_clusters``."""
        n_cycles = len(self.cycles)
        for start in range(0, self.cluster_count, chunk_clusters):
            stop = min(start + chunk_clusters, self.cluster_count)
            n = stop - start
            pf = self.pf[start:stop]
            # Filled cycle-major (contiguous rows per cycle), handed out transposed.
            bases = np.empty((n_cycles, n), dtype=np.uint8)
            quals = np.empty((n_cycles, n), dtype=np.uint8)
            for k, reader in enumerate(self._readers):
                if isinstance(reader, CbclTileReader):
                    values = reader.read(n, pf)
                    base_lut, qual_lut = self._luts[k]
                    np.take(base_lut, values, out=bases[k])
                    np.take(qual_lut, values, out=quals[k])
                else:
                    raw = reader.read(n)
                    np.take(BCL_BASE_LUT, raw, out=bases[k])
                    np.take(BCL_QUAL_LUT, raw, out=quals[k])
            yield TileChunk(start, stop, bases.T, quals.T)

    def close(self) -> None:
        for reader in self._readers:
            reader.close()
        self._readers = []

    def __enter__(self) -> TileReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
