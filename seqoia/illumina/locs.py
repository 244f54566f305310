"""Cluster positions: ``.locs``, ``.clocs`` and the flow-cell-wide ``s.locs``.

- ``.locs`` / ``s.locs``: 12-byte header (uint32 1, float32 1.0, uint32 count), then
  float32 (x, y) per cluster. A patterned flow cell has one ``s.locs`` for every tile.
- ``.clocs``: byte version, uint32 bin count, then per bin a byte *n* and *n* (dx, dy)
  byte pairs; bins are 25x25 pixels, 82 to a row (an image 2048 pixels wide), and
  ``x = (bin % 82) * 25 + dx / 10``.

Read names carry ``round(10 * v + 1000)``, computed in float32 and rounded half up, as
Picard (``Math.round(float)``) and bcl2fastq do; Python's ``round`` (half to even) would
differ on exact halves.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seqoia.errors import FormatError

__all__ = ["name_coordinates", "read_clocs", "read_locs", "read_positions"]

_CLOCS_BIN_SIZE = 25
_CLOCS_IMAGE_WIDTH = 2048
_CLOCS_BINS_PER_ROW = -(-_CLOCS_IMAGE_WIDTH // _CLOCS_BIN_SIZE)  # ceil: 82


def _read(path: Path, run: str | None, kind: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError as err:
        raise FormatError(f"{kind} file is missing", run=run, file=str(path)) from err
    except OSError as err:
        raise FormatError(f"cannot read {kind} file: {err}", run=run, file=str(path)) from err


def read_locs(path: Path, *, run: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return float32 ``(x, y)`` arrays from a ``.locs`` or ``s.locs`` file."""
    data = _read(path, run, "locs")
    if len(data) < 12:
        raise FormatError("locs file is truncated (no header)", run=run, file=str(path))
    count = int(np.frombuffer(data, dtype="<u4", count=1, offset=8)[0])
    if len(data) != 12 + 8 * count:
        raise FormatError(
            f"locs file declares {count} clusters but holds {(len(data) - 12) / 8:g}",
            run=run,
            file=str(path),
        )
    xy = np.frombuffer(data, dtype="<f4", offset=12).reshape(count, 2)
    return xy[:, 0].copy(), xy[:, 1].copy()


def read_clocs(path: Path, *, run: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return float32 ``(x, y)`` arrays from a binned ``.clocs`` file."""
    data = _read(path, run, "clocs")
    if len(data) < 5:
        raise FormatError("clocs file is truncated (no header)", run=run, file=str(path))
    bin_count = int(np.frombuffer(data, dtype="<u4", count=1, offset=1)[0])
    buf = np.frombuffer(data, dtype=np.uint8)
    # Walk the bin headers in Python (one step per bin, not per cluster), then gather
    # every (dx, dy) pair with one fancy index.
    starts = []
    bins = []
    counts = []
    pos = 5
    for b in range(bin_count):
        if pos >= len(data):
            raise FormatError(
                f"clocs file is truncated in bin {b} of {bin_count}", run=run, file=str(path)
            )
        n = data[pos]
        if n:
            starts.append(pos + 1)
            counts.append(n)
            bins.append(b)
        pos += 1 + 2 * n
    if pos != len(data):
        raise FormatError(
            f"clocs file has {len(data) - pos:+d} bytes beyond its {bin_count} bins",
            run=run,
            file=str(path),
        )
    counts_a = np.asarray(counts, dtype=np.int64)
    total = int(counts_a.sum())
    offsets = np.repeat(np.asarray(starts, dtype=np.int64), counts_a)
    within = np.arange(total) - np.repeat(np.cumsum(counts_a) - counts_a, counts_a)
    offsets += 2 * within
    bin_of = np.repeat(np.asarray(bins, dtype=np.int64), counts_a)
    dx = buf[offsets].astype(np.float32) / np.float32(10)
    dy = buf[offsets + 1].astype(np.float32) / np.float32(10)
    x = (bin_of % _CLOCS_BINS_PER_ROW * _CLOCS_BIN_SIZE).astype(np.float32) + dx
    y = (bin_of // _CLOCS_BINS_PER_ROW * _CLOCS_BIN_SIZE).astype(np.float32) + dy
    return x, y


def read_positions(path: Path, *, run: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read ``.locs``, ``s.locs`` or ``.clocs`` by suffix."""
    if Path(path).suffix == ".clocs":
        return read_clocs(path, run=run)
    return read_locs(path, run=run)


def name_coordinates(v: np.ndarray) -> np.ndarray:
    """Convert positions to read-name integers: ``round(10 * v + 1000)``, half up, float32.

    int32 when every value fits (always, on real flow cells): a tile's coordinates are
    held for the whole tile, so their width is memory per cluster.
    """
    scaled = np.asarray(v, dtype=np.float32) * np.float32(10) + np.float32(1000)
    out = np.floor(scaled.astype(np.float64) + 0.5)
    info = np.iinfo(np.int32)
    if len(out) and not (info.min <= out.min() and out.max() <= info.max):
        return out.astype(np.int64)
    return out.astype(np.int32)
