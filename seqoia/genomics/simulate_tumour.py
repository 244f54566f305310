"""A simulated tumour: the normal's germline, somatic variants at chosen allele fractions, and
copy-number changes, sequenced as a mixture of clones.

The tumour is a nest of clones. With somatic allele fractions ``v_0 > v_1 > ... > v_k`` (all
heterozygous, so a clone carrying a variant contributes half its reads' worth of alt
alleles), clone ``i`` carries the somatic sets ``0..i`` and makes up ``2 (v_i - v_{i+1})`` of
the cells; the rest (``1 - 2 v_0``) is normal contamination. Set ``i`` then shows allele
fraction ``v_i`` exactly in expectation: ``sum_{j >= i} 2 (v_j - v_{j+1}) / 2 = v_i``.

Copy-number events are clonal (every tumour clone): a *gain* is a tandem copy of a region of
haplotype 0 (three copies in tumour cells), a *loss* deletes the region from haplotype 1
(one copy left, so the region's heterozygous germline sites lose their haplotype-1 allele:
loss of heterozygosity). Somatic variants are kept out of copy-number regions, so that their
allele fraction is the one asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
import pysam

from seqoia.genomics.simulate import (
    SimulationSummary,
    TruthVariant,
    simulate_reads,
    simulate_variants,
)

CopyKind = Literal["gain", "loss"]


@dataclass(frozen=True, slots=True)
class CopyEvent:
    """A clonal copy-number change of ``[start, end)`` (0-based, half-open) of ``contig``."""

    contig: str
    start: int
    end: int
    kind: CopyKind

    @property
    def tumour_copies(self) -> int:
        return 3 if self.kind == "gain" else 1


@dataclass(frozen=True, slots=True)
class SomaticTruth:
    """A somatic variant and the allele fraction it was simulated at."""

    variant: TruthVariant
    vaf: float


@dataclass(frozen=True)
class TumourTruth:
    """What was simulated: somatic variants with their fractions, copy events, clone mix."""

    somatic: list[SomaticTruth]
    copy_events: list[CopyEvent]
    clone_fractions: list[float]  # of tumour clones 0..k; normal contamination is the rest
    normal_fraction: float


def clone_fractions(vafs: Sequence[float]) -> tuple[list[float], float]:
    """Cell fractions of nested clones giving heterozygous somatic sets the ``vafs``."""
    ordered = sorted(vafs, reverse=True)
    if not ordered or ordered[0] > 0.5 or ordered[-1] <= 0:
        raise ValueError("allele fractions of heterozygous somatic variants lie in (0, 0.5]")
    if len(set(ordered)) != len(ordered):
        raise ValueError("allele fractions must differ")
    nxt = [*ordered[1:], 0.0]
    fractions = [2 * (v - w) for v, w in zip(ordered, nxt, strict=True)]
    return fractions, 1.0 - 2 * ordered[0]


def draw_somatic(
    reference: Path,
    germline: Sequence[TruthVariant],
    *,
    vafs: Sequence[float],
    per_vaf: int,
    indel_fraction: float = 0.2,
    avoid: Sequence[CopyEvent] = (),
    seed: int = 0,
    margin_bp: int = 160,
) -> list[SomaticTruth]:
    """Draw ``per_vaf`` somatic variants per fraction, away from germline variants and CNVs.

    Candidates come from :func:`simulate_variants` at a high rate with a seed of their own,
    so they carry its realistic spectrum (transitions, repeat-extending indels); each is made
    heterozygous on haplotype 1 and kept at least ``margin_bp`` from any germline variant,
    copy event or other somatic variant (so reads see one event at a time).
    """
    candidates = simulate_variants(
        reference, seed=seed + 7_919, snv_rate=4e-3, indel_rate=1e-3, het_fraction=1.0
    )
    rng = np.random.default_rng(seed)
    rng.shuffle(candidates)  # type: ignore[arg-type]
    taken: dict[str, list[tuple[int, int]]] = {}
    for v in germline:
        taken.setdefault(v.contig, []).append((v.pos, v.end))
    for event in avoid:
        taken.setdefault(event.contig, []).append((event.start + 1, event.end))

    def free(v: TruthVariant) -> bool:
        return all(
            v.end + margin_bp < start or v.pos - margin_bp > end
            for start, end in taken.get(v.contig, [])
        )

    want_indels = int(round(per_vaf * indel_fraction))
    out: list[SomaticTruth] = []
    for vaf in sorted(vafs, reverse=True):
        need = {"indel": want_indels, "snv": per_vaf - want_indels}
        for v in candidates:
            kind = "snv" if v.is_snv else "indel"
            if need[kind] == 0 or not free(v):
                continue
            need[kind] -= 1
            taken.setdefault(v.contig, []).append((v.pos, v.end))
            out.append(SomaticTruth(replace(v, genotype=(0, 1)), vaf))
            if not any(need.values()):
                break
        if any(need.values()):
            raise ValueError(f"reference too small for {per_vaf} somatic variants at {vaf}")
    out.sort(key=lambda s: (s.variant.contig, s.variant.pos))
    return out


def apply_copy_events(
    reference: Path, germline: Sequence[TruthVariant], events: Sequence[CopyEvent]
) -> list[TruthVariant]:
    """The tumour's germline haplotypes with ``events`` applied, as variants.

    A loss becomes a deletion of the region on haplotype 1 (its germline alleles there are
    dropped from haplotype 1); a gain becomes an insertion, after the region, of a copy of
    haplotype 0's region (with haplotype 0's germline alleles inside it).
    """
    out = list(germline)
    with pysam.FastaFile(str(reference)) as fasta:
        for event in events:
            inside = [
                v for v in out if v.contig == event.contig and event.start < v.pos <= event.end
            ]
            seq = fasta.fetch(event.contig, event.start - 1, event.end).upper()
            anchor = seq[0]  # 1-based position event.start (0-based event.start - 1)
            region = seq[1:]  # 0-based [event.start, event.end)
            if event.kind == "loss":
                out = [replace(v, genotype=(v.genotype[0], 0)) if v in inside else v for v in out]
                out = [v for v in out if v.genotype != (0, 0)]
                out.append(TruthVariant(event.contig, event.start, anchor + region, anchor, (0, 1)))
            else:
                copy = _apply(region, event.start, [v for v in inside if v.genotype[0] == 1])
                last = fasta.fetch(event.contig, event.end - 1, event.end).upper()
                out.append(TruthVariant(event.contig, event.end, last, last + copy, (1, 0)))
    out.sort(key=lambda v: (v.contig, v.pos))
    return out


def _apply(region: str, offset: int, variants: Sequence[TruthVariant]) -> str:
    """``region`` (starting at 0-based ``offset``) with ``variants`` applied."""
    pieces, cursor = [], 0
    for v in sorted(variants, key=lambda v: v.pos):
        start = v.pos - 1 - offset
        if start < cursor or start + len(v.ref) > len(region):
            continue
        pieces += [region[cursor:start], v.alt]
        cursor = start + len(v.ref)
    pieces.append(region[cursor:])
    return "".join(pieces)


def simulate_tumour_reads(
    reference: Path,
    germline: Sequence[TruthVariant],
    somatic: Sequence[SomaticTruth],
    events: Sequence[CopyEvent],
    out_dir: Path,
    *,
    coverage: float = 60.0,
    seed: int = 0,
    **read_options: object,
) -> tuple[list[tuple[Path, Path]], TumourTruth, list[SimulationSummary]]:
    """Paired FASTQ of the tumour, one pair of files per clone (and one for the normal cells).

    Returns the FASTQ pairs (align them as read groups of one sample), the truth and each
    component's simulation summary.
    """
    vafs = sorted({s.vaf for s in somatic}, reverse=True)
    fractions, normal_fraction = clone_fractions(vafs)
    tumour_germline = apply_copy_events(reference, germline, events)
    out_dir.mkdir(parents=True, exist_ok=True)
    components: list[tuple[str, float, list[TruthVariant]]] = []
    if normal_fraction > 1e-9:
        components.append(("normal", normal_fraction, list(germline)))
    for i, fraction in enumerate(fractions):
        carried = [s.variant for s in somatic if s.vaf >= vafs[i]]
        variants = sorted([*tumour_germline, *carried], key=lambda v: (v.contig, v.pos))
        components.append((f"clone{i}", fraction, variants))
    pairs, summaries = [], []
    for k, (name, fraction, variants) in enumerate(components):
        r1, r2 = out_dir / f"{name}_R1.fastq.gz", out_dir / f"{name}_R2.fastq.gz"
        summaries.append(
            simulate_reads(
                reference,
                variants,
                r1,
                r2,
                coverage=coverage * fraction,
                seed=seed * 101 + k,
                read_name_prefix=f"T{k}:1:TUMOURFC",
                **read_options,  # type: ignore[arg-type]
            )
        )
        pairs.append((r1, r2))
    truth = TumourTruth(list(somatic), list(events), fractions, normal_fraction)
    return pairs, truth, summaries
