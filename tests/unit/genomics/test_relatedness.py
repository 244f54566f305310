"""KING-robust kinship classes and the pedigree check, on simulated genotypes."""

from __future__ import annotations

import numpy as np
import pytest

from seqoia.genomics.pedigree import load_pedigree, trio
from seqoia.genomics.relatedness import all_pairs, check_relatedness, degree, pair_kinship
from seqoia.genomics.simulate_family import draw_founder, meiosis

CHROMOSOMES, SITES, LENGTH = 22, 400, 100_000_000


def _child(
    a: np.ndarray, b: np.ndarray, positions: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """A child's haplotypes: one meiosis of each parent (~1 crossover per chromosome)."""
    return np.stack(
        [meiosis(h, positions, LENGTH, rng, crossovers_per_mbp=0.01) for h in (a, b)], axis=1
    )


def _family(seed: int) -> dict[str, np.ndarray]:
    """Alt counts of two parents, two children, a grandchild's other parent and a grandchild."""
    rng = np.random.default_rng(seed)
    counts: dict[str, list[np.ndarray]] = {}
    for _ in range(CHROMOSOMES):
        positions = np.sort(rng.integers(1, LENGTH, SITES))
        freqs = rng.uniform(0.05, 0.95, SITES)
        mother, father, spouse = (draw_founder(freqs, rng) for _ in range(3))
        kid = _child(mother, father, positions, rng)
        sib = _child(mother, father, positions, rng)
        grandchild = _child(kid, spouse, positions, rng)
        for name, haps in {"mother": mother, "father": father, "kid": kid, "sib": sib,
                           "spouse": spouse, "grandchild": grandchild}.items():  # fmt: skip
            counts.setdefault(name, []).append(haps.sum(axis=1))
    return {k: np.concatenate(v).astype(np.int8) for k, v in counts.items()}


@pytest.fixture(scope="module")
def family() -> dict[str, np.ndarray]:
    return _family(7)


def test_kinship_of_simulated_relatives_falls_in_king_classes(family) -> None:
    pc = pair_kinship(family["kid"], family["mother"])
    sibs = pair_kinship(family["kid"], family["sib"])
    second = pair_kinship(family["grandchild"], family["mother"])
    unrelated = pair_kinship(family["mother"], family["father"])
    duplicate = pair_kinship(family["kid"], family["kid"].copy())
    assert pc.kinship == pytest.approx(0.25, abs=0.03) and pc.relationship == "parent-child"
    assert sibs.kinship == pytest.approx(0.25, abs=0.06) and sibs.relationship == "full-sibling"
    assert second.kinship == pytest.approx(0.125, abs=0.04)
    assert second.relationship == "second-degree"
    assert abs(unrelated.kinship) < 0.03 and unrelated.relationship == "unrelated"
    assert duplicate.kinship == pytest.approx(0.5) and duplicate.relationship == "duplicate"
    assert pc.ibs0 == 0.0 and sibs.ibs0 > 0.01  # IBS0 tells parent-child from siblings


def test_degree_thresholds_are_king_bounds() -> None:
    assert [degree(x) for x in (0.36, 0.30, 0.18, 0.10, 0.05, -0.2)] == [
        "duplicate", "first-degree", "first-degree", "second-degree", "unrelated", "unrelated"
    ]  # fmt: skip


def test_missing_calls_are_left_out() -> None:
    a = np.array([1, 1, 2, -1, 0], dtype=np.int8)
    b = np.array([1, -1, 0, 2, 1], dtype=np.int8)
    pair = pair_kinship(a, b)
    assert (pair.sites, pair.het_shared, pair.opposite_homozygous) == (3, 1, 1)
    assert pair.kinship == pytest.approx((1 - 2) / 3, abs=1e-4)


def test_a_correct_trio_passes_every_check(family) -> None:
    pedigree = trio("F1", "kid", "mum", "dad")
    matrix = np.stack([family["kid"], family["mother"], family["father"]], axis=1)
    checks = check_relatedness(pedigree, matrix)
    assert len(checks) == 3 and all(c.passed for c in checks), [c.message for c in checks]


def test_an_unrelated_father_fails_naming_both_samples(family) -> None:
    pedigree = trio("F1", "kid", "mum", "dad")
    matrix = np.stack([family["kid"], family["mother"], family["spouse"]], axis=1)
    failed = [c for c in check_relatedness(pedigree, matrix) if not c.passed]
    assert len(failed) == 1
    assert failed[0].message.startswith("kid / dad: declared parent-child, observed unrelated")


def test_a_sibling_declared_as_a_parent_fails(family) -> None:
    pedigree = trio("F1", "kid", "mum", "dad")
    matrix = np.stack([family["kid"], family["sib"], family["father"]], axis=1)
    messages = [c.message for c in check_relatedness(pedigree, matrix) if not c.passed]
    assert any("kid / mum: declared parent-child, observed full-sibling" in m for m in messages)
    assert any("mum / dad: declared unrelated, observed parent-child" in m for m in messages)


def test_a_quartet_with_a_sibling_passes(family) -> None:
    pedigree = load_pedigree({"family": "Q", "members": [
        {"sample": "kid", "role": "proband"}, {"sample": "mum", "role": "mother"},
        {"sample": "dad", "role": "father"}, {"sample": "sib", "role": "sibling"}]})  # fmt: skip
    matrix = np.stack([family[k] for k in ("kid", "mother", "father", "sib")], axis=1)
    assert all(c.passed for c in check_relatedness(pedigree, matrix))
    assert len(all_pairs(matrix, pedigree.samples)) == 6
