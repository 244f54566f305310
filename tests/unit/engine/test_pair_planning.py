"""The planner and a pair whose members come in two runs (``members_ready``).

Upstream commits are written directly with :class:`ManifestStore`: only planning is under
test, over the germline pipeline's real ``somatic`` declaration.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from seqoia.engine.runtime import Runtime
from seqoia.storage.counting import CountingStore
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
    # What wakes the pair is its normal's alignment, which comes after run 2's validation
    # (a last need of ``somatic``); the validation itself routes nothing of the pair's.
    woken_by = {
        upstream: {(s.name, subject) for s, subject in rt.planner.downstream_of(manifest)}
        for upstream, manifest in [
            ("markduplicates", rt.manifests.latest("markduplicates", "N1")),
            ("validate_run", rt.manifests.latest("validate_run", "R2")),
        ]
    }
    assert ("somatic", "P1") in woken_by["markduplicates"]
    assert ("somatic", "P1") not in woken_by["validate_run"]


def test_a_run_s_validation_lists_only_what_it_routes(rt: Runtime) -> None:
    """Of the eleven stages that need ``validate_run`` it is the last need of one
    (``demultiplex``, per part): one listing, not one of the run's samples per sample stage."""
    commit(
        rt, "validate_run", "R1", {},
        [Relation(kind="run", subject="R1", other_kind="part", other="R1-all"),
         *(Relation(kind="run", subject="R1", other_kind="sample", other=s) for s in ("S1", "S2"))],
    )  # fmt: skip
    manifest = rt.manifests.latest("validate_run", "R1")
    assert manifest is not None and len(rt.pipeline.downstream("validate_run")) > 5
    counted = Runtime(rt.settings, CountingStore(rt.store), rt.pipeline)
    pairs = [(s.name, subject) for s, subject in counted.planner.downstream_of(manifest)]
    assert pairs == [("demultiplex", "R1-all")]
    assert counted.store.counts == {"list": 1}  # type: ignore[attr-defined]
