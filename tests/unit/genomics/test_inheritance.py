"""Inheritance modes on hand-made trio genotypes."""

from __future__ import annotations

from seqoia.genomics.family_sites import Call, Site
from seqoia.genomics.inheritance import classify
from seqoia.genomics.pedigree import load_pedigree, trio

REF, HET, HOM = (0, 0), (0, 1), (1, 1)


def _c(alleles: tuple[int, ...]) -> Call:
    return Call(alleles, None, 60, 30, None)


def _site(pos: int, p, m, f, contig: str = "chr1", **more) -> Site:  # type: ignore[no-untyped-def]
    calls = {"P": _c(p), "M": _c(m), "F": _c(f), **{k: _c(v) for k, v in more.items()}}
    return Site(contig, pos, "A", "G", calls)


def _modes(sites, pedigree=None, **kwargs):  # type: ignore[no-untyped-def]
    pedigree = pedigree or trio("F", "P", "M", "F", proband_sex="male")
    return {v.pos: set(v.modes) for v in classify(sites, pedigree, **kwargs)}


def test_de_novo_and_recessive_and_x_linked_modes() -> None:
    sites = [
        _site(10, HET, REF, REF),
        _site(20, HOM, HET, HET),
        _site(30, (1,), HET, (0,), contig="chrX"),
        _site(40, (1,), REF, (0,), contig="chrX"),  # not inherited from the mother
        _site(50, HOM, HET, REF),  # a Mendelian error, not recessive
        _site(60, REF, HET, HET),  # the proband does not carry it: not listed
    ]
    modes = _modes(sites, de_novo=[("chr1", 10, "A", "G")])
    assert modes == {10: {"de_novo"}, 20: {"homozygous_recessive"},
                     30: {"x_linked_hemizygous"}, 40: set(), 50: set()}  # fmt: skip


def test_compound_heterozygous_needs_one_hit_from_each_parent() -> None:
    sites = [
        _site(100, HET, HET, REF),  # GENE1 maternal
        _site(200, HET, REF, HET),  # GENE1 paternal
        _site(300, HET, HET, REF),  # GENE2 maternal
        _site(400, HET, HET, REF),  # GENE2 maternal again: cis, not compound
        _site(500, HET, REF, REF),  # GENE3 de novo
        _site(600, HET, REF, HET),  # GENE3 paternal
    ]
    genes = {("chr1", p, "A", "G"): g for p, g in
             [(100, "GENE1"), (200, "GENE1"), (300, "GENE2"), (400, "GENE2"),
              (500, "GENE3"), (600, "GENE3")]}  # fmt: skip
    modes = _modes(sites, gene_of=genes, de_novo=[("chr1", 500, "A", "G")])
    compound = {pos for pos, m in modes.items() if "compound_heterozygous" in m}
    assert compound == {100, 200, 500, 600}


def test_an_unaffected_sibling_with_both_hits_rules_compound_het_out() -> None:
    pedigree = load_pedigree({"family": "Q", "members": [
        {"sample": "P", "role": "proband", "affected": True},
        {"sample": "M", "role": "mother", "sex": "female"},
        {"sample": "F", "role": "father", "sex": "male"},
        {"sample": "S", "role": "sibling", "affected": False}]})  # fmt: skip
    sites = [_site(100, HET, HET, REF, S=HET), _site(200, HET, REF, HET, S=HET)]
    modes = _modes(sites, pedigree, gene_of=lambda key: "GENE1")
    assert all("compound_heterozygous" not in m for m in modes.values())
    alone = [_site(100, HET, HET, REF, S=HET), _site(200, HET, REF, HET, S=REF)]
    modes = _modes(alone, pedigree, gene_of=lambda key: "GENE1")
    assert all("compound_heterozygous" in m for m in modes.values())


def test_dominant_inherited_needs_an_affected_carrier_parent() -> None:
    affected_father = load_pedigree({"family": "D", "members": [
        {"sample": "P", "role": "proband", "affected": True},
        {"sample": "M", "role": "mother", "sex": "female"},
        {"sample": "F", "role": "father", "sex": "male", "affected": True}]})  # fmt: skip
    sites = [_site(10, HET, REF, HET), _site(20, HET, HET, REF)]
    assert _modes(sites, affected_father) == {10: {"dominant_inherited"}, 20: set()}
    assert _modes(sites) == {10: set(), 20: set()}  # unaffected parents: not dominant
