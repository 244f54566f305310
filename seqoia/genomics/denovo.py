"""De novo variants: alleles the child carries that neither parent transmitted.

Scored as bcftools' ``+trio-dnm2`` plugin does, from the three members' genotype
likelihoods (PL) rather than their hard genotypes: the posterior probability that the
child's alternate allele is new is the weight of every (child, mother, father) genotype
configuration in which the child carries the allele and no transmitting parent does,
over the weight of all configurations. A configuration weighs

    L_child(c) L_mother(m) L_father(f) P(m) P(f) T(c | m, f)

with L = 10^(-PL/10); parental priors from Hardy-Weinberg at the population
heterozygosity ``heterozygosity`` (1e-3, bcftools call's own prior); and transmission
T = (1 - mu) Mendel(c | m, f) + mu D(c | m, f), where D moves one allele of a Mendelian
child genotype to the other allele and mu is the de novo prior, 1e-8 per site per
generation (trio-dnm2's default ``--mrate``). Allele-specific: records are biallelic
(``norm -m -any``), so the allele judged is the record's ALT. Sources follow the
chromosome (:func:`seqoia.genomics.mendelian.parent_sources`): a son's chrX is scored
against his mother alone.

A candidate passes when its posterior is at least ``min_posterior`` (0.9) and its reads
agree: the child has ``min_child_dp`` reads (10), ``min_child_alt`` of them (3) and an
allele fraction of ``min_child_vaf`` (0.2, for a diploid call) on the new allele; each
transmitting parent has ``min_parent_dp`` reads (10) and at most ``max_parent_alt`` (1)
carrying the allele. Depths are per diploid call: a haploid call (a male's chrX) needs
half, as it gets half the reads. Thresholds were chosen on simulated 30x trios
(bench/trio.py); a parent with a stray read of the allele or under ~20 reads leaves the
posterior below 0.9, the price of not calling inherited alleles de novo.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field

from seqoia.genomics.family_sites import Call, Site
from seqoia.genomics.mendelian import parent_sources


class DeNovoParams(BaseModel):
    """Prior and thresholds of de novo scoring (documented in the module docstring)."""

    model_config = ConfigDict(frozen=True)

    mutation_rate: float = Field(default=1e-8, gt=0, lt=1)
    heterozygosity: float = Field(default=1e-3, gt=0, lt=0.5)
    min_posterior: float = Field(default=0.9, ge=0, le=1)
    min_child_dp: int = Field(default=10, ge=0)
    min_child_alt: int = Field(default=3, ge=0)
    min_child_vaf: float = Field(default=0.2, ge=0, le=1)
    min_parent_dp: int = Field(default=10, ge=0)
    max_parent_alt: int = Field(default=1, ge=0)


class DeNovoCandidate(BaseModel):
    """A site where the child carries an allele, scored for being new."""

    model_config = ConfigDict(frozen=True)

    contig: str
    pos: int
    ref: str
    alt: str
    posterior: float
    passed: bool
    reasons: tuple[str, ...] = ()

    @property
    def phred(self) -> float:
        """The posterior as trio-dnm2's DNM quality, -10 log10(1 - posterior)."""
        return 99.0 if self.posterior >= 1 - 1e-10 else -10 * math.log10(1 - self.posterior)


def _likelihoods(pl: tuple[int, ...]) -> list[float]:
    return [10.0 ** (-v / 10.0) for v in pl]


def _genotype_prior(ploidy: int, heterozygosity: float) -> list[float]:
    """P(alt count) of a parent: Hardy-Weinberg at allele frequency ``heterozygosity``/2."""
    if ploidy == 1:
        return [1 - heterozygosity, heterozygosity]
    return [1 - 1.5 * heterozygosity, heterozygosity, heterozygosity / 2]


def _mendel(child_ploidy: int, transmit: list[float]) -> list[float]:
    """P(child alt count) from each source parent's probability of passing the alt allele."""
    if child_ploidy == 1:
        return [1 - transmit[0], transmit[0]]
    pm, pf = transmit
    return [(1 - pm) * (1 - pf), pm * (1 - pf) + pf * (1 - pm), pm * pf]


def _mutated(mendel: list[float]) -> list[float]:
    """Child genotype distribution after one allele of a Mendelian genotype flips."""
    n = len(mendel) - 1  # ploidy
    out = [0.0] * len(mendel)
    for alt, p in enumerate(mendel):
        if alt < n:
            out[alt + 1] += p * (n - alt) / n
        if alt > 0:
            out[alt - 1] += p * alt / n
    return out


