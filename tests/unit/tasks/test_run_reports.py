"""Run-level report stages without their optional parts: no MultiQC, no base calls."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqoia.genomics import multiqc as multiqc_module
from seqoia.tasks.run_reports import MultiQCParams, demux_stats, multiqc
from seqoia.tasks.stage import Excluded, InputSet, NoParams, StageContext

RUN = "240102_A00123_0042_AHSIMFLOWX"


def _context(tmp_path: Path, stage: str, params: object, inputs: dict[str, list[InputSet]],
             excluded: tuple[Excluded, ...] = ()) -> StageContext:  # fmt: skip
    return StageContext(
        stage=stage, subject=RUN, kind="run", params=params, inputs=inputs,
        out_dir=tmp_path / "out", scratch=tmp_path, threads=1, excluded=excluded,
    )  # fmt: skip


def test_without_multiqc_the_report_stage_says_so_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(multiqc_module, "multiqc_available", lambda: False)
    (tmp_path / "out").mkdir()
    qc = InputSet(stage="qc", subject="S1", files={}, summary={"metrics": {}})
    result = multiqc(_context(tmp_path, "multiqc", MultiQCParams(), {"qc": [qc]}))
    assert "not installed" in result.summary["skipped"]
    assert "seqoia[multiqc]" in result.summary["skipped"]
    assert not any((tmp_path / "out").iterdir())


def test_a_run_delivered_as_fastq_has_no_demultiplexing_statistics(tmp_path: Path) -> None:
    validated = InputSet(
        stage="validate_run", subject=RUN, files={}, summary={"parts": {f"{RUN}_L001": {}}}
    )
    part = InputSet(stage="demultiplex", subject=f"{RUN}_L001", files={}, summary={})
    inputs = {"validate_run": [validated], "demultiplex": [part]}
    result = demux_stats(_context(tmp_path, "demux_stats", NoParams(), inputs))
    assert result.summary == {"parts": [], "reads": {}}
