"""EAMSS: Illumina's "end anchored max scoring segments" quality mask, as Picard applies it.

Picard's ``IlluminaBasecallsToFastq``/``ToSam`` (``APPLY_EAMSS_FILTER=true``, the default
on per-tile BCL input) rewrites the low-quality 3' tail of each read to Q2. Scanning a
read from its 3' end, a running tally goes -2 on a quality >= 30, +1 on a quality < 15
and stays on anything between; the tail from the earliest position holding the maximum
tally is masked if that maximum is >= 1. One exception: when the masked segment begins
in a poly-G stretch (at least 10 G, allowing a few interruptions, one per 10 G), the
mask is moved to the start of that stretch (the polyG run itself is considered a
sequencing artefact and masked too).

The tally is vectorised over all reads of a chunk; only reads whose tail is masked go
through the (short) poly-G walk in Python.
"""

from __future__ import annotations

import numpy as np

__all__ = ["EAMSS_M2_GE_THRESHOLD", "EAMSS_S1_LT_THRESHOLD", "MASK_QUALITY", "apply_eamss"]

EAMSS_M2_GE_THRESHOLD = 30
EAMSS_S1_LT_THRESHOLD = 15
MASK_QUALITY = 2
_G = ord("G")
_POLY_G_MIN = 10


def _skip_by(index: int, num_gs: int, prev_exceptions: int, bases: np.ndarray) -> int | None:
    """How far back the next G lies, if interruptions up to it are still tolerated."""
    for backup in range(1, index + 1):
        exception_limit = max((num_gs + backup) // 10, 1)
        if prev_exceptions + backup > exception_limit:
            break
        if bases[index - backup] == _G:
            return backup
    return None


def _poly_g_start(bases: np.ndarray, index_of_max: int) -> int:
    """Move the mask start to the beginning of a poly-G stretch ending at ``index_of_max``."""
    num_gs = 0
    exceptions = 0
    i = index_of_max
    while i >= 0:
        if bases[i] == _G:
            num_gs += 1
        else:
            skip = _skip_by(i, num_gs, exceptions, bases)
            if skip is None:
                break
            exceptions += skip
            num_gs += skip
            i -= skip - 1
        i -= 1
    if num_gs >= _POLY_G_MIN:
        return (index_of_max + 1) - num_gs
    return index_of_max


def apply_eamss(bases: np.ndarray, quals: np.ndarray) -> np.ndarray:
    """Mask the 3' tails of reads in place; ``bases`` (ASCII) and ``quals`` are (reads, length).

    Returns the number of masked reads per row as a bool array (True = masked).
    """
    if quals.size == 0:
        return np.zeros(quals.shape[0], dtype=bool)
    score = np.where(
        quals >= EAMSS_M2_GE_THRESHOLD,
        np.int16(-2),
        np.where(quals < EAMSS_S1_LT_THRESHOLD, np.int16(1), np.int16(0)),
    ).astype(np.int16)
    # tally[i] = sum(score[i:]): the running tally scanning from the 3' end.
    tally = np.cumsum(score[:, ::-1], axis=1, dtype=np.int32)[:, ::-1]
    max_tally = tally.max(axis=1)
    masked = max_tally >= 1
    # Earliest (5'-most) position at which the maximum is reached.
    index_of_max = np.argmax(tally == max_tally[:, None], axis=1)
    length = quals.shape[1]
    for row in np.flatnonzero(masked):
        start = int(index_of_max[row])
        start = _poly_g_start(bases[row], start)
        quals[row, max(start, 0) : length] = MASK_QUALITY
    return masked
