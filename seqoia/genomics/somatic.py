"""Somatic SNVs and indels of a tumour against its matched normal, from the pair's pileups.

No dedicated somatic caller installs here (Mutect2, Strelka and VarScan are in neither PyPI
nor Debian), so this is a small one in the spirit of Mutect's: ``bcftools mpileup`` counts,
per site and per sample, the reads for each allele (on each strand) and their base-quality
sums, and each candidate is decided by two likelihood ratios and a few artefact filters.

The model, per candidate allele (the tumour's best-supported non-reference allele):

- **Tumour evidence** ``TLOD = log10 [ Bin(a_t; d_t, f) / Bin(a_t; d_t, e) ]`` with ``f`` the
  tumour's allele fraction ``a_t / d_t`` and ``e`` the chance that a read shows this allele
  by error, from the mean base quality of the alt reads (``10^(-Q/10) / 3``, at least
  ``min_error``). ``TLOD >= min_tlod`` (default 6.3, Mutect's) says the alt reads are not
  sequencing errors.
- **Normal evidence** ``NLOD = log10 [ Bin(a_n; d_n, e) / Bin(a_n; d_n, germline_af) ]``: how
  much better the normal fits "no variant" than "heterozygous germline". ``NLOD >=
  min_nlod`` (2.2) says the variant is not inherited; the normal also needs ``min_normal_depth``
  reads and at most ``max_normal_alt_fraction`` of them with the allele (``normal_artifact``).
- **Artefacts**: alt reads all on one strand (``strand_bias``: Fisher's exact test on the
  tumour's forward/reverse counts), alt reads' mismatches or positions unlike the ref reads'
  (``position_bias`` from mpileup's Mann-Whitney z-scores), a site that the laboratory's own
  normals show too (``panel_of_normals``), and a minimum of ``min_alt_reads``.

Tumour-only analysis (no normal) is allowed only when asked for: its VCF says so in its
header, and inherited variants cannot be told from somatic ones there.
"""

from __future__ import annotations

import math
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pysam
from pydantic import BaseModel, ConfigDict, Field

from seqoia.errors import InputError
from seqoia.genomics.reference import PreparedReference
from seqoia.genomics.tools import run_command, want_binary

SOMATIC_FILTERS = {
    "low_tlod": "Tumour evidence below min_tlod",
    "low_alt_reads": "Fewer alt reads in the tumour than min_alt_reads",
    "germline_risk": "Normal fits a heterozygous germline variant (NLOD below min_nlod)",
    "normal_artifact": "Normal shows the allele above max_normal_alt_fraction",
    "low_normal_depth": "Normal depth below min_normal_depth",
    "strand_bias": "Tumour alt reads on one strand (Fisher p below max_strand_p)",
    "position_bias": "Alt reads differ from ref reads in position or mismatches",
    "panel_of_normals": "Site seen in the laboratory's panel of normals",
}


class SomaticParams(BaseModel):
    """Thresholds of the somatic caller (a stage parameter: reprocess may change them)."""

    model_config = ConfigDict(frozen=True)

    min_base_quality: int = Field(20, ge=0, le=60)
    min_mapping_quality: int = Field(20, ge=0, le=60)
    max_depth: int = Field(2_000, ge=10)
    min_alt_reads: int = Field(3, ge=1)
    min_tlod: float = 6.3
    min_nlod: float = 2.2
    germline_af: float = Field(0.5, gt=0, lt=1)
    min_normal_depth: int = Field(8, ge=0)
    max_normal_alt_fraction: float = Field(0.03, ge=0, le=1)
    max_normal_alt_reads: int = Field(1, ge=0)
    min_error: float = Field(1e-4, gt=0, lt=0.1)
    max_strand_p: float = Field(0.01, ge=0, le=1)
    min_reads_for_strand_test: int = Field(8, ge=2)
    max_bias_z: float = Field(5.0, gt=0)


