"""Relatedness: KING-robust kinship and IBS0 between family members, checked against roles.

KING-robust (Manichaikul et al. 2010, eq. 11), from the alt-allele counts of two samples
at sites both called::

    phi = (N_Aa,Aa - 2 N_AA,aa) / (N_Aa(i) + N_Aa(j))

It needs no allele frequency, so sites where only the family varies serve, and sites
where everyone is homozygous reference add nothing to either term (a joint VCF of
variant sites loses nothing). Expected values: 0.5 for duplicates (or monozygotic twins),
0.25 for parent-child and full siblings, 0.125 for second degree, 0 for unrelated.
Classes use KING's documented bounds (half-way on the log scale, 2^-1.5, 2^-2.5, 2^-3.5):

=============  ==================
duplicate      phi > 0.354
first-degree   0.177 < phi <= 0.354
second-degree  0.0884 < phi <= 0.177
unrelated      phi <= 0.0884 (third degree and beyond are not told apart here)
=============  ==================

First-degree pairs are split by IBS0, the fraction of shared sites where the two are
opposite homozygotes: a parent and child always share one allele (IBS0 only from
genotyping errors), full siblings share none at a quarter of the genome. The bound,
:data:`IBS0_PARENT_CHILD_MAX`, sits between the two on simulated 30x trios (see
bench/README.md): parent-child ≈ 0.001, full siblings ≈ 0.03.
"""

from __future__ import annotations

from itertools import combinations
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from seqoia.genomics.pedigree import Pedigree

Degree = Literal["duplicate", "first-degree", "second-degree", "unrelated"]
Relationship = Literal[
    "duplicate", "parent-child", "full-sibling", "second-degree", "unrelated", "unknown"
]
DUPLICATE_MIN = 0.354
FIRST_DEGREE_MIN = 0.177
SECOND_DEGREE_MIN = 0.0884
IBS0_PARENT_CHILD_MAX = 0.008
#: Fewer informative sites than this and no relationship is claimed.
MIN_SITES = 100


class PairKinship(BaseModel):
    """Kinship statistics of two samples over the sites both were called at."""

    model_config = ConfigDict(frozen=True)

    sample_a: str
    sample_b: str
    sites: int  # both called, at least one carries the alt allele
    het_a: int
    het_b: int
    het_shared: int
    opposite_homozygous: int
    kinship: float
    ibs0: float

    @property
    def degree(self) -> Degree:
        return degree(self.kinship)

    @property
    def relationship(self) -> Relationship:
        """Observed relationship (first-degree split by IBS0); unknown with too few sites."""
        if self.sites < MIN_SITES or self.het_a + self.het_b == 0:
            return "unknown"
        found = self.degree
        if found == "first-degree":
            return "parent-child" if self.ibs0 <= IBS0_PARENT_CHILD_MAX else "full-sibling"
        return found


def degree(kinship: float) -> Degree:
    """KING's class of a kinship coefficient."""
    if kinship > DUPLICATE_MIN:
        return "duplicate"
    if kinship > FIRST_DEGREE_MIN:
        return "first-degree"
    if kinship > SECOND_DEGREE_MIN:
        return "second-degree"
    return "unrelated"


def pair_kinship(a: np.ndarray, b: np.ndarray, names: tuple[str, str] = ("a", "b")) -> PairKinship:
    """KING-robust kinship and IBS0 of two alt-count vectors (-1 = missing)."""
    both = (a >= 0) & (b >= 0) & ((a > 0) | (b > 0))
    a, b = a[both], b[both]
    het_a, het_b = int(np.sum(a == 1)), int(np.sum(b == 1))
    shared = int(np.sum((a == 1) & (b == 1)))
    opposite = int(np.sum(np.abs(a.astype(np.int16) - b) == 2))
    hets = het_a + het_b
    return PairKinship(
        sample_a=names[0],
        sample_b=names[1],
        sites=int(both.sum()),
        het_a=het_a,
        het_b=het_b,
        het_shared=shared,
        opposite_homozygous=opposite,
        kinship=round((shared - 2 * opposite) / hets, 4) if hets else 0.0,
        ibs0=round(opposite / int(both.sum()), 5) if both.any() else 0.0,
    )


def all_pairs(matrix: np.ndarray, samples: list[str]) -> list[PairKinship]:
    """Kinship of every pair of columns of a sites x samples alt-count matrix."""
    return [
        pair_kinship(matrix[:, i], matrix[:, j], (samples[i], samples[j]))
        for i, j in combinations(range(len(samples)), 2)
    ]


class RelationCheck(BaseModel):
    """One pair's declared relationship against the observed one."""

    model_config = ConfigDict(frozen=True)

    sample_a: str
    sample_b: str
    expected: str
    observed: Relationship
    kinship: float
    ibs0: float
    passed: bool

    @property
    def message(self) -> str:
        verdict = "ok" if self.passed else "MISMATCH"
        return (
            f"{self.sample_a} / {self.sample_b}: declared {self.expected}, observed "
            f"{self.observed} (kinship {self.kinship:.3f}, IBS0 {self.ibs0:.4f}) {verdict}"
        )


def check_relatedness(pedigree: Pedigree, matrix: np.ndarray) -> list[RelationCheck]:
    """Compare every pair's observed relationship with the pedigree's declared one.

    ``matrix`` holds the alt counts of ``pedigree.samples`` in that column order. A pair
    with too few sites to tell, or an ``other`` member, fails only when observed as a
    duplicate (a sample sequenced twice is never right).
    """
    checks = []
    for pair in all_pairs(matrix, pedigree.samples):
        expected = pedigree.expected_relationship(pair.sample_a, pair.sample_b)
        observed = pair.relationship
        if expected == "unknown" or observed == "unknown":
            passed = observed != "duplicate"
        else:
            passed = observed == expected
        checks.append(
            RelationCheck(
                sample_a=pair.sample_a,
                sample_b=pair.sample_b,
                expected=expected,
                observed=observed,
                kinship=pair.kinship,
                ibs0=pair.ibs0,
                passed=passed,
            )
        )
    return checks
