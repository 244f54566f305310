"""The planner and a family whose proband comes in a later run (``members_ready``).

Upstream commits are written directly with :class:`ManifestStore`: only planning is under
test, over the germline pipeline's real ``family_analysis`` declaration.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from seqoia.admin.state import StateReader
from seqoia.engine.runtime import Runtime
from seqoia.vocabulary import Relation
from tests.fixtures.committed import commit, germline_runtime


@pytest.fixture
def rt(tmp_path: Path) -> Runtime:
    return germline_runtime(tmp_path)


def validated(rt: Runtime, run: str, members: dict[str, tuple[str, str]]) -> None:
    """validate_run/run committed with ``members`` (sample -> role, sex) of family F1."""
    records = {
        sample: {"sample": sample, "role": role, "sex": sex, "family": "F1", "centre": "APHP"}
        for sample, (role, sex) in members.items()
    }
    relations = [Relation(kind="run", subject=run, other_kind="family", other="F1")]
    for sample in members:
        relations += [
            Relation(kind="run", subject=run, other_kind="sample", other=sample),
            Relation(kind="family", subject="F1", other_kind="sample", other=sample),
        ]
    commit(rt, "validate_run", run, {"samples": records}, relations)
    for sample in members:
        commit(rt, "markduplicates", sample)


def test_a_family_without_its_proband_waits_instead_of_failing(rt: Runtime) -> None:
    validated(rt, "R1", {"M1": ("mother", "female"), "F1-F": ("father", "male")})
    plan = rt.planner.plan("family_analysis", "F1")
    assert not plan.ready
    assert plan.waiting_for == [
        "family F1: no run lists its proband yet (sequenced: F1-F (father), M1 (mother))"
    ]
    assert rt.planner.plan("deliver_family", "F1").waiting_for == ["family_analysis/F1"]
    # What `seqoia status` shows: waiting, with the reason; not a failure.
    shown = StateReader(rt).pair("family_analysis", "F1")
    assert (shown.state, shown.waiting_for) == ("waiting", plan.waiting_for)
    assert rt.failures.read("family_analysis", "F1") is None
    # The run that brings the proband links it, and the family is due.
    validated(rt, "R2", {"P1": ("proband", "male")})
    plan = rt.planner.plan("family_analysis", "F1")
    assert plan.ready and plan.due
    assert sorted(m.subject for m in plan.upstream if m.stage == "markduplicates") == [
        "F1-F", "M1", "P1",
    ]  # fmt: skip


def test_a_family_whose_proband_is_not_aligned_yet_waits_for_the_alignment(rt: Runtime) -> None:
    validated(rt, "R1", {"M1": ("mother", "female")})
    commit(
        rt, "validate_run", "R2",
        {"samples": {"P1": {"sample": "P1", "role": "proband", "sex": "male", "family": "F1"}}},
        [Relation(kind="run", subject="R2", other_kind="family", other="F1"),
         Relation(kind="family", subject="F1", other_kind="sample", other="P1")],
    )  # fmt: skip
    assert rt.planner.plan("family_analysis", "F1").waiting_for == ["markduplicates/P1"]
