"""Stage declarations: mistakes fail when the stage is declared, not at three in the morning."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict

from seqoia.errors import DeclarationError
from seqoia.tasks.stage import Pipeline, StageContext, StageResult


def nothing(ctx: StageContext) -> StageResult:
    return StageResult()


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    depth: int = 30


class Mutable(BaseModel):
    depth: int = 30


class NoDefault(BaseModel):
    model_config = ConfigDict(frozen=True)
    depth: int


def pipeline_with_source() -> Pipeline:
    pipeline = Pipeline("unit")
    pipeline.stage("demultiplex", kind="run", version="1", source=True)(nothing)
    return pipeline


def test_a_stage_needing_an_undeclared_upstream_fails_at_declaration() -> None:
    pipeline = pipeline_with_source()
    with pytest.raises(DeclarationError, match="unknown upstream stage 'align'"):
        pipeline.stage("markduplicates", kind="sample", version="1", needs=["align"])(nothing)
    assert "markduplicates" not in pipeline.stages


def test_declaring_the_same_stage_name_twice_fails() -> None:
    pipeline = pipeline_with_source()
    pipeline.stage("align", kind="sample", version="1", needs=["demultiplex"])(nothing)
    with pytest.raises(DeclarationError, match="declared twice"):
        pipeline.stage("align", kind="sample", version="2", needs=["demultiplex"])(nothing)


@pytest.mark.parametrize("queue", ["Align", "a queue", "1st", "x" * 65, "q/x"])
def test_a_bad_queue_name_fails_at_declaration(queue: str) -> None:
    pipeline = pipeline_with_source()
    with pytest.raises(DeclarationError, match="bad queue name"):
        pipeline.stage("align", kind="sample", version="1", needs=["demultiplex"], queue=queue)(
            nothing
        )


def test_parameters_that_are_not_a_frozen_model_with_defaults_fail() -> None:
    pipeline = pipeline_with_source()
    with pytest.raises(DeclarationError, match="must be frozen"):
        pipeline.stage("a", kind="sample", version="1", needs=["demultiplex"], params=Mutable)(
            nothing
        )
    with pytest.raises(DeclarationError, match="defaults for every field"):
        pipeline.stage("b", kind="sample", version="1", needs=["demultiplex"], params=NoDefault)(
            nothing
        )
    with pytest.raises(DeclarationError, match="pydantic model class"):
        pipeline.stage("c", kind="sample", version="1", needs=["demultiplex"], params=dict)(  # type: ignore[arg-type]
            nothing
        )
    pipeline.stage("d", kind="sample", version="1", needs=["demultiplex"], params=Frozen)(nothing)
    assert pipeline["d"].params().depth == 30


def test_a_source_stage_of_another_kind_or_a_later_one_with_readiness_fails() -> None:
    pipeline = pipeline_with_source()
    with pytest.raises(DeclarationError, match="only run and part stages can read the run folder"):
        pipeline.stage("y", kind="sample", version="1", source=True)(nothing)
    with pytest.raises(DeclarationError, match="source_ready belongs to the first stage"):
        pipeline.stage(
            "x",
            kind="run",
            version="1",
            source=True,
            needs=["demultiplex"],
            source_ready=lambda listing, grace_s: None,
        )(nothing)
    # A later run-folder stage reads the listing its upstream committed: allowed.
    pipeline.stage("qc_run", kind="run", version="1", source=True, needs=["demultiplex"])(nothing)
    assert [s.name for s in pipeline.roots()] == ["demultiplex"]


def test_other_declaration_mistakes_fail() -> None:
    pipeline = pipeline_with_source()
    cases = [
        ({"name": "orphan", "kind": "sample", "version": "1"}, "needs upstream"),
        ({"name": "_private", "kind": "sample", "version": "1"}, "reserved|invalid stage name"),
        ({"name": "bad name", "kind": "sample", "version": "1"}, "invalid stage name"),
        ({"name": "noversion", "kind": "sample", "version": ""}, "version is required"),
        ({"name": "cohort", "kind": "cohort", "version": "1"}, "unknown subject kind"),
        ({"name": "iso", "kind": "sample", "version": "1", "isolation": "thread"}, "isolation"),
    ]
    for options, message in cases:
        name = options.pop("name")
        needs = [] if message == "needs upstream" else ["demultiplex"]
        with pytest.raises(DeclarationError, match=message):
            pipeline.stage(name, needs=needs, **options)(nothing)  # type: ignore[arg-type]
    assert list(pipeline.stages) == ["demultiplex"]


def test_queries_follow_the_declared_graph_in_declaration_order() -> None:
    pipeline = pipeline_with_source()
    pipeline.stage("align", kind="sample", version="1", needs=["demultiplex"], queue="align")(
        nothing
    )
    pipeline.stage("qc_run", kind="run", version="1", needs=["demultiplex"])(nothing)
    pipeline.stage("call", kind="sample", version="1", needs=["align"])(nothing)
    pipeline.stage("joint", kind="family", version="1", needs=["call"])(nothing)
    assert [s.name for s in pipeline.downstream("demultiplex")] == ["align", "qc_run"]
    assert [s.name for s in pipeline.descendants("align")] == ["align", "call", "joint"]
    assert [s.name for s in pipeline.roots()] == ["demultiplex"]
    assert pipeline.queues() == ["align", "default"]
    with pytest.raises(DeclarationError, match="has no stage 'report'"):
        pipeline["report"]
