"""Failure records on a local-folder store: validated on the way in, reopened in one place."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from seqoia.storage.failures import FailureLog, FailureRecord
from seqoia.storage.layout import Layout
from seqoia.storage.local import LocalStore


@pytest.fixture
def failures(tmp_path: Path) -> FailureLog:
    return FailureLog(LocalStore(tmp_path / "store"), Layout())


def record(stage: str = "align", subject: str = "S1", **changes: object) -> FailureRecord:
    values: dict[str, object] = {
        "stage": stage,
        "subject": subject,
        "fingerprint": "f" * 64,
        "permanent": True,
        "message": "\nS1_R1.fastq.gz:4: truncated record\nmore detail",
        "error_type": "FormatError",
        "attempt": "20261202T190000-00000000ab",
        "traceback": "Traceback ...",
        "at": datetime(2026, 12, 2, 19, 0, tzinfo=UTC),
        "worker": "w1",
    }
    return FailureRecord.model_validate(values | changes)


def test_a_written_record_reads_back_equal(failures: FailureLog) -> None:
    written = record()
    failures.write(written)
    assert failures.read("align", "S1") == written
    assert failures.read("align", "S2") is None
    assert written.headline(20) == "S1_R1.fastq.gz:4: tr"


def test_a_record_is_for_good_only_when_permanent_and_of_the_current_inputs() -> None:
    assert record().failed_for_good("f" * 64)
    assert not record().failed_for_good("e" * 64)  # the inputs changed since
    assert not record(permanent=False).failed_for_good("f" * 64)
    assert record(permanent=False).current_for("f" * 64)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"{not json", "Invalid JSON"),
        (b"[1, 2]", "should be an object"),
        (
            b'{"stage": "align", "subject": "S1", "permanent": true, "message": "x"}',
            "fingerprint Field required",
        ),
        (
            b'{"stage": "align", "subject": "S1", "fingerprint": "f", "permanent": "maybe",'
            b' "message": "x"}',
            "permanent Input should be a valid boolean",
        ),
        (
            b'{"stage": "align", "subject": "S1", "fingerprint": "f", "permanent": true,'
            b' "message": "x", "at": "yesterday"}',
            "at Input should be a valid datetime",
        ),
    ],
)
def test_a_malformed_record_from_the_store_is_absent_with_one_log_line(
    failures: FailureLog, caplog: pytest.LogCaptureFixture, body: bytes, why: str
) -> None:
    key = failures.layout.failure_key("align", "S1")
    failures.store.put_bytes(key, body)
    with caplog.at_level(logging.WARNING, logger="seqoia.storage.failures"):
        assert failures.read("align", "S1") is None
    lines = [r.getMessage() for r in caplog.records if r.name == "seqoia.storage.failures"]
    assert len(lines) == 1
    assert key in lines[0] and why in lines[0]


def test_a_record_naming_another_pair_is_ignored(
    failures: FailureLog, caplog: pytest.LogCaptureFixture
) -> None:
    # e.g. copied by hand from another key: it says nothing about this pair.
    failures.store.put_bytes(
        failures.layout.failure_key("align", "S1"),
        record(subject="S2").model_dump_json().encode(),
    )
    with caplog.at_level(logging.WARNING, logger="seqoia.storage.failures"):
        assert failures.read("align", "S1") is None
    assert "names align/S2" in caplog.text


def test_unknown_fields_of_a_newer_writer_are_ignored(failures: FailureLog) -> None:
    body = record().model_dump(mode="json") | {"host_cpu": "x86_64"}
    failures.store.put_bytes(failures.layout.failure_key("align", "S1"), json.dumps(body).encode())
    assert failures.read("align", "S1") == record()


def test_pairs_lists_every_record_or_one_stages(failures: FailureLog) -> None:
    for stage, subject in [("align", "S1"), ("align", "S2"), ("qc", "S1")]:
        failures.write(record(stage, subject))
    assert sorted(failures.pairs()) == [("align", "S1"), ("align", "S2"), ("qc", "S1")]
    assert sorted(failures.pairs("align")) == [("align", "S1"), ("align", "S2")]
    assert failures.pairs("markduplicates") == []


def test_reopen_forgets_the_records_and_unmarks_the_runs_done(failures: FailureLog) -> None:
    store, layout = failures.store, failures.layout
    for stage, subject in [("align", "S1"), ("align", "S2"), ("qc", "S3")]:
        failures.write(record(stage, subject))
    for run in ("R1", "R2", "R3"):
        store.put_bytes(layout.done_key(run), b"{}")

    failures.reopen([("align", "S1"), ("align", "S2")], ["R1", "R2", "R1"])

    assert failures.pairs() == [("qc", "S3")]  # the pair not reopened keeps its record
    assert not store.exists(layout.done_key("R1")) and not store.exists(layout.done_key("R2"))
    assert store.exists(layout.done_key("R3"))
    failures.reopen([("align", "S1")], [])  # absent records and no runs: nothing to do
