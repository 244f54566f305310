"""Duplicate marking: a sorted, fixmated BAM in, a duplicate-marked CRAM out.

``samtools markdup`` flags PCR and optical duplicates (reads whose pair starts at the same
positions and orientations as a better-scoring pair), and writes a CRAM compressed
against the reference, with its ``.crai`` index beside it. Its header is then made
stable (:mod:`seqoia.genomics.provenance`: the reference's store name in ``@SQ UR:``, each
sequence's ``M5:``, command lines without scratch paths) with ``samtools reheader``, which
copies the CRAM containers as they are, so that the same input gives the same bytes.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import pysam
import pysam.samtools
from pydantic import BaseModel, ConfigDict

from seqoia.errors import InputError
from seqoia.genomics.provenance import Provenance, reference_md5s, stable_sam_header
from seqoia.genomics.reference import PreparedReference
from seqoia.genomics.tools import run_command, run_pysam, tool_versions, want_binary

log = logging.getLogger(__name__)


class DuplicateStats(BaseModel):
    """Counts from ``samtools markdup -f``; every count is of reads (records), not pairs."""

    model_config = ConfigDict(frozen=True)

    reads: int
    examined: int
    paired: int
    single: int
    duplicate_pair_reads: int
    duplicate_single_reads: int
    optical_duplicate_pair_reads: int
    duplicate_total: int
    estimated_library_size: int
    elapsed_s: float
    tool_versions: dict[str, str]

    @property
    def duplicate_fraction(self) -> float:
        """Duplicate reads over examined (mapped, primary) reads."""
        return self.duplicate_total / self.examined if self.examined else 0.0


def mark_duplicates(
    bam: Path,
    reference: PreparedReference,
    out_cram: Path,
    *,
    threads: int,
    optical_distance: int = 0,
    use_binaries: bool | None = None,
    provenance: Provenance | None = None,
) -> DuplicateStats:
    """Mark duplicates in a coordinate-sorted BAM carrying fixmate's MC/ms tags.

    ``optical_distance`` (pixels; 100 for HiSeq, 2500 for patterned flow cells) turns
    on optical duplicate detection, which needs Illumina read names. Writes
    ``out_cram`` and ``out_cram.crai``. ``provenance`` names the reference in the header
    (by default the FASTA's file name).
    """
    started = time.monotonic()
    _check_sorted(bam)
    samtools = want_binary("samtools", use_binaries)
    out_cram.parent.mkdir(parents=True, exist_ok=True)
    tmp_cram = out_cram.with_name(out_cram.name + ".tmp")
    with tempfile.TemporaryDirectory(prefix=".markdup-", dir=out_cram.parent) as scratch:
        stats_file = Path(scratch) / "markdup.txt"
        # No -@: htslib's threaded CRAM encoder picks each block's codec from trials
        # whose order depends on thread timing, so the same reads would give different
        # bytes run to run; single-threaded encoding is reproducible.
        args = ["markdup", "-f", str(stats_file),
                "-T", str(Path(scratch) / "md"), "--reference", str(reference.fasta),
                "-O", "cram,version=3.0"]  # fmt: skip
        if optical_distance > 0:
            args += ["-d", str(optical_distance)]
        args += [str(bam), str(tmp_cram)]
        if samtools:
            run_command([samtools, *args])
        else:
            run_pysam(pysam.samtools.markdup, *args[1:])
        counts = _parse_stats(stats_file.read_text())
        provenance = provenance or Provenance(
            reference_uri=reference.fasta.name, reference_sha256=reference.sha256
        )
        _stabilise_header(tmp_cram, reference, provenance, Path(scratch), samtools)
    index_args = ["-@", str(max(1, threads)), str(tmp_cram), str(out_cram) + ".crai"]
    if samtools:
        run_command([samtools, "index", *index_args])
    else:
        run_pysam(pysam.samtools.index, *index_args)
    os.replace(tmp_cram, out_cram)
    return DuplicateStats(
        elapsed_s=round(time.monotonic() - started, 3), tool_versions=tool_versions(), **counts
    )


def _stabilise_header(
    cram: Path,
    reference: PreparedReference,
    provenance: Provenance,
    scratch: Path,
    samtools: str | None,
) -> None:
    """Rewrite ``cram``'s header in place with stable reference names and command lines.

    The CRAM goes through ``samtools reheader`` to standard output, which also replaces
    the file-definition id htslib took from the (attempt-unique) output path.
    """
    header = run_pysam(pysam.samtools.view, "-H", "--no-PG", cram, catch_stdout=True)
    header_file = scratch / "header.sam"
    header_file.write_text(
        stable_sam_header(header, provenance, reference.fasta, reference_md5s(reference.seq_dict))
    )
    rewritten = scratch / "reheadered.cram"
    # pysam's reheader writes to file descriptor 1 itself: give it a child process whose
    # standard output is the file.
    program = [samtools] if samtools else [sys.executable, "-c", _PYSAM_REHEADER]
    with rewritten.open("wb") as out:
        run_command([*program, "reheader", "-P", header_file, cram], stdout=out)
    os.replace(rewritten, cram)


_PYSAM_REHEADER = """
import sys
import pysam.samtools
pysam.samtools.reheader(*sys.argv[2:], catch_stdout=False)
"""


def _check_sorted(bam: Path) -> None:
    try:
        with pysam.AlignmentFile(str(bam), "rb", check_sq=False) as handle:
            order = handle.header.to_dict().get("HD", {}).get("SO")
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read BAM: {err}", file=str(bam)) from err
    if order != "coordinate":
        raise InputError(f"BAM must be coordinate-sorted (SO:{order})", file=str(bam))


_STAT_KEYS = {
    "READ": "reads",
    "EXAMINED": "examined",
    "PAIRED": "paired",
    "SINGLE": "single",
    "DUPLICATE PAIR": "duplicate_pair_reads",
    "DUPLICATE SINGLE": "duplicate_single_reads",
    "DUPLICATE PAIR OPTICAL": "optical_duplicate_pair_reads",
    "DUPLICATE TOTAL": "duplicate_total",
    "ESTIMATED_LIBRARY_SIZE": "estimated_library_size",
}


def _parse_stats(text: str) -> dict[str, int]:
    """Parse markdup's ``KEY: value`` report into DuplicateStats fields."""
    counts = dict.fromkeys(_STAT_KEYS.values(), 0)
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in _STAT_KEYS:
            counts[_STAT_KEYS[key.strip()]] = int(value.strip() or 0)
    return counts
