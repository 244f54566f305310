"""Joint calling of a family: the members' CRAMs in, one multi-sample VCF with GQ and PL out.

``bcftools mpileup -a AD,DP | bcftools call -m -a GQ`` over all members at once, with a
ploidy file and a sample-sex file so that males are haploid on chrX outside the
pseudo-autosomal regions (PARs) and on chrY, and females have no chrY; PARs stay diploid.
PL is kept (``call -m`` writes it), as the de novo and relatedness checks need it. The
region calls are concatenated, split into one allele per record and left-aligned
(``norm -m -any``), and soft-filtered with the singleton caller's thresholds, so a
family VCF and a singleton VCF differ only by the evidence shared across members.

Options come from :class:`seqoia.genomics.variants.CallParams` (the same mpileup tuning
as singleton calling); only ``--ploidy`` is replaced by the per-sample ploidy file.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import pysam
import pysam.bcftools

from seqoia.errors import InputError
from seqoia.genomics.ploidy import sex_chromosome_lines
from seqoia.genomics.reference import PreparedReference
from seqoia.genomics.tools import run_command, run_pysam, wait_all, want_binary
from seqoia.genomics.variants import (
    CallParams,
    VariantStats,
    bcftools_version,
    split_regions,
    summarise_vcf,
)

log = logging.getLogger(__name__)

Karyotype = Literal["XX", "XY"]


def ploidy_file_text(
    reference: PreparedReference, pars: Sequence[tuple[int, int]] | None = None
) -> str:
    """bcftools ``--ploidy-file`` text: males haploid on X outside ``pars`` and on Y.

    The sex-chromosome lines are :func:`~seqoia.genomics.ploidy.sex_chromosome_lines`;
    ``* * * SEX 2`` is each sex's default (a sample of unknown sex is called as F here).
    """
    lines = sex_chromosome_lines(reference, pars)
    return "\n".join([*lines, "*\t*\t*\tM\t2", "*\t*\t*\tF\t2"]) + "\n"


def sample_sex_text(samples: Sequence[str], karyotypes: Mapping[str, Karyotype | None]) -> str:
    """bcftools ``-S`` text: one ``sample<TAB>M|F`` line per sample; unknown sex counts as F.

    A sample of unknown sex is called diploid everywhere but chrY (a missed male loses
    nothing on X: its hemizygous calls come out homozygous).
    """
    return "".join(f"{s}\t{'M' if karyotypes.get(s) == 'XY' else 'F'}\n" for s in samples)


def bam_samples(path: Path) -> list[str]:
    """The ``SM`` names of an alignment file's read groups (one expected)."""
    try:
        with pysam.AlignmentFile(str(path), "rc" if path.suffix == ".cram" else "rb") as handle:
            groups = handle.header.to_dict().get("RG", [])
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read alignment header: {err}", file=str(path)) from err
    names = list(dict.fromkeys(g["SM"] for g in groups if "SM" in g))
    if not names:
        raise InputError("no read group with a sample (SM) name", file=str(path))
    return names


