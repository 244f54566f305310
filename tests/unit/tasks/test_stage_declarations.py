"""Stage declarations: mistakes fail when the stage is declared, not at three in the morning."""

from __future__ import annotations

import importlib
from pathlib import Path

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


def test_a_stage_needing_an_undeclared_upstream_fails_when_the_pipeline_is_checked() -> None:
    pipeline = pipeline_with_source()
    pipeline.stage("markduplicates", kind="sample", version="1", needs=["align"])(nothing)
    with pytest.raises(DeclarationError, match="'markduplicates'.*unknown upstream stage 'align'"):
        pipeline.check()
    # Every query checks first: an unchecked pipeline never answers with a broken graph.
    with pytest.raises(DeclarationError, match="unknown upstream stage 'align'"):
        pipeline.downstream("demultiplex")
    with pytest.raises(DeclarationError, match="unknown upstream stage 'align'"):
        list(pipeline.stages)
    # Declaring the missing stage mends it.
    pipeline.stage("align", kind="sample", version="1", needs=["demultiplex"])(nothing)
    assert list(pipeline.check().stages) == ["demultiplex", "align", "markduplicates"]


def test_stages_declared_downstream_first_are_ordered_upstream_first() -> None:
    pipeline = Pipeline("reverse")
    pipeline.stage("report", kind="sample", version="1", needs=["call", "align"])(nothing)
    pipeline.stage("call", kind="sample", version="1", needs=["align"])(nothing)
    pipeline.stage("align", kind="sample", version="1", needs=["demultiplex"])(nothing)
    pipeline.stage("demultiplex", kind="run", version="1", source=True)(nothing)
    pipeline.check()
    assert list(pipeline.stages) == ["demultiplex", "align", "call", "report"]
    assert [s.name for s in pipeline.downstream("align")] == ["call", "report"]
    assert [s.name for s in pipeline.descendants("align")] == ["align", "call", "report"]
    assert pipeline.ancestors("report") == {"call", "align", "demultiplex"}
    assert [s.name for s in pipeline.roots()] == ["demultiplex"]


@pytest.mark.parametrize(
    "needs, cycle",
    [
        ({"a": ["a"]}, "a -> a"),
        ({"a": ["b"], "b": ["a"]}, "a -> b -> a"),
        ({"a": ["root", "c"], "b": ["a"], "c": ["b"]}, "a -> b -> c -> a"),
    ],
)
def test_stages_that_depend_on_each_other_fail_with_the_cycle_named(
    needs: dict[str, list[str]], cycle: str
) -> None:
    pipeline = Pipeline("cyclic")
    pipeline.stage("root", kind="run", version="1", source=True)(nothing)
    for name, upstream in needs.items():
        pipeline.stage(name, kind="sample", version="1", needs=upstream)(nothing)
    with pytest.raises(DeclarationError, match=f"cycle: {cycle}$"):
        pipeline.check()


def test_a_pipeline_module_with_a_broken_graph_fails_at_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken_pipeline.py").write_text(
        "from seqoia.tasks.stage import Pipeline, StageResult\n"
        "pipeline = Pipeline('broken')\n"
        "done = lambda ctx: StageResult()\n"
        "pipeline.stage('qc', kind='sample', version='1', needs=['aling'])(done)\n"
        "pipeline.stage('align', kind='run', version='1', source=True)(done)\n"
        "pipeline.check()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    expected = "unknown upstream stage 'aling'.*declared stages: qc, align"
    with pytest.raises(DeclarationError, match=expected):
        importlib.import_module("broken_pipeline")


def test_the_germline_pipeline_is_checked_when_imported() -> None:
    from seqoia.tasks.germline import pipeline

    stages = list(pipeline.stages)
    for name, stage in pipeline.stages.items():
        assert all(stages.index(up) < stages.index(name) for up in stage.needs), name
    assert stages[0] == "validate_run"


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


def test_validate_run_parses_untrusted_run_folders_in_a_stage_process() -> None:
    from seqoia.tasks.germline import pipeline as germline

    # Inline stages run in the worker without a time limit; the first reader of a run
    # folder must not (issue 12: a hostile RunInfo once held a worker for minutes).
    assert germline["validate_run"].isolation == "process"
