"""The planner and the stage runner on a local-folder store, with the toy pipeline.

Upstream commits are written directly with :class:`ManifestStore` where only planning is
under test; inline stages run for real through :class:`StageRunner` (no broker, no child
process) where a commit, a failure or a new generation is.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from seqoia.engine.runner import StageRunner
from seqoia.engine.runtime import Runtime
from seqoia.errors import FormatError, StageFailedError
from seqoia.storage.manifest import Manifest, utcnow
from seqoia.vocabulary import Relation
from tests.fixtures.committed import local_runtime
from tests.holds import assert_held_until_committed

PIPELINE = "tests.pipelines.toy:pipeline"


@pytest.fixture
def rt(tmp_path: Path) -> Runtime:
    return local_runtime(tmp_path, PIPELINE)


def commit(
    rt: Runtime,
    stage: str,
    subject: str,
    *,
    generation: int = 1,
    fingerprint: str = "0" * 64,
    relations: list[Relation] | None = None,
) -> Manifest:
    """A committed manifest for ``stage/subject``, as if the stage had run."""
    return rt.manifests.commit(
        Manifest(
            stage=stage,
            stage_version=rt.pipeline[stage].version,
            subject=subject,
            subject_kind=rt.pipeline[stage].kind,
            fingerprint=fingerprint,
            generation=generation,
            attempt=f"{stage}-{subject}-{generation}",
            relations=relations or [],
            started_at=utcnow(),
            finished_at=utcnow(),
            worker="unit",
        )
    )


def family_run(rt: Runtime) -> None:
    """ingest/R1 committed: S1 and S2 in family F1, S3 alone."""
    relations = [
        Relation(kind="run", subject="R1", other_kind="sample", other=s) for s in ("S1", "S2", "S3")
    ]
    relations.append(Relation(kind="run", subject="R1", other_kind="family", other="F1"))
    relations += [
        Relation(kind="family", subject="F1", other_kind="sample", other=s) for s in ("S1", "S2")
    ]
    commit(rt, "ingest", "R1", relations=relations)


def write_run(rt: Runtime, table: str, *, marker: bool = True) -> None:
    rt.store.put_bytes("inbox/R1/samples.tsv", table.encode())
    if marker:
        rt.store.put_bytes("inbox/R1/CopyComplete.txt", b"")


def test_family_fan_in_waits_for_every_member_then_is_due_then_up_to_date(rt: Runtime) -> None:
    family_run(rt)
    plan = rt.planner.plan("joint", "F1")
    assert not plan.ready
    assert plan.waiting_for == ["process/S1", "process/S2"]
    commit(rt, "process", "S1")
    plan = rt.planner.plan("joint", "F1")
    assert plan.waiting_for == ["process/S2"] and not plan.due
    commit(rt, "process", "S2")
    plan = rt.planner.plan("joint", "F1")
    assert plan.ready and plan.due
    assert sorted(m.subject for m in plan.upstream) == ["S1", "S2"]
    commit(rt, "joint", "F1", fingerprint=plan.fingerprint)
    assert rt.planner.plan("joint", "F1").up_to_date
    # The run's tally still waits for S3, which is in no family.
    assert rt.planner.plan("tally", "R1").waiting_for == ["process/S3"]


def test_a_fan_in_with_no_linked_members_is_not_ready(rt: Runtime) -> None:
    plan = rt.planner.plan("joint", "F9")
    assert plan.waiting_for == ["process: no sample linked yet"]


def test_a_commit_makes_ready_its_same_subject_and_linked_downstream_stages(rt: Runtime) -> None:
    family_run(rt)
    process = commit(rt, "process", "S1")
    pairs = [(stage.name, subject) for stage, subject in rt.planner.downstream_of(process)]
    assert sorted(pairs) == [("joint", "F1"), ("tally", "R1")]
    ingest = rt.manifests.latest("ingest", "R1")
    assert ingest is not None
    pairs = [(stage.name, subject) for stage, subject in rt.planner.downstream_of(ingest)]
    assert sorted(pairs) == [("process", "S1"), ("process", "S2"), ("process", "S3")]


def test_fingerprint_follows_parameters_version_and_inputs(rt: Runtime) -> None:
    family_run(rt)
    base = rt.planner.plan("process", "S1")
    assert base.ready and base.fingerprint == rt.planner.plan("process", "S1").fingerprint

    rt.store.put_bytes(
        rt.layout.override_key("process", "S1"), json.dumps({"params": {"suffix": "?"}}).encode()
    )
    with_params = rt.planner.plan("process", "S1")
    assert with_params.params.suffix == "?"
    assert with_params.fingerprint != base.fingerprint
    rt.store.delete(rt.layout.override_key("process", "S1"))

    bumped = replace(base, stage=replace(base.stage, version="2"))
    assert bumped.fingerprint != base.fingerprint

    commit(rt, "ingest", "R1", generation=2)  # a reprocessed upstream
    new_inputs = rt.planner.plan("process", "S1")
    assert new_inputs.upstream[0].generation == 2
    assert new_inputs.fingerprint != base.fingerprint


def test_source_stage_waits_for_the_completion_marker(rt: Runtime) -> None:
    assert rt.planner.plan("ingest", "R1").waiting_for == ["run folder R1 is empty or absent"]
    write_run(rt, "S1\t-\thello\n", marker=False)
    assert rt.planner.plan("ingest", "R1").waiting_for == ["waiting for CopyComplete.txt"]
    rt.store.put_bytes("inbox/R1/CopyComplete.txt", b"")
    plan = rt.planner.plan("ingest", "R1")
    assert plan.due
    assert sorted(ref.name for ref in plan.sources) == ["CopyComplete.txt", "samples.tsv"]


def test_salt_override_makes_a_new_generation_and_the_old_one_stays_readable(
    rt: Runtime,
) -> None:
    write_run(rt, "S1\tF1\thello\nS2\t-\tsolo\n")
    runner = StageRunner(rt)
    first = runner.execute("ingest", "R1")
    assert first.kind == "committed" and first.manifest is not None
    assert runner.execute("ingest", "R1").kind == "up_to_date"

    rt.store.put_bytes(
        rt.layout.override_key("ingest", "R1"), json.dumps({"salt": "force-1"}).encode()
    )
    second = runner.execute("ingest", "R1", reason="force")
    assert second.kind == "committed" and second.manifest is not None
    assert second.manifest.generation == 2 and second.manifest.reason == "force"
    assert second.manifest.fingerprint != first.manifest.fingerprint
    assert rt.manifests.generations("ingest", "R1") == [1, 2]
    old = rt.manifests.get(rt.layout.manifest_key("ingest", "R1", 1))
    assert old.attempt == first.manifest.attempt
    assert rt.store.get_text(old.output("S1.txt").key) == "hello"
    assert runner.execute("ingest", "R1").kind == "up_to_date"


def test_input_error_is_recorded_as_a_permanent_failure_and_not_attempted_again(
    rt: Runtime,
) -> None:
    write_run(rt, "S1\tonly-two-columns\n")
    runner = StageRunner(rt)
    with pytest.raises(StageFailedError) as failed:
        runner.execute("ingest", "R1")
    assert failed.value.permanent
    record = json.loads(rt.store.get_text(rt.layout.failure_key("ingest", "R1")))
    assert record["permanent"] is True
    assert record["error_type"] == "InputError"
    assert "samples.tsv:1" in record["message"]
    assert runner.execute("ingest", "R1").kind == "failed_before"
    assert rt.manifests.generations("ingest", "R1") == []

    write_run(rt, "S1\t-\tfixed\n")  # a corrected run folder is new input: it runs again
    fixed = runner.execute("ingest", "R1")
    assert fixed.kind == "committed"
    assert not rt.store.exists(rt.layout.failure_key("ingest", "R1"))


def test_a_fan_in_is_held_while_a_member_it_read_before_is_about_to_change(
    rt: Runtime,
) -> None:
    write_run(rt, "S1\tF1\thello\nS2\tF1\tworld\n")
    runner = StageRunner(rt)
    runner.execute("ingest", "R1")
    for sample in ("S1", "S2"):
        runner.execute("process", sample)
    assert runner.execute("joint", "F1").kind == "committed"
    assert rt.planner.need_in_flight(rt.planner.plan("joint", "F1")) is None

    # A reprocess of the run: S1 commits anew while S2 still has its old output.
    rt.store.put_bytes(rt.layout.override_key("ingest", "R1"), json.dumps({"salt": "2"}).encode())
    runner.execute("ingest", "R1")
    runner.execute("process", "S1")
    assert_held_until_committed(rt, runner, ("joint", "F1"), ("process", "S2"))
    assert rt.manifests.generations("joint", "F1") == [1, 2]


def test_a_fan_in_remembers_the_member_that_blocks_it_until_that_member_commits(
    rt: Runtime,
) -> None:
    family_run(rt)
    tally, process = rt.pipeline["tally"], rt.pipeline["process"]
    commit(rt, "process", "S1")
    plan = rt.planner.plan("tally", "R1", quick=True)
    assert not plan.ready
    blocker = plan.waiting[0].subject
    assert blocker == "S3"  # the last member first: it keeps the fan-in waiting longest
    assert rt.planner.fan_in_blocker(tally, "R1", process) == "S3"
    commit(rt, "process", "S3")
    # The remembered member committed: the hint is dropped, the next check lists again.
    assert rt.planner.fan_in_blocker(tally, "R1", process) is None
    assert rt.planner.plan("tally", "R1", quick=True).waiting[0].subject == "S2"
    # A member no longer linked (a corrected sheet) never keeps a fan-in waiting.
    rt.store.delete(rt.layout.link_key("run", "R1", "sample", "S2"))
    assert rt.planner.fan_in_blocker(tally, "R1", process) is None
    assert rt.planner.plan("tally", "R1", quick=True).due


@pytest.mark.parametrize(
    "body",
    [
        b'{"params": {"suffix": "?"}',  # truncated
        b"\xff\xfe{}",
        b"[" * 100_000,
        b'["params"]',
        b'{"params": ["suffix", "?"]}',
        b'{"params": {"suffix": ["?"]}}',
        b'{"params": {"no_such_parameter": 1}}',
    ],
    ids=["truncated", "not-utf8", "nested", "not-an-object", "params-a-list", "bad-value",
         "unknown-parameter"],
)  # fmt: skip
def test_a_corrupt_override_is_refused_naming_its_key(rt: Runtime, body: bytes) -> None:
    # Found by bench/fuzz.py's ``override`` kind: json's JSONDecodeError, UnicodeDecodeError
    # and RecursionError, TypeError and pydantic's ValidationError escaped the planner.
    key = rt.layout.override_key("process", "S1")
    rt.store.put_bytes(key, body)
    with pytest.raises(FormatError, match="override") as caught:
        rt.planner.plan("process", "S1")
    assert caught.value.file == key