def joint_call(
    alignments: Sequence[Path],
    karyotypes: Mapping[str, Karyotype | None],
    reference: PreparedReference,
    out_vcf: Path,
    *,
    threads: int,
    params: CallParams | None = None,
    pars: Sequence[tuple[int, int]] | None = None,
    use_binaries: bool | None = None,
) -> VariantStats:
    """Call ``alignments`` (one sample each) jointly; write ``out_vcf`` (.vcf.gz) + .tbi.

    ``karyotypes`` maps each sample (its read groups' SM) to XX, XY or None (unknown).
    ``pars`` overrides the chrX pseudo-autosomal regions (default: ``ploidy.x_pars``). The
    VCF's FORMAT carries GT, PL, GQ, DP and AD.
    """
    if not alignments:
        raise InputError("no alignments to call a family from")
    samples = [name for path in alignments for name in bam_samples(path)]
    if len(set(samples)) != len(samples):
        raise InputError(f"a sample appears in two alignment files: {samples}")
    missing = sorted(set(karyotypes) - set(samples))
    if missing:
        raise InputError(f"no alignments for sample(s) {', '.join(missing)}")
    params = params or CallParams()
    started = time.monotonic()
    bcftools = want_binary("bcftools", use_binaries)
    mpileup_args = params.mpileup_args(bcftools_version(bcftools))
    threads = max(1, threads)
    regions = split_regions(reference, pieces=threads * 2 if threads > 1 else 1)
    out_vcf.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".joint-", dir=out_vcf.parent) as scratch_name:
        scratch = Path(scratch_name)
        ploidy = scratch / "ploidy.txt"
        ploidy.write_text(ploidy_file_text(reference, pars))
        sexes = scratch / "samples.txt"
        sexes.write_text(sample_sex_text(samples, karyotypes))
        call_args = ["-m", "-v", "-P", str(params.mutation_rate), "-a", "GQ",
                     "--ploidy-file", str(ploidy), "-S", str(sexes)]  # fmt: skip
        jobs = [(job, scratch / f"job{i:05d}.bcf") for i, job in enumerate(regions)]
        executor: Executor
        if bcftools:
            executor = ThreadPoolExecutor(threads)
        else:  # pysam's bcftools keeps global state: one forked process per job
            executor = ProcessPoolExecutor(threads, mp_context=multiprocessing.get_context("fork"))
        region_call = functools.partial(
            _call_region, bcftools, alignments, reference.fasta, mpileup_args, call_args
        )
        with executor:
            for future in [executor.submit(region_call, r, out) for r, out in jobs]:
                future.result()
        _finish(bcftools, [out for _, out in jobs], reference, out_vcf, params, scratch)
    stats = summarise_vcf(out_vcf)
    log.info("joint call of %d samples in %.1f s", len(samples), time.monotonic() - started)
    return stats.model_copy(update={"elapsed_s": round(time.monotonic() - started, 3)})


def _call_region(
    bcftools: str | None,
    alignments: Sequence[Path],
    fasta: Path,
    mpileup_args: list[str],
    call_args: list[str],
    regions: list[str],
    out: Path,
) -> None:
    mpileup = ["mpileup", "-f", str(fasta), "-r", ",".join(regions), *mpileup_args, "-Ou"]
    call = ["call", *call_args, "-Ob", "-o", str(out)]
    if bcftools:
        with tempfile.TemporaryFile() as err1, tempfile.TemporaryFile() as err2:
            first = subprocess.Popen(
                [bcftools, *mpileup, *map(str, alignments)], stdout=subprocess.PIPE, stderr=err1
            )
            second = subprocess.Popen([bcftools, *call, "-"], stdin=first.stdout, stderr=err2)
            assert first.stdout is not None
            first.stdout.close()
            wait_all([([bcftools, *mpileup], first), ([bcftools, *call], second)])
        return
    pileup = out.with_suffix(".pileup.bcf")  # pysam's bcftools cannot read a pipe
    run_pysam(pysam.bcftools.mpileup, *mpileup[1:], "--output", pileup, *alignments)
    run_pysam(pysam.bcftools.call, *call[1:], pileup)
    pileup.unlink()


def _finish(
    bcftools: str | None,
    parts: list[Path],
    reference: PreparedReference,
    out_vcf: Path,
    params: CallParams,
    scratch: Path,
) -> None:
    """Concatenate, split multi-allelic records and left-align, soft-filter, index."""
    joined, normed = scratch / "joined.bcf", scratch / "normed.bcf"
    tmp_vcf = out_vcf.with_name(out_vcf.name + ".tmp.vcf.gz")
    steps = [
        ["concat", "-Ob", "-o", str(joined), *map(str, parts)],
        ["norm", "-f", str(reference.fasta), "-m", "-any", "-Ob", "-o", str(normed), str(joined)],
        ["filter", *params.filter_args(), "-Oz", "-o", str(tmp_vcf), str(normed)],
    ]
    for step in steps:
        if bcftools:
            run_command([bcftools, *step])
        else:
            run_pysam(getattr(pysam.bcftools, step[0]), *step[1:])
    try:
        pysam.tabix_index(str(tmp_vcf), preset="vcf", force=True)
    except (OSError, ValueError) as err:
        raise InputError(f"cannot index VCF: {err}", file=str(tmp_vcf)) from err
    os.replace(str(tmp_vcf) + ".tbi", str(out_vcf) + ".tbi")
    os.replace(tmp_vcf, out_vcf)