@dataclass(frozen=True, slots=True)
class SiteCounts:
    """One candidate allele at one site: the pair's read counts for it."""

    contig: str
    pos: int  # 1-based
    ref: str
    alt: str
    tumour_depth: int
    tumour_alt: int
    tumour_alt_fwd: int
    tumour_alt_rev: int
    tumour_ref_fwd: int
    tumour_ref_rev: int
    tumour_alt_quality: float  # mean base quality of the alt reads
    normal_depth: int | None
    normal_alt: int | None
    bias_z: float | None  # the largest |z| of mpileup's position/mismatch bias tests

    @property
    def tumour_vaf(self) -> float:
        return self.tumour_alt / self.tumour_depth if self.tumour_depth else 0.0

    @property
    def normal_vaf(self) -> float | None:
        if self.normal_depth is None or self.normal_alt is None:
            return None
        return self.normal_alt / self.normal_depth if self.normal_depth else 0.0


@dataclass(frozen=True, slots=True)
class SomaticCall:
    """A decided candidate: its counts, its two LODs and the filters it failed."""

    site: SiteCounts
    tlod: float
    nlod: float | None
    filters: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.filters


class SomaticStats(BaseModel):
    """What the caller saw and decided (a stage manifest's summary)."""

    mode: str  # "tumour/normal" or "tumour-only"
    candidates: int
    passed: int
    passed_snvs: int
    passed_indels: int
    filtered: dict[str, int]


# -- statistics ---------------------------------------------------------------------------


def log10_binomial(k: int, n: int, p: float) -> float:
    """log10 of the binomial probability of ``k`` successes in ``n`` trials."""
    p = min(max(p, 1e-12), 1 - 1e-12)
    log_choose = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
    return (log_choose + k * math.log(p) + (n - k) * math.log1p(-p)) / math.log(10)


def fisher_exact_two_sided(a: int, b: int, c: int, d: int) -> float:
    """Two-sided p-value of Fisher's exact test on the 2x2 table ``[[a, b], [c, d]]``."""
    row1, col1, n = a + b, a + c, a + b + c + d

    def log_p(x: int) -> float:
        return (
            math.lgamma(col1 + 1) - math.lgamma(x + 1) - math.lgamma(col1 - x + 1)
            + math.lgamma(n - col1 + 1) - math.lgamma(row1 - x + 1)
            - math.lgamma(n - col1 - row1 + x + 1)
            - (math.lgamma(n + 1) - math.lgamma(row1 + 1) - math.lgamma(n - row1 + 1))
        )  # fmt: skip

    low, high = max(0, row1 + col1 - n), min(row1, col1)
    observed = log_p(a)
    total = sum(math.exp(lp) for x in range(low, high + 1) if (lp := log_p(x)) <= observed + 1e-9)
    return min(1.0, total)


def error_rate(mean_quality: float, floor: float) -> float:
    """Chance that a read shows one given wrong base, from its phred base quality."""
    return max(floor, 10 ** (-mean_quality / 10) / 3)


def tumour_lod(site: SiteCounts, params: SomaticParams) -> float:
    """log10 odds of the tumour's alt reads under "a variant at f" vs "errors"."""
    if site.tumour_alt == 0:
        return 0.0
    e = error_rate(site.tumour_alt_quality, params.min_error)
    f = site.tumour_vaf
    return log10_binomial(site.tumour_alt, site.tumour_depth, f) - log10_binomial(
        site.tumour_alt, site.tumour_depth, e
    )


def normal_lod(site: SiteCounts, params: SomaticParams) -> float | None:
    """log10 odds of the normal's reads under "no variant" vs "germline heterozygous"."""
    if site.normal_depth is None or site.normal_alt is None:
        return None
    e = error_rate(site.tumour_alt_quality, params.min_error)
    return log10_binomial(site.normal_alt, site.normal_depth, e) - log10_binomial(
        site.normal_alt, site.normal_depth, params.germline_af
    )


