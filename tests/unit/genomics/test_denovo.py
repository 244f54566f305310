"""De novo scoring on hand-made genotype likelihoods, and Mendelian consistency."""

from __future__ import annotations

import pytest

from seqoia.genomics.denovo import (
    DeNovoParams,
    allele_centric_likelihoods,
    de_novo_posterior,
    find_de_novo,
    parent_prior,
    score_site,
)
from seqoia.genomics.family_sites import Call, Site
from seqoia.genomics.mendelian import consistent, mendelian_errors

HOM_REF_30X = (0, 90, 255)  # 30 reference reads: het costs ~3 phred per read
HET = (200, 0, 200)
SNV_NOISE = (0.005, 0.045)  # trio-dnm2: REF in both parents, ALT missing from one


def _reads(ref: int, alt: int, ploidy: int = 2) -> list[float]:
    return allele_centric_likelihoods((ref, alt), ploidy, SNV_NOISE)


def _site(child: Call, mother: Call, father: Call, contig: str = "chr1") -> Site:
    return Site(contig, 1000, "A", "G", {"P": child, "M": mother, "F": father})


def test_parental_priors_are_trio_dnm2s() -> None:
    assert parent_prior((0, 0), (2, 2)) == 0.998
    one_het = parent_prior((1, 0), (2, 2))
    assert one_het == pytest.approx((0.002 - 0.002**2) * 4 / 45)  # about 1.8e-4
    assert parent_prior((0, 2), (2, 2)) == pytest.approx(one_het / 2)
    assert parent_prior((0,), (2,)) == 0.999  # a son's chrX: his mother alone
    assert parent_prior((0, 0), (2, 1)) == 0.998  # a daughter's: a haploid father


def test_a_parent_without_a_read_of_the_allele_cannot_be_heterozygous() -> None:
    hom_ref, het, hom_alt = _reads(8, 0)
    assert het == 0.0 and hom_alt == 0.0 and hom_ref == pytest.approx(1.0)
    assert _reads(15, 15)[1] > 0.99


def test_a_clean_de_novo_het_scores_near_one() -> None:
    assert de_novo_posterior(HET, [_reads(30, 0), _reads(30, 0)]) > 0.999


def test_an_allele_seen_in_a_parent_is_not_de_novo() -> None:
    assert de_novo_posterior(HET, [_reads(15, 15), _reads(30, 0)]) < 1e-6


def test_a_stray_parental_read_is_noise_at_30x_but_two_reads_are_not() -> None:
    one = de_novo_posterior(HET, [_reads(29, 1), _reads(30, 0)])
    two = de_novo_posterior(HET, [_reads(28, 2), _reads(30, 0)])
    assert one > 0.99 and two < 0.01


def test_indels_get_no_noise_allowance() -> None:
    child = Call((0, 1), HET, 99, 30, (15, 15))
    stray = Call((0, 0), HOM_REF_30X, 99, 30, (29, 1))
    clean = Call((0, 0), HOM_REF_30X, 99, 30, (30, 0))
    snv = score_site(_site(child, stray, clean), "P", "M", "F")
    indel = score_site(
        Site("chr1", 1000, "AT", "A", {"P": child, "M": stray, "F": clean}), "P", "M", "F"
    )
    assert snv is not None and snv.posterior > 0.99
    assert indel is not None and indel.posterior < 0.1


def test_a_parent_without_ad_is_scored_from_its_pl() -> None:
    child = Call((0, 1), HET, 99, 30, (15, 15))
    mother = Call((0, 0), HOM_REF_30X, 99, 30, (30, 0))
    # 10 reference reads as PL only: a missed heterozygous father stays plausible
    thin = score_site(_site(child, mother, Call((0, 0), (0, 30, 100), 99, 10)), "P", "M", "F")
    assert thin is not None and 0.001 < thin.posterior < 0.9
    # the same father with his reads counted: no read of the allele, no het father
    counted = Call((0, 0), (0, 30, 100), 99, 10, (10, 0))
    read = score_site(_site(child, mother, counted), "P", "M", "F")
    assert read is not None and read.posterior > 0.999 and read.passed


def test_weak_child_evidence_is_not_de_novo() -> None:
    # child barely prefers het over hom-ref: a sequencing error is likelier than a mutation
    assert de_novo_posterior((20, 0, 200), [_reads(30, 0), _reads(30, 0)]) < 0.01


def test_the_mutation_rate_sets_the_balance_between_error_and_mutation() -> None:
    child = (60, 0, 200)  # hom-ref at 1e-6 against het
    low = de_novo_posterior(child, [_reads(30, 0), _reads(30, 0)], mutation_rate=1e-8)
    high = de_novo_posterior(child, [_reads(30, 0), _reads(30, 0)], mutation_rate=1e-4)
    assert low < 0.5 < high


