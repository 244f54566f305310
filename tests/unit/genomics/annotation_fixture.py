"""A small simulated reference with the demo's genes, GFF3, ClinVar, gnomAD and panel.

Built once per test session (about a second): two autosomes and the sex chromosomes.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from seqoia.genomics.simulate import simulate_reference
from seqoia.genomics.simulate_annotation import (
    AnnotationFiles,
    SimulatedGene,
    simulate_annotation,
)


@dataclass(frozen=True)
class AnnotatedReference:
    folder: Path
    files: AnnotationFiles
    genes: tuple[SimulatedGene, ...]


@functools.cache
def annotated_reference() -> AnnotatedReference:
    folder = Path(tempfile.mkdtemp(prefix="seqoia-annotation-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    reference = folder / "demo.fa"
    simulate_reference(
        reference, contigs={"chr1": 60_000, "chr2": 50_000}, seed=7, sex_chromosomes=True
    )
    files, genes = simulate_annotation(reference, folder, seed=7)
    return AnnotatedReference(folder, files, tuple(genes))


def write_vcf_gz(path: Path, text: str) -> Path:
    """bgzip and tabix-index a VCF given as text."""
    import pysam

    with pysam.BGZFile(str(path), "wb", index=None) as fh:  # type: ignore[arg-type]
        fh.write(text.encode())
    pysam.tabix_index(str(path), preset="vcf", force=True)
    return path
