"""SAM text: mappy's hits formatted as SAM lines in bulk, and handed to samtools.

mappy returns hits rather than records, and one pysam record per read costs most of the
alignment time in Python, so alignment writes SAM text instead: the header, then each
read pair's lines (flags, soft-clipped CIGARs, mate fields, ``NM``/``AS``/``SA``/``RG``
tags). The text goes to ``samtools fixmate -m | samtools sort`` through a pipe when the
program is installed, otherwise into scratch SAM chunks converted with pysam's samtools.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

import pysam
import pysam.samtools

from seqoia.errors import ToolError
from seqoia.genomics.reference import PreparedReference
from seqoia.genomics.tools import run_pysam, tool_versions, wait_all

if TYPE_CHECKING:
    from seqoia.genomics.align import ReadGroup

#: Memory per ``samtools sort`` thread before it spills to scratch files.
SORT_MEMORY = "512M"
_COMPLEMENT = str.maketrans("ACGTNacgtn", "TGCANtgcan")
#: minimap2's CIGAR operation codes, as mappy's ``cigar_str`` spells them.
_CIGAR_OPS = "MIDNSHP=XB"


# -- SAM lines -----------------------------------------------------------------------


def sam_header(reference: PreparedReference, groups: Sequence[ReadGroup], program: str) -> str:
    """The SAM header of a sample: contigs, one ``@RG`` per read group, the aligner's ``@PG``."""
    lines = ["@HD\tVN:1.6\tSO:unsorted\tGO:query"]
    lines += [f"@SQ\tSN:{c.name}\tLN:{c.length}" for c in reference.contigs]
    lines += [g.header_line() for g in groups]
    lines.append(f"@PG\tID:{program}\tPN:{program}\tVN:{tool_versions().get(program, '?')}")
    return "\n".join(lines) + "\n"


def format_pair(
    out: list[str],
    name: str,
    s1: str,
    q1: str,
    s2: str,
    q2: str,
    hits: list,
    rg: str,
    max_insert_bp: int,
    secondary: bool,
) -> None:
    """Append the SAM lines of one read pair, given mappy's hits for both reads.

    Runs once per read pair under the GIL (about a fifth of the align stage's CPU
    before it was tuned), so hit attributes are read once into locals and the usual
    case, one alignment per read, takes no per-hit lists or generators.
    """
    per_read: tuple[list, list] = ([], [])
    for hit in hits:
        per_read[hit.read_num - 1].append(hit)
    p1 = p2 = None
    for hit in per_read[0]:
        if hit.is_primary:
            p1 = hit
            break
    for hit in per_read[1]:
        if hit.is_primary:
            p2 = hit
            break
    primaries = (p1, p2)
    proper = False
    tlens = (0, 0)
    if p1 is not None and p2 is not None and p1.ctg == p2.ctg:
        p1_st, p2_st = p1.r_st, p2.r_st
        span = max(p1.r_en, p2.r_en) - min(p1_st, p2_st)
        tlens = (span, -span) if p1_st <= p2_st else (-span, span)
        if p1.strand != p2.strand:
            fwd, rev = (p1, p2) if p1.strand == 1 else (p2, p1)
            proper = fwd.r_st < rev.r_en and span <= max_insert_bp
    reads = ((s1, q1), (s2, q2))
    tail = f"RG:Z:{rg}\n"
    for i in (0, 1):
        seq, qual = reads[i]
        mine, mate = primaries[i], primaries[1 - i]
        flag = 0x1 | (0x40 if i == 0 else 0x80)
        if proper:
            flag |= 0x2
        if mate is None:
            flag |= 0x8
        elif mate.strand == -1:
            flag |= 0x20
        if mine is None:
            if mate is None:
                out.append(f"{name}\t{flag | 0x4}\t*\t0\t0\t*\t*\t0\t0\t{seq or '*'}\t"
                           f"{qual or '*'}\t{tail}")  # fmt: skip
            else:
                pos = mate.r_st + 1
                out.append(f"{name}\t{flag | 0x4}\t{mate.ctg}\t{pos}\t0\t*\t=\t{pos}\t0\t"
                           f"{seq or '*'}\t{qual or '*'}\t{tail}")  # fmt: skip
            continue
        if mate is None:
            rnext, pnext = "=", mine.r_st + 1
        else:
            rnext = "=" if mate.ctg == mine.ctg else mate.ctg
            pnext = mate.r_st + 1
        n = len(seq)
        mine_hits = per_read[i]
        if len(mine_hits) == 1:  # the usual case: one primary alignment, nothing else
            strand = mine.strand
            cigar = _clipped_cigar(mine, n)
            s, q = (seq, qual) if strand == 1 else (seq[::-1].translate(_COMPLEMENT), qual[::-1])
            out.append(f"{name}\t{flag | 0x10 if strand == -1 else flag}\t{mine.ctg}\t"
                       f"{mine.r_st + 1}\t{mine.mapq}\t{cigar}\t{rnext}\t{pnext}\t{tlens[i]}\t"
                       f"{s}\t{q}\tNM:i:{mine.NM}\tAS:i:{_score(mine)}\t{tail}")  # fmt: skip
            continue
        aligned = [h for h in mine_hits if h.is_primary]
        rc = rq = ""
        if any(h.strand == -1 for h in mine_hits):
            rc, rq = seq[::-1].translate(_COMPLEMENT), qual[::-1]
        cigars = [_clipped_cigar(h, n) for h in aligned]
        for j, hit in enumerate(aligned):
            line_flag = flag | (0x10 if hit.strand == -1 else 0) | (0x800 if j else 0)
            s, q = (seq, qual) if hit.strand == 1 else (rc, rq)
            tags = f"NM:i:{hit.NM}\tAS:i:{_score(hit)}\tRG:Z:{rg}"
            if len(aligned) > 1:
                tags += "\tSA:Z:" + "".join(
                    f"{h.ctg},{h.r_st + 1},{'+' if h.strand == 1 else '-'},{c},{h.mapq},{h.NM};"
                    for k, (h, c) in enumerate(zip(aligned, cigars, strict=True))
                    if k != j
                )
            tlen = tlens[i] if j == 0 else 0
            out.append(f"{name}\t{line_flag}\t{hit.ctg}\t{hit.r_st + 1}\t{hit.mapq}\t"
                       f"{cigars[j]}\t{rnext}\t{pnext}\t{tlen}\t{s}\t{q}\t{tags}\n")  # fmt: skip
        if secondary:
            for hit in mine_hits:
                if hit.is_primary:
                    continue
                line_flag = flag | 0x100 | (0x10 if hit.strand == -1 else 0)
                out.append(f"{name}\t{line_flag}\t{hit.ctg}\t{hit.r_st + 1}\t{hit.mapq}\t"
                           f"{_clipped_cigar(hit, n)}\t{rnext}\t{pnext}\t0\t*\t*\t"
                           f"NM:i:{hit.NM}\tAS:i:{_score(hit)}\t{tail}")  # fmt: skip


