"""Pedigree validation: the family structures no analysis can use are refused clearly."""

from __future__ import annotations

import pytest

from seqoia.errors import InputError
from seqoia.genomics.pedigree import PedigreeError, load_pedigree, trio


def _family(*members: dict) -> dict:
    return {"family": "FAM7", "members": list(members)}


PROBAND = {"sample": "S1", "role": "proband", "sex": "male", "affected": True}
MOTHER = {"sample": "S2", "role": "mother", "sex": "female"}
FATHER = {"sample": "S3", "role": "father", "sex": "male"}


def test_a_valid_trio_loads_and_declares_relationships() -> None:
    pedigree = load_pedigree(_family(PROBAND, MOTHER, FATHER), require=("mother", "father"))
    assert pedigree.proband.sample == "S1"
    assert pedigree.samples == ["S1", "S2", "S3"]
    assert pedigree.expected_relationship("S1", "S2") == "parent-child"
    assert pedigree.expected_relationship("S2", "S3") == "unrelated"
    assert pedigree.member("S3").karyotype == "XY"


def test_two_probands_are_refused_naming_both() -> None:
    second = {"sample": "S4", "role": "proband", "sex": "female"}
    with pytest.raises(PedigreeError, match=r"FAM7: 2 members are proband: S1, S4"):
        load_pedigree(_family(PROBAND, second, MOTHER))


def test_a_father_declared_female_is_refused() -> None:
    with pytest.raises(PedigreeError, match="father S3 is declared female"):
        load_pedigree(_family(PROBAND, MOTHER, {**FATHER, "sex": "female"}))


def test_a_mother_declared_male_is_refused() -> None:
    with pytest.raises(PedigreeError, match="mother S2 is declared male"):
        load_pedigree(_family(PROBAND, {**MOTHER, "sex": "male"}, FATHER))


def test_a_missing_required_member_is_refused() -> None:
    with pytest.raises(PedigreeError, match="FAM7: no father in the family"):
        load_pedigree(_family(PROBAND, MOTHER), require=("mother", "father"))
    with pytest.raises(PedigreeError, match="no proband"):
        load_pedigree(_family(MOTHER, FATHER))


def test_a_sample_listed_twice_is_refused() -> None:
    with pytest.raises(PedigreeError, match="listed twice: S2"):
        load_pedigree(_family(PROBAND, MOTHER, {**FATHER, "sample": "S2"}))


def test_malformed_input_is_a_permanent_input_error_naming_the_field() -> None:
    with pytest.raises(PedigreeError, match=r"members\.0\.role") as caught:
        load_pedigree(_family({**PROBAND, "role": "uncle"}))
    assert isinstance(caught.value, InputError) and caught.value.permanent


def test_trio_helper_builds_a_valid_family() -> None:
    family = trio("F1", "P", "M", "F", proband_sex="female")
    assert [m.role for m in family.members] == ["proband", "mother", "father"]
    assert family.proband.affected and not family.role("mother").affected  # type: ignore[union-attr]
