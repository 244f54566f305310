"""Predicted sex of a sample: sex-chromosome dosage, cross-checked with chrX heterozygosity.

The chrX and chrY coverage ratios come from the depth pass of :mod:`seqoia.genomics.qc`,
the chrX heterozygosity from :mod:`seqoia.genomics.variant_qc`.
"""

from __future__ import annotations

from typing import Literal

PredictedSex = Literal["XX", "XY", "unknown"]

_SEX_NAMES = {"chrX": "X", "X": "X", "chrY": "Y", "Y": "Y"}
_NOT_AUTOSOMES = {"chrM", "MT", "M", "chrMT", "chrEBV", "EBV"}


def is_autosome(name: str) -> bool:
    """Not a sex chromosome, mitochondrion, alt/unplaced/random contig or decoy."""
    return (
        name not in _SEX_NAMES
        and name not in _NOT_AUTOSOMES
        and "_" not in name
        and "decoy" not in name
    )


def _autosome_mean(contig_mean_coverage: dict[str, float], lengths: dict[str, int]) -> float:
    names = [c for c in contig_mean_coverage if is_autosome(c)]
    total = sum(lengths[c] for c in names)
    return sum(contig_mean_coverage[c] * lengths[c] for c in names) / total if total else 0.0


def sex_coverage_ratios(
    contig_mean_coverage: dict[str, float], lengths: dict[str, int]
) -> tuple[float | None, float | None]:
    """(chrX, chrY) mean coverage normalised by the autosomes' (None where absent)."""
    autosomes = _autosome_mean(contig_mean_coverage, lengths)
    ratios: dict[str, float | None] = {"X": None, "Y": None}
    for contig, which in _SEX_NAMES.items():
        if contig in contig_mean_coverage and autosomes > 0:
            ratios[which] = contig_mean_coverage[contig] / autosomes
    return ratios["X"], ratios["Y"]


def predict_sex(
    chrx_ratio: float | None, chry_ratio: float | None, chrx_het_fraction: float | None = None
) -> PredictedSex | None:
    """XX, XY or unknown from sex-chromosome dosage, cross-checked with chrX heterozygosity.

    XY: chrY at ≥ 0.2 of autosomal depth and chrX ≤ 0.75; XX: chrY ≤ 0.1 and chrX
    ≥ 0.75. Anything else (XXY, X0, contamination, a failed library) is ``unknown``, as
    is a dosage call contradicted by chrX heterozygosity (XY with > 30 % het SNVs on X).
    """
    if chrx_ratio is None or chry_ratio is None:
        return None
    sex: PredictedSex = "unknown"
    if chry_ratio >= 0.2 and chrx_ratio <= 0.75:
        sex = "XY"
    elif chry_ratio <= 0.1 and chrx_ratio >= 0.75:
        sex = "XX"
    if sex == "XY" and chrx_het_fraction is not None and chrx_het_fraction > 0.3:
        return "unknown"
    return sex