def decide(
    site: SiteCounts, params: SomaticParams, panel: frozenset[tuple[str, int, str, str]]
) -> SomaticCall:
    """Apply the model of the module docstring to one candidate."""
    tlod, nlod = tumour_lod(site, params), normal_lod(site, params)
    failed: list[str] = []
    if site.tumour_alt < params.min_alt_reads:
        failed.append("low_alt_reads")
    if tlod < params.min_tlod:
        failed.append("low_tlod")
    if site.normal_depth is not None and site.normal_alt is not None:
        if site.normal_depth < params.min_normal_depth:
            failed.append("low_normal_depth")
        if nlod is not None and nlod < params.min_nlod:
            failed.append("germline_risk")
        if site.normal_alt > params.max_normal_alt_reads and (
            site.normal_alt > params.max_normal_alt_fraction * site.normal_depth
        ):
            failed.append("normal_artifact")
    if site.tumour_alt >= params.min_reads_for_strand_test:
        p = fisher_exact_two_sided(
            site.tumour_ref_fwd, site.tumour_ref_rev, site.tumour_alt_fwd, site.tumour_alt_rev
        )
        one_sided = min(site.tumour_alt_fwd, site.tumour_alt_rev) == 0
        if p < params.max_strand_p and one_sided:
            failed.append("strand_bias")
    if site.bias_z is not None and site.bias_z > params.max_bias_z:
        failed.append("position_bias")
    if (site.contig, site.pos, site.ref, site.alt) in panel:
        failed.append("panel_of_normals")
    return SomaticCall(site, tlod, nlod, tuple(failed))


# -- pileups ------------------------------------------------------------------------------


