"""Family analysis: every check and finding of a trio, from its joint VCF, in one result.

What the family fan-in stage will call once the engine takes family subjects: the
pedigree checks (relatedness against declared roles, declared against genetic sex,
Mendelian error rate), which *block* the family when any fails, since de novo and
inheritance findings on a swapped sample would be wrong; then the de novo candidates
and each proband variant's inheritance modes. Pure: files in, a pydantic model out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from seqoia.genomics.denovo import DeNovoCandidate, DeNovoParams, find_de_novo
from seqoia.genomics.family_sites import alt_count_matrix, read_sites
from seqoia.genomics.inheritance import SiteKey, VariantModes, classify
from seqoia.genomics.mendelian import MendelianSummary, mendelian_errors
from seqoia.genomics.pedigree import Pedigree, PedigreeError, validate_pedigree
from seqoia.genomics.qc import PredictedSex
from seqoia.genomics.relatedness import RelationCheck, check_relatedness
from seqoia.genomics.sex_check import SexCheck, check_sex, predicted_sex

#: A trio whose unexplained Mendelian error rate passes this is blocked (clean 30x: < 0.5 %).
MAX_MENDELIAN_ERROR_RATE = 0.02


class FamilyAnalysis(BaseModel):
    """The checks and findings of one family."""

    model_config = ConfigDict(frozen=True)

    family: str
    relatedness: tuple[RelationCheck, ...]
    sex: tuple[SexCheck, ...]
    mendelian: MendelianSummary | None
    #: Mendelian errors left once passing de novo candidates (explained) are set aside.
    unexplained_errors: int = 0
    de_novo: tuple[DeNovoCandidate, ...]
    variants: tuple[VariantModes, ...]

    @property
    def failures(self) -> list[str]:
        """Why the family is blocked (empty when every check passed)."""
        out = [c.message for c in self.relatedness if not c.passed]
        out += [c.message for c in self.sex if not c.passed]
        if self.mendelian and self.mendelian.sites:
            rate = self.unexplained_errors / self.mendelian.sites
            if rate > MAX_MENDELIAN_ERROR_RATE:
                out.append(
                    f"Mendelian error rate {rate:.2%} (de novo candidates aside) over "
                    f"{self.mendelian.sites} sites exceeds {MAX_MENDELIAN_ERROR_RATE:.0%}"
                )
        return out

    @property
    def blocked(self) -> bool:
        return bool(self.failures)


def analyse_family(
    vcf: Path,
    pedigree: Pedigree,
    *,
    alignments: Mapping[str, Path] | None = None,
    predicted: Mapping[str, PredictedSex | None] | None = None,
    gene_of: Mapping[SiteKey, str] | Callable[[SiteKey], str | None] | None = None,
    params: DeNovoParams | None = None,
    reference: Path | None = None,
) -> FamilyAnalysis:
    """Check and analyse the family in the joint ``vcf``.

    Genetic sex is taken from ``predicted`` (e.g. the QC stage's) or else computed from
    ``alignments`` (sample -> BAM/CRAM; CRAMs decoded against ``reference`` when given);
    without either, sex is not checked. De novo and
    Mendelian analyses need a mother and a father; a duo gets relatedness and sex only.
    """
    validate_pedigree(pedigree)
    sites = list(read_sites(vcf, pedigree.samples))
    relatedness = check_relatedness(pedigree, alt_count_matrix(sites, pedigree.samples))
    if predicted is None and alignments is not None:
        missing = sorted(set(pedigree.samples) - set(alignments))
        if missing:
            raise PedigreeError(f"family {pedigree.family}: no alignment for {missing}")
        predicted = {s: predicted_sex(alignments[s], sites, s, reference) for s in pedigree.samples}
    sex = check_sex(pedigree, predicted) if predicted is not None else []
    mother, father = pedigree.role("mother"), pedigree.role("father")
    mendelian = None
    de_novo: list[DeNovoCandidate] = []
    unexplained = 0
    passing: list[SiteKey] = []
    if mother is not None and father is not None:
        child = pedigree.proband.sample
        mendelian, errors = mendelian_errors(sites, child, mother.sample, father.sample)
        de_novo = find_de_novo(sites, child, mother.sample, father.sample, params)
        passing = [(c.contig, c.pos, c.ref, c.alt) for c in de_novo if c.passed]
        unexplained = sum(1 for site in errors if site.key not in set(passing))
    variants = classify(sites, pedigree, de_novo=passing, gene_of=gene_of)
    return FamilyAnalysis(
        family=pedigree.family,
        relatedness=tuple(relatedness),
        sex=tuple(sex),
        mendelian=mendelian,
        unexplained_errors=unexplained,
        de_novo=tuple(de_novo),
        variants=tuple(variants),
    )
