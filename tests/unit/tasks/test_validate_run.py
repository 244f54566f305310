"""``validate_run`` on files: a run folder in, its parts, samples and families out."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from seqoia.errors import RunFolderError
from seqoia.illumina.simulate import write_fastq_run_folder
from seqoia.tasks.germline import pipeline
from seqoia.tasks.local import run_local

from .conftest import SimulatedRun

VALIDATE = pipeline["validate_run"]


def test_a_base_call_run_links_its_lane_and_every_sample_of_the_sheet(
    simulated_run: SimulatedRun, tmp_path: Path
) -> None:
    truth = simulated_run.truth
    out = run_local(VALIDATE, truth.run_id, tmp_path, source_dir=simulated_run.folder)
    samples = [s.sample_id for s in truth.samples]
    part = f"{truth.run_id}_L001"
    assert out.summary["kind"] == "bcl"
    assert out.summary["flowcell"] == "HSIMFLOWX"
    assert sorted(out.summary["samples"]) == samples
    assert [out.summary["samples"][s]["index"] for s in samples] == [s.index for s in truth.samples]
    assert out.related("part") == [part]
    assert out.related("sample") == samples
    part_samples = [r.other for r in out.result.relations if r.subject == part]
    assert part_samples == samples
    assert json.loads(out.files["run.json"].read_text()) == out.summary
    # It reads the metadata only: the base calls are not even downloaded.
    shown = sorted(p.name for p in (tmp_path / "run").rglob("*"))
    assert shown == ["RunInfo.xml", "RunParameters.xml", "SampleSheet.csv"]


def test_tiles_per_part_shares_a_lane_out_into_tile_ranges(
    simulated_run: SimulatedRun, tmp_path: Path
) -> None:
    run = simulated_run.truth.run_id
    out = run_local(
        VALIDATE, run, tmp_path, source_dir=simulated_run.folder, params={"tiles_per_part": 1}
    )
    assert out.related("part") == [f"{run}_L001_1of2", f"{run}_L001_2of2"]
    assert out.summary["parts"][f"{run}_L001_2of2"] == {"lane": 1, "share": 2, "shares": 2}


def test_a_run_the_instrument_reports_as_failed_is_refused_naming_the_file(
    simulated_run: SimulatedRun, tmp_path: Path
) -> None:
    folder = tmp_path / "run"
    for name in ("RunInfo.xml", "SampleSheet.csv"):
        (folder / name).parent.mkdir(exist_ok=True)
        shutil.copyfile(simulated_run.folder / name, folder / name)
    (folder / "RunCompletionStatus.xml").write_text(
        "<RunCompletionStatus><CompletionStatus>UserEndedEarly</CompletionStatus>"
        "<ErrorDescription>stopped by the operator</ErrorDescription></RunCompletionStatus>"
    )
    with pytest.raises(RunFolderError, match="UserEndedEarly") as caught:
        run_local(VALIDATE, "RUN_FAILED", tmp_path / "work", source_dir=folder)
    assert caught.value.file == "RunCompletionStatus.xml"
    assert caught.value.run == "RUN_FAILED"


def test_a_run_folder_without_a_sample_sheet_is_refused(
    simulated_run: SimulatedRun, tmp_path: Path
) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    shutil.copyfile(simulated_run.folder / "RunInfo.xml", folder / "RunInfo.xml")
    with pytest.raises(RunFolderError, match="no SampleSheet.csv") as caught:
        run_local(VALIDATE, "RUN_NOSHEET", tmp_path / "work", source_dir=folder)
    assert caught.value.file == "SampleSheet.csv"


def test_a_fastq_run_marks_a_listed_sample_without_files_and_warns_of_unlisted_files(
    tmp_path: Path,
) -> None:
    run = "240102_SIM_0001_FLOWCELL"
    records = [(f"r{i}", "ACGT" * 10, "I" * 40) for i in range(5)]
    folder = tmp_path / "run"
    indexes = {"S01": {"Index": "ACGTACGT"}, "S02": {"Index": "TTGGCCAA"}}
    write_fastq_run_folder(
        folder, run, {"S01": (records, records), "S02": (records, records)}, indexes
    )
    sheet = folder / "SampleSheet.csv"
    # The sheet lists S03, which has no files, and forgets S02, which has some.
    sheet.write_text(sheet.read_text().replace("1,S02", "1,S03"))
    out = run_local(VALIDATE, run, tmp_path / "work", source_dir=folder)
    assert out.summary["kind"] == "fastq"
    assert out.related("part") == [f"{run}_L001"]
    assert sorted(out.summary["samples"]) == ["S01", "S03"]
    assert "missing" not in out.summary["samples"]["S01"]
    assert "S03 is listed in SampleSheet.csv" in out.summary["samples"]["S03"]["missing"]
    assert len(out.summary["warnings"]) == 1
    # Unlisted files are named by alias: their names may be a patient's Sample_Name.
    assert "2 FASTQ file(s) belong to no sample" in out.summary["warnings"][0]
    assert "fastq-" in out.summary["warnings"][0]
