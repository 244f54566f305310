"""De novo variants: alleles the child carries that neither parent transmitted.

The model is bcftools' ``+trio-dnm2`` (its default "allele-centric" model, run with
``--with-pAD`` as our joint VCF has AD but no QS), read at the source
(``plugins/trio-dnm2.c``):

- **Child**: its genotype likelihoods, L = 10^(-PL/10).
- **Parents, allele-centric**: from read counts, not PL. Each allele gets a score
  q = 30 x its reads (trio-dnm2's stand-in for summed base qualities), less a noise
  allowance of a fraction of the parent's total (``parent_noise``: 0.005; 0.045 for an
  allele absent from one parent's reads, a possible mosaic; 0 for indels), floored at 0.
  A parental genotype weighs the product over the two alleles of 1 - 10^(-q/10) when it
  holds the allele and 10^(-q/10) when it does not. So a parent with no read of the
  allele cannot be heterozygous for it, whatever its depth: this, not the priors, is what
  lets a 15x parent count as a reference homozygote. A parent without AD falls back to
  its PL (trio-dnm2's ``--with-pPL``).
- **Parental priors**, trio-dnm2's: both parents homozygous reference 0.998; the rest
  shared out over the configurations with an alternate allele (one heterozygous parent
  (0.002 - 4e-6) x 4/45, about 1.8e-4); for a son's chrX the mother alone (0.999), for a
  daughter's chrX a diploid mother and a haploid father (0.998). A son's chrY, which
  trio-dnm2 does not score, uses the haploid father with the son's-chrX numbers.
- **Transmission**: T = (1 - mu) Mendel(c | m, f) + mu D(c | m, f), D moving one allele of
  a Mendelian child genotype to the other allele, mu = 1e-8 (trio-dnm2's ``--mrate``).

The posterior that the child's ALT is new is the weight of every configuration in which
the child carries it and no transmitting parent does, over the weight of all of them
(trio-dnm2 reports the single best de novo configuration instead; on biallelic records
the two differ little). Records are biallelic (``norm -m -any``); sources follow the
chromosome (:func:`seqoia.genomics.mendelian.parent_sources`).

Because no parental read of the allele rules a heterozygous parent out, precision rests
on the read filters, which are the documented threshold: a candidate passes when its
posterior is at least ``min_posterior`` (0.9), the child has ``min_child_dp`` reads (10),
``min_child_alt`` of them (3) and a fraction ``min_child_vaf`` (0.2) on the new allele,
and each transmitting parent has ``min_parent_dp`` reads (10) with at most
``max_parent_alt`` (1) carrying the allele. Depths are per diploid call: a haploid call
(a male's chrX) needs half. Why 10 parental reads: a heterozygous parent shows no read of
its allele with probability 0.5^DP, and a child inherits ~1.5 million alleles that one
parent alone carries; at 30x the few sites under 10 reads leave ~0.4 such false de novo
calls per genome, at 15x ~180 (and ~630 with 6 reads), against ~60 true ones. The bench's
1 Mbp genome is ~3,000 times smaller and cannot show this cost: there the filters only
lower recall (bench/README.md). trio-dnm2 applies no depth filter and leaves it to the user.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict, Field

from seqoia.genomics.family_sites import Call, Site
from seqoia.genomics.mendelian import parent_sources


class DeNovoParams(BaseModel):
    """Priors, noise allowances and thresholds of de novo scoring (module docstring)."""

    model_config = ConfigDict(frozen=True)

    mutation_rate: float = Field(default=1e-8, gt=0, lt=1)
    parent_noise: float = Field(default=0.005, ge=0, lt=1)
    parent_noise_single: float = Field(default=0.045, ge=0, lt=1)
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


#: trio-dnm2 ``--with-pAD`` fakes an allele's summed base qualities as 30 per read.
_QS_PER_READ = 30
#: trio-dnm2's parental priors: P(no alternate allele in the parents) ...
_HOM_REF_PAIR, _HOM_REF_ONE = 0.998, 0.999
#: ... and what is left once a second, different alternate allele is set aside.
_NON_REF_PAIR = 1 - _HOM_REF_PAIR - (1 - _HOM_REF_PAIR) ** 2
_NON_REF_ONE = 1 - _HOM_REF_ONE - (1 - _HOM_REF_ONE) ** 2


def _pl_likelihoods(pl: tuple[int, ...]) -> list[float]:
    return [10.0 ** (-v / 10.0) for v in pl]


def allele_centric_likelihoods(
    ad: tuple[int, int], ploidy: int, noise: tuple[float, float]
) -> list[float]:
    """A parent's likelihood of 0..``ploidy`` alt copies from its reads (trio-dnm2's model).

    ``noise`` is the fraction of the parent's total score taken off the REF and the ALT
    allele (parental noise or mosaicism). A genotype holding an allele weighs
    1 - 10^(-q/10), one without it 10^(-q/10): no read of an allele, no copy of it.
    """
    total = _QS_PER_READ * (ad[0] + ad[1])
    absent = [
        10.0 ** (-max(0.0, _QS_PER_READ * reads - fraction * total) / 10.0)
        for reads, fraction in zip(ad, noise, strict=True)
    ]
    out = []
    for alt in range(ploidy + 1):
        ref_weight = 1 - absent[0] if alt < ploidy else absent[0]
        alt_weight = 1 - absent[1] if alt > 0 else absent[1]
        out.append(ref_weight * alt_weight)
    return out


def parent_prior(genotypes: tuple[int, ...], ploidies: tuple[int, ...]) -> float:
    """trio-dnm2's prior weight of the source parents' alt counts (biallelic site).

    Two diploid parents (autosomes), a diploid mother and a haploid father (a daughter's
    chrX), or one parent (a son's chrX: the mother; his chrY: the father, haploid).
    """
    if len(genotypes) == 1:
        alt, ploidy = genotypes[0], ploidies[0]
        if alt == 0:
            return _HOM_REF_ONE
        return _NON_REF_ONE * (2 / 9 if alt < ploidy else 1 / 9)
    refs = sum(p - g for g, p in zip(genotypes, ploidies, strict=True))
    if refs == sum(ploidies):
        return _HOM_REF_PAIR
    if ploidies == (2, 2):
        if refs == 2 and 1 not in genotypes:  # one homozygous reference, one alternate
            return _NON_REF_PAIR * 2 / 45
        return _NON_REF_PAIR * (1 / 45 if refs == 0 else 4 / 45)
    return _NON_REF_PAIR * (1 / 21 if refs == 0 else 1 / 7)  # mother 2, father 1


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
    parents: Sequence[Sequence[float]],
    *,
    mutation_rate: float = 1e-8,
) -> float:
    """Posterior that the child's ALT allele is new.

    ``child`` is the child's PL: length 3 diploid (0/0, 0/1, 1/1), 2 haploid (0, 1).
    ``parents`` are the transmitting parents' likelihoods by alt count (not phred), in
    :func:`parent_sources` order, from :func:`allele_centric_likelihoods` or a PL.
    """
    child_like = _pl_likelihoods(child)
    child_ploidy = len(child) - 1
    if len(parents) != child_ploidy:
        raise ValueError(f"a ploidy-{child_ploidy} child needs {child_ploidy} source parent(s)")
    ploidies = tuple(len(p) - 1 for p in parents)
    novel = total = 0.0
    for genotypes in itertools.product(*(range(len(p)) for p in parents)):
        weight = parent_prior(genotypes, ploidies)
        for g, like in zip(genotypes, parents, strict=True):
            weight *= like[g]
        if weight == 0.0:
            continue
        transmit = [g / n for g, n in zip(genotypes, ploidies, strict=True)]
        mendel = _mendel(child_ploidy, transmit)
        mutated = _mutated(mendel)
        for c, child_l in enumerate(child_like):
            w = weight * child_l * ((1 - mutation_rate) * mendel[c] + mutation_rate * mutated[c])
            total += w
            if c > 0 and all(g == 0 for g in genotypes):
                novel += w
    return novel / total if total > 0 else 0.0


def parent_likelihoods(
    calls: Sequence[Call], is_snv: bool, params: DeNovoParams
) -> list[list[float]]:
    """The source parents' likelihoods by alt count: from AD when called with it, else PL."""
    in_all = [all(c.ad is None or c.ad[i] > 0 for c in calls) for i in (0, 1)]
    # trio-dnm2 tolerates noise on SNVs only, more for an allele a parent lacks (mosaic).
    noise = (0.0, 0.0)
    if is_snv:
        ref, alt = (params.parent_noise if seen else params.parent_noise_single for seen in in_all)
        noise = (ref, alt)
    out = []
    for call in calls:
        if call.ad is not None:
            out.append(allele_centric_likelihoods(call.ad, call.ploidy, noise))
        elif call.pl is not None:
            out.append(_pl_likelihoods(call.pl))
        else:
            raise ValueError("a parent needs AD or PL")
    return out


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
        kid.pl, parent_likelihoods(calls, site.is_snv, params), mutation_rate=params.mutation_rate
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
