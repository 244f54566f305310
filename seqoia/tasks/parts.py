"""Parts of a run: the shares of its base calls that workers demultiplex independently.

A run is cut into one part per lane, and a lane into contiguous tile ranges when the
laboratory asks for at most ``tiles_per_part`` tiles per part, so that several workers
share one flow cell. Part subjects are named after their run, ``<run>_L001`` for a whole
lane and ``<run>_L001_2of4`` for the second of four tile ranges of lane 1; the name alone
tells a worker which files of the run folder it needs.
"""

from __future__ import annotations

import math
import re

from pydantic import BaseModel, ConfigDict

from seqoia.vocabulary import validate_name

_PART = re.compile(r"_L(?P<lane>\d{3})(?:_(?P<share>\d+)of(?P<shares>\d+))?$")
#: A lane folder in a run folder (``Data/Intensities/BaseCalls/L001/...``, ``.../L001/``).
_LANE_FOLDER = re.compile(r"(?:^|/)L(\d{3})/")


class RunPart(BaseModel):
    """One lane, or the ``share``-th (1-based) of ``shares`` tile ranges of a lane."""

    model_config = ConfigDict(frozen=True)

    lane: int
    share: int = 1
    shares: int = 1

    def name(self, run: str) -> str:
        suffix = f"_L{self.lane:03d}" + (f"_{self.share}of{self.shares}" if self.shares > 1 else "")
        return validate_name(run + suffix, "part id")

    @property
    def tile_range(self) -> tuple[int, int] | None:
        """``DemuxConfig.part``: the 0-based share of the lane's tiles, None for all."""
        return (self.share - 1, self.shares) if self.shares > 1 else None


def parse_part(subject: str) -> RunPart:
    """The part a subject names (ValueError when it names none)."""
    match = _PART.search(subject)
    if match is None:
        raise ValueError(f"{subject!r} does not name a part of a run (<run>_L001[_1of2])")
    if match["share"] is None:
        return RunPart(lane=int(match["lane"]))
    return RunPart(lane=int(match["lane"]), share=int(match["share"]), shares=int(match["shares"]))


def split_lanes(tiles_per_lane: dict[int, int], tiles_per_part: int = 0) -> list[RunPart]:
    """Parts of a run: each lane whole, or in ranges of at most ``tiles_per_part`` tiles.

    A lane whose tile count is unknown (0: RunInfo.xml lists no tiles) stays whole.
    """
    parts = []
    for lane, tiles in sorted(tiles_per_lane.items()):
        shares = math.ceil(tiles / tiles_per_part) if tiles_per_part > 0 and tiles else 1
        parts += [RunPart(lane=lane, share=k, shares=shares) for k in range(1, shares + 1)]
    return parts


def in_lane(name: str, lane: int) -> bool:
    """Whether run-folder file ``name`` may concern ``lane`` (it is in no other lane's folder)."""
    folders = _LANE_FOLDER.findall(name)
    return all(int(folder) == lane for folder in folders)