def _clipped_cigar(hit: object, read_length: int) -> str:
    """mappy's CIGAR covers the aligned part only; add the soft clips around it.

    In pair mode mappy reports read 2's query span on its reverse complement
    (lh3/minimap2#226): flip it back to the read's own coordinates first. The CIGAR
    string is built from ``hit.cigar``: mappy's ``cigar_str`` runs a Python lambda per
    operation on every access.
    """
    q_st, q_en = hit.q_st, hit.q_en  # type: ignore[attr-defined]
    if hit.read_num == 2:  # type: ignore[attr-defined]
        q_st, q_en = read_length - q_en, read_length - q_st
    if hit.strand == 1:  # type: ignore[attr-defined]
        left, right = q_st, read_length - q_en
    else:
        left, right = read_length - q_en, q_st
    operations = hit.cigar  # type: ignore[attr-defined]
    if len(operations) == 1:
        cigar = f"{operations[0][0]}{_CIGAR_OPS[operations[0][1]]}"
    else:
        cigar = "".join([f"{length}{_CIGAR_OPS[op]}" for length, op in operations])
    if left or right:
        return (f"{left}S" if left else "") + cigar + (f"{right}S" if right else "")
    return cigar


def _score(hit: object) -> int:
    """The alignment score under the ``sr`` preset (match 2, mismatch 8, gaps 12+2k or 32+k).

    mappy does not expose minimap2's DP score; this recomputes it from CIGAR and NM.
    """
    matches = edits = gaps = 0
    for length, op in hit.cigar:  # type: ignore[attr-defined]
        if op == 0:
            matches += length
        elif op in (1, 2):
            edits += length
            gaps += min(12 + 2 * length, 32 + length)
    mismatches = max(0, hit.NM - edits)  # type: ignore[attr-defined]
    return 2 * (matches - mismatches) - 8 * mismatches - gaps


# -- into samtools ------------------------------------------------------------------


