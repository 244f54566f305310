"""Read plans: what each sequencing cycle is for (template, index, UMI or skipped).

Three notations say the same thing and all end up as one :class:`ReadPlan`:

- BCL Convert's ``OverrideCycles`` (``Y151;I8;I8;Y151``, ``U8Y143;I8;I8;U10Y141``,
  ``Y150N1;I8N2;N10;Y150N1``): one ``;``-separated group per sequencer read, each a run of
  ``<kind><length>`` segments. bcl2fastq's ``--use-bases-mask`` spelling is accepted too
  (lower case, a bare letter meaning one cycle, ``*`` meaning "the rest of this read",
  which needs the run's reads to resolve).
- Picard read structures (``25T8B25T``, ``151T8B8B151T``, ``25T8B4M21T``, ``25S8S25T``):
  ``T`` template -> ``Y``, ``B`` sample barcode -> ``I``, ``M`` molecular barcode -> ``U``,
  ``S`` skip -> ``N``. Picard does not group segments into sequencer reads; without the
  run's reads each segment becomes a read of its own, with them the segments are cut at
  the read boundaries.
- RunInfo.xml's reads, with index reads cut to the sample sheet's index lengths and the
  remaining cycles skipped (``I8`` read, 6-base index -> ``I6N2``), as bcl2fastq and BCL
  Convert do by default: :func:`default_read_plan`.

For the demultiplexer, :meth:`ReadPlan.placed` maps every segment to absolute cycles
(0-based, half-open ``start``/``stop`` into the run's concatenated cycles; cycle folder
``C{start + 1}.1`` holds a segment's first base). ``template_reads``, ``index_reads`` and
``umi_segments`` group them as the outputs need them: R1/R2..., I1/I2, and the UMI bases.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from seqoia.errors import InputError, SampleSheetError
from seqoia.illumina.limits import MAX_CYCLES_PER_READ, MAX_READS
from seqoia.illumina.models import ReadInfo

SegmentKind = Literal["Y", "I", "U", "N"]

_PICARD_KINDS: dict[str, SegmentKind] = {"T": "Y", "B": "I", "M": "U", "S": "N"}
# ASCII digits only: ``\d`` also matches other scripts' digits, which int() then accepts.
_SEGMENT = re.compile(r"([YINU])([0-9]+|\*)?", re.IGNORECASE)
_PICARD_SEGMENT = re.compile(r"([0-9]{1,4})([TBMS])")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CycleSegment(_Frozen):
    """A run of consecutive cycles with one purpose: ``Y`` template, ``I`` index, ``U`` UMI,
    ``N`` skipped."""

    kind: SegmentKind
    length: int = Field(ge=1)

    def __str__(self) -> str:
        return f"{self.kind}{self.length}"


class ReadSegments(_Frozen):
    """The segments of one sequencer read, in cycle order."""

    segments: tuple[CycleSegment, ...] = Field(min_length=1)

    @property
    def cycles(self) -> int:
        return sum(s.length for s in self.segments)

    def length_of(self, kind: SegmentKind) -> int:
        """How many cycles of this read are of ``kind``."""
        return sum(s.length for s in self.segments if s.kind == kind)

    def __str__(self) -> str:
        return "".join(str(s) for s in self.segments)


class PlacedSegment(_Frozen):
    """A segment with its place in the run: read (1-based) and absolute cycles.

    ``start``/``stop`` are 0-based and half-open over all the run's cycles, so the bases of
    this segment are ``cycles[start:stop]``; the first one is in cycle folder
    ``C{start + 1}.1``.
    """

    read: int = Field(ge=1)
    kind: SegmentKind
    start: int = Field(ge=0)
    stop: int = Field(ge=1)

    @property
    def length(self) -> int:
        return self.stop - self.start


class ReadPlan(_Frozen):
    """What every cycle of a run is for, read by read (see the module docstring)."""

    reads: tuple[ReadSegments, ...] = Field(min_length=1)

    @property
    def total_cycles(self) -> int:
        return sum(r.cycles for r in self.reads)

    def placed(self) -> tuple[PlacedSegment, ...]:
        """Every segment with its read number and absolute cycle range, in cycle order."""
        out: list[PlacedSegment] = []
        cycle = 0
        for number, read in enumerate(self.reads, start=1):
            for seg in read.segments:
                out.append(
                    PlacedSegment(read=number, kind=seg.kind, start=cycle, stop=cycle + seg.length)
                )
                cycle += seg.length
        return tuple(out)

    def _grouped(self, kind: SegmentKind) -> tuple[tuple[PlacedSegment, ...], ...]:
        groups: dict[int, list[PlacedSegment]] = {}
        for seg in self.placed():
            if seg.kind == kind:
                groups.setdefault(seg.read, []).append(seg)
        return tuple(tuple(g) for _, g in sorted(groups.items()))

    def template_reads(self) -> tuple[tuple[PlacedSegment, ...], ...]:
        """The output reads R1, R2, ...: for each read that has ``Y`` cycles, its ``Y``
        segments (concatenated they make the FASTQ sequence)."""
        return self._grouped("Y")

    def index_reads(self) -> tuple[tuple[PlacedSegment, ...], ...]:
        """The index reads I1, I2: for each read that has ``I`` cycles, its ``I`` segments."""
        return self._grouped("I")

    def umi_segments(self) -> tuple[PlacedSegment, ...]:
        """The ``U`` segments, in cycle order (BCL Convert joins them with ``+`` in read names)."""
        return tuple(s for s in self.placed() if s.kind == "U")

    def index_lengths(self) -> tuple[int, ...]:
        """``I`` cycles of each index read, in order (e.g. ``(8, 8)``)."""
        return tuple(sum(s.length for s in group) for group in self.index_reads())

    def as_tuples(self) -> tuple[tuple[tuple[SegmentKind, int], ...], ...]:
        """Per read, ``(kind, length)`` pairs: ``((("Y", 151),), (("I", 8),), ...)``."""
        return tuple(tuple((s.kind, s.length) for s in r.segments) for r in self.reads)

    def __str__(self) -> str:
        return ";".join(str(r) for r in self.reads)


# -- parsing -------------------------------------------------------------------------


def parse_override_cycles(
    text: str,
    *,
    run_reads: Sequence[ReadInfo] | None = None,
    run: str | None = None,
    file: str | None = None,
    line: int | None = None,
) -> ReadPlan:
    """Parse an ``OverrideCycles`` (or bcl2fastq ``use-bases-mask``) value.

    ``run_reads`` (RunInfo's reads) is needed only to resolve ``*``; it is not checked
    here, see :func:`check_read_plan`. Malformed values raise :class:`SampleSheetError`
    with the given place.
    """

    def fail(message: str) -> SampleSheetError:
        return SampleSheetError(
            f"OverrideCycles {text!r}: {message}", run=run, file=file, line=line
        )

    groups = [g.strip() for g in text.strip().split(";")]
    if not text.strip() or any(not g for g in groups):
        raise fail("empty read; expected e.g. 'Y151;I8;I8;Y151'")
    if len(groups) > MAX_READS:
        raise fail(f"{len(groups)} reads; a run has at most {MAX_READS}")
    if run_reads is not None and "*" in text and len(run_reads) != len(groups):
        raise fail(f"{len(groups)} reads, but the run has {len(run_reads)}")
    reads: list[ReadSegments] = []
    for number, group in enumerate(groups, start=1):
        pos = 0
        raw: list[tuple[str, int | None]] = []
        while pos < len(group):
            m = _SEGMENT.match(group, pos)
            if m is None:
                raise fail(
                    f"read {number}: unexpected {group[pos:]!r} (segments are Y, I, U or N "
                    "followed by a number of cycles)"
                )
            kind, count = m.group(1).upper(), m.group(2)
            if count == "*":
                raw.append((kind, None))
            else:
                # Four digits at most before int(): 9999 is past the bound already.
                length = 1 if not count else int(count) if len(count) <= 4 else -1
                if not 0 <= length <= MAX_CYCLES_PER_READ:
                    raise fail(f"read {number}: {count[:10]} cycles; a read has at most "
                               f"{MAX_CYCLES_PER_READ}")  # fmt: skip
                if length == 0:
                    raise fail(f"read {number}: a segment of 0 cycles")
                raw.append((kind, length))
            pos = m.end()
        if sum(1 for _, n in raw if n is None) > 1:
            raise fail(f"read {number}: more than one '*'")
        if any(n is None for _, n in raw):
            if run_reads is None:
                raise fail(f"read {number}: '*' needs the run's reads (RunInfo.xml) to resolve")
            rest = run_reads[number - 1].cycles - sum(n for _, n in raw if n is not None)
            if rest < 0:
                raise fail(f"read {number}: longer than the run's {run_reads[number - 1].cycles}")
            # '*' may stand for zero cycles (``I8N*`` on an 8-cycle read).
            raw = [(k, rest if n is None else n) for k, n in raw]
        segments = _merge(CycleSegment(kind=k, length=n) for k, n in raw if n)  # type: ignore[arg-type]
        if not segments:
            raise fail(f"read {number}: no cycles")
        reads.append(ReadSegments(segments=segments))
    return ReadPlan(reads=tuple(reads))


def parse_read_structure(text: str, *, run_reads: Sequence[ReadInfo] | None = None) -> ReadPlan:
    """Parse a Picard read structure (``151T8B8B151T``) into a :class:`ReadPlan`.

    Without ``run_reads`` each Picard segment is its own read (``25T8B4M21T`` ->
    ``Y25;I8;U4;Y21``); with them, segments are cut at the run's read boundaries and the
    total must match the run's cycles. Raises :class:`InputError` when malformed.
    """
    compact = text.strip()
    segments: list[CycleSegment] = []
    pos = 0
    while pos < len(compact):
        m = _PICARD_SEGMENT.match(compact, pos)
        if m is None or int(m.group(1)) == 0:
            raise InputError(
                f"read structure {text!r}: unexpected {compact[pos:]!r} (expected segments "
                "such as 151T, 8B, 4M or 2S)"
            )
        segments.append(CycleSegment(kind=_PICARD_KINDS[m.group(2)], length=int(m.group(1))))
        pos = m.end()
    if not segments:
        raise InputError(f"read structure {text!r} is empty")
    if run_reads is None:
        return ReadPlan(reads=tuple(ReadSegments(segments=(s,)) for s in segments))
    total = sum(s.length for s in segments)
    run_total = sum(r.cycles for r in run_reads)
    if total != run_total:
        raise InputError(f"read structure {text!r} has {total} cycles, but the run has {run_total}")
    return ReadPlan(reads=_split_at_reads(segments, [r.cycles for r in run_reads]))


def _merge(segments: Iterable[CycleSegment]) -> tuple[CycleSegment, ...]:
    """Join adjacent segments of the same kind (``Y100Y51`` is ``Y151``)."""
    out: list[CycleSegment] = []
    for seg in segments:
        if out and out[-1].kind == seg.kind:
            out[-1] = CycleSegment(kind=seg.kind, length=out[-1].length + seg.length)
        else:
            out.append(seg)
    return tuple(out)


def _split_at_reads(segments: list[CycleSegment], lengths: list[int]) -> tuple[ReadSegments, ...]:
    pending = list(segments)
    reads: list[ReadSegments] = []
    for length in lengths:
        taken: list[CycleSegment] = []
        need = length
        while need:
            seg = pending.pop(0)
            if seg.length > need:
                pending.insert(0, CycleSegment(kind=seg.kind, length=seg.length - need))
                seg = CycleSegment(kind=seg.kind, length=need)
            taken.append(seg)
            need -= seg.length
        reads.append(ReadSegments(segments=_merge(taken)))
    return tuple(reads)


# -- against the run -----------------------------------------------------------------


def check_read_plan(plan: ReadPlan, run_reads: Sequence[ReadInfo]) -> list[str]:
    """Say how ``plan`` disagrees with RunInfo's reads; an empty list means it fits.

    The number of reads and each read's cycle total must match. ``I`` cycles in a
    template read, or ``Y`` cycles in an index read, are reported too: BCL Convert refuses
    them, and they nearly always mean the reads were written in the wrong order.
    """
    problems: list[str] = []
    if len(plan.reads) != len(run_reads):
        problems.append(
            f"OverrideCycles {str(plan)!r} has {len(plan.reads)} reads, but RunInfo.xml has "
            f"{len(run_reads)} ({_describe(run_reads)})"
        )
        return problems
    for number, (read, info) in enumerate(zip(plan.reads, run_reads, strict=True), start=1):
        if read.cycles != info.cycles:
            problems.append(
                f"OverrideCycles read {number} ({read}) has {read.cycles} cycles, but RunInfo.xml "
                f"read {info.number} has {info.cycles}"
            )
        if info.is_index and read.length_of("Y"):
            problems.append(f"OverrideCycles read {number} ({read}) has Y cycles in an index read")
        if not info.is_index and read.length_of("I"):
            problems.append(
                f"OverrideCycles read {number} ({read}) has I cycles in a template read"
            )
    return problems


def default_read_plan(
    run_reads: Sequence[ReadInfo], index_lengths: Sequence[int] | None = None
) -> ReadPlan:
    """The plan bcl2fastq / BCL Convert use when no OverrideCycles is given.

    Template reads are all ``Y``; index read *k* reads ``index_lengths[k]`` bases of
    index and skips the rest (``I8`` read, 6-base index -> ``I6N2``; no index -> ``N8``).
    Without ``index_lengths`` each index read is read whole.
    """
    reads: list[ReadSegments] = []
    k = 0
    for info in run_reads:
        if not info.is_index:
            reads.append(ReadSegments(segments=(CycleSegment(kind="Y", length=info.cycles),)))
            continue
        want = info.cycles
        if index_lengths is not None:
            want = min(index_lengths[k], info.cycles) if k < len(index_lengths) else 0
        k += 1
        segs = []
        if want:
            segs.append(CycleSegment(kind="I", length=want))
        if info.cycles - want:
            segs.append(CycleSegment(kind="N", length=info.cycles - want))
        reads.append(ReadSegments(segments=tuple(segs)))
    return ReadPlan(reads=tuple(reads))


def _describe(run_reads: Sequence[ReadInfo]) -> str:
    return ";".join(f"{'I' if r.is_index else 'Y'}{r.cycles}" for r in run_reads)


def describe_run_reads(run_reads: Sequence[ReadInfo]) -> str:
    """RunInfo's reads in OverrideCycles notation (``Y151;I8;I8;Y151``)."""
    return _describe(run_reads)
