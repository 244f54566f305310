"""Bounds on what a run folder may declare, and the one way numbers are read from it.

Run folders and sample sheets come from instruments, LIMSes and spreadsheets: a number in
them is untrusted text. Python's ``int()`` accepts far more than an instrument writes
(Unicode digits such as ``'٣'``, underscores, signs, thousands of digits until it refuses
with a bare ValueError), and a number that parses may still be absurd: a LaneCount of
20,000,000 made the worker allocate 6.5 GB, a NumCycles of 99,999,999 never finished.
:func:`parse_count` reads ASCII digits only, and the bounds below are checked where the
values enter, so the rest of the code can loop over lanes, cycles and tiles freely.

The bounds are the largest real instrument layouts with room to spare:

- lanes: 8 (NovaSeq 6000 S4 has 4, NovaSeq X 25B has 8, HiSeq 8);
- reads: 8 (Read1, Index1, Index2, Read2 plus a UMI read is 5 at most in practice);
- cycles per read: 1,000 (MiSeq v3 600-cycle kits are the longest, 2x301);
- tiles per lane: 2 surfaces x 8 swaths x 100 tiles = 1,600 (NovaSeq 6000 S4, the largest
  layout in common use: 2 x 6 x 78 = 936);
- a tile number has at most 5 digits (``FiveDigit`` naming: surface, swath, 3-digit tile).
"""

from __future__ import annotations

import re

__all__ = [
    "MAX_CYCLES_PER_READ",
    "MAX_LANES",
    "MAX_READS",
    "MAX_SURFACES",
    "MAX_SWATHS",
    "MAX_TILES_PER_LANE",
    "MAX_TILES_PER_SWATH",
    "MAX_TILE_NUMBER",
    "parse_count",
]

MAX_LANES = 8
MAX_READS = 8
MAX_CYCLES_PER_READ = 1_000
MAX_SURFACES = 2
MAX_SWATHS = 8
MAX_TILES_PER_SWATH = 100
MAX_TILES_PER_LANE = MAX_SURFACES * MAX_SWATHS * MAX_TILES_PER_SWATH
MAX_TILE_NUMBER = 99_999

#: Longest digit string read at all: nothing in a run folder needs more than 9 digits
#: (run numbers, cluster counts), and it keeps ``int()`` far from its 4,300-digit limit.
_MAX_DIGITS = 9
_DIGITS = re.compile(rf"[0-9]{{1,{_MAX_DIGITS}}}", re.ASCII)


def parse_count(text: str | None) -> int | None:
    """The non-negative whole number ``text`` spells in ASCII digits (surrounding blanks
    allowed), or None when it is anything else: a sign, a Unicode digit, a fraction,
    more than nine digits."""
    if text is None:
        return None
    stripped = text.strip(" \t\r\n")
    if not _DIGITS.fullmatch(stripped):
        return None
    return int(stripped)