def de_novo_posterior(
    child: tuple[int, ...],
    parents: list[tuple[int, ...]],
    *,
    mutation_rate: float = 1e-8,
    heterozygosity: float = 1e-3,
) -> float:
    """Posterior that the child's ALT allele is new, from PLs of child and source parents.

    A PL tuple of length 3 is diploid (0/0, 0/1, 1/1), of length 2 haploid (0, 1).
    ``parents`` are the transmitting parents in :func:`parent_sources` order.
    """
    child_like = _likelihoods(child)
    child_ploidy = len(child) - 1
    if len(parents) != child_ploidy:
        raise ValueError(f"a ploidy-{child_ploidy} child needs {child_ploidy} source parent(s)")
    parent_likes = [_likelihoods(pl) for pl in parents]
    parent_priors = [_genotype_prior(len(pl) - 1, heterozygosity) for pl in parents]
    novel = total = 0.0
    for genotypes in itertools.product(*(range(len(pl)) for pl in parents)):
        weight = 1.0
        for g, like, prior in zip(genotypes, parent_likes, parent_priors, strict=True):
            weight *= like[g] * prior[g]
        if weight == 0.0:
            continue
        transmit = [g / (len(pl) - 1) for g, pl in zip(genotypes, parents, strict=True)]
        mendel = _mendel(child_ploidy, transmit)
        mutated = _mutated(mendel)
        for c, child_l in enumerate(child_like):
            w = weight * child_l * ((1 - mutation_rate) * mendel[c] + mutation_rate * mutated[c])
            total += w
            if c > 0 and all(g == 0 for g in genotypes):
                novel += w
    return novel / total if total > 0 else 0.0


def _depth_needed(diploid_depth: int, call: Call) -> int:
    """The depth threshold for this call's ploidy: half for a haploid call."""
    return -(-diploid_depth // 2) if call.ploidy == 1 else diploid_depth


def _alt_reads(call: Call) -> int | None:
    return None if call.ad is None else call.ad[1]


def score_site(
    site: Site, child: str, mother: str, father: str, params: DeNovoParams | None = None
) -> DeNovoCandidate | None:
    """Score one site; None when the child does not carry the ALT allele or lacks PLs."""
    params = params or DeNovoParams()
    kid = site.calls[child]
    if not kid.has_alt or kid.pl is None or kid.alleles is None:
        return None
    sources = parent_sources(site.sex_contig, len(kid.alleles))
    calls = [site.calls[mother if s == "mother" else father] for s in sources]
    reasons: list[str] = []
    if not site.passing:
        reasons.append("site filtered")
    if any(c.pl is None for c in calls):
        return DeNovoCandidate(
            contig=site.contig,
            pos=site.pos,
            ref=site.ref,
            alt=site.alt,
            posterior=0.0,
            passed=False,
            reasons=("parent not called",),
        )
    posterior = de_novo_posterior(
        kid.pl,
        [c.pl for c in calls],  # type: ignore[misc]
        mutation_rate=params.mutation_rate,
        heterozygosity=params.heterozygosity,
    )
    if posterior < params.min_posterior:
        reasons.append(f"posterior {posterior:.3g} < {params.min_posterior}")
    alt, dp = _alt_reads(kid), kid.dp or 0
    if dp < _depth_needed(params.min_child_dp, kid):
        reasons.append(f"child DP {dp} < {_depth_needed(params.min_child_dp, kid)}")
    if alt is None or alt < params.min_child_alt:
        reasons.append(f"child alt reads {alt} < {params.min_child_alt}")
    elif len(kid.alleles) == 2 and kid.ad and alt / max(1, sum(kid.ad)) < params.min_child_vaf:
        reasons.append(f"child allele fraction below {params.min_child_vaf}")
    for role, call in zip(sources, calls, strict=True):
        needed = _depth_needed(params.min_parent_dp, call)
        if (call.dp or 0) < needed:
            reasons.append(f"{role} DP {call.dp} < {needed}")
        parent_alt = _alt_reads(call)
        if parent_alt is not None and parent_alt > params.max_parent_alt:
            reasons.append(f"{role} has {parent_alt} alt reads")
    return DeNovoCandidate(
        contig=site.contig, pos=site.pos, ref=site.ref, alt=site.alt,
        posterior=round(posterior, 6), passed=not reasons, reasons=tuple(reasons),
    )  # fmt: skip


def find_de_novo(
    sites: Iterable[Site], child: str, mother: str, father: str, params: DeNovoParams | None = None
) -> list[DeNovoCandidate]:
    """Every scored candidate of the trio (``passed`` tells the callable ones)."""
    out = []
    for site in sites:
        candidate = score_site(site, child, mother, father, params)
        if candidate is not None and (candidate.posterior > 0.01 or candidate.passed):
            out.append(candidate)
    return out
