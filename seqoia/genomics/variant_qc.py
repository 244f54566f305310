"""Variant metrics: ``bcftools stats`` of a sample's VCF (SNVs, indels, Ti/Tv, het/hom, chrX).

The third source of a sample's quality control (:mod:`seqoia.genomics.qc`); bcftools
runs in-process through pysam.
"""

from __future__ import annotations

from pathlib import Path

import pysam
import pysam.bcftools
from pydantic import BaseModel, ConfigDict

from seqoia.errors import ToolError


class VariantMetrics(BaseModel):
    """``bcftools stats`` over PASS (or unfiltered) records of the first sample."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    records: int
    snvs: int
    indels: int
    transitions: int
    transversions: int
    het_snvs: int
    hom_alt_snvs: int
    chrx_het_snvs: int | None = None  # None when the reference has no chrX
    chrx_hom_alt_snvs: int | None = None

    @property
    def ti_tv(self) -> float | None:
        return self.transitions / self.transversions if self.transversions else None

    @property
    def het_hom_ratio(self) -> float | None:
        return self.het_snvs / self.hom_alt_snvs if self.hom_alt_snvs else None

    @property
    def chrx_het_fraction(self) -> float | None:
        if self.chrx_het_snvs is None or self.chrx_hom_alt_snvs is None:
            return None
        total = self.chrx_het_snvs + self.chrx_hom_alt_snvs
        return self.chrx_het_snvs / total if total else None


def _bcftools_stats(vcf: Path, *extra: str) -> dict[str, list[list[str]]]:
    args = ["-s", "-", *extra, str(vcf)]
    try:
        text = str(pysam.bcftools.stats(*args))
    except pysam.utils.SamtoolsError as err:
        command = ["bcftools", "stats", *args]
        raise ToolError(command, getattr(err, "returncode", 1) or 1, str(err)) from err
    sections: dict[str, list[list[str]]] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            fields = line.split("\t")
            sections.setdefault(fields[0], []).append(fields)
    return sections


def _sn(sections: dict[str, list[list[str]]], label: str) -> int:
    for fields in sections.get("SN", []):
        if fields[2].rstrip(":") == label:
            return int(fields[3])
    return 0


def _psc_snv_genotypes(sections: dict[str, list[list[str]]]) -> tuple[int, int]:
    """(het, hom-alt) SNV counts of the first sample; haploid ALT calls count as hom."""
    rows = sections.get("PSC", [])
    if not rows:
        return 0, 0
    row = rows[0]
    return int(row[5]), int(row[4]) + int(row[12])


def variant_metrics(vcf: Path, *, pass_only: bool = True) -> VariantMetrics:
    """SNV/indel counts, Ti/Tv, het/hom and chrX heterozygosity of a (b)gzipped VCF."""
    filters = ["-f", ".,PASS"] if pass_only else []
    sections = _bcftools_stats(vcf, *filters)
    het, hom = _psc_snv_genotypes(sections)
    tstv = sections.get("TSTV", [["TSTV", "0", "0", "0"]])[0]
    chrx_het = chrx_hom = None
    with pysam.VariantFile(str(vcf)) as fh:
        chrx = next((c for c in fh.header.contigs if c in ("chrX", "X")), None)
    if chrx:
        chrx_het, chrx_hom = _psc_snv_genotypes(_bcftools_stats(vcf, *filters, "-t", chrx))
    return VariantMetrics(
        records=_sn(sections, "number of records"),
        snvs=_sn(sections, "number of SNPs"),
        indels=_sn(sections, "number of indels"),
        transitions=int(tstv[2]),
        transversions=int(tstv[3]),
        het_snvs=het,
        hom_alt_snvs=hom,
        chrx_het_snvs=chrx_het,
        chrx_hom_alt_snvs=chrx_hom,
    )
