"""FASTQ metrics: records, bases, Q30, GC and N of one or more FASTQ files, streamed.

The first of the three sources of a sample's quality control (:mod:`seqoia.genomics.qc`);
``align`` counts the same metrics with :func:`count_records` while its reader holds the
FASTQ's lines, so that the FASTQ is read once.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import IO

import numpy as np
from isal import igzip
from pydantic import BaseModel, ConfigDict

from seqoia.errors import FormatError

#: Bytes read at a time: record-complete chunks are counted, the rest carried over.
CHUNK_BYTES = 16 << 20


class FastqMetrics(BaseModel):
    """Base-level counts over one or more FASTQ files."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    records: int
    bases: int
    q30_bases: int
    gc_bases: int
    n_bases: int

    @property
    def q30_pct(self) -> float | None:
        return 100.0 * self.q30_bases / self.bases if self.bases else None

    @property
    def gc_pct(self) -> float | None:
        called = self.bases - self.n_bases
        return 100.0 * self.gc_bases / called if called else None


def _open_maybe_gzip(path: Path) -> IO[bytes]:
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return igzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def fastq_metrics(fastqs: Sequence[Path], *, phred_offset: int = 33) -> FastqMetrics:
    """Count records, bases, Q30 bases, GC and N over ``fastqs`` (plain or gzipped).

    Works on record-complete chunks: the lines of a chunk are split once and the
    sequence and quality lines joined into numpy arrays, so there is no per-base loop.
    """
    counts = new_counts()
    for path in fastqs:
        line_no = 0
        leftover = b""
        try:
            with _open_maybe_gzip(Path(path)) as fh:
                while chunk := fh.read(CHUNK_BYTES):
                    lines = (leftover + chunk).split(b"\n")
                    complete = (len(lines) - 1) // 4 * 4  # the last line may be partial
                    count_records(lines[:complete], counts, phred_offset, path, line_no)
                    line_no += complete
                    leftover = b"\n".join(lines[complete:])
        except (OSError, EOFError) as err:
            raise FormatError(f"unreadable FASTQ: {err}", file=str(path), line=line_no) from err
        lines = leftover.split(b"\n")
        while lines and not lines[-1].strip():
            lines.pop()
        if len(lines) % 4:
            raise FormatError("truncated FASTQ record", file=str(path), line=line_no + 1)
        count_records(lines, counts, phred_offset, path, line_no)
    return metrics_of(counts)


def new_counts() -> np.ndarray:
    """Zeroed counters for :func:`count_records`: records, bases, Q30, GC and N bases."""
    return np.zeros(5, dtype=np.int64)


def metrics_of(counts: np.ndarray) -> FastqMetrics:
    """The metrics of counters that :func:`count_records` filled."""
    records, bases, q30, gc, n = (int(x) for x in counts)
    return FastqMetrics(records=records, bases=bases, q30_bases=q30, gc_bases=gc, n_bases=n)


def count_records(
    lines: list[bytes], counts: np.ndarray, offset: int, path: Path, first_line: int
) -> None:
    """Add the counts of whole records (``lines``, 4 a record, without newlines)."""
    if not lines:
        return
    headers, seqs, pluses, quals = lines[0::4], lines[1::4], lines[2::4], lines[3::4]
    for kind, first in ((headers, b"@"), (pluses, b"+")):
        joined = b"\n".join(kind)
        if joined[:1] != first or joined.count(b"\n" + first) != len(kind) - 1:
            bad = next(k for k, line in enumerate(kind) if not line.startswith(first))
            offset = 1 if first == b"@" else 3
            raise FormatError(
                "not a FASTQ record", file=str(path), line=first_line + 4 * bad + offset
            )
    seq = np.frombuffer(b"".join(seqs), dtype=np.uint8)
    qual = np.frombuffer(b"".join(quals), dtype=np.uint8)
    if len(seq) != len(qual):
        bad = next(k for k, (s, q) in enumerate(zip(seqs, quals, strict=True)) if len(s) != len(q))
        raise FormatError(
            "sequence and quality lengths differ", file=str(path), line=first_line + 4 * bad + 2
        )
    letters = np.bincount(seq | 0x20, minlength=256)  # lower-case fold
    counts += (
        len(headers),
        len(seq),
        int(np.count_nonzero(qual >= 30 + offset)),
        int(letters[ord("g")] + letters[ord("c")]),
        int(letters[ord("n")]),
    )
