"""``release_family`` refusals that need no reads: manifests committed directly.

The release itself (files, record, audit, a second release refused, a swapped family
refused) runs end to end in tests/integration/test_family_e2e.py.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from seqoia.admin.family_release import ReleaseRefusedError, awaiting_family_release, release_family
from seqoia.engine.runtime import Runtime, build_runtime
from seqoia.settings import Settings
from seqoia.storage.failures import FailureRecord
from seqoia.storage.manifest import InputRef, Manifest, utcnow


@pytest.fixture
def rt(tmp_path: Path) -> Runtime:
    settings = Settings(
        store_url=f"file://{tmp_path / 'store'}", scratch_dir=tmp_path / "s", worker_id="unit"
    )
    return build_runtime(settings)


def _commit(rt: Runtime, stage: str, inputs: list[InputRef] | None = None) -> Manifest:
    manifest = Manifest(
        stage=stage, stage_version=rt.pipeline[stage].version, subject="F1",
        subject_kind="family", fingerprint="0" * 64, generation=1,
        attempt=f"{stage}-F1-1", inputs=inputs or [], summary={}, started_at=utcnow(),
        finished_at=utcnow(), worker="unit",
    )  # fmt: skip
    rt.manifests.commit(manifest)
    return manifest


def _review(rt: Runtime, analysis: Manifest, *, publishing: bool = False) -> Manifest:
    ref = InputRef(stage="family_analysis", subject="F1", generation=analysis.generation,
                   attempt=analysis.attempt, fingerprint=analysis.fingerprint)  # fmt: skip
    manifest = Manifest(
        stage="deliver_family", stage_version=rt.pipeline["deliver_family"].version,
        subject="F1", subject_kind="family", fingerprint="0" * 64, generation=1,
        attempt="deliver_family-F1-1", inputs=[ref], summary={}, started_at=utcnow(),
        finished_at=utcnow(), worker="unit",
        published_to="review/C1/F1/" if publishing else None, marks_publication=publishing,
    )  # fmt: skip
    rt.manifests.commit(manifest)
    return manifest


def test_a_family_whose_review_copies_never_finished_is_not_in_review(rt: Runtime) -> None:
    analysis = _commit(rt, "family_analysis")
    review = _review(rt, analysis, publishing=True)  # committed; the committer then died
    with pytest.raises(ReleaseRefusedError, match="generation 1 is not in review yet"):
        release_family(rt, "F1", by="Dr L", reason="ok")
    assert not awaiting_family_release(rt, "F1")
    rt.manifests.mark_published(review)  # an attempt completed the copies
    assert awaiting_family_release(rt, "F1")


def test_a_family_with_nothing_in_review_is_refused(rt: Runtime) -> None:
    with pytest.raises(ReleaseRefusedError, match="no committed family analysis"):
        release_family(rt, "F1", by="Dr L", reason="ok")
    _commit(rt, "family_analysis")
    with pytest.raises(ReleaseRefusedError, match="generation 1 is not in review yet"):
        release_family(rt, "F1", by="Dr L", reason="ok")
    assert not awaiting_family_release(rt, "F1")


def test_a_family_whose_analysis_failed_after_the_review_is_refused(rt: Runtime) -> None:
    analysis = _commit(rt, "family_analysis")
    _review(rt, analysis)
    assert awaiting_family_release(rt, "F1")
    # A later run brought a member whose pedigree check failed: the review is outdated.
    rt.failures.write(FailureRecord(
        stage="family_analysis", subject="F1", fingerprint="1" * 64, permanent=True,
        message="family F1 failed its pedigree checks: M2 / P1: declared parent-child, "
        "observed unrelated", error_type="PedigreeError",
        at=analysis.finished_at + timedelta(minutes=5),
    ))  # fmt: skip
    with pytest.raises(ReleaseRefusedError, match="its latest analysis failed .family F1 failed"):
        release_family(rt, "F1", by="Dr L", reason="ok")
    assert not awaiting_family_release(rt, "F1")
    assert list(rt.store.list(rt.layout.outbox + "/")) == []


def test_a_release_needs_who_and_why(rt: Runtime) -> None:
    with pytest.raises(ReleaseRefusedError, match="needs --by"):
        release_family(rt, "F1", by=" ", reason="ok")