def pileup_records(
    alignments: Sequence[Path],
    reference: PreparedReference,
    out_bcf: Path,
    params: SomaticParams,
    *,
    regions: Sequence[str] = (),
) -> Path:
    """Per-sample allele counts of every site with a non-reference read, as a BCF."""
    bcftools = want_binary("bcftools", True)
    assert bcftools is not None
    mpileup = [
        bcftools, "mpileup", "--no-BAQ", "-f", str(reference.fasta),
        "-q", str(params.min_mapping_quality), "-Q", str(params.min_base_quality),
        "-d", str(params.max_depth), "-a", "FORMAT/AD,FORMAT/ADF,FORMAT/ADR,FORMAT/DP,FORMAT/QS",
        "--min-ireads", "2", "-Ou",
    ]  # fmt: skip
    if regions:
        mpileup += ["-r", ",".join(regions)]
    mpileup += [str(a) for a in alignments]
    # Every mpileup record lists <*>; keep those that saw another allele too.
    view = [bcftools, "view", "-e", 'N_ALT=1 && ALT="<*>"', "-Ob", "-o", str(out_bcf)]
    with subprocess.Popen(mpileup, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as upstream:
        run_command(view, stdin=upstream.stdout)
        if upstream.wait() != 0:
            raise InputError(f"bcftools mpileup failed on {[a.name for a in alignments]}")
    run_command([bcftools, "index", "-f", str(out_bcf)])  # readers look for an index
    return out_bcf


def site_counts(bcf: Path, *, tumour: int = 0, normal: int | None = 1) -> Iterator[SiteCounts]:
    """The tumour's best-supported alt allele at each pileup site, with the pair's counts."""
    with pysam.VariantFile(str(bcf)) as records:
        for rec in records:
            samples = list(rec.samples.values())
            t = samples[tumour]
            ad, alleles, rec_ref = t.get("AD"), rec.alleles, rec.ref
            if not ad or rec.alts is None or alleles is None or rec_ref is None:
                continue
            alts = [
                (count or 0, i) for i, count in enumerate(ad[1:], start=1)
                if alleles[i] != "<*>"
            ]  # fmt: skip
            if not alts:
                continue
            a_t, i = max(alts)
            if a_t == 0:
                continue
            adf, adr, qs = t.get("ADF"), t.get("ADR"), t.get("QS")
            quality = (qs[i] / a_t) if qs and qs[i] is not None else 30.0
            n_depth = n_alt = None
            if normal is not None:
                n_ad = samples[normal].get("AD") or ()
                n_depth = sum(c or 0 for c in n_ad)
                n_alt = (n_ad[i] or 0) if len(n_ad) > i else 0
            z = [abs(v) for key in ("RPBZ", "NMBZ", "SCBZ") if (v := rec.info.get(key)) is not None]
            ref, alt = rec_ref, alleles[i]
            # mpileup writes indels with shared trailing bases; trim them for a minimal form.
            while len(ref) > 1 and len(alt) > 1 and ref[-1] == alt[-1]:
                ref, alt = ref[:-1], alt[:-1]
            yield SiteCounts(
                contig=rec.contig, pos=rec.pos, ref=ref, alt=alt,
                tumour_depth=sum(c or 0 for c in ad), tumour_alt=a_t,
                tumour_alt_fwd=(adf[i] or 0) if adf else 0,
                tumour_alt_rev=(adr[i] or 0) if adr else 0,
                tumour_ref_fwd=(adf[0] or 0) if adf else 0,
                tumour_ref_rev=(adr[0] or 0) if adr else 0,
                tumour_alt_quality=float(quality),
                normal_depth=n_depth, normal_alt=n_alt,
                bias_z=max(z) if z else None,
            )  # fmt: skip


# -- the caller ---------------------------------------------------------------------------


def read_panel_of_normals(vcf: Path | None) -> frozenset[tuple[str, int, str, str]]:
    """Sites (contig, pos, ref, alt) of a panel-of-normals VCF; empty without one."""
    if vcf is None:
        return frozenset()
    try:
        with pysam.VariantFile(str(vcf)) as records:
            return frozenset(
                (rec.contig, rec.pos, rec.ref, alt)
                for rec in records
                if rec.ref is not None
                for alt in rec.alts or ()
            )
    except (OSError, ValueError) as err:
        raise InputError(f"unreadable panel of normals: {err}", file=vcf.name) from err


def call_somatic(
    tumour: Path,
    normal: Path | None,
    reference: PreparedReference,
    out_vcf: Path,
    *,
    tumour_name: str,
    normal_name: str | None,
    params: SomaticParams | None = None,
    panel_of_normals: Path | None = None,
    tumour_only: bool = False,
    regions: Sequence[str] = (),
    keep_pileup: Path | None = None,
) -> SomaticStats:
    """Call somatic variants of ``tumour`` against ``normal``; write ``out_vcf`` (.vcf.gz + .tbi).

    Without a normal the call is refused unless ``tumour_only`` is asked for.
    ``keep_pileup`` keeps the pair's pileup BCF there (copy number and the identity check
    read it too).
    """
    params = params or SomaticParams()
    if normal is None and not tumour_only:
        raise InputError(
            f"tumour {tumour_name} has no matched normal; tumour-only analysis must be asked for"
        )
    panel = read_panel_of_normals(panel_of_normals)
    out_vcf.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".somatic-", dir=out_vcf.parent) as scratch:
        bcf = Path(scratch) / "pileup.bcf"
        inputs = [tumour] if normal is None else [tumour, normal]
        pileup_records(inputs, reference, bcf, params, regions=regions)
        calls = [
            decide(site, params, panel)
            for site in site_counts(bcf, normal=None if normal is None else 1)
        ]
        if keep_pileup is not None:
            bcf.replace(keep_pileup)
            Path(f"{bcf}.csi").replace(f"{keep_pileup}.csi")
    write_somatic_vcf(
        calls, out_vcf, reference=reference, tumour_name=tumour_name, normal_name=normal_name
    )
    filtered: dict[str, int] = {}
    for call in calls:
        for name in call.filters:
            filtered[name] = filtered.get(name, 0) + 1
    passed = [c for c in calls if c.passed]
    return SomaticStats(
        mode="tumour-only" if normal is None else "tumour/normal",
        candidates=len(calls),
        passed=len(passed),
        passed_snvs=sum(1 for c in passed if len(c.site.ref) == len(c.site.alt) == 1),
        passed_indels=sum(1 for c in passed if len(c.site.ref) != len(c.site.alt)),
        filtered=filtered,
    )


