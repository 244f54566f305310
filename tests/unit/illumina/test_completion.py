"""Run completion: which markers make a run folder ready, and failed runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from seqoia.errors import RunFolderError
from seqoia.illumina.completion import check_completion_status, run_folder_ready
from seqoia.vocabulary import ObjectInfo


def _info(name: str, age_s: float = 0.0) -> ObjectInfo:
    return ObjectInfo(f"inbox/R1/{name}", 1, "etag", datetime.now(UTC) - timedelta(seconds=age_s))


def test_copycomplete_makes_a_run_folder_ready_at_once() -> None:
    assert run_folder_ready([_info("RunInfo.xml"), _info("CopyComplete.txt")], 600) is None


def test_rtacomplete_alone_waits_for_the_grace_period() -> None:
    waiting = run_folder_ready([_info("RunInfo.xml"), _info("RTAComplete.txt", 10)], 600)
    assert waiting is not None and "RTAComplete.txt" in waiting
    assert run_folder_ready([_info("RTAComplete.txt", 601)], 600) is None


def test_a_partial_folder_waits_and_nested_markers_do_not_count() -> None:
    listing = [_info("RunInfo.xml"), _info("Data/Intensities/BaseCalls/CopyComplete.txt")]
    assert "waiting for CopyComplete.txt" in (run_folder_ready(listing, 0) or "")


def test_completed_as_planned_passes() -> None:
    check_completion_status(
        b"<RunCompletionStatus><CompletionStatus>CompletedAsPlanned</CompletionStatus>"
        b"</RunCompletionStatus>",
        run="R1",
    )


def test_a_failed_run_is_stopped_with_the_instrument_reason() -> None:
    xml = (
        b"<RunCompletionStatus><CompletionStatus>ExceptionEndedEarly</CompletionStatus>"
        b"<ErrorDescription>Fluidics failure</ErrorDescription></RunCompletionStatus>"
    )
    with pytest.raises(RunFolderError) as err:
        check_completion_status(xml, run="R1")
    assert "run R1, RunCompletionStatus.xml" in str(err.value)
    assert "ExceptionEndedEarly: Fluidics failure" in str(err.value)
    assert err.value.permanent
