"""A simulated tumour/normal pair as a sequencer's FASTQ files, with the truth planted.

Chains :mod:`seqoia.genomics.simulate` and :mod:`seqoia.genomics.simulate_tumour` into
what the demo and the pipeline's tests drop into a run folder: ``<sample>_S<n>_L001_R1_001
.fastq.gz`` (and R2) for the normal and for the tumour, the tumour's clones concatenated
into one pair of files (gzip members may follow each other). ``other_patient`` draws the
normal from another germline: a sample swap that the pair's identity check must catch.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from seqoia.genomics.simulate import TruthVariant, simulate_reads, simulate_variants
from seqoia.genomics.simulate_tumour import (
    CopyEvent,
    SomaticTruth,
    draw_somatic,
    simulate_tumour_reads,
)


@dataclass(frozen=True)
class PairTruth:
    """What was planted in the tumour: somatic variants and copy-number events."""

    somatic: list[SomaticTruth]
    copy_events: list[CopyEvent]
    germline: list[TruthVariant]


def fastq_names(folder: Path, sample: str, number: int) -> tuple[Path, Path]:
    """``<sample>_S<number>_L001_R{1,2}_001.fastq.gz`` in ``folder``, as bcl2fastq names them."""
    r1, r2 = (folder / f"{sample}_S{number}_L001_R{r}_001.fastq.gz" for r in (1, 2))
    return r1, r2


def simulate_pair_fastq(
    reference: Path,
    folder: Path,
    *,
    tumour: tuple[str, int] | None,
    normal: tuple[str, int] | None,
    scratch: Path,
    vafs: Sequence[float] = (0.4, 0.3, 0.2),
    per_vaf: int = 12,
    events: Sequence[CopyEvent] = (),
    tumour_depth: float = 50.0,
    normal_depth: float = 30.0,
    seed: int = 16,
    other_patient: bool = False,
) -> PairTruth:
    """Write the tumour's and/or the normal's FASTQ (``(sample, S number)``) into ``folder``.

    Either member may be left out (``None``), so that a pair can be split over two runs;
    the same ``seed`` gives the same germline and somatic truth for both halves.
    """
    folder.mkdir(parents=True, exist_ok=True)
    germline = simulate_variants(reference, seed=seed)
    somatic = draw_somatic(
        reference, germline, vafs=vafs, per_vaf=per_vaf, avoid=list(events), seed=seed
    )
    if normal is not None:
        donor = simulate_variants(reference, seed=seed + 1000) if other_patient else germline
        simulate_reads(
            reference, donor, *fastq_names(folder, *normal), coverage=normal_depth,
            seed=seed + 1, read_name_prefix=f"N0:1:{normal[0].replace('-', '')}",
        )  # fmt: skip
    if tumour is not None:
        parts, _, _ = simulate_tumour_reads(
            reference, germline, somatic, list(events), scratch / "tumour-clones",
            coverage=tumour_depth, seed=seed + 2,
        )  # fmt: skip
        for index, target in enumerate(fastq_names(folder, *tumour)):
            with target.open("wb") as out:
                for part in parts:
                    with part[index].open("rb") as handle:
                        shutil.copyfileobj(handle, out)
    return PairTruth(somatic=list(somatic), copy_events=list(events), germline=germline)
