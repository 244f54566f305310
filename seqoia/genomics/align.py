"""Read alignment: paired FASTQ files of one sample in, one sorted sample BAM out.

Several FASTQ pairs (lanes, runs of top-up sequencing) merge into one BAM with one
``@RG`` per pair. The embedded aligner is mappy (minimap2's ``sr`` preset): mappy
returns hits rather than records, and building one pysam record per read in Python
costs most of the alignment time, so hits are formatted as SAM text in batches and
handed to samtools in bulk — through a pipe to the ``samtools`` program when it is
installed, otherwise through scratch SAM chunks converted with pysam. The ``minimap2``
and ``bwa`` programs can be used instead when installed; the FASTQ is then validated
by the same reader on its way to the aligner's standard input.

The output is coordinate-sorted and carries samtools fixmate's ``MC``/``ms`` tags, so
it is ready for duplicate marking.
"""

from __future__ import annotations

import collections
import logging
import os
import shutil
import subprocess
import tempfile
import threading
import time
import zlib
from collections.abc import Generator, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Literal

import numpy as np
import pysam
import pysam.samtools
from pydantic import BaseModel, ConfigDict, field_validator

from seqoia.errors import FormatError, InputError, ToolError
from seqoia.genomics.fastq_qc import FastqMetrics, count_records, metrics_of, new_counts
from seqoia.genomics.reference import PreparedReference
from seqoia.genomics.samtext import (
    SORT_MEMORY,
    ChunkSink,
    PipeSink,
    fixmate_sort_pysam,
    format_pair,
    sam_header,
    stderr_file,
)
from seqoia.genomics.tools import run_command, run_pysam, tool_versions, wait_all, want_binary

log = logging.getLogger(__name__)

Aligner = Literal["mappy", "minimap2", "bwa"]

_BATCH_PAIRS = 4096
#: Bytes of (decompressed) FASTQ read at a time.
_READ_BYTES = 4 << 20
#: Pairs per scratch SAM chunk on the pysam path: bounds scratch space, not memory.
_CHUNK_PAIRS = 100_000


class ReadGroup(BaseModel):
    """One ``@RG`` header line: a library sequenced on one lane of one run."""

    model_config = ConfigDict(frozen=True)

    id: str
    sample: str
    library: str
    platform_unit: str
    platform: str = "ILLUMINA"
    centre: str | None = None

    @field_validator("*")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        if value is not None and (not value or any(c in value for c in "\t\n\r")):
            raise ValueError("read-group fields must be non-empty, without tabs or newlines")
        return value

    def header_line(self) -> str:
        """The ``@RG`` line, without its newline."""
        fields = [
            f"ID:{self.id}",
            f"SM:{self.sample}",
            f"LB:{self.library}",
            f"PU:{self.platform_unit}",
            f"PL:{self.platform}",
        ]
        if self.centre:
            fields.append(f"CN:{self.centre}")
        return "@RG\t" + "\t".join(fields)


class FastqPair(BaseModel):
    """The two FASTQ files of one paired-end read group."""

    model_config = ConfigDict(frozen=True)

    r1: Path
    r2: Path
    read_group: ReadGroup


class AlignStats(BaseModel):
    """What went in and how it mapped (counts of records from samtools flagstat)."""

    model_config = ConfigDict(frozen=True)

    aligner: str
    read_pairs: int
    records: int
    primary_reads: int
    mapped_primary: int
    properly_paired: int
    supplementary: int
    secondary: int
    elapsed_s: float
    tool_versions: dict[str, str]
    #: Both reads' FASTQ metrics, counted while they were read for alignment.
    fastq: FastqMetrics

    @property
    def mapped_fraction(self) -> float:
        """Fraction of primary reads that mapped."""
        return self.mapped_primary / self.primary_reads if self.primary_reads else 0.0


