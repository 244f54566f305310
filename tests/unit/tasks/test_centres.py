"""Centres are checked at validate_run against the site's list, and runs must agree.

Issue 12, item 16: a sample sheet's ``Centre`` decides which hospital receives a
patient's results. It is checked before any compute, against ``SEQOIA_ALLOWED_CENTRES``,
and a sample given two centres by two runs is an error, not the alphabetically first.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from seqoia.cli import app
from seqoia.engine.runner import StageRunner
from seqoia.engine.runtime import Runtime, build_runtime
from seqoia.errors import SampleSheetError, StageFailedError
from seqoia.settings import Settings
from seqoia.tasks.runs import sample_centre
from seqoia.tasks.stage import InputSet, StageContext

RUN = "261202_A00123_0078_AHCENTREXX"


def fastq_run(tmp_path: Path, centre: str, **settings: str) -> Runtime:
    runtime = build_runtime(
        Settings(
            store_url=f"file://{tmp_path / 'store'}",
            scratch_dir=tmp_path / "scratch",
            worker_id="unit",
            **settings,  # type: ignore[arg-type]
        )
    )
    inbox = runtime.layout.run_prefix(RUN)
    for read in (1, 2):
        runtime.store.put_bytes(f"{inbox}Fastq/S01_S1_L001_R{read}_001.fastq.gz", b"")
    runtime.store.put_bytes(
        inbox + "SampleSheet.csv",
        b"[Header]\nFileFormatVersion,2\n\n[BCLConvert_Data]\nLane,Sample_ID,Index,Centre\n"
        + f"1,S01,ACGTACGT,{centre}\n".encode(),
    )
    runtime.store.put_bytes(inbox + "CopyComplete.txt", b"")
    return runtime


def test_an_unknown_centre_fails_validate_run_naming_row_and_column(tmp_path: Path) -> None:
    runtime = fastq_run(tmp_path, "CHU-Nowhere")
    with pytest.raises(StageFailedError) as caught:
        StageRunner(runtime).execute("validate_run", RUN)
    assert caught.value.permanent
    message = str(caught.value)
    assert "SampleSheetError" in message and "SampleSheet.csv:6" in message
    assert "column Centre" in message and "SEQOIA_ALLOWED_CENTRES" in message
    record = json.loads(runtime.store.get_bytes(runtime.layout.failure_key("validate_run", RUN))[0])
    assert record["permanent"] is True


def test_a_centre_the_site_allows_passes_and_the_demo_centres_are_allowed(
    tmp_path: Path,
) -> None:
    allowed = fastq_run(tmp_path / "a", "CHU-Lyon", allowed_centres="CHU-Lyon,CHU-Lille")
    assert StageRunner(allowed).execute("validate_run", RUN).kind == "committed"
    demo = fastq_run(tmp_path / "b", "CURIE")
    outcome = StageRunner(demo).execute("validate_run", RUN)
    assert outcome.manifest is not None
    assert outcome.manifest.summary["samples"]["S01"]["centre"] == "CURIE"


def context_for(sample: str, centres: dict[str, str]) -> StageContext:
    runs = [
        InputSet(stage="validate_run", subject=run, files={}, summary={"samples": {sample: c}})
        for run, c in centres.items()
    ]
    for item, centre in zip(runs, centres.values(), strict=True):
        item.summary["samples"][sample] = {"centre": centre}
    return StageContext(
        stage="align",
        subject=sample,
        kind="sample",
        params=None,
        inputs={"validate_run": runs},
        out_dir=Path("."),
        scratch=Path("."),
        threads=1,
    )


def test_two_runs_giving_a_sample_two_centres_is_an_error() -> None:
    assert sample_centre(context_for("S01", {"R1": "APHP", "R2": "APHP"})) == "APHP"
    with pytest.raises(SampleSheetError, match=r"APHP \(run R1\), CURIE \(run R2\)"):
        sample_centre(context_for("S01", {"R1": "APHP", "R2": "CURIE"}))


def test_seqoia_config_shows_urls_without_passwords(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["config"],
        env={
            "SEQOIA_BROKER_URL": "amqp://seqoia:hunter2@rabbitmq:5672/%2F",
            "SEQOIA_STORE_URL": f"file://{tmp_path}/store",
            "SEQOIA_SCRATCH_DIR": str(tmp_path / "scratch"),
            "COLUMNS": "300",
        },
    )
    assert result.exit_code == 0, result.output
    assert "hunter2" not in result.output
    assert "seqoia:***@rabbitmq" in result.output
