"""The test pipelines whose first stage reads a run folder declare it in one place."""

from __future__ import annotations

from datetime import UTC, datetime

from seqoia.vocabulary import ObjectInfo
from tests.pipelines import loadsim, observed, prioritised, run_folder, toy


def listing(*names: str) -> list[ObjectInfo]:
    return [ObjectInfo(f"inbox/R1/{name}", 0, "etag", datetime.now(UTC)) for name in names]


def test_every_run_folder_test_pipeline_declares_the_shared_check_and_markers() -> None:
    first_stages = [
        toy.pipeline["ingest"],
        observed.pipeline["ingest"],
        prioritised.pipeline["validate_run"],
        loadsim.pipeline["validate_run"],
    ]
    assert all(stage.source_ready is run_folder.copy_complete for stage in first_stages)
    assert all(stage.markers == run_folder.MARKERS for stage in first_stages)
    declared = {(s.kind, s.source, s.isolation, s.queue, s.version) for s in first_stages}
    assert declared == {("run", True, "inline", "runs", "1")}


def test_a_run_folder_waits_for_copy_complete_and_a_lookalike_name_does_not_count() -> None:
    waiting = run_folder.copy_complete(listing("samples.tsv", "CopyComplete.txt.tmp"), 0.0)
    assert waiting == "waiting for CopyComplete.txt"
    assert run_folder.copy_complete(listing("samples.tsv", "CopyComplete.txt"), 0.0) is None
