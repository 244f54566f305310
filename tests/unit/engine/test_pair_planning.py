"""The planner and a pair whose members come in two runs (``members_ready``).

Upstream commits are written directly with :class:`ManifestStore`: only planning is under
test, over the germline pipeline's real ``somatic`` declaration.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from seqoia.engine.runtime import Runtime
from seqoia.vocabulary import Relation
from tests.fixtures.committed import commit, germline_runtime


@pytest.fixture
def rt(tmp_path: Path) -> Runtime:
    return germline_runtime(tmp_path)


def validated(rt: Runtime, run: str, sample: str, role: str) -> None:
    """validate_run/run committed with one sample of pair P1, and markduplicates of it."""
    record = {"sample": sample, "role": role, "pair": "P1", "centre": "CURIE", "analysis": None}
    commit(
        rt, "validate_run", run, {"samples": {sample: record}},
        [Relation(kind="run", subject=run, other_kind="sample", other=sample),
         Relation(kind="run", subject=run, other_kind="pair", other="P1"),
         Relation(kind="pair", subject="P1", other_kind="sample", other=sample)],
    )  # fmt: skip
    commit(rt, "markduplicates", sample)


def test_a_pair_waits_for_the_run_that_brings_its_normal(rt: Runtime) -> None:
    validated(rt, "R1", "T1", "tumour")
    plan = rt.planner.plan("somatic", "P1")
    assert plan.waiting_for == ["pair P1: the normal of tumour T1 is in no run yet"]
    # The tumour's commits route the pair's stage; it is simply not due yet.
    assert ("somatic", "P1") in {
        (s.name, subject)
        for s, subject in rt.planner.downstream_of(rt.manifests.latest("markduplicates", "T1"))
    }
    validated(rt, "R2", "N1", "normal")
    plan = rt.planner.plan("somatic", "P1")
    assert plan.ready and plan.due
    assert sorted((m.stage, m.subject) for m in plan.upstream) == [
        ("markduplicates", "N1"), ("markduplicates", "T1"),
        ("validate_run", "R1"), ("validate_run", "R2"),
    ]  # fmt: skip
    # Run 2's validation is what wakes the pair (run -> pair link).
    assert ("somatic", "P1") in {
        (s.name, subject)
        for s, subject in rt.planner.downstream_of(rt.manifests.latest("validate_run", "R2"))
    }
