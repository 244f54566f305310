"""Release records read back from the store are data: a corrupt one is refused by key.

Found by ``bench/fuzz.py``'s ``release_record`` and ``family_release`` kinds: pydantic's
ValidationError escaped ``read_release`` and ``read_family_release`` (and so ``seqoia
status`` and ``seqoia release``) for a truncated, mistyped or incomplete record.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from seqoia.admin.family_release import FamilyReleaseRecord, read_family_release
from seqoia.admin.release import ReleaseRecord, read_release
from seqoia.errors import FormatError
from seqoia.storage import LocalStore
from seqoia.storage.layout import Layout

AT = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
RECORD = ReleaseRecord(
    sample="S01", centre="APHP", generation=2, report_attempt="a1", by="dr.martin",
    reason="reviewed", at=AT, qc_passed=True, qc_override=False,
    outbox="outbox/APHP/S01/g000002/", files=("S01.clinical.json",),
).model_dump_json().encode()  # fmt: skip
FAMILY_RECORD = FamilyReleaseRecord(
    family="F1", centre="APHP", composition="trio", generation=1, analysis_attempt="a1",
    by="dr.martin", reason="reviewed", at=AT, outbox="outbox/APHP/_family/F1/g000001/",
    files=("F1.family.json",),
).model_dump_json().encode()  # fmt: skip


def _corrupt(body: bytes) -> list[bytes]:
    return [
        body[:-20],  # truncated
        body.replace(b'"by":"dr.martin"', b'"by":null'),  # mistyped
        body.replace(b'"reason":"reviewed",', b""),  # a field missing
        b"\xc3" + body,  # not UTF-8
        b"[" * 100_000,
    ]


def _runtime(tmp_path: Path, key: str, body: bytes) -> SimpleNamespace:
    store = LocalStore(tmp_path / "store")
    store.put_bytes(key, body)
    return SimpleNamespace(store=store, layout=Layout())


@pytest.mark.parametrize("case", range(5))
def test_a_corrupt_release_record_is_refused_naming_its_key(tmp_path: Path, case: int) -> None:
    key = Layout().release_key("S01", 2)
    runtime = _runtime(tmp_path, key, _corrupt(RECORD)[case])
    with pytest.raises(FormatError, match="not a valid release record") as caught:
        read_release(runtime, "S01", 2)  # type: ignore[arg-type]
    assert caught.value.file == key


@pytest.mark.parametrize("case", range(5))
def test_a_corrupt_family_release_record_is_refused_naming_its_key(
    tmp_path: Path, case: int
) -> None:
    key = Layout().family_release_key("F1", 1)
    runtime = _runtime(tmp_path, key, _corrupt(FAMILY_RECORD)[case])
    with pytest.raises(FormatError, match="not a valid family release record") as caught:
        read_family_release(runtime, "F1", 1)  # type: ignore[arg-type]
    assert caught.value.file == key


def test_honest_release_records_read_back(tmp_path: Path) -> None:
    sample = _runtime(tmp_path, Layout().release_key("S01", 2), RECORD)
    assert read_release(sample, "S01", 2).by == "dr.martin"  # type: ignore[arg-type,union-attr]
    family = _runtime(tmp_path / "f", Layout().family_release_key("F1", 1), FAMILY_RECORD)
    assert read_family_release(family, "F1", 1).composition == "trio"  # type: ignore[arg-type,union-attr]
