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

import pysam

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

    with pysam.BGZFile(str(path), "wb", index=None) as fh:  # type: ignore[arg-type]
        fh.write(text.encode())
    pysam.tabix_index(str(path), preset="vcf", force=True)
    return path


def write_tiled_cram(reference: Path, contig: str, start: int, end: int, out: Path) -> Path:
    """A sorted, indexed CRAM of 100 bp reads every 4 bp over ``[start, end]`` (1-based)."""
    with pysam.FastaFile(str(reference)) as fasta:
        lengths = dict(zip(fasta.references, fasta.lengths, strict=True))
        sequence = fasta.fetch(contig)
    header = {"HD": {"VN": "1.6", "SO": "coordinate"},
              "SQ": [{"SN": n, "LN": length} for n, length in lengths.items()]}  # fmt: skip
    bam = out.with_suffix(".bam")
    with pysam.AlignmentFile(str(bam), "wb", header=header) as writer:
        for number, first in enumerate(range(start - 1 - 96, end, 4)):
            if first < 0:
                continue
            read = pysam.AlignedSegment(writer.header)
            read.query_name = f"r{number}"
            read.reference_id = writer.header.get_tid(contig)
            read.reference_start = first
            read.mapping_quality = 60
            read.cigarstring = "100M"
            read.query_sequence = sequence[first : first + 100]
            read.query_qualities = pysam.qualitystring_to_array("I" * 100)
            writer.write(read)
    pysam.view("-C", "-T", str(reference), "-o", str(out), str(bam), catch_stdout=False)
    pysam.index(str(out))
    return out
