"""Tiering: how urgently a clinical scientist should look at a variant.

In the spirit of the NHS Genomic Medicine Service's rare-disease tiering and of the
ACMG/ACGS evidence it leans on, for variants in the panel of the clinical question:

- **tier 1**: classified pathogenic or likely pathogenic in ClinVar;
- **tier 2**: rare (population AF below ``max_af``, or absent) and loss of function
  (stop gained, frameshift, splice donor/acceptor, start or stop lost) or missense /
  in-frame;
- **tier 3**: any other rare variant in the panel.

Variants ClinVar calls benign or likely benign, and common ones, are not tiered. An
optional mode of inheritance promotes a rare variant by one tier (3→2, 2→1) when the
genotypes fit it: *de novo* (the variant is among those a trio analysis called de
novo), *homozygous recessive* (homozygous alternate), *X-linked* (on chrX, hemizygous or
homozygous) or *compound heterozygous* (two or more heterozygous tiered variants in one
gene, on different haplotypes when phase is known).

Secondary findings (ClinVar pathogenic variants in genes outside the question, such as
the ACMG SF list) are off unless ``report_secondary_findings`` is set and a secondary
panel is given.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Zygosity = Literal["heterozygous", "homozygous", "hemizygous", "unknown"]
InheritanceMode = Literal["de_novo", "hom_recessive", "x_linked", "compound_het"]
Tier = Literal[1, 2, 3]


class TieringParams(BaseModel):
    """Thresholds and switches of tiering (frozen: part of a stage's fingerprint)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_af: float = Field(default=0.01, gt=0, le=1, description="rare below this AF")
    pass_only: bool = Field(default=True, description="ignore records whose FILTER is not PASS")
    min_depth: int = Field(default=0, ge=0, description="ignore calls with less depth")
    drop_clinvar_benign: bool = True
    inheritance: InheritanceMode | None = None
    de_novo: frozenset[str] = Field(
        default=frozenset(),
        description="variants a trio analysis called de novo, as 'contig:pos:ref:alt'",
    )
    report_secondary_findings: bool = False


class ReportedVariant(BaseModel):
    """One variant on one transcript, as a report lists it."""

    model_config = ConfigDict(frozen=True)

    contig: str
    pos: int
    ref: str
    alt: str
    gene: str
    transcript: str
    hgvs_c: str
    hgvs_p: str | None
    hgvs_g: str
    consequence: str
    zygosity: Zygosity
    depth: int | None
    vaf: float | None
    clinvar_significance: str | None
    clinvar_review_status: str | None
    population_af: float | None
    tier: Tier
    finding: Literal["primary", "secondary"] = "primary"
    promoted_by: InheritanceMode | None = None
    # Which haplotype (0/1) carries a phased het; compared as if all phased calls were one
    # phase block (FORMAT/PS is not read yet).
    haplotype: int | None = None

    @property
    def key(self) -> str:
        return f"{self.contig}:{self.pos}:{self.ref}:{self.alt}"


def base_tier(
    *,
    clinvar_pathogenic: bool,
    clinvar_benign: bool,
    population_af: float | None,
    loss_of_function: bool,
    missense: bool,
    params: TieringParams,
) -> Tier | None:
    """The tier of a panel variant before inheritance is considered (None: not tiered)."""
    if clinvar_pathogenic:
        return 1
    if clinvar_benign and params.drop_clinvar_benign:
        return None
    rare = population_af is None or population_af < params.max_af
    if not rare:
        return None
    if loss_of_function or missense:
        return 2
    return 3


def _fits(variant: ReportedVariant, mode: InheritanceMode, params: TieringParams) -> bool:
    if mode == "de_novo":
        return variant.key in params.de_novo
    if mode == "hom_recessive":
        return variant.zygosity == "homozygous"
    if mode == "x_linked":
        return variant.contig.removeprefix("chr") == "X" and variant.zygosity in (
            "homozygous",
            "hemizygous",
        )
    return False  # compound_het is judged per gene below


def _compound_het_keys(variants: Sequence[ReportedVariant]) -> set[str]:
    """Keys of heterozygous variants that pair with another in the same gene, in trans."""
    by_gene: dict[str, list[ReportedVariant]] = defaultdict(list)
    for v in variants:
        if v.zygosity == "heterozygous" and v.finding == "primary":
            by_gene[v.gene].append(v)
    keys: set[str] = set()
    for members in by_gene.values():
        distinct = {v.key: v for v in members}
        if len(distinct) < 2:
            continue
        for v in distinct.values():
            partners = [w for w in distinct.values() if w.key != v.key]
            # Phase known on both: they must sit on different haplotypes; otherwise the
            # pair is only possibly in trans, which is what an unphased call can say.
            if any(
                v.haplotype is None or w.haplotype is None or v.haplotype != w.haplotype
                for w in partners
            ):
                keys.add(v.key)
    return keys


def promote(variants: Sequence[ReportedVariant], params: TieringParams) -> list[ReportedVariant]:
    """Apply the inheritance mode of ``params``: fitting variants move up one tier."""
    mode = params.inheritance
    if mode is None:
        return list(variants)
    compound = _compound_het_keys(variants) if mode == "compound_het" else set()
    out = []
    for v in variants:
        fits = v.key in compound if mode == "compound_het" else _fits(v, mode, params)
        if fits and v.tier > 1 and v.finding == "primary":
            out.append(v.model_copy(update={"tier": v.tier - 1, "promoted_by": mode}))
        else:
            out.append(v)
    return out
