"""A local stage run gives a stage what the runner would give it, and nothing more."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqoia.tasks.germline import pipeline
from seqoia.tasks.local import run_local

from .conftest import SimulatedRun


def test_a_downstream_stage_sees_only_the_files_it_fetches_of_its_own_subject(
    simulated_run: SimulatedRun, tmp_path: Path
) -> None:
    run = simulated_run.truth.run_id
    validated = run_local(
        pipeline["validate_run"], run, tmp_path / "v", source_dir=simulated_run.folder
    )
    demux = run_local(
        pipeline["demultiplex"], f"{run}_L001", tmp_path / "d", source_dir=simulated_run.folder,
        inputs={"validate_run": [validated]},
    )  # fmt: skip
    # demultiplex was shown its lane's base calls and the metadata, not the other files.
    folder = tmp_path / "d" / "run"
    shown = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert "RTAComplete.txt" not in shown and "SampleSheet.csv" in shown
    assert any(name.startswith("Data/Intensities/BaseCalls/L001/") for name in shown)
    seen = demux.as_input(pipeline["align"], "SIM002")
    # As the runner does: the sample's own FASTQ; align does not fetch the undetermined reads.
    assert sorted(seen.files) == [
        "SIM002_S2_L001_R1_001.fastq.gz",
        "SIM002_S2_L001_R2_001.fastq.gz",
    ]
    assert seen.summary is demux.summary
    # A same-kind input keeps every file the stage fetches (align fetches none of validate_run).
    assert validated.as_input(pipeline["align"], "SIM002").files == {}
    assert set(validated.as_input(pipeline["demultiplex"], f"{run}_L001").files) == {"run.json"}


def test_inputs_a_stage_does_not_need_and_a_missing_run_folder_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not need \\['qc'\\]"):
        run_local(pipeline["align"], "S1", tmp_path / "a", inputs={"qc": []})
    with pytest.raises(ValueError, match="pass source_dir"):
        run_local(pipeline["validate_run"], "RUN", tmp_path / "b")
    with pytest.raises(ValueError, match="reference=True"):
        run_local(pipeline["align"], "S1", tmp_path / "c")
