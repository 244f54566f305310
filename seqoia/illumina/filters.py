"""Pass-filter flags: the per-tile ``.filter`` file of Illumina's RTA.

Layout (RTA 1.x and later): a 12-byte header of three little-endian uint32 (0, version,
cluster count), then one byte per cluster whose bit 0 says "passed filter". NovaSeq
CBCL blocks that exclude non-PF clusters are placed back through this file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seqoia.errors import FormatError

__all__ = ["read_filter"]

_HEADER_BYTES = 12


def read_filter(path: Path, *, run: str | None = None) -> np.ndarray:
    """Return one bool per cluster: True where the cluster passed filter."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError as err:
        raise FormatError("filter file is missing", run=run, file=str(path)) from err
    except OSError as err:
        raise FormatError(f"cannot read filter file: {err}", run=run, file=str(path)) from err
    if len(data) < _HEADER_BYTES:
        raise FormatError(
            f"filter file is truncated ({len(data)} bytes, header needs 12)",
            run=run,
            file=str(path),
        )
    zero, _version, count = np.frombuffer(data, dtype="<u4", count=3)
    if zero != 0:
        # Very old (pre-RTA 1.9) filter files have no header: count then bytes.
        count = zero
        body = data[4:]
    else:
        body = data[_HEADER_BYTES:]
    if len(body) != int(count):
        raise FormatError(
            f"filter file declares {int(count)} clusters but holds {len(body)}",
            run=run,
            file=str(path),
        )
    return (np.frombuffer(body, dtype=np.uint8) & 1).astype(bool)
