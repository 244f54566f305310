"""Do two samples come from one person? Germline genotype concordance from their pileups.

A tumour and its matched normal share the patient's germline: at sites where either sample
clearly carries a non-reference allele (allele fraction at least ``min_vaf`` with
``min_depth`` reads in both), the other carries it too, copy-number changes and loss of
heterozygosity notwithstanding (a lost allele still leaves the other one). Two people share
far fewer such sites (about half for unrelated humans at common sites; almost none for
independently simulated genomes), so concordance below ``min_concordance`` blocks the pair.
"""

from __future__ import annotations

from pathlib import Path

import pysam
from pydantic import BaseModel, ConfigDict


class IdentityCheck(BaseModel):
    """The verdict of a pair's identity check, naming both samples."""

    model_config = ConfigDict(frozen=True)

    first: str
    second: str
    informative_sites: int
    concordance: float
    passed: bool
    message: str


def genotype_concordance(
    bcf: Path,
    first: str,
    second: str,
    *,
    min_depth: int = 15,
    min_vaf: float = 0.3,
    min_concordance: float = 0.8,
    min_sites: int = 20,
) -> IdentityCheck:
    """Share of clearly variant sites (in either sample) that are variant in both."""
    both = either = 0
    with pysam.VariantFile(str(bcf)) as records:
        for rec in records:
            samples = list(rec.samples.values())
            if len(samples) < 2 or rec.alts is None:
                continue
            fractions = []
            for sample in samples[:2]:
                ad = sample.get("AD") or ()
                depth = sum(c or 0 for c in ad)
                if depth < min_depth:
                    break
                alt = max((c or 0 for c in ad[1:]), default=0)
                fractions.append(alt / depth)
            if len(fractions) < 2:
                continue
            carried = [f >= min_vaf for f in fractions]
            if any(carried):
                either += 1
                both += all(carried) or min(fractions) >= min_vaf / 3
    concordance = both / either if either else 0.0
    if either < min_sites:
        return IdentityCheck(
            first=first, second=second, informative_sites=either, concordance=round(concordance, 4),
            passed=False,
            message=f"{first} and {second}: only {either} informative germline sites; "
            "identity cannot be confirmed",
        )  # fmt: skip
    passed = concordance >= min_concordance
    verdict = "share one germline" if passed else "do not come from the same patient"
    return IdentityCheck(
        first=first,
        second=second,
        informative_sites=either,
        concordance=round(concordance, 4),
        passed=passed,
        message=f"{first} and {second} {verdict} "
        f"(concordance {concordance:.3f} over {either} sites; expected >= {min_concordance})",
    )