def test_a_shallow_parent_is_held_back_by_the_depth_threshold() -> None:
    # With no read of the allele the posterior is high whatever the depth: the depth
    # threshold (a het parent shows no alt read in 8 reads once in 256) is the guard.
    child = Call((0, 1), HET, 99, 30, (15, 15))
    mother = Call((0, 0), HOM_REF_30X, 99, 30, (30, 0))
    shallow = Call((0, 0), (0, 24, 200), 99, 8, (8, 0))
    scored = score_site(_site(child, mother, shallow), "P", "M", "F")
    assert scored is not None and scored.posterior > 0.99 and not scored.passed
    assert scored.reasons == ("father DP 8 < 10",)


def test_a_sons_chrx_is_scored_against_his_mother_only() -> None:
    son_alt = Call((1,), (200, 0), 99, 15, (0, 15))
    carrier_mother = Call((0, 1), HET, 99, 30, (15, 15))
    mother_ref = Call((0, 0), HOM_REF_30X, 99, 30, (30, 0))
    father_alt = Call((1,), (200, 0), 99, 15, (0, 15))  # a father's X never goes to a son
    father_ref = Call((0,), (0, 200), 99, 15, (15, 0))
    inherited = score_site(_site(son_alt, carrier_mother, father_ref, "chrX"), "P", "M", "F")
    novel = score_site(_site(son_alt, mother_ref, father_alt, "chrX"), "P", "M", "F")
    assert inherited is not None and inherited.posterior < 1e-6 and not inherited.passed
    assert novel is not None and novel.posterior > 0.999 and novel.passed


def test_read_filters_block_a_high_posterior_candidate() -> None:
    child = Call((0, 1), HET, 99, 30, (28, 2))  # only 2 alt reads
    mother = Call((0, 0), HOM_REF_30X, 99, 30, (30, 0))
    father = Call((0, 0), HOM_REF_30X, 99, 30, (27, 3))  # the allele seen 3 times in the father
    scored = score_site(_site(child, mother, father), "P", "M", "F", DeNovoParams())
    assert scored is not None and not scored.passed
    assert "child alt reads 2 < 3" in scored.reasons and "father has 3 alt reads" in scored.reasons


def test_find_de_novo_skips_sites_the_child_does_not_carry() -> None:
    ref = Call((0, 0), HOM_REF_30X, 99, 30, (30, 0))
    good = _site(Call((0, 1), HET, 99, 30, (15, 15)), ref, ref)
    absent = _site(ref, Call((0, 1), HET, 99, 30, (15, 15)), ref)
    found = find_de_novo([good, absent], "P", "M", "F")
    assert [c.passed for c in found] == [True] and found[0].phred > 30


@pytest.mark.parametrize(
    ("child", "mother", "father", "contig", "ok"),
    [
        ((0, 1), (0, 1), (0, 0), "chr1", True),
        ((1, 1), (0, 1), (0, 0), "chr1", False),
        ((1, 1), (0, 1), (0, 1), "chr1", True),
        ((0, 1), (0, 0), (0, 0), "chr1", False),
        ((1,), (0, 1), (0,), "chrX", True),  # son: allele from his mother
        ((1,), (0, 0), (1,), "chrX", False),  # father's X does not reach a son
        ((0, 1), (0, 0), (1,), "chrX", True),  # daughter: father's single X
        ((1,), (0, 0), (1,), "chrY", True),
    ],
)
def test_mendelian_consistency(child, mother, father, contig, ok) -> None:
    assert consistent(child, mother, father, contig.removeprefix("chr") if contig != "chr1"
                      else None) is ok  # fmt: skip


def test_mendelian_error_rate_counts_only_confident_variant_sites() -> None:
    def c(alleles, gq=60):  # type: ignore[no-untyped-def]
        return Call(alleles, None, gq, 30, None)

    sites = [
        _site(c((0, 1)), c((0, 1)), c((0, 0))),
        _site(c((0, 1)), c((0, 0)), c((0, 0))),  # error
        _site(c((1, 1)), c((0, 0), gq=5), c((0, 1))),  # mother not confident: not counted
        _site(c((0, 0)), c((0, 0)), c((0, 0))),  # no alt allele: not counted
    ]
    summary, errors = mendelian_errors(sites, "P", "M", "F")
    assert (summary.sites, summary.errors) == (2, 1) and summary.error_rate == 0.5
    assert errors[0] is sites[1]


def test_a_haploid_parent_needs_half_the_depth() -> None:
    daughter = Call((0, 1), HET, 99, 30, (15, 15))
    mother = Call((0, 0), HOM_REF_30X, 99, 30, (30, 0))
    thin_haploid_father = Call((0,), (0, 200), 99, 7, (7, 0))
    on_x = score_site(_site(daughter, mother, thin_haploid_father, "chrX"), "P", "M", "F")
    assert on_x is not None and on_x.passed, on_x
    thin_diploid_father = Call((0, 0), (0, 90, 255), 99, 7, (7, 0))
    on_autosome = score_site(_site(daughter, mother, thin_diploid_father), "P", "M", "F")
    assert on_autosome is not None and "father DP 7 < 10" in on_autosome.reasons