def align_sample(
    pairs: Sequence[FastqPair],
    reference: PreparedReference,
    out_bam: Path,
    *,
    threads: int,
    aligner: Aligner = "mappy",
    use_binaries: bool | None = None,
    run: str | None = None,
    max_insert_bp: int = 1000,
    secondary: bool = False,
) -> AlignStats:
    """Align every pair of FASTQ files and write one coordinate-sorted, fixmated BAM.

    ``use_binaries``: None uses ``samtools`` when installed, False forces the pysam
    path, True requires the programs. ``run`` only labels FormatErrors.
    """
    if not pairs:
        raise InputError("no FASTQ pairs to align", run=run)
    ids = [p.read_group.id for p in pairs]
    if len(set(ids)) != len(ids):
        raise InputError(f"read-group ids are not unique: {ids}", run=run)
    started = time.monotonic()
    threads = max(1, threads)
    counts = new_counts()
    samtools = want_binary("samtools", use_binaries)
    out_bam.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".align-", dir=out_bam.parent) as scratch_name:
        scratch = Path(scratch_name)
        if aligner == "mappy":
            parts, n_pairs = _align_mappy(
                pairs,
                reference,
                scratch,
                threads,
                samtools,
                run,
                max_insert_bp,
                secondary,
                counts,
            )
        else:
            program = want_binary(aligner, True)
            assert program is not None
            parts, n_pairs = [], 0
            for i, pair in enumerate(pairs):
                part = scratch / f"part{i}.bam"
                n_pairs += _align_external(
                    aligner, program, pair, reference, part, threads, samtools, run, counts
                )
                parts.append(part)
        _merge(parts, out_bam, threads, samtools)
    stats = _flagstat(out_bam, threads)
    return AlignStats(
        aligner=aligner,
        read_pairs=n_pairs,
        elapsed_s=round(time.monotonic() - started, 3),
        tool_versions=tool_versions(),
        fastq=metrics_of(counts),
        **stats,
    )


# -- FASTQ ---------------------------------------------------------------------------


def _open_fastq(path: Path) -> IO[bytes]:
    raw = path.open("rb")
    if raw.read(2) != b"\x1f\x8b":
        raw.seek(0)
        return raw
    raw.seek(0)
    try:
        from isal import igzip

        return igzip.open(raw, "rb")  # type: ignore[return-value]
    except ImportError:  # pragma: no cover - isal is a dependency
        import gzip

        return gzip.open(raw, "rb")  # type: ignore[return-value]


def read_fastq(
    path: Path, *, run: str | None = None, counts: np.ndarray | None = None
) -> Iterator[tuple[str, str, str]]:
    """Stream ``(name, sequence, qualities)`` from a plain or gzipped FASTQ file.

    The name loses its comment and any ``/1``/``/2`` suffix. A truncated record, a
    malformed line or a corrupt gzip stream raises FormatError naming the file and the
    1-based line. ``counts`` (from :func:`seqoia.genomics.fastq_qc.new_counts`) also
    gathers the FASTQ metrics on the way, so that ``align`` reads its FASTQ once.

    Reads record-complete chunks and decodes a chunk at once: a ``readline`` per line
    and a ``decode`` per field cost more than the rest of the parsing.
    """
    line = 0  # lines before the current block
    try:
        with _open_fastq(path) as handle:
            leftover = b""
            while True:
                chunk = handle.read(_READ_BYTES)
                lines = (leftover + chunk).split(b"\n")
                if chunk:
                    complete = (len(lines) - 1) // 4 * 4  # the last line may be partial
                    leftover = b"\n".join(lines[complete:])
                    del lines[complete:]
                elif lines and not lines[-1]:
                    lines.pop()  # what follows the file's last newline
                blank = yield from _records(lines, path, run, line, counts)
                if blank is not None:  # blank lines may follow the last record, only them
                    if any(x.strip() for x in lines[blank - line :]) or (
                        leftover.strip() or handle.read(1 << 16).strip()
                    ):
                        raise FormatError("blank line inside the FASTQ", run=run,
                                          file=str(path), line=blank + 1)  # fmt: skip
                    return
                if not chunk:
                    return
                line += len(lines)
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as err:
        raise FormatError(f"cannot read FASTQ: {err}", run=run, file=str(path),
                          line=line or None) from err  # fmt: skip


