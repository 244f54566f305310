"""OverrideCycles, Picard read structures and RunInfo reads, all as one ReadPlan."""

from __future__ import annotations

import pytest

from seqoia.errors import InputError, SampleSheetError
from seqoia.illumina.models import ReadInfo
from seqoia.illumina.override_cycles import (
    CycleSegment,
    check_read_plan,
    default_read_plan,
    describe_run_reads,
    parse_override_cycles,
    parse_read_structure,
)


def reads(*spec: str) -> list[ReadInfo]:
    """``reads("Y151", "I8", "I8", "Y151")`` -> RunInfo-like reads."""
    return [
        ReadInfo(number=n, cycles=int(s[1:]), is_index=s[0] == "I")
        for n, s in enumerate(spec, start=1)
    ]


NOVASEQ = reads("Y151", "I10", "I10", "Y151")


def test_plain_paired_dual_index_plan_places_every_segment_on_absolute_cycles() -> None:
    plan = parse_override_cycles("Y151;I8;I8;Y151")

    assert str(plan) == "Y151;I8;I8;Y151"
    assert plan.total_cycles == 318
    assert [(s.read, s.kind, s.start, s.stop) for s in plan.placed()] == [
        (1, "Y", 0, 151),
        (2, "I", 151, 159),
        (3, "I", 159, 167),
        (4, "Y", 167, 318),
    ]
    assert [[(s.start, s.stop) for s in r] for r in plan.template_reads()] == [
        [(0, 151)],
        [(167, 318)],
    ]
    assert plan.index_lengths() == (8, 8)
    assert plan.umi_segments() == ()


def test_umis_at_the_start_of_both_reads_are_separated_from_the_template() -> None:
    plan = parse_override_cycles("U8Y143;I8;I8;U10Y141")

    assert [(s.start, s.stop) for s in plan.umi_segments()] == [(0, 8), (167, 177)]
    r1, r2 = plan.template_reads()
    assert (r1[0].start, r1[0].stop) == (8, 151)
    assert (r2[0].start, r2[0].length) == (177, 141)
    assert plan.reads[0].length_of("U") == 8


def test_skipped_cycles_and_a_skipped_index_read_leave_one_index() -> None:
    plan = parse_override_cycles("Y150N1;I8N2;N10;Y150N1")

    assert plan.index_lengths() == (8,)
    assert [str(r) for r in plan.reads] == ["Y150N1", "I8N2", "N10", "Y150N1"]
    assert check_read_plan(plan, reads("Y151", "I10", "I10", "Y151")) == []


def test_bases_mask_spelling_with_lower_case_bare_letters_and_stars_resolves_on_the_run() -> None:
    plan = parse_override_cycles("y*;i8n*;n*;y150n", run_reads=NOVASEQ)

    assert str(plan) == "Y151;I8N2;N10;Y150N1"


def test_star_without_the_runs_reads_is_refused_with_its_place() -> None:
    with pytest.raises(SampleSheetError, match=r"'\*' needs the run's reads") as err:
        parse_override_cycles("Y*;I8;I8;Y151", file="SampleSheet.csv", line=12)
    assert err.value.line == 12
    assert str(err.value).startswith("SampleSheet.csv:12:")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("Y151;;I8;Y151", "empty read"),
        ("Y151;I8;I8;Y151;", "empty read"),
        ("Y151;X8;I8;Y151", "unexpected 'X8'"),
        ("Y0;I8", "0 cycles"),
        ("Y151 I8", "unexpected ' I8'"),
        ("", "empty read"),
    ],
)
def test_malformed_override_cycles_are_refused_with_the_reason(text: str, why: str) -> None:
    with pytest.raises(SampleSheetError, match=why):
        parse_override_cycles(text)


def test_plan_with_the_wrong_number_of_reads_is_reported_against_runinfo() -> None:
    problems = check_read_plan(parse_override_cycles("Y151;I8;Y151"), NOVASEQ)

    assert len(problems) == 1
    assert "3 reads, but RunInfo.xml has 4 (Y151;I10;I10;Y151)" in problems[0]


def test_plan_whose_read_lengths_differ_from_runinfo_names_each_read() -> None:
    problems = check_read_plan(parse_override_cycles("Y151;I8;I8;Y150"), NOVASEQ)

    assert any("read 2 (I8) has 8 cycles, but RunInfo.xml read 2 has 10" in p for p in problems)
    assert any("read 4 (Y150) has 150 cycles" in p for p in problems)
    assert len(problems) == 3


def test_template_cycles_in_an_index_read_are_reported() -> None:
    problems = check_read_plan(parse_override_cycles("Y151;Y10;I10;Y151"), NOVASEQ)

    assert problems == [
        "OverrideCycles read 2 (Y10) has Y cycles in an index read",
    ]


def test_default_plan_shortens_index_reads_to_the_sample_index_length() -> None:
    plan = default_read_plan(NOVASEQ, [8, 0])

    assert str(plan) == "Y151;I8N2;N10;Y151"
    assert str(default_read_plan(NOVASEQ)) == "Y151;I10;I10;Y151"
    assert describe_run_reads(NOVASEQ) == "Y151;I10;I10;Y151"


def test_picard_read_structure_equals_the_same_override_cycles() -> None:
    assert parse_read_structure("151T8B8B151T") == parse_override_cycles("Y151;I8;I8;Y151")
    assert str(parse_read_structure("25T8B25T")) == "Y25;I8;Y25"
    assert str(parse_read_structure("25S8S25T")) == "N25;N8;Y25"


def test_picard_structure_without_run_reads_makes_each_segment_a_read() -> None:
    plan = parse_read_structure("25T8B4M21T")

    assert str(plan) == "Y25;I8;U4;Y21"
    assert [(s.start, s.stop) for s in plan.umi_segments()] == [(33, 37)]


def test_picard_structure_is_cut_at_the_runs_read_boundaries() -> None:
    plan = parse_read_structure("25T8B4M21T", run_reads=reads("Y25", "I12", "Y21"))

    assert str(plan) == "Y25;I8U4;Y21"
    assert check_read_plan(plan, reads("Y25", "I12", "Y21")) == []
    # A segment that straddles a boundary is split in two.
    split = parse_read_structure("30T28T", run_reads=reads("Y29", "Y29"))
    assert split.as_tuples() == ((("Y", 29),), (("Y", 29),))


@pytest.mark.parametrize("text", ["25X8B", "25T8", "T25", "0T25T", ""])
def test_malformed_picard_structures_are_refused(text: str) -> None:
    with pytest.raises(InputError, match="read structure"):
        parse_read_structure(text)


def test_picard_structure_with_the_wrong_total_is_refused_against_the_run() -> None:
    with pytest.raises(InputError, match="58 cycles, but the run has 66"):
        parse_read_structure("25T8B25T", run_reads=reads("Y25", "I8", "I8", "Y25"))


def test_segments_refuse_zero_length_and_unknown_kinds() -> None:
    with pytest.raises(ValueError):
        CycleSegment(kind="Y", length=0)
    with pytest.raises(ValueError):
        CycleSegment(kind="T", length=5)  # type: ignore[arg-type]
