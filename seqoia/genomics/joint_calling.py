"""Joint calling of a family: the members' CRAMs in, one multi-sample VCF with GQ and PL out.

The singleton caller (:func:`seqoia.genomics.variants.call_variants`) over all members at
once, sex-aware: males are haploid on chrX outside the pseudo-autosomal regions (PARs)
and on chrY, females have no chrY, PARs stay diploid. PL is kept (``call -m`` writes it)
and GQ added, as the de novo and relatedness checks need them. Everything else (regions
in parallel, ``norm -m -any``, soft filters, the stable header) is the singleton path's,
so a family VCF and a singleton VCF differ only by the evidence shared across members.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import pysam

from seqoia.errors import InputError
from seqoia.genomics.ploidy import CallSex
from seqoia.genomics.provenance import Provenance
from seqoia.genomics.reference import PreparedReference
from seqoia.genomics.variants import CallParams, VariantStats, call_variants

log = logging.getLogger(__name__)

Karyotype = Literal["XX", "XY"]


def call_sexes(
    samples: Sequence[str], karyotypes: Mapping[str, Karyotype | None]
) -> dict[str, CallSex]:
    """bcftools sex codes of ``samples``; unknown sex counts as F.

    A sample of unknown sex is called diploid everywhere but chrY (a missed male loses
    nothing on X: its hemizygous calls come out homozygous).
    """
    return {s: "M" if karyotypes.get(s) == "XY" else "F" for s in samples}


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
    provenance: Provenance | None = None,
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
    started = time.monotonic()
    stats = call_variants(
        alignments,
        reference,
        out_vcf,
        threads=threads,
        params=params,
        use_binaries=use_binaries,
        sexes=call_sexes(samples, karyotypes),
        pars=pars,
        annotations=("GQ",),
        provenance=provenance,
    )
    log.info("joint call of %d samples in %.1f s", len(samples), time.monotonic() - started)
    return stats