def _records(
    lines: list[bytes],
    path: Path,
    run: str | None,
    first_line: int,
    counts: np.ndarray | None,
) -> Generator[tuple[str, str, str], None, int | None]:
    """Yield the records of ``lines`` (whole records but at the end of the file); return
    the 0-based line number of a blank header line, where the records stop, or None."""
    text = b"\n".join(lines).decode().split("\n") if lines else []
    n = len(text)
    k = 0
    while k < n:
        header = text[k]
        if not header.strip():
            if counts is not None:
                count_records(lines[:k], counts, 33, path, first_line)
            return first_line + k
        if header[:1] != "@":
            raise FormatError("FASTQ record does not start with '@'", run=run,
                              file=str(path), line=first_line + k + 1)  # fmt: skip
        if k + 3 >= n:
            raise FormatError("truncated FASTQ record", run=run, file=str(path),
                              line=first_line + k + 1)  # fmt: skip
        if text[k + 2][:1] != "+":
            raise FormatError("FASTQ separator line does not start with '+'",
                              run=run, file=str(path), line=first_line + k + 3)  # fmt: skip
        seq, qual = text[k + 1].rstrip(), text[k + 3].rstrip()
        if len(seq) != len(qual):
            raise FormatError("FASTQ sequence and quality lengths differ",
                              run=run, file=str(path), line=first_line + k + 4)  # fmt: skip
        name = header[1:].split(None, 1)[0]
        if name[-2:] in ("/1", "/2"):
            name = name[:-2]
        yield name, seq, qual
        k += 4
    if counts is not None and lines:
        count_records(lines, counts, 33, path, first_line)
    return None


def read_pairs(
    pair: FastqPair, *, run: str | None = None, counts: np.ndarray | None = None
) -> Iterator[tuple[str, ...]]:
    """Stream ``(name, seq1, qual1, seq2, qual2)``, checking that R1 and R2 agree;
    ``counts`` gathers both files' FASTQ metrics (see :func:`read_fastq`)."""
    first = read_fastq(pair.r1, run=run, counts=counts)
    second = read_fastq(pair.r2, run=run, counts=counts)
    count = 0
    for rec1 in first:
        rec2 = next(second, None)
        count += 1
        if rec2 is None:
            raise FormatError(f"R2 has fewer records than R1 ({count - 1})", run=run,
                              file=str(pair.r2))  # fmt: skip
        if rec1[0] != rec2[0]:
            raise FormatError(f"read names differ from R1: {rec1[0]!r} vs {rec2[0]!r}",
                              run=run, file=str(pair.r2), line=4 * count - 3)  # fmt: skip
        yield rec1[0], rec1[1], rec1[2], rec2[1], rec2[2]
    if next(second, None) is not None:
        raise FormatError(f"R2 has more records than R1 ({count})", run=run,
                          file=str(pair.r2))  # fmt: skip


def _batches(
    pairs: Sequence[FastqPair], run: str | None, counts: np.ndarray
) -> Iterator[tuple[int, list]]:
    for index, pair in enumerate(pairs):
        batch: list[tuple[str, ...]] = []
        for record in read_pairs(pair, run=run, counts=counts):
            batch.append(record)
            if len(batch) == _BATCH_PAIRS:
                yield index, batch
                batch = []
        if batch:
            yield index, batch


# -- mappy ---------------------------------------------------------------------------


def _align_mappy(
    pairs: Sequence[FastqPair],
    reference: PreparedReference,
    scratch: Path,
    threads: int,
    samtools: str | None,
    run: str | None,
    max_insert_bp: int,
    secondary: bool,
    counts: np.ndarray,
) -> tuple[list[Path], int]:
    import mappy

    index = mappy.Aligner(str(reference.mmi), preset="sr")
    if not index:
        raise InputError("cannot load minimap2 index", file=str(reference.mmi))
    header = sam_header(reference, [p.read_group for p in pairs], "mappy")
    local = threading.local()
    rg_ids = [p.read_group.id for p in pairs]

    def map_batch(pair_index: int, batch: list[tuple[str, ...]]) -> str:
        buf = getattr(local, "buf", None)
        if buf is None:
            buf = local.buf = mappy.ThreadBuffer()
        out: list[str] = []
        rg = rg_ids[pair_index]
        for name, s1, q1, s2, q2 in batch:
            hits = list(index.map(s1, s2, buf=buf))
            format_pair(out, name, s1, q1, s2, q2, hits, rg, max_insert_bp, secondary)
        return "".join(out)

    sink: PipeSink | ChunkSink
    if samtools:
        sink = PipeSink(samtools, scratch, threads, header)
    else:
        sink = ChunkSink(scratch, threads, header, _CHUNK_PAIRS)
    n_pairs = 0
    with ThreadPoolExecutor(max_workers=threads) as pool, sink:
        pending: collections.deque[tuple[Future[str], int]] = collections.deque()
        for pair_index, batch in _batches(pairs, run, counts):
            n_pairs += len(batch)
            pending.append((pool.submit(map_batch, pair_index, batch), len(batch)))
            # Bounded in-flight work keeps memory flat; results are written in order.
            while len(pending) > 2 * threads:
                future, size = pending.popleft()
                sink.write(future.result(), size)
        while pending:
            future, size = pending.popleft()
            sink.write(future.result(), size)
    return sink.parts, n_pairs


