"""Germline variant calling: CRAMs in, one normalised, bgzipped and indexed VCF out.

``bcftools mpileup | bcftools call -mv`` per genome region, in parallel; the region
calls are concatenated, left-aligned and split into one allele per record with
``bcftools norm -f REF -m -any``, and records below a quality threshold are soft-filtered
(``FILTER=LowQual``). Several CRAMs make one joint, multi-sample call set: the basis of
trio analyses later.

The calling path may be the ``bcftools`` program or the bcftools compiled into pysam, and
their versions differ (Debian's 1.16, pysam's 1.2x). From bcftools 1.20 on, mpileup has
the maintainers' Illumina profile ``-X illumina-1.20`` (the edlib consensus indel model,
``--indels-cns``, with its Illumina tuning); it is used whenever the bcftools at hand has
it, and older ones keep their classic indel model.

Males are called haploid on chrX (outside the PARs) and chrY when the samples' sexes are
given (:mod:`seqoia.genomics.ploidy`). The delivered VCF's header is made stable
(:mod:`seqoia.genomics.provenance`): the reference by its store name, the bcftools
command lines without scratch paths or dates, ``##source=seqoia-<version>``.
"""

from __future__ import annotations

import functools
import importlib
import logging
import multiprocessing
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import pysam
import pysam.bcftools
from pydantic import BaseModel, ConfigDict, Field

from seqoia.errors import InputError
from seqoia.genomics.ploidy import CallSex, write_ploidy_files
from seqoia.genomics.provenance import Provenance, read_vcf_header, stable_vcf_header
from seqoia.genomics.reference import PreparedReference
from seqoia.genomics.tools import (
    htslib_errors_only,
    run_command,
    run_pysam,
    tool_versions,
    wait_all,
    want_binary,
)

log = logging.getLogger(__name__)

_TRANSITIONS = {("A", "G"), ("G", "A"), ("C", "T"), ("T", "C")}
#: First bcftools whose mpileup has the ``illumina-1.20`` profile (edlib consensus indels).
ILLUMINA_PROFILE_SINCE = (1, 20)


