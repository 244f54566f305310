"""Parts of a run: names, splits, the files a part needs, and parts a run no longer lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqoia.tasks.alignment import _current_parts
from seqoia.tasks.parts import RunPart, in_lane, parse_part, split_lanes
from seqoia.tasks.runs import DemultiplexParams, demultiplex
from seqoia.tasks.stage import InputSet, StageContext

RUN = "240102_A00123_0042_AHSIMFLOWX"


def test_part_names_round_trip_and_say_lane_and_tile_range() -> None:
    assert RunPart(lane=1).name(RUN) == f"{RUN}_L001"
    assert RunPart(lane=3, share=2, shares=4).name(RUN) == f"{RUN}_L003_2of4"
    assert parse_part(f"{RUN}_L003_2of4") == RunPart(lane=3, share=2, shares=4)
    assert parse_part(f"{RUN}_L003_2of4").tile_range == (1, 4)
    assert parse_part(f"{RUN}_L001").tile_range is None
    with pytest.raises(ValueError, match="does not name a part"):
        parse_part(RUN)


def test_lanes_split_into_ranges_of_at_most_the_tiles_asked_for() -> None:
    assert split_lanes({1: 88, 2: 88}) == [RunPart(lane=1), RunPart(lane=2)]
    parts = split_lanes({1: 88, 2: 0}, tiles_per_part=22)
    assert [(p.lane, p.share, p.shares) for p in parts] == [
        (1, 1, 4), (1, 2, 4), (1, 3, 4), (1, 4, 4), (2, 1, 1),  # lane 2: tiles unknown
    ]  # fmt: skip
    assert len(split_lanes({1: 5}, tiles_per_part=2)) == 3


def test_a_part_needs_no_other_lanes_folder() -> None:
    assert in_lane("Data/Intensities/BaseCalls/L002/C1.1/L002_1.cbcl", 2)
    assert not in_lane("Data/Intensities/BaseCalls/L002/C1.1/L002_1.cbcl", 1)
    assert not in_lane("Data/Intensities/L001/s_1_1101.locs", 2)
    assert in_lane("Data/Intensities/s.locs", 2)  # shared by every lane


def _context(tmp_path: Path, subject: str, inputs: dict[str, list[InputSet]]) -> StageContext:
    return StageContext(
        stage="demultiplex", subject=subject, kind="part", params=DemultiplexParams(),
        inputs=inputs, out_dir=tmp_path, scratch=tmp_path, threads=1, source_dir=tmp_path,
    )  # fmt: skip


def _validated(parts: list[str]) -> InputSet:
    summary = {"kind": "bcl", "samples": {"S1": {}}, "flowcell": "X", "parts": dict.fromkeys(parts)}
    return InputSet(stage="validate_run", subject=RUN, files={}, summary=summary)


def test_a_part_its_run_no_longer_lists_is_superseded_and_not_read(tmp_path: Path) -> None:
    # Links of dropped parts are deleted after the run's new validation commits; if that
    # deletion was lost, the part's stage commits nothing to read and align skips it.
    current = [f"{RUN}_L001_1of2", f"{RUN}_L001_2of2"]
    old = _context(tmp_path, f"{RUN}_L001", {"validate_run": [_validated(current)]})
    result = demultiplex(old)
    assert result.summary == {"superseded": True, "fastq": {}} and not result.file_subjects
    demuxed = [
        InputSet(stage="demultiplex", subject=name, files={}, summary={})
        for name in [f"{RUN}_L001", *current]
    ]
    align = _context(
        tmp_path, "S1", {"validate_run": [_validated(current)], "demultiplex": demuxed}
    )
    assert [s.subject for s in _current_parts(align)] == current
