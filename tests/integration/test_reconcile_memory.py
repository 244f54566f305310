"""``seqoia reconcile`` on the in-process broker runs the due stages itself.

On ``memory://`` no worker shares the broker, so enqueueing alone would do nothing; the
command runs the due work in its own process and says so, and refuses ``--every``.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from seqoia.cli import app
from seqoia.engine.runtime import build_runtime
from seqoia.settings import Settings

RUN = "261129_A00123_0042_AHNOSHEETX"


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "SEQOIA_STORE_URL": f"file://{tmp_path}/store",
        "SEQOIA_SCRATCH_DIR": str(tmp_path / "scratch"),
        "SEQOIA_BROKER_URL": "memory://",
        "SEQOIA_MAX_RETRIES": "0",
    }


def test_reconcile_on_memory_broker_runs_the_due_stage_in_process(tmp_path: Path) -> None:
    env = _env(tmp_path)
    runtime = build_runtime(Settings(store_url=env["SEQOIA_STORE_URL"]))
    # A complete run folder whose event was lost; it has no sample sheet, so its
    # validation fails at once (permanently): proof that the stage really ran here.
    fastq = tmp_path / "S1_S1_L001_R1_001.fastq.gz"
    fastq.write_bytes(b"")
    runtime.store.upload_file(
        runtime.layout.run_prefix(RUN) + "Analysis/1/Data/fastq/" + fastq.name, fastq
    )
    runtime.store.put_bytes(runtime.layout.run_prefix(RUN) + "CopyComplete.txt", b"")
    assert runtime.failures.read("validate_run", RUN) is None

    result = CliRunner().invoke(app, ["reconcile"], env=env)

    assert result.exit_code == 0, result.output
    assert f"ran validate_run/{RUN}" in result.output
    assert "running 1 due stage(s) in this process" in result.output
    failure = runtime.failures.read("validate_run", RUN)
    assert failure is not None and "SampleSheet.csv" in json.dumps(failure.model_dump(mode="json"))


def test_reconcile_every_is_refused_on_memory_broker(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["reconcile", "--every", "60"], env=_env(tmp_path))

    assert result.exit_code == 2
    assert "--every needs a broker shared with workers" in result.output