def write_somatic_vcf(
    calls: Sequence[SomaticCall],
    out_vcf: Path,
    *,
    reference: PreparedReference,
    tumour_name: str,
    normal_name: str | None,
    keep_filtered: bool = False,
) -> None:
    """A VCF of the calls with tumour/normal AD, DP and AF (PASS ones, unless ``keep_filtered``)."""
    header = pysam.VariantHeader()
    for contig in reference.contigs:
        header.contigs.add(contig.name, length=contig.length)
    header.add_line(f"##reference={reference.fasta.name};sha256={reference.sha256}")
    header.add_line(
        "##seqoia_somatic_mode=" + ("tumour-only" if normal_name is None else "tumour/normal")
    )
    for name, text in SOMATIC_FILTERS.items():
        header.filters.add(name, None, None, text)
    header.info.add("SOMATIC", 0, "Flag", "Somatic variant")
    header.info.add("TLOD", 1, "Float", "log10 odds of tumour evidence vs sequencing error")
    header.info.add("NLOD", 1, "Float", "log10 odds of the normal being reference vs het")
    header.formats.add("GT", 1, "String", "Genotype")
    header.formats.add("AD", "R", "Integer", "Allelic depths (ref, alt)")
    header.formats.add("DP", 1, "Integer", "Depth of high-quality bases")
    header.formats.add("AF", "A", "Float", "Allele fraction of the alt allele")
    header.add_sample(tumour_name)
    if normal_name is not None:
        header.add_sample(normal_name)
    plain = out_vcf.with_name(out_vcf.name.removesuffix(".gz"))
    with pysam.VariantFile(str(plain), "w", header=header) as out:
        rank = {contig.name: i for i, contig in enumerate(reference.contigs)}
        for call in sorted(calls, key=lambda c: (rank[c.site.contig], c.site.pos)):
            if not (call.passed or keep_filtered):
                continue
            s = call.site
            rec = out.new_record(contig=s.contig, start=s.pos - 1, alleles=(s.ref, s.alt))
            rec.filter.add("PASS" if call.passed else call.filters[0])
            for extra in call.filters[1:]:
                rec.filter.add(extra)
            rec.info["SOMATIC"] = True
            rec.info["TLOD"] = round(call.tlod, 2)
            if call.nlod is not None:
                rec.info["NLOD"] = round(call.nlod, 2)
            tumour = rec.samples[tumour_name]
            tumour["GT"] = (0, 1)
            tumour["AD"] = (s.tumour_depth - s.tumour_alt, s.tumour_alt)
            tumour["DP"] = s.tumour_depth
            tumour["AF"] = round(s.tumour_vaf, 4)
            if normal_name is not None and s.normal_depth is not None:
                normal = rec.samples[normal_name]
                normal["GT"] = (0, 0)
                normal["AD"] = (s.normal_depth - (s.normal_alt or 0), s.normal_alt or 0)
                normal["DP"] = s.normal_depth
                normal["AF"] = round(s.normal_vaf or 0.0, 4)
            out.write(rec)
    pysam.tabix_index(str(plain), preset="vcf", force=True)
    produced = Path(str(plain) + ".gz")
    if produced != out_vcf:
        produced.replace(out_vcf)
        Path(str(produced) + ".tbi").replace(Path(str(out_vcf) + ".tbi"))
