"""Mendelian consistency: can a child's genotype be made of one allele from each parent?

The sources of a child's alleles depend on the chromosome and the child's ploidy at the
site (which joint calling with a ploidy file sets): on autosomes and in the PARs one
allele from each parent; a male's single chrX allele comes from his mother and his chrY
from his father; a female's two chrX alleles from her mother and from her father's one X.
A father called haploid on chrX transmits that allele. The Mendelian error rate counts
confidently genotyped sites (every member called, GQ at least ``min_gq``) whose child
genotype cannot be explained; a clean trio at 30x is well below 0.5 %.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict

from seqoia.genomics.family_sites import Call, Site

#: GQ every member needs for a site to count in the Mendelian error rate.
MIN_GQ = 20


def parent_sources(sex_contig: str | None, child_ploidy: int) -> tuple[str, ...]:
    """Which parents ("mother", "father") give the child's alleles, in allele order."""
    if child_ploidy == 2:
        return ("mother", "father")
    if sex_contig == "Y":
        return ("father",)
    return ("mother",)  # a male's chrX (or a haploid call elsewhere: the maternal copy)


def consistent(
    child: tuple[int, ...], mother: tuple[int, ...] | None, father: tuple[int, ...] | None,
    sex_contig: str | None,
) -> bool:  # fmt: skip
    """True when ``child`` can be drawn from the parents' alleles (None: parent unknown)."""
    sources = parent_sources(sex_contig, len(child))
    pools = [mother if s == "mother" else father for s in sources]
    if len(child) == 1:
        return pools[0] is None or child[0] in pools[0]
    a, b = child
    m, f = pools

    def fits(x: int, pool: tuple[int, ...] | None) -> bool:
        return pool is None or x in pool

    return (fits(a, m) and fits(b, f)) or (fits(b, m) and fits(a, f))


class MendelianSummary(BaseModel):
    """Mendelian errors of one trio over confidently genotyped sites."""

    model_config = ConfigDict(frozen=True)

    sites: int
    errors: int

    @property
    def error_rate(self) -> float:
        return self.errors / self.sites if self.sites else 0.0


def confident(call: Call, min_gq: int = MIN_GQ) -> bool:
    """Called, with GQ at least ``min_gq`` (a call without GQ is not confident)."""
    return call.alleles is not None and call.gq is not None and call.gq >= min_gq


def mendelian_errors(
    sites: Iterable[Site], child: str, mother: str, father: str, *, min_gq: int = MIN_GQ
) -> tuple[MendelianSummary, list[Site]]:
    """Count sites (passing, all three confident, someone non-ref) and the inconsistent ones."""
    counted = 0
    errors: list[Site] = []
    for site in sites:
        calls = [site.calls[s] for s in (child, mother, father)]
        if not site.passing or not all(confident(c, min_gq) for c in calls):
            continue
        if not any(c.has_alt for c in calls):
            continue
        counted += 1
        c, m, f = (x.alleles for x in calls)
        assert c is not None
        if not consistent(c, m, f, site.sex_contig):
            errors.append(site)
    return MendelianSummary(sites=counted, errors=len(errors)), errors


def error_sites(errors: Sequence[Site]) -> list[str]:
    """``contig:pos:ref>alt`` of error sites, for a report."""
    return [f"{s.contig}:{s.pos}:{s.ref}>{s.alt}" for s in errors]