class CallParams(BaseModel):
    """bcftools mpileup/call settings; defaults tuned on simulated 30x E. coli (bench)."""

    model_config = ConfigDict(frozen=True)

    min_mapq: int = Field(default=20, ge=0, description="mpileup -q: skip reads below this MAPQ")
    min_baseq: int = Field(
        default=13, ge=0, description="mpileup -Q: skip bases below this quality"
    )
    max_depth: int = Field(default=500, gt=0, description="mpileup -d: reads per file and position")
    baq: bool = Field(default=True, description="per-base alignment quality (off = mpileup -B)")
    count_orphans: bool = Field(
        default=True, description="mpileup -A: keep pairs not properly paired"
    )
    min_indel_reads: int = Field(
        default=2, ge=1, description="mpileup -m: gapped reads for a candidate"
    )
    min_indel_fraction: float = Field(default=0.05, ge=0, le=1, description="mpileup -F")
    indel_open_qual: int = Field(default=40, ge=0, description="mpileup -o: gap open error, phred")
    indel_ext_qual: int = Field(default=20, ge=0, description="mpileup -e: gap extension, phred")
    tandem_qual: int = Field(
        default=500, ge=0, description="mpileup -h: homopolymer error coefficient"
    )
    skip_indels: bool = False
    # bcftools 1.2x's classic indel model scores some low-depth true heterozygous indels
    # lower than 1.16 did (QUAL < 20, LowQual); its consensus model, as the maintainers
    # tuned it for Illumina, recovers them with no false positive (bench/README.md).
    illumina_profile: bool = Field(
        default=True,
        description="mpileup -X illumina-1.20 where bcftools has it (>= 1.20); "
        "older bcftools keep their classic indel model",
    )
    ploidy: str = Field(default="2", description="bcftools call --ploidy (1, 2, GRCh37, GRCh38)")
    # 1e-2 rather than bcftools' 1.1e-3: low-quality het SNVs (Q17 bases) otherwise fall
    # under the prior; the bench shows no loss of SNV precision (see bench/README.md).
    mutation_rate: float = Field(default=1e-2, gt=0, description="bcftools call -P prior")
    min_qual_snv: float = Field(default=3.0, ge=0, description="SNV QUAL below this: LowQual")
    min_qual_indel: float = Field(default=20.0, ge=0, description="indel QUAL below this: LowQual")
    indel_gap: int = Field(
        default=5, ge=0, description="of indels closer than this, only the best passes (IndelGap)"
    )

    def filter_args(self) -> list[str]:
        """Options of ``bcftools filter`` (soft filters) for these settings."""
        expression = (
            f'(TYPE="snp" && QUAL<{self.min_qual_snv}) || '
            f'(TYPE!="snp" && QUAL<{self.min_qual_indel})'
        )
        args = ["-s", "LowQual", "-m", "+", "-e", expression]
        if self.indel_gap:
            args += ["-G", str(self.indel_gap)]
        return args

    def mpileup_args(self, bcftools_version: tuple[int, int] | None = None) -> list[str]:
        """Options of ``bcftools mpileup`` for these settings and that bcftools version.

        Without a version, only options every supported bcftools (>= 1.16) knows.
        """
        args: list[str] = []
        if (
            self.illumina_profile
            and bcftools_version is not None
            and bcftools_version >= ILLUMINA_PROFILE_SINCE
        ):
            # first: mpileup applies options in order, so the explicit ones below win
            args += ["-X", "illumina-1.20"]
        args += ["-q", str(self.min_mapq), "-Q", str(self.min_baseq), "-d", str(self.max_depth),
                "-L", str(self.max_depth), "-m", str(self.min_indel_reads),
                "-F", str(self.min_indel_fraction), "--open-prob", str(self.indel_open_qual),
                "--ext-prob", str(self.indel_ext_qual), "--tandem-qual", str(self.tandem_qual),
                "-a", "FORMAT/AD,FORMAT/DP,INFO/AD"]  # fmt: skip
        if not self.baq:
            args.append("-B")
        if self.count_orphans:
            args.append("-A")
        if self.skip_indels:
            args.append("-I")
        return args

    def call_args(
        self, ploidy_args: Sequence[str] = (), annotations: Sequence[str] = ()
    ) -> list[str]:
        """Options of ``bcftools call``; ``ploidy_args`` (a ploidy file) replace ``--ploidy``;
        ``annotations`` are extra FORMAT fields (``GQ``)."""
        ploidy = list(ploidy_args) or ["--ploidy", self.ploidy]
        extra = ["-a", ",".join(annotations)] if annotations else []
        return ["-m", "-v", "-P", str(self.mutation_rate), *extra, *ploidy]


class VariantStats(BaseModel):
    """Summary of the PASS records of a call set (all samples' genotypes pooled)."""

    model_config = ConfigDict(frozen=True)

    records: int
    passing: int
    snvs: int
    indels: int
    other: int
    transitions: int
    transversions: int
    het: int
    hom_alt: int
    elapsed_s: float = 0.0
    tool_versions: dict[str, str] = Field(default_factory=dict)

    @property
    def ti_tv(self) -> float:
        """Transitions over transversions among SNVs."""
        return self.transitions / self.transversions if self.transversions else 0.0

    @property
    def het_hom_ratio(self) -> float:
        """Heterozygous over homozygous-alternate genotypes."""
        return self.het / self.hom_alt if self.hom_alt else 0.0


