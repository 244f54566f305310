"""An attempt's scratch folder is gone after the attempt, whatever the stage left in it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from seqoia.engine.runner import StageRunner, _remove_scratch, _removed_if_empty
from seqoia.engine.runtime import build_runtime
from seqoia.settings import Settings


def _attempt_folder(root: Path, *files: str) -> Path:
    scratch = root / "attempts" / "A1"
    for name in ("out", "tmp"):
        (scratch / name).mkdir(parents=True)
    for name in files:
        (scratch / name).parent.mkdir(parents=True, exist_ok=True)
        (scratch / name).write_text("x")
    return scratch


def test_an_empty_out_folder_is_removed_and_then_the_attempt_folder(tmp_path: Path) -> None:
    scratch = _attempt_folder(tmp_path)
    assert _removed_if_empty(scratch / "out")
    _remove_scratch(scratch)
    assert os.listdir(tmp_path / "attempts") == []


@pytest.mark.parametrize(
    "files", [("out/S1.txt",), ("out/sub/S1.txt",), ("tmp/left.txt",), ("in/ingest/R1/a",)]
)
def test_an_attempt_folder_with_files_left_is_removed_whole(
    tmp_path: Path, files: tuple[str, ...]
) -> None:
    scratch = _attempt_folder(tmp_path, *files)
    assert _removed_if_empty(scratch / "out") == (not files[0].startswith("out/"))
    _remove_scratch(scratch)
    assert os.listdir(tmp_path / "attempts") == []


def test_an_attempt_folder_never_made_is_no_error(tmp_path: Path) -> None:
    _remove_scratch(tmp_path / "attempts" / "never")
    assert not (tmp_path / "attempts").exists()


def test_stages_with_outputs_leave_no_attempt_folder_behind(tmp_path: Path) -> None:
    settings = Settings(
        store_url=f"file://{tmp_path / 'store'}", scratch_dir=tmp_path / "scratch", worker_id="u"
    )
    rt = build_runtime(settings, "tests.pipelines.toy:pipeline")
    rt.store.put_bytes("inbox/R1/samples.tsv", b"S1\t-\tone\n")
    rt.store.put_bytes("inbox/R1/CopyComplete.txt", b"")
    runner = StageRunner(rt)
    assert runner.execute("ingest", "R1").kind == "committed"
    assert runner.execute("process", "S1").kind == "committed"
    assert os.listdir(runner.scratch_root / "attempts") == []
    assert rt.manifests.latest("process", "S1").outputs  # type: ignore[union-attr]
