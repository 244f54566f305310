"""Pedigree: the members of a rare-disease family as the prescription declares them.

A family (trio, duo, quartet ...) is one proband, at most one mother and one father, and
any number of siblings or other relatives, each with a pseudonymous sample id, a declared
sex and an affected status. Validation rejects what no analysis can use: no or two
probands, a father declared female, a mother declared male, a duplicated sample, or a
member the caller requires (``require=("mother", "father")`` for a trio analysis) absent.
Errors are :class:`PedigreeError` (an input error, never retried) naming the family.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from seqoia.errors import InputError, first_error

Role = Literal["proband", "mother", "father", "sibling", "other"]
DeclaredSex = Literal["male", "female", "unknown"]
#: Roles that can appear once at most in a family.
SINGLE_ROLES: tuple[Role, ...] = ("proband", "mother", "father")


class PedigreeError(InputError):
    """A pedigree is inconsistent or incomplete; names the family and the members."""


class Member(BaseModel):
    """One sequenced member of a family."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sample: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    role: Role
    sex: DeclaredSex = "unknown"
    affected: bool = False

    @property
    def karyotype(self) -> Literal["XX", "XY"] | None:
        """The sex-chromosome complement implied by the declared sex, when declared."""
        return {"male": "XY", "female": "XX"}.get(self.sex)  # type: ignore[return-value]


class Pedigree(BaseModel):
    """A validated family: use :func:`load_pedigree` to build one from untrusted input."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    family: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    members: tuple[Member, ...]

    def role(self, role: Role) -> Member | None:
        """The one member with ``role`` (proband, mother, father), or None."""
        found = [m for m in self.members if m.role == role]
        return found[0] if found else None

    @property
    def proband(self) -> Member:
        """The index case."""
        member = self.role("proband")
        assert member is not None  # validated on construction
        return member

    @property
    def samples(self) -> list[str]:
        """Sample ids in declaration order (the order of the joint VCF's columns)."""
        return [m.sample for m in self.members]

    def member(self, sample: str) -> Member:
        """The member whose sample id is ``sample``."""
        for m in self.members:
            if m.sample == sample:
                return m
        raise PedigreeError(f"family {self.family}: no member with sample {sample!r}")

    def expected_relationship(self, a: str, b: str) -> str:
        """Declared relationship of two samples: parent-child, full-sibling or unrelated.

        Siblings of the proband are taken as full siblings; the two parents as unrelated
        (consanguinity is declared as ``other`` and not checked); ``other`` is unknown.
        """
        roles = {self.member(a).role, self.member(b).role}
        if "other" in roles:
            return "unknown"
        if roles == {"mother", "father"}:
            return "unrelated"
        if roles & {"mother", "father"}:
            return "parent-child"
        return "full-sibling"  # proband + sibling, or two siblings


def validate_pedigree(pedigree: Pedigree, *, require: Iterable[Role] = ("proband",)) -> Pedigree:
    """Check the family's structure; raise PedigreeError naming what is wrong."""
    name = pedigree.family
    problems: list[str] = []
    samples = [m.sample for m in pedigree.members]
    duplicated = sorted({s for s in samples if samples.count(s) > 1})
    if duplicated:
        problems.append(f"sample(s) listed twice: {', '.join(duplicated)}")
    for role in SINGLE_ROLES:
        holders = [m.sample for m in pedigree.members if m.role == role]
        if len(holders) > 1:
            problems.append(f"{len(holders)} members are {role}: {', '.join(holders)}")
    for member in pedigree.members:
        if member.role == "father" and member.sex == "female":
            problems.append(f"father {member.sample} is declared female")
        if member.role == "mother" and member.sex == "male":
            problems.append(f"mother {member.sample} is declared male")
    for role in dict.fromkeys(["proband", *require]):
        if not any(m.role == role for m in pedigree.members):
            problems.append(f"no {role} in the family")
    if problems:
        raise PedigreeError(f"family {name}: " + "; ".join(problems))
    return pedigree


def load_pedigree(data: object, *, require: Iterable[Role] = ("proband",)) -> Pedigree:
    """Build and validate a pedigree from parsed JSON (a dict); errors are PedigreeError."""
    family = data.get("family") if isinstance(data, dict) else None
    try:
        pedigree = Pedigree.model_validate(data)
    except ValidationError as err:
        raise PedigreeError(
            f"family {family or '?'}: invalid pedigree at {first_error(err)}"
        ) from err
    return validate_pedigree(pedigree, require=require)


def trio(
    family: str,
    proband: str,
    mother: str,
    father: str,
    *,
    proband_sex: DeclaredSex = "unknown",
    proband_affected: bool = True,
) -> Pedigree:
    """A validated proband-mother-father family (affected proband, unaffected parents)."""
    return load_pedigree(
        {
            "family": family,
            "members": [
                {
                    "sample": proband,
                    "role": "proband",
                    "sex": proband_sex,
                    "affected": proband_affected,
                },
                {"sample": mother, "role": "mother", "sex": "female"},
                {"sample": father, "role": "father", "sex": "male"},
            ],
        },  # fmt: skip
        require=("proband", "mother", "father"),
    )