def call_variants(
    crams: Sequence[Path],
    reference: PreparedReference,
    out_vcf: Path,
    *,
    threads: int,
    params: CallParams | None = None,
    use_binaries: bool | None = None,
    sexes: Mapping[str, CallSex] | None = None,
    pars: Sequence[tuple[int, int]] | None = None,
    annotations: Sequence[str] = (),
    provenance: Provenance | None = None,
) -> VariantStats:
    """Call germline variants jointly over ``crams``; write ``out_vcf`` (.vcf.gz) + .tbi.

    ``sexes`` (sample name in the CRAMs -> M/F/U) turns on sex-aware ploidy, with ``pars``
    overriding the chrX PARs; without it every contig is called with ``params.ploidy``.
    ``annotations`` are extra FORMAT fields of ``bcftools call -a`` (a family's ``GQ``).
    ``provenance`` names the reference in the header (by default the FASTA's file name).
    """
    if not crams:
        raise InputError("no alignments to call variants from")
    params = params or CallParams()
    started = time.monotonic()
    bcftools = want_binary("bcftools", use_binaries)
    mpileup_args = params.mpileup_args(bcftools_version(bcftools))
    threads = max(1, threads)
    regions = split_regions(reference, pieces=threads * 2 if threads > 1 else 1)
    out_vcf.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".call-", dir=out_vcf.parent) as scratch_name:
        scratch = Path(scratch_name)
        jobs = [(job, scratch / f"job{i:05d}.bcf") for i, job in enumerate(regions)]
        ploidy_args = write_ploidy_files(reference, sexes, scratch, pars) if sexes else []
        call_args = params.call_args(ploidy_args, annotations)
        executor: Executor
        if bcftools:  # the programs run in their own processes: threads suffice
            executor = ThreadPoolExecutor(threads)
        else:  # in-process bcftools keeps global state: one process per job;
            # fork, as spawn would re-import the caller's __main__
            executor = ProcessPoolExecutor(threads, mp_context=multiprocessing.get_context("fork"))
        region_call = functools.partial(
            _call_region, bcftools, crams, reference.fasta,
            mpileup_args=mpileup_args, call_args=call_args,
        )  # fmt: skip
        with executor:
            futures = [executor.submit(region_call, region, out) for region, out in jobs]
            for future in futures:
                future.result()
        provenance = provenance or Provenance(
            reference_uri=reference.fasta.name, reference_sha256=reference.sha256
        )
        _concat_normalise(bcftools, [out for _, out in jobs], reference, out_vcf, params,
                          scratch, threads, provenance)  # fmt: skip
    stats = summarise_vcf(out_vcf)
    return stats.model_copy(
        update={"elapsed_s": round(time.monotonic() - started, 3), "tool_versions": tool_versions()}
    )


def bcftools_version(bcftools: str | None) -> tuple[int, int] | None:
    """(major, minor) of the ``bcftools`` program, or of pysam's bcftools for None.

    None when the version cannot be read: callers then use no version-specific option.
    """
    if bcftools is None:
        # pysam's stubs mistake the version module for a dispatcher: import it by name.
        text = str(importlib.import_module("pysam.version").__bcftools_version__)
    else:
        text = _program_version(bcftools)
    found = re.search(r"(\d+)\.(\d+)", text)
    return (int(found.group(1)), int(found.group(2))) if found else None


@functools.cache
def _program_version(program: str) -> str:
    try:
        done = subprocess.run([program, "--version"], capture_output=True, check=False)
    except OSError:
        return ""
    first = done.stdout.decode(errors="replace").splitlines()[:1]  # "bcftools 1.16"
    return first[0].removeprefix("bcftools") if first else ""


