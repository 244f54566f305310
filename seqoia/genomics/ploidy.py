"""Sex-aware ploidy for germline calling: males are haploid on chrX outside the PARs and on chrY.

``bcftools call`` takes a ploidy file (``CHROM FROM TO SEX PLOIDY`` lines, ``*`` for
defaults) and a samples file (``SAMPLE SEX``). The pseudo-autosomal regions are taken
from GRCh38 or GRCh37 when the reference's chrX has that assembly's length; any other
reference (the simulated demo genome, which models no PAR) has whole sex chromosomes.
A sample's sex is the declared one (sample sheet ``Sex``) or, failing that, predicted
from read dosage on chrX and chrY (:func:`estimate_sex`); an unknown sex stays diploid
everywhere, as a caller without sex information would call it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import pysam

from seqoia.errors import InputError
from seqoia.genomics.reference import PreparedReference
from seqoia.genomics.sex import PredictedSex, is_autosome, predict_sex, sex_coverage_ratios

#: bcftools' sex codes: M(ale), F(emale), U(nknown, diploid everywhere).
CallSex = Literal["M", "F", "U"]

#: chrX length -> its PARs (1-based inclusive), from the assemblies' definitions.
HUMAN_X_PARS: dict[int, tuple[tuple[int, int], ...]] = {
    156_040_895: ((10_001, 2_781_479), (155_701_383, 156_030_895)),  # GRCh38
    155_270_560: ((60_001, 2_699_520), (154_931_044, 155_260_560)),  # GRCh37
}
_X_NAMES = ("chrX", "X")
_Y_NAMES = ("chrY", "Y")


def call_sex(declared: str | None, predicted: PredictedSex | None = None) -> CallSex:
    """bcftools' sex code from the sample sheet's ``male``/``female`` or a predicted karyotype."""
    if declared in ("male", "female"):
        return "M" if declared == "male" else "F"
    return {"XY": "M", "XX": "F"}.get(predicted or "", "U")  # type: ignore[return-value]


def x_pars(reference: PreparedReference) -> tuple[tuple[int, int], ...]:
    """PARs of the reference's chrX: the human ones when chrX has GRCh37/38's length."""
    for contig in reference.contigs:
        if contig.name in _X_NAMES:
            return HUMAN_X_PARS.get(contig.length, ())
    return ()


def _outside(length: int, pars: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The 1-based inclusive intervals of 1..length not covered by ``pars``."""
    spans, start = [], 1
    for par_start, par_end in sorted(pars):
        if par_start > start:
            spans.append((start, par_start - 1))
        start = par_end + 1
    if start <= length:
        spans.append((start, length))
    return spans


def sex_chromosome_lines(
    reference: PreparedReference, pars: Sequence[tuple[int, int]] | None = None
) -> list[str]:
    """bcftools ``--ploidy-file`` lines of the sex chromosomes (``CHROM FROM TO SEX PLOIDY``,
    1-based inclusive): males haploid on X outside ``pars`` (default :func:`x_pars`) and
    on Y; females have no Y. :func:`ploidy_lines` appends the ``* * * SEX 2`` defaults."""
    pars = x_pars(reference) if pars is None else pars
    lines: list[str] = []
    for contig in reference.contigs:
        if contig.name in _X_NAMES:
            for start, end in _outside(contig.length, pars):
                lines.append(f"{contig.name}\t{start}\t{end}\tM\t1")
        elif contig.name in _Y_NAMES:
            lines.append(f"{contig.name}\t1\t{contig.length}\tM\t1")
            lines.append(f"{contig.name}\t1\t{contig.length}\tF\t0")
    return lines


def ploidy_lines(
    reference: PreparedReference, pars: Sequence[tuple[int, int]] | None = None
) -> list[str]:
    """Ploidy lines for ``reference``: males haploid on X (outside PARs) and Y; females no Y."""
    return [*sex_chromosome_lines(reference, pars), "*\t*\t*\tM\t2", "*\t*\t*\tF\t2",
            "*\t*\t*\tU\t2"]  # fmt: skip


def write_ploidy_files(
    reference: PreparedReference,
    sexes: Mapping[str, CallSex],
    folder: Path,
    pars: Sequence[tuple[int, int]] | None = None,
) -> list[str]:
    """Write ``ploidy.txt`` and ``samples.txt`` into ``folder``; return bcftools call options.

    ``pars`` overrides the chrX pseudo-autosomal regions (default :func:`x_pars`)."""
    ploidy = folder / "ploidy.txt"
    samples = folder / "samples.txt"
    ploidy.write_text("\n".join(ploidy_lines(reference, pars)) + "\n")
    samples.write_text("".join(f"{name}\t{sex}\n" for name, sex in sexes.items()))
    return ["--ploidy-file", str(ploidy), "--samples-file", str(samples)]


def estimate_sex(
    alignment: Path,
    reference: PreparedReference,
    *,
    windows_per_contig: int = 20,
    window_bp: int = 100_000,
    min_mapq: int = 20,
) -> PredictedSex | None:
    """Predict XX/XY from read counts in evenly spaced windows of each contig (indexed CRAM/BAM).

    Windows bound the cost on a whole genome; on a small genome they cover everything.
    None when the reference has no chrX/chrY.
    """
    names = {c.name for c in reference.contigs}
    if not names & set(_X_NAMES) or not names & set(_Y_NAMES):
        return None
    depth: dict[str, float] = {}
    lengths: dict[str, int] = {}
    try:
        with pysam.AlignmentFile(str(alignment), reference_filename=str(reference.fasta)) as handle:
            for contig in reference.contigs:
                if not (is_autosome(contig.name) or contig.name in _X_NAMES + _Y_NAMES):
                    continue
                reads = bases = 0
                step = max(window_bp, contig.length // windows_per_contig)
                for start in range(0, contig.length, step):
                    end = min(contig.length, start + window_bp)
                    bases += end - start
                    reads += sum(
                        1
                        for read in handle.fetch(contig.name, start, end)
                        if read.mapping_quality >= min_mapq
                        and not (read.is_secondary or read.is_supplementary or read.is_duplicate)
                        and start <= read.reference_start < end
                    )
                depth[contig.name] = reads / bases if bases else 0.0
                lengths[contig.name] = contig.length
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read alignment for sex estimate: {err}",
                         file=str(alignment)) from err  # fmt: skip
    x_ratio, y_ratio = sex_coverage_ratios(depth, lengths)
    return predict_sex(x_ratio, y_ratio)
