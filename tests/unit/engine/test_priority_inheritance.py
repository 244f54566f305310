"""Urgency passes between a sample and its family or tumour/normal pair, both ways.

The sample sheet's ``Priority`` is inherited by every stage of that sample and of its
family or pair, and by the other members' stages (an urgent pair waits for its routine
normal's alignment). ``validate_run`` commits are written directly with the relations
it declares; the subjects asked about are those of the germline pipeline's real stages.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from seqoia.engine.priority import Priorities, lane_queues
from seqoia.engine.runtime import Runtime
from seqoia.storage.counting import CountingStore
from seqoia.storage.manifest import ManifestStore
from seqoia.vocabulary import Relation, SubjectKind
from tests.fixtures.committed import commit, germline_runtime


@pytest.fixture
def rt(tmp_path: Path) -> Runtime:
    return germline_runtime(tmp_path)


Row = tuple[str, SubjectKind, str, str] | tuple[str, SubjectKind, str, str, str]


def validated(rt: Runtime, run: str, rows: list[Row]) -> None:
    """validate_run/<run> committed with ``(sample, group kind, group, priority[, centre])``
    rows, CURIE by default."""
    records, relations = {}, []
    for sample, group_kind, group, priority, *centre in rows:
        records[sample] = {"sample": sample, "priority": priority, "centre": [*centre, "CURIE"][0]}
        relations += [
            Relation(kind="run", subject=run, other_kind="sample", other=sample),
            Relation(kind="run", subject=run, other_kind=group_kind, other=group),
            Relation(kind=group_kind, subject=group, other_kind="sample", other=sample),
        ]
    commit(rt, "validate_run", run, {"samples": records}, list(dict.fromkeys(relations)))


def stage_priorities(rt: Runtime, subjects: dict[str, list[str]]) -> dict[str, set[str]]:
    """Each declared stage of a sample, family or pair kind -> its subjects' priorities."""
    priorities = Priorities(rt.manifests)  # a fresh cache: nothing looked up before
    return {
        stage.name: {priorities.of(stage.kind, s) for s in subjects[stage.kind]}
        for stage in rt.pipeline
        if stage.kind in subjects
    }


def test_an_urgent_tumour_makes_its_pair_and_its_normal_in_another_run_urgent(rt: Runtime) -> None:
    validated(rt, "R1", [("T1", "pair", "P1", "urgent")])
    validated(rt, "R2", [("N1", "pair", "P1", "routine"), ("X1", "pair", "P2", "routine")])
    by_stage = stage_priorities(rt, {"sample": ["T1", "N1"], "pair": ["P1"]})
    assert {"align", "deliver", "somatic", "deliver_pair"} <= by_stage.keys()
    assert by_stage == dict.fromkeys(by_stage, {"urgent"})
    # Another pair of the normal's run stays routine.
    assert stage_priorities(rt, {"sample": ["X1"], "pair": ["P2"]}) == dict.fromkeys(
        by_stage, {"routine"}
    )


def test_an_urgent_normal_makes_its_tumour_urgent(rt: Runtime) -> None:
    validated(rt, "R1", [("T1", "pair", "P1", "routine"), ("N1", "pair", "P1", "urgent")])
    assert Priorities(rt.manifests).of("sample", "T1") == "urgent"


def test_an_urgent_family_member_makes_every_stage_of_the_family_urgent(rt: Runtime) -> None:
    validated(rt, "R1", [("C1", "family", "F1", "urgent"), ("M1", "family", "F1", "routine")])
    validated(rt, "R2", [("D1", "family", "F1", "routine"), ("Z1", "family", "F2", "routine")])
    by_stage = stage_priorities(rt, {"sample": ["C1", "M1", "D1"], "family": ["F1"]})
    assert {"align", "family_analysis", "deliver_family"} <= by_stage.keys()
    assert by_stage == dict.fromkeys(by_stage, {"urgent"})
    assert stage_priorities(rt, {"sample": ["Z1"], "family": ["F2"]}) == dict.fromkeys(
        by_stage, {"routine"}
    )


def test_the_fair_share_knows_which_run_brought_a_subject_and_its_size(rt: Runtime) -> None:
    """A sample's own run; a family's first run (by name) holding a member; none for runs.

    With the number of the centre's samples in that run: R2 brought two of CURIE's (and
    one of APHP's, which is not counted for CURIE), R1 one.
    """
    validated(
        rt,
        "R2",
        [
            ("C1", "family", "F1", "routine"),
            ("M1", "family", "F1", "routine"),
            ("X1", "family", "F9", "routine", "APHP"),
        ],
    )
    validated(rt, "R1", [("D1", "family", "F1", "routine")])
    priorities = Priorities(rt.manifests)
    assert priorities.standing("sample", "C1") == ("routine", "CURIE", "R2", 2)
    assert priorities.standing("sample", "X1") == ("routine", "APHP", "R2", 1)
    assert priorities.standing("sample", "D1") == ("routine", "CURIE", "R1", 1)
    assert priorities.standing("family", "F1") == ("routine", "CURIE", "R1", 1)
    assert priorities.standing("run", "R2") == ("routine", None, None, None)


def test_a_lane_is_each_queue_s_routine_or_urgent_half_or_both() -> None:
    queues = ["align", "events", "align.urgent"]  # an urgent name stands for its queue
    assert lane_queues(queues) == ["align", "align.urgent", "events", "events.urgent"]
    assert lane_queues(queues, "routine") == ["align", "events"]
    assert lane_queues(queues, "urgent") == ["align.urgent", "events.urgent"]


def test_a_part_is_urgent_when_it_holds_an_urgent_sample_and_looks_up_only_its_run(
    rt: Runtime,
) -> None:
    """A run shared into parts: the part with the urgent sample is urgent, the other not.
    A part's samples are all its run's: three listings (its run, its samples, the run's
    records), however many samples it holds."""
    samples = [f"S{i:02d}" for i in range(12)]
    validated(
        rt, "R1", [(s, "family", f"F{s}", "urgent" if s == "S03" else "routine") for s in samples]
    )
    halves = {"R1-a": samples[:6], "R1-b": samples[6:]}
    for part, members in halves.items():
        relations = [Relation(kind="run", subject="R1", other_kind="part", other=part)]
        relations += [
            Relation(kind="part", subject=part, other_kind="sample", other=s) for s in members
        ]
        commit(rt, "demultiplex", part, {}, relations)
    counted = CountingStore(rt.store)
    priorities = Priorities(ManifestStore(counted, rt.layout))
    assert priorities.of("part", "R1-a") == "urgent"
    assert counted.counts == {"list": 3, "get": 1}
    assert priorities.of("part", "R1-b") == "routine"


def test_records_read_back_that_are_not_a_mapping_count_as_no_samples(rt: Runtime) -> None:
    """A manifest read back from the store is untrusted: a ``samples`` that is a list (a
    forged or corrupt summary) leaves the run routine and centre-less, and raises nothing."""
    commit(rt, "validate_run", "R1", {"samples": ["S1", "S2"]})
    priorities = Priorities(rt.manifests)
    assert priorities.of("run", "R1") == "routine"
    assert priorities.sample_centres("R1") == {}