class PipeSink:
    """SAM text into ``samtools fixmate -m | samtools sort`` running as programs."""

    def __init__(self, samtools: str, scratch: Path, threads: int, header: str) -> None:
        self.parts = [scratch / "part.bam"]
        fix = [samtools, "fixmate", "-m", "-u", "-", "-"]
        sort = [samtools, "sort", "-@", str(threads), "-m", SORT_MEMORY, "-l", "1",
                "-T", str(scratch / "sort"), "-o", str(self.parts[0]), "-"]  # fmt: skip
        errs = [stderr_file(), stderr_file()]
        fixp = subprocess.Popen(fix, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errs[0])
        sortp = subprocess.Popen(sort, stdin=fixp.stdout, stderr=errs[1])
        assert fixp.stdout is not None and fixp.stdin is not None
        fixp.stdout.close()  # the sort process holds the only read end now
        self._stdin = fixp.stdin
        self._procs = [(fix, fixp), (sort, sortp)]
        self.write(header, 0)

    def write(self, text: str, n_pairs: int) -> None:
        try:
            self._stdin.write(text.encode())
        except BrokenPipeError:
            wait_all(self._procs)  # raises the tool's own error
            raise ToolError(self._procs[0][0], 1, "samtools closed its input early") from None

    def __enter__(self) -> PipeSink:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        with contextlib.suppress(BrokenPipeError):
            self._stdin.close()
        if exc_type is not None:
            for _, proc in self._procs:
                proc.kill()
            for _, proc in self._procs:
                proc.wait()
            return
        wait_all(self._procs)


class ChunkSink:
    """SAM text into scratch chunks, each fixmated and sorted with pysam's samtools.

    pysam's in-process samtools cannot read a pipe, so the text goes to files; chunks
    bound the scratch space. Each chunk is converted by a child Python process while
    the next one is mapped (pysam's tools hold the GIL, which would stall mapping).
    """

    def __init__(self, scratch: Path, threads: int, header: str, chunk_pairs: int) -> None:
        self.parts: list[Path] = []
        self._chunk_pairs = chunk_pairs
        self._scratch = scratch
        self._threads = threads
        self._header = header
        self._handle: IO[str] | None = None
        self._pairs = 0
        self._child: tuple[list[str], subprocess.Popen[bytes]] | None = None

    def write(self, text: str, n_pairs: int) -> None:
        if self._handle is None:
            self._path = self._scratch / f"chunk{len(self.parts)}.sam"
            self._handle = self._path.open("w")
            self._handle.write(self._header)
            self._pairs = 0
        self._handle.write(text)
        self._pairs += n_pairs
        if self._pairs >= self._chunk_pairs:
            self._flush()

    def _flush(self) -> None:
        if self._handle is None:
            return
        self._handle.close()
        self._handle = None
        self._wait()  # one conversion at a time bounds scratch space and memory
        part = self._scratch / f"part{len(self.parts)}.bam"
        argv = [sys.executable, "-c", _CONVERT_CHUNK, str(self._path), str(part),
                str(self._scratch), str(self._threads)]  # fmt: skip
        self._child = (argv, subprocess.Popen(argv, stderr=stderr_file()))
        self.parts.append(part)

    def _wait(self) -> None:
        if self._child is not None:
            child, self._child = self._child, None
            wait_all([child])

    def __enter__(self) -> ChunkSink:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is not None:
            if self._handle is not None:
                self._handle.close()
            if self._child is not None:
                self._child[1].kill()
                self._child[1].wait()
            return
        if not self.parts and self._handle is None:
            self.write("", 0)  # no reads at all: still produce a BAM with a header
        self._flush()
        self._wait()


_CONVERT_CHUNK = """
import sys
from pathlib import Path
from seqoia.genomics.samtext import fixmate_sort_pysam
sam, out, scratch, threads = sys.argv[1:5]
fixmate_sort_pysam(Path(sam), Path(out), Path(scratch), int(threads))
Path(sam).unlink()
"""


def stderr_file() -> IO[bytes]:
    """A spooled file for a child's stderr: a pipe could fill up and stall the pipeline.

    Closed when garbage-collected, after wait_all has read its tail.
    """
    return tempfile.TemporaryFile()  # noqa: SIM115


def fixmate_sort_pysam(sam: Path, out: Path, scratch: Path, threads: int) -> None:
    """``samtools fixmate -m`` then ``sort`` of a SAM file into ``out``, with pysam in-process."""
    fixed = sam.with_suffix(".fix.bam")
    run_pysam(pysam.samtools.fixmate, "-m", "-u", sam, fixed)
    run_pysam(pysam.samtools.sort, "-@", str(threads), "-m", SORT_MEMORY, "-l", "1",
              "-T", scratch / f"{out.stem}.sort", "-o", out, fixed)  # fmt: skip
    fixed.unlink()
