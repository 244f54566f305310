"""Families checked at ``validate_run`` (one sheet) and at ``family_analysis`` (all runs).

The sheet checks run the real stage on a real FASTQ run folder; the checks across runs
work on the runs' summaries as ``validate_run`` writes them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from seqoia.errors import SampleSheetError
from seqoia.genomics.pedigree import PedigreeError
from seqoia.illumina.simulate import write_fastq_run_folder
from seqoia.tasks.family_members import (
    FamilyWaitingError,
    composition,
    family_centre,
    family_pedigree,
    family_records,
    family_waiting,
)
from seqoia.tasks.germline import pipeline
from seqoia.tasks.local import run_local

RUN = "240102_SIM_0001_FLOWCELL"
INDEXES = ["ACGTACGT", "TTGGCCAA", "GGAATTCC", "CATGCATG"]


def _validate(tmp_path: Path, columns: dict[str, dict[str, str]]):
    records = [(f"r{i}", "ACGT" * 10, "I" * 40) for i in range(5)]
    folder = tmp_path / "run"
    sheet = {
        sample: {"Index": INDEXES[i]} | cols for i, (sample, cols) in enumerate(columns.items())
    }
    write_fastq_run_folder(folder, RUN, {s: (records, records) for s in columns}, sheet)
    return run_local(pipeline["validate_run"], RUN, tmp_path / "work", source_dir=folder)


def _member(role: str, sex: str, family: str = "F1", centre: str = "APHP") -> dict[str, str]:
    return {"Family": family, "Role": role, "Sex": sex, "Centre": centre}


def test_a_sound_family_is_linked_run_to_family_to_each_member(tmp_path: Path) -> None:
    out = _validate(
        tmp_path,
        {"P1": _member("proband", "M"), "M1": _member("mother", "F"), "X1": {"Centre": "APHP"}},
    )
    assert set(out.related("family")) == {"F1"}
    assert out.summary["samples"]["M1"]["role"] == "mother"


def test_a_family_with_two_probands_is_refused_naming_both_and_the_line(tmp_path: Path) -> None:
    with pytest.raises(SampleSheetError, match="2 members with role proband: P1") as caught:
        _validate(tmp_path, {"P1": _member("proband", "M"), "P2": _member("proband", "F")})
    assert "P2" in str(caught.value) and caught.value.line is not None
    assert caught.value.run == RUN and caught.value.file == "SampleSheet.csv"


def test_a_father_declared_female_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SampleSheetError, match="father D1 is declared female"):
        _validate(tmp_path, {"P1": _member("proband", "M"), "D1": _member("father", "F")})


def test_one_family_id_for_two_centres_in_one_sheet_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SampleSheetError, match="two centres"):
        _validate(
            tmp_path,
            {"P1": _member("proband", "M"), "M1": _member("mother", "F", centre="CURIE")},
        )


def test_a_tumour_normal_pair_is_not_checked_as_a_family(tmp_path: Path) -> None:
    pair = {"Pair_ID": "PAIR1", "Sex": "F", "Centre": "APHP"}
    out = _validate(
        tmp_path,
        {"T1": pair | {"Role": "tumour"}, "N1": pair | {"Role": "normal"}},
    )
    assert out.summary["samples"]["T1"]["role"] == "tumour"
    assert out.related("family") == []


def _summary(members: dict[str, tuple[str, str]], family: str = "F1", centre: str = "APHP"):
    return {
        "samples": {
            s: {"family": family, "role": role, "sex": sex, "centre": centre}
            for s, (role, sex) in members.items()
        }
    }


def test_a_family_split_over_two_runs_is_one_trio() -> None:
    runs = {
        "RUN1": _summary({"P": ("proband", "male"), "M": ("mother", "female")}),
        "RUN2": _summary({"F": ("father", "male")}),
    }
    records = family_records("F1", runs)
    pedigree = family_pedigree("F1", records)
    assert pedigree.samples == ["P", "M", "F"]
    assert pedigree.proband.affected and composition(pedigree) == "trio"
    assert family_centre("F1", records) == "APHP"
    assert composition(family_pedigree("F1", records, without=["F"])) == "duo (no father)"


def test_a_family_id_reused_by_another_centre_in_a_later_run_is_refused() -> None:
    runs = {
        "RUN1": _summary({"P": ("proband", "male"), "M": ("mother", "female")}),
        "RUN2": _summary({"F": ("father", "male")}, centre="CURIE"),
    }
    with pytest.raises(PedigreeError, match="F1 is used by centre 'APHP' .run RUN1. and centre"):
        family_centre("F1", family_records("F1", runs))


def test_a_sample_given_two_roles_by_two_runs_is_refused() -> None:
    runs = {
        "RUN1": _summary({"P": ("proband", "male"), "M": ("mother", "female")}),
        "RUN2": _summary({"M": ("sibling", "female")}),
    }
    with pytest.raises(PedigreeError, match="sample M has role 'mother' in run RUN1"):
        family_records("F1", runs)


def test_a_family_without_its_proband_waits_and_says_for_what() -> None:
    parents = _summary({"M": ("mother", "female"), "F": ("father", "male")})
    why = family_waiting("F1", {"validate_run": [parents]})
    assert why == "family F1: no run lists its proband yet (sequenced: F (father), M (mother))"
    proband = _summary({"P": ("proband", "male")})
    assert family_waiting("F1", {"validate_run": [parents, proband]}) is None
    # The stage itself, called anyway, refuses rather than analysing without a proband.
    waits = r"waits for its proband: run\(s\) RUN1 list M \(mother\), F \(father\)"
    with pytest.raises(FamilyWaitingError, match=waits):
        family_pedigree("F1", family_records("F1", {"RUN1": parents}))


def test_a_conflict_between_runs_is_no_reason_to_wait() -> None:
    # The stage runs and fails with the conflict named, rather than waiting for ever.
    first = _summary({"M": ("mother", "female")})
    second = _summary({"M": ("sibling", "female")})
    assert family_waiting("F1", {"validate_run": [first, second]}) is None


@pytest.mark.parametrize(
    "family",
    [
        "FAM+2",  # a valid key, but no pedigree accepts it: family_analysis failed (pydantic)
        ".FAM",
        "F" * 200,
        "FAMILLE DUPONT",
        "FAMé",
    ],
    ids=["plus", "dot-first", "too-long", "space", "non-ascii"],
)
def test_a_family_id_no_pedigree_can_carry_is_refused_naming_the_line(
    tmp_path: Path, family: str
) -> None:
    # Found with bench/fuzz.py's sheet_clinical kind: '+' passed validate_run and broke
    # family_pedigree (pydantic's ValidationError) after every member was aligned and
    # called; the others were refused by an InvalidKeyError naming neither run nor line.
    with pytest.raises(SampleSheetError, match="column Family") as caught:
        _validate(tmp_path, {"P1": _member("proband", "M", family=family)})
    assert (caught.value.run, caught.value.file) == (RUN, "SampleSheet.csv")
    assert caught.value.line == 16  # P1's row in the simulated sheet
    assert family not in str(caught.value)  # a family id may be a surname: not echoed
