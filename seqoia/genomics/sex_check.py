"""Sex check: each member's declared sex against the sex its sequence shows.

Genetic sex comes from sex-chromosome dosage (reads per base on chrX and chrY over the
autosomes', from the alignment index: free to compute) cross-checked with the share of
heterozygous chrX SNVs, through :func:`seqoia.genomics.qc.predict_sex`, or is given
(the QC stage already predicts it). A member declared male whose sequence is XX (or the
reverse) fails; an ``unknown`` prediction or an undeclared sex is reported, not failed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import pysam
from pydantic import BaseModel, ConfigDict

from seqoia.errors import InputError
from seqoia.genomics.family_sites import Site
from seqoia.genomics.pedigree import Pedigree
from seqoia.genomics.qc import PredictedSex, predict_sex, sex_coverage_ratios


def dosage_ratios(
    alignment: Path, reference: Path | None = None
) -> tuple[float | None, float | None]:
    """(chrX, chrY) reads per base over the autosomes', from an indexed BAM/CRAM.

    A BAM index holds the counts; a CRAM is read once (for a whole genome, pass the QC
    stage's predicted sex to :func:`check_sex` instead). A CRAM whose header names its
    reference by store name (not a local path) needs the ``reference`` FASTA to be read.
    """
    mode = "rc" if alignment.suffix == ".cram" else "rb"
    try:
        fasta = str(reference) if reference and mode == "rc" else None
        with pysam.AlignmentFile(str(alignment), mode, reference_filename=fasta) as handle:
            lengths = dict(zip(handle.references, handle.lengths, strict=True))
            mapped = {s.contig: s.mapped for s in handle.get_index_statistics()}
            if not any(mapped.values()):  # a CRAM index has no counts: read the file
                mapped = {c: handle.count(c) for c in lengths}
            per_base = {c: mapped.get(c, 0) / lengths[c] for c in lengths}
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read alignment index: {err}", file=str(alignment)) from err
    return sex_coverage_ratios(per_base, lengths)


def chrx_het_fraction(sites: Iterable[Site], sample: str) -> float | None:
    """Share of heterozygous among the sample's non-reference diploid chrX SNV calls."""
    het = total = 0
    for site in sites:
        call = site.calls.get(sample)
        if site.sex_contig != "X" or not site.passing or not site.is_snv or call is None:
            continue
        if call.alleles is None or len(call.alleles) != 2 or not call.has_alt:
            continue
        total += 1
        het += call.is_het
    return het / total if total else None


def predicted_sex(
    alignment: Path,
    sites: Iterable[Site] | None = None,
    sample: str | None = None,
    reference: Path | None = None,
) -> PredictedSex | None:
    """XX, XY or unknown for one member (None without chrX and chrY in the reference)."""
    x_ratio, y_ratio = dosage_ratios(alignment, reference)
    het = chrx_het_fraction(sites, sample) if sites is not None and sample else None
    return predict_sex(x_ratio, y_ratio, het)


class SexCheck(BaseModel):
    """One member's declared sex against the predicted one."""

    model_config = ConfigDict(frozen=True)

    sample: str
    declared: str
    predicted: str | None
    passed: bool

    @property
    def message(self) -> str:
        verdict = "ok" if self.passed else "MISMATCH"
        return f"{self.sample}: declared {self.declared}, genetic {self.predicted} {verdict}"


def check_sex(pedigree: Pedigree, predicted: Mapping[str, PredictedSex | None]) -> list[SexCheck]:
    """Compare each member's declared sex with ``predicted`` (sample -> XX/XY/unknown)."""
    checks = []
    for member in pedigree.members:
        genetic = predicted.get(member.sample)
        declared = member.karyotype
        passed = declared is None or genetic in (None, "unknown") or genetic == declared
        checks.append(
            SexCheck(sample=member.sample, declared=member.sex, predicted=genetic, passed=passed)
        )
    return checks
