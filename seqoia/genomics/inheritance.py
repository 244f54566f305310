"""Inheritance modes: which way a proband's variant could explain a rare disease.

Given the trio's genotypes at each site, a set of de novo sites (from
:mod:`seqoia.genomics.denovo`) and a gene per variant (a plain mapping, so this works
before the annotation library exists), each variant the proband carries gets the modes
it fits:

- ``de_novo``: the site is a passing de novo candidate.
- ``homozygous_recessive``: autosome (or PAR), proband homozygous alt, both parents
  heterozygous carriers, and no unaffected sibling homozygous alt.
- ``x_linked_hemizygous``: chrX outside the PARs, male proband (haploid call) carrying
  the allele, heterozygous mother, father without it.
- ``compound_heterozygous``: the proband is heterozygous for two or more variants in one
  gene, at least one from the mother only and one from the father only, or a de novo
  one with an inherited one (then in trans is likely but not proven; the mode is the same,
  the phase is not known). Unaffected siblings carrying the same maternal and paternal
  pair exclude it.
- ``dominant_inherited``: proband heterozygous, exactly one parent carries the allele and
  that parent is affected (with unaffected parents no inherited variant is dominant).

A variant may fit none (an inherited heterozygous variant from an unaffected parent).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from seqoia.genomics.family_sites import Call, Site
from seqoia.genomics.mendelian import MIN_GQ, confident
from seqoia.genomics.pedigree import Pedigree

Mode = Literal[
    "de_novo",
    "homozygous_recessive",
    "x_linked_hemizygous",
    "compound_heterozygous",
    "dominant_inherited",
]
SiteKey = tuple[str, int, str, str]
Origin = Literal["maternal", "paternal", "both", "de_novo", "unknown"]


class VariantModes(BaseModel):
    """The inheritance modes one proband variant fits."""

    model_config = ConfigDict(frozen=True)

    contig: str
    pos: int
    ref: str
    alt: str
    gene: str | None
    origin: Origin
    modes: tuple[Mode, ...]


def _carries(call: Call | None) -> bool | None:
    """True/False when confidently called, None when unknown."""
    if call is None or not confident(call, MIN_GQ):
        return None
    return call.has_alt


def _origin(mother: Call | None, father: Call | None, de_novo: bool) -> Origin:
    """Which parent the proband's allele came from, as far as confident calls tell."""
    if de_novo:
        return "de_novo"
    in_mother, in_father = _carries(mother), _carries(father)
    if in_mother and in_father:
        return "both"
    if in_mother and in_father is False:
        return "maternal"
    if in_father and in_mother is False:
        return "paternal"
    return "unknown"


def classify(
    sites: Iterable[Site],
    pedigree: Pedigree,
    *,
    de_novo: Iterable[SiteKey] = (),
    gene_of: Mapping[SiteKey, str] | Callable[[SiteKey], str | None] | None = None,
) -> list[VariantModes]:
    """The modes of every passing variant the proband carries, in input order."""
    proband_member = pedigree.proband
    mother_m, father_m = pedigree.role("mother"), pedigree.role("father")
    siblings = [m for m in pedigree.members if m.role == "sibling" and not m.affected]
    novo = set(de_novo)
    lookup: Callable[[SiteKey], str | None]
    if gene_of is None:
        lookup = lambda key: None  # noqa: E731
    elif callable(gene_of):
        lookup = gene_of
    else:
        lookup = gene_of.get  # type: ignore[assignment]

    results: list[VariantModes] = []
    sib_calls: dict[SiteKey, list[Call]] = {}
    for site in sites:
        proband = site.calls[proband_member.sample]
        if not site.passing or not proband.has_alt or proband.alleles is None:
            continue
        mother = site.calls.get(mother_m.sample) if mother_m else None
        father = site.calls.get(father_m.sample) if father_m else None
        is_novo = site.key in novo
        origin = _origin(mother, father, is_novo)
        modes: list[Mode] = []
        if is_novo:
            modes.append("de_novo")
        sibs = [site.calls[s.sample] for s in siblings if s.sample in site.calls]
        sib_calls[site.key] = sibs
        haploid_x = site.sex_contig == "X" and len(proband.alleles) == 1
        if (
            not haploid_x
            and site.sex_contig is None
            and proband.alt_count == 2
            and mother is not None and mother.is_het and confident(mother)
            and father is not None and father.is_het and confident(father)
            and not any(c.alleles is not None and c.alt_count == 2 for c in sibs)
        ):  # fmt: skip
            modes.append("homozygous_recessive")
        if (
            haploid_x
            and mother is not None and mother.is_het and confident(mother)
            and _carries(father) is not True
            and not any(c.has_alt for c in sibs if _hemizygous(c))
        ):  # fmt: skip
            modes.append("x_linked_hemizygous")
        if proband.is_het and origin in ("maternal", "paternal"):
            carrier = mother_m if origin == "maternal" else father_m
            if carrier is not None and carrier.affected:
                modes.append("dominant_inherited")
        results.append(
            VariantModes(
                contig=site.contig,
                pos=site.pos,
                ref=site.ref,
                alt=site.alt,
                gene=lookup(site.key),
                origin=origin,
                modes=tuple(modes),
            )
        )
    return _compound_heterozygous(results, sib_calls)


def _hemizygous(call: Call) -> bool:
    """A haploid chrX call: a male sibling carrying it would be affected too."""
    return call.alleles is not None and len(call.alleles) == 1


def _compound_heterozygous(
    results: Sequence[VariantModes], sib_calls: Mapping[SiteKey, list[Call]]
) -> list[VariantModes]:
    """Add ``compound_heterozygous`` to het variants of genes hit from both sides."""
    by_gene: dict[str, list[int]] = defaultdict(list)
    for i, v in enumerate(results):
        if v.gene and v.origin in ("maternal", "paternal", "de_novo"):
            by_gene[v.gene].append(i)
    marked: set[int] = set()
    for indexes in by_gene.values():
        origins = {results[i].origin for i in indexes}
        two_sides = {"maternal", "paternal"} <= origins or (
            "de_novo" in origins and origins & {"maternal", "paternal"}
        )
        if not two_sides or _sibling_has_both(results, indexes, sib_calls):
            continue
        marked.update(indexes)
    out = []
    for i, v in enumerate(results):
        if i in marked:
            v = v.model_copy(update={"modes": (*v.modes, "compound_heterozygous")})
        out.append(v)
    return out


def _sibling_has_both(
    results: Sequence[VariantModes], indexes: list[int], sib_calls: Mapping[SiteKey, list[Call]]
) -> bool:
    """True when one unaffected sibling carries a maternal and a paternal variant of the gene."""
    keys = {
        o: [_key(results[i]) for i in indexes if results[i].origin == o]
        for o in ("maternal", "paternal")
    }
    n_sibs = max((len(sib_calls.get(k, [])) for ks in keys.values() for k in ks), default=0)
    for s in range(n_sibs):

        def has(origin: str, s: int = s) -> bool:
            return any(
                len(sib_calls.get(k, [])) > s and sib_calls[k][s].has_alt for k in keys[origin]
            )

        if has("maternal") and has("paternal"):
            return True
    return False


def _key(v: VariantModes) -> SiteKey:
    return (v.contig, v.pos, v.ref, v.alt)
