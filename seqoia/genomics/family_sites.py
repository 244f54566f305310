"""Family sites: the records of a joint VCF read as per-member genotypes with their evidence.

One :class:`Site` per biallelic record (the joint VCF is split with ``norm -m -any``),
holding for each member the called alleles (haploid or diploid, None when missing), the
phred-scaled genotype likelihoods PL, GQ, DP and AD. The relatedness, Mendelian, de novo
and inheritance checks all work on these, so they can be tested on hand-made sites.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pysam

from seqoia.errors import InputError

_SEX_CONTIGS = {"chrX": "X", "X": "X", "chrY": "Y", "Y": "Y"}


@dataclass(frozen=True, slots=True)
class Call:
    """One member's genotype at a site: alleles (0 ref, 1 alt) and their evidence."""

    alleles: tuple[int, ...] | None  # None: no call; (a,) haploid; (a, b) diploid
    pl: tuple[int, ...] | None = None  # phred likelihoods, VCF order (0/0, 0/1, 1/1) or (0, 1)
    gq: int | None = None
    dp: int | None = None
    ad: tuple[int, int] | None = None  # (ref, alt) read counts
    copies: int = 2  # ploidy the caller used, known even for a missing call

    @property
    def alt_count(self) -> int | None:
        """Copies of the alternate allele, None when not called."""
        return None if self.alleles is None else sum(self.alleles)

    @property
    def ploidy(self) -> int:
        """Number of alleles called, or the caller's ploidy for a missing call."""
        return self.copies if self.alleles is None else len(self.alleles)

    @property
    def is_het(self) -> bool:
        return self.alleles is not None and len(set(self.alleles)) > 1

    @property
    def has_alt(self) -> bool:
        return bool(self.alleles) and 1 in self.alleles  # type: ignore[operator]


@dataclass(frozen=True, slots=True)
class Site:
    """One biallelic variant record of the joint VCF."""

    contig: str
    pos: int  # 1-based
    ref: str
    alt: str
    calls: dict[str, Call]
    passing: bool = True
    qual: float | None = None

    @property
    def key(self) -> tuple[str, int, str, str]:
        return (self.contig, self.pos, self.ref, self.alt)

    @property
    def is_snv(self) -> bool:
        return len(self.ref) == 1 and len(self.alt) == 1

    @property
    def sex_contig(self) -> str | None:
        """ "X" or "Y" for the sex chromosomes, None for autosomes."""
        return _SEX_CONTIGS.get(self.contig)


def _call(sample: pysam.libcbcf.VariantRecordSample) -> Call:
    gt = sample.get("GT")
    alleles: tuple[int, ...] | None = None
    if gt and all(a is not None for a in gt):
        alleles = tuple(min(int(a), 1) for a in gt)  # split records: any alt is allele 1
    pl = sample.get("PL") if "PL" in sample else None
    if pl is not None and any(v is None for v in pl):
        pl = None
    ad = sample.get("AD") if "AD" in sample else None
    ad_pair = (int(ad[0]), int(ad[1])) if ad and len(ad) >= 2 and None not in ad[:2] else None
    gq = sample.get("GQ") if "GQ" in sample else None
    dp = sample.get("DP") if "DP" in sample else None
    copies = len(gt) if gt else 2
    return Call(alleles, tuple(int(v) for v in pl) if pl else None, gq, dp, ad_pair, copies)


def read_sites(vcf: Path, samples: Sequence[str] | None = None) -> Iterator[Site]:
    """Yield the biallelic records of ``vcf`` for ``samples`` (default: all of them)."""
    try:
        handle = pysam.VariantFile(str(vcf))
    except (OSError, ValueError) as err:
        raise InputError(f"cannot open VCF: {err}", file=str(vcf)) from err
    with handle:
        names = list(handle.header.samples)
        wanted = list(samples) if samples is not None else names
        absent = [s for s in wanted if s not in names]
        if absent:
            raise InputError(f"sample(s) {', '.join(absent)} not in the VCF", file=str(vcf))
        for record in handle:
            alts = record.alts or ()
            if len(alts) != 1 or alts[0].startswith("<"):
                continue
            filters = list(record.filter)
            yield Site(
                contig=record.chrom,
                pos=record.pos,
                ref=record.ref or "",
                alt=alts[0],
                calls={s: _call(record.samples[s]) for s in wanted},
                passing=not filters or filters == ["PASS"],
                qual=record.qual,
            )


def alt_count_matrix(
    sites: Sequence[Site], samples: Sequence[str], *, min_gq: int = 20, autosomes_only: bool = True
) -> np.ndarray:
    """Alt-allele counts (0, 1, 2; -1 = missing or GQ below ``min_gq``), sites x samples.

    Only passing, diploid calls count; sex chromosomes are left out by default because
    males are haploid there and would read as homozygous.
    """
    rows = []
    for site in sites:
        if not site.passing or (autosomes_only and site.sex_contig):
            continue
        row = []
        for s in samples:
            call = site.calls[s]
            ok = call.alleles is not None and len(call.alleles) == 2
            ok = ok and (call.gq is None or call.gq >= min_gq)
            row.append(call.alt_count if ok else -1)
        rows.append(row)
    return np.array(rows, dtype=np.int8).reshape(-1, len(samples))