def split_regions(reference: PreparedReference, *, pieces: int) -> list[list[str]]:
    """Cut the genome into ``pieces`` jobs of similar length, in genome order.

    Long contigs are cut, short ones grouped, so that thousands of small contigs (alts,
    decoys) make a few jobs rather than thousands. Each job is a list of 1-based,
    inclusive ``contig:start-end`` regions for ``mpileup -r``.
    """
    size = max(1, -(-reference.length // max(1, pieces)))
    jobs: list[list[str]] = [[]]
    room = size
    for contig in reference.contigs:
        start = 0
        while start < contig.length:
            if room == 0:
                jobs.append([])
                room = size
            end = min(contig.length, start + room)
            jobs[-1].append(f"{contig.name}:{start + 1}-{end}")
            room -= end - start
            start = end
    return [job for job in jobs if job]


def _call_region(
    bcftools: str | None,
    crams: Sequence[Path],
    fasta: Path,
    regions: list[str],
    out: Path,
    mpileup_args: list[str],
    call_args: list[str],
) -> None:
    mpileup = ["mpileup", "-f", str(fasta), "-r", ",".join(regions), *mpileup_args, "-Ou",
               *map(str, crams)]  # fmt: skip
    call = ["call", *call_args, "-Ob", "-o", str(out)]
    if bcftools:
        with tempfile.TemporaryFile() as err1, tempfile.TemporaryFile() as err2:
            first = subprocess.Popen([bcftools, *mpileup], stdout=subprocess.PIPE, stderr=err1)
            second = subprocess.Popen([bcftools, *call, "-"], stdin=first.stdout, stderr=err2)
            assert first.stdout is not None
            first.stdout.close()
            wait_all([([bcftools, *mpileup], first), ([bcftools, *call], second)])
        return
    # pysam's bcftools cannot read a pipe: go through an uncompressed BCF file.
    pileup = out.with_suffix(".pileup.bcf")
    with htslib_errors_only():
        run_pysam(pysam.bcftools.mpileup, *mpileup[1 : -len(crams)], "--output", pileup, *crams)
        run_pysam(pysam.bcftools.call, *call[1:], pileup)
    pileup.unlink()


def _concat_normalise(
    bcftools: str | None,
    parts: list[Path],
    reference: PreparedReference,
    out_vcf: Path,
    params: CallParams,
    scratch: Path,
    threads: int,
    provenance: Provenance,
) -> None:
    joined = scratch / "joined.bcf"
    normed = scratch / "normed.bcf"
    filtered = scratch / "filtered.vcf.gz"
    header = scratch / "header.vcf"
    tmp_vcf = out_vcf.with_name(out_vcf.name + ".tmp.vcf.gz")
    steps = [
        ["concat", "--threads", str(threads), "-Ob", "-o", str(joined), *map(str, parts)],
        ["norm", "-f", str(reference.fasta), "-m", "-any", "-Ob", "-o", str(normed), str(joined)],
        ["filter", *params.filter_args(), "-Oz", "-o", str(filtered), str(normed)],
        ["reheader", "-h", str(header), "-o", str(tmp_vcf), str(filtered)],
    ]
    for step in steps:
        if step[0] == "reheader":
            text = read_vcf_header(filtered)
            header.write_text(stable_vcf_header(text, provenance, reference.fasta))
        if bcftools:
            run_command([bcftools, *step])
        else:
            with htslib_errors_only():
                run_pysam(getattr(pysam.bcftools, step[0]), *step[1:])
    try:
        pysam.tabix_index(str(tmp_vcf), preset="vcf", force=True)
    except (OSError, ValueError) as err:
        raise InputError(f"cannot index VCF: {err}", file=str(tmp_vcf)) from err
    os.replace(str(tmp_vcf) + ".tbi", str(out_vcf) + ".tbi")
    os.replace(tmp_vcf, out_vcf)


def summarise_vcf(vcf: Path) -> VariantStats:
    """Count PASS SNVs, indels, Ti/Tv and genotypes of a (normalised) VCF."""
    counts = dict.fromkeys(
        ("records", "passing", "snvs", "indels", "other", "transitions", "transversions",
         "het", "hom_alt"), 0,
    )  # fmt: skip
    with pysam.VariantFile(str(vcf)) as handle:
        for record in handle:
            counts["records"] += 1
            filters = list(record.filter)
            if filters and filters != ["PASS"]:
                continue
            counts["passing"] += 1
            ref, alts = record.ref or "", record.alts or ()
            for alt in alts:
                if len(ref) == 1 and len(alt) == 1:
                    counts["snvs"] += 1
                    key = "transitions" if (ref, alt) in _TRANSITIONS else "transversions"
                    counts[key] += 1
                elif len(ref) != len(alt) and not alt.startswith("<"):
                    counts["indels"] += 1
                else:
                    counts["other"] += 1
            for sample in record.samples.values():
                alleles = [a for a in (sample.get("GT") or ()) if a is not None]
                if not alleles or all(a == 0 for a in alleles):
                    continue
                if len(set(alleles)) == 1:
                    counts["hom_alt"] += 1
                else:
                    counts["het"] += 1
    return VariantStats.model_validate(counts)