# -- external aligners ---------------------------------------------------------------


def _align_external(
    aligner: Aligner,
    program: str,
    pair: FastqPair,
    reference: PreparedReference,
    out: Path,
    threads: int,
    samtools: str | None,
    run: str | None,
    counts: np.ndarray,
) -> int:
    rg = pair.read_group.header_line().replace("\t", "\\t")
    if aligner == "minimap2":
        # minimap2 pairs adjacent reads of the same name in one input (fragment mode).
        command = [program, "-ax", "sr", "-t", str(threads), "-R", rg, str(reference.mmi), "-"]
    else:
        if reference.bwa_index is None:
            raise ToolError([program, "mem"], 2, "the reference has no BWA index")
        command = [program, "mem", "-p", "-K", "10000000", "-t", str(threads), "-R", rg,
                   str(reference.bwa_index), "/dev/stdin"]  # fmt: skip
    errs = stderr_file()
    sam_path = out.with_suffix(".sam")
    if samtools:
        align = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errs
        )
        fix = [samtools, "fixmate", "-m", "-u", "-", "-"]
        sort = [samtools, "sort", "-@", str(threads), "-m", SORT_MEMORY, "-l", "1",
                "-T", str(out.with_suffix(".sort")), "-o", str(out), "-"]  # fmt: skip
        fix_err, sort_err = stderr_file(), stderr_file()
        fixp = subprocess.Popen(fix, stdin=align.stdout, stdout=subprocess.PIPE, stderr=fix_err)
        sortp = subprocess.Popen(sort, stdin=fixp.stdout, stderr=sort_err)
        assert align.stdout is not None and fixp.stdout is not None
        align.stdout.close()
        fixp.stdout.close()
        procs = [(command, align), (fix, fixp), (sort, sortp)]
    else:
        with sam_path.open("wb") as sam_out:
            align = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=sam_out, stderr=errs)
        procs = [(command, align)]
    n = 0
    assert align.stdin is not None
    try:
        for name, s1, q1, s2, q2 in read_pairs(pair, run=run, counts=counts):
            align.stdin.write(f"@{name}/1\n{s1}\n+\n{q1}\n@{name}/2\n{s2}\n+\n{q2}\n".encode())
            n += 1
        align.stdin.close()
    except BrokenPipeError:
        pass  # the aligner died: wait_all reports its error
    except BaseException:
        for _, proc in procs:
            proc.kill()
        raise
    wait_all(procs)  # type: ignore[arg-type]
    if not samtools:
        fixmate_sort_pysam(sam_path, out, out.parent, threads)
        sam_path.unlink()
    return n


# -- merge and stats -----------------------------------------------------------------


def _merge(parts: list[Path], out_bam: Path, threads: int, samtools: str | None) -> None:
    if len(parts) == 1:
        shutil.move(parts[0], out_bam)
        return
    tmp = out_bam.with_name(out_bam.name + ".tmp")
    # -c/-p keep one @RG/@PG per id when the parts share a header.
    args = ["merge", "-f", "-c", "-p", "-@", str(threads), "-o", str(tmp), *map(str, parts)]
    if samtools:
        run_command([samtools, *args])
    else:
        run_pysam(pysam.samtools.merge, *args[1:])
    os.replace(tmp, out_bam)


def _flagstat(bam: Path, threads: int) -> dict[str, int]:
    text = run_pysam(pysam.samtools.flagstat, "-@", str(threads), bam, catch_stdout=True)
    counts: dict[str, int] = {}
    for line in text.splitlines():
        value = int(line.split(" + ", 1)[0])
        label = line.split(" ", 3)[-1]
        for key, prefix in (
            ("records", "in total"),
            ("primary_reads", "primary"),
            ("mapped_primary", "primary mapped"),
            ("properly_paired", "properly paired"),
            ("supplementary", "supplementary"),
            ("secondary", "secondary"),
        ):
            if label.startswith(prefix) and key not in counts:
                counts[key] = value
    return counts
