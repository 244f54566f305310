"""Tiering rules and promotion by mode of inheritance."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from seqoia.genomics.tiering import ReportedVariant, TieringParams, base_tier, promote

PARAMS = TieringParams(max_af=0.01)


@pytest.mark.parametrize(
    ("pathogenic", "benign", "af", "lof", "missense", "tier"),
    [
        (True, False, None, False, False, 1),  # ClinVar P/LP
        (True, False, 0.2, False, False, 1),  # ClinVar P/LP wins over frequency
        (False, False, None, True, False, 2),  # absent from gnomAD, stop gained
        (False, False, 0.0099, False, True, 2),  # just under the threshold, missense
        (False, False, 0.01, False, True, None),  # at the threshold: not rare
        (False, False, 0.001, False, False, 3),  # rare, neither LoF nor missense
        (False, True, None, True, False, None),  # ClinVar benign is dropped
    ],
)
def test_base_tier(
    pathogenic: bool, benign: bool, af: float | None, lof: bool, missense: bool, tier: int | None
) -> None:
    got = base_tier(
        clinvar_pathogenic=pathogenic,
        clinvar_benign=benign,
        population_af=af,
        loss_of_function=lof,
        missense=missense,
        params=PARAMS,
    )
    assert got == tier


def test_params_are_frozen_and_validated() -> None:
    with pytest.raises(ValidationError):
        PARAMS.max_af = 0.5  # type: ignore[misc]
    with pytest.raises(ValidationError):
        TieringParams(max_af=0)
    with pytest.raises(ValidationError):
        TieringParams(inheritance="autosomal_dominant_maybe")  # type: ignore[arg-type]


def _variant(pos: int, tier: int, zygosity: str = "heterozygous", **kw: object) -> ReportedVariant:
    fields: dict[str, object] = dict(
        contig="chr1", pos=pos, ref="C", alt="T", gene="SQA1", transcript="SQT00001",
        hgvs_c="c.1C>T", hgvs_p=None, hgvs_g=f"chr1:g.{pos}C>T", consequence="missense",
        zygosity=zygosity, depth=30, vaf=0.5, clinvar_significance=None,
        clinvar_review_status=None, population_af=None, tier=tier,
    )  # fmt: skip
    fields.update(kw)
    return ReportedVariant(**fields)  # type: ignore[arg-type]


def test_no_inheritance_mode_changes_nothing() -> None:
    variants = [_variant(10, 3, "homozygous")]
    assert promote(variants, PARAMS) == variants


def test_hom_recessive_promotes_homozygous_variants_only() -> None:
    params = TieringParams(inheritance="hom_recessive")
    hom, het, top = _variant(10, 3, "homozygous"), _variant(20, 2), _variant(30, 1, "homozygous")
    got = promote([hom, het, top], params)
    assert [(v.tier, v.promoted_by) for v in got] == [(2, "hom_recessive"), (2, None), (1, None)]


def test_x_linked_promotes_hemizygous_chrx_variants() -> None:
    params = TieringParams(inheritance="x_linked")
    got = promote(
        [_variant(10, 2, "hemizygous", contig="chrX"), _variant(20, 2, "hemizygous")], params
    )
    assert [v.tier for v in got] == [1, 2]


def test_de_novo_promotes_the_variants_a_trio_called_de_novo() -> None:
    params = TieringParams(inheritance="de_novo", de_novo=frozenset({"chr1:20:C:T"}))
    got = promote([_variant(10, 3), _variant(20, 3)], params)
    assert [v.tier for v in got] == [3, 2]


def test_compound_het_needs_two_hets_in_one_gene_not_in_cis() -> None:
    params = TieringParams(inheritance="compound_het")
    lone = _variant(10, 3, gene="SQB2")
    pair = [_variant(20, 3), _variant(30, 2)]
    got = promote([lone, *pair], params)
    assert [v.tier for v in got] == [3, 2, 1]
    # Phased on the same haplotype: in cis, so not a compound heterozygote.
    cis = [_variant(20, 3, haplotype=1), _variant(30, 2, haplotype=1)]
    assert [v.tier for v in promote(cis, params)] == [3, 2]
    trans = [_variant(20, 3, haplotype=0), _variant(30, 2, haplotype=1)]
    assert [v.tier for v in promote(trans, params)] == [2, 1]
