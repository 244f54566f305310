"""What the demultiplexer is asked to do: the read plan (which cycles make which read) and
the options of a demultiplexing run, as frozen models.

A :class:`ReadPlan` is a list of segments with absolute 1-based cycle ranges. Segment
kinds use Picard's read-structure letters: ``T`` template, ``B`` sample barcode (index),
``M`` molecular barcode (UMI), ``S`` skip. BCL Convert's OverrideCycles letters map onto
them (``Y``->T, ``I``->B, ``U``->M, ``N``->S), so a parsed OverrideCycles can build a plan
with :meth:`ReadPlan.from_reads`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from seqoia.errors import ConfigurationError
from seqoia.illumina.models import RunInfo

__all__ = ["DemuxConfig", "ReadPlan", "Segment"]

SegmentKind = Literal["T", "B", "M", "S"]
_KIND_ALIASES = {"T": "T", "B": "B", "M": "M", "S": "S", "Y": "T", "I": "B", "U": "M", "N": "S"}
_STRUCTURE_RE = re.compile(r"(\d+)([TBMSYIUN])", re.IGNORECASE)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Segment(_Frozen):
    """A run of consecutive cycles with one role."""

    kind: SegmentKind
    first_cycle: int = Field(ge=1)
    cycles: int = Field(ge=1)

    @property
    def last_cycle(self) -> int:
        return self.first_cycle + self.cycles - 1

    @property
    def cycle_range(self) -> range:
        """0-based cycle indices, for slicing a tile's cycle matrix."""
        return range(self.first_cycle - 1, self.last_cycle)


class ReadPlan(_Frozen):
    """Every cycle of the run, cut into segments in cycle order."""

    segments: tuple[Segment, ...]

    @model_validator(mode="after")
    def _contiguous(self) -> ReadPlan:
        expected = 1
        for seg in self.segments:
            if seg.first_cycle != expected:
                raise ValueError(f"segment at cycle {seg.first_cycle} should start at {expected}")
            expected = seg.last_cycle + 1
        return self

    @classmethod
    def from_reads(cls, reads: Iterable[Sequence[tuple[str, int]]]) -> ReadPlan:
        """Build from per-read ``(kind, cycles)`` lists, in either letter vocabulary."""
        segments: list[Segment] = []
        cycle = 1
        for read in reads:
            for kind, cycles in read:
                if cycles <= 0:
                    continue
                letter = _KIND_ALIASES.get(kind.upper())
                if letter is None:
                    raise ConfigurationError(f"unknown segment kind {kind!r}")
                segments.append(Segment(kind=letter, first_cycle=cycle, cycles=cycles))  # type: ignore[arg-type]
                cycle += cycles
        return cls(segments=tuple(segments))

    @classmethod
    def parse(cls, structure: str) -> ReadPlan:
        """Parse a Picard read structure such as ``25T8B8B25T`` (``Y/I/U/N`` accepted too)."""
        text = structure.replace(" ", "")
        parts = _STRUCTURE_RE.findall(text)
        if not parts or "".join(n + k for n, k in parts) != text:
            raise ConfigurationError(f"not a read structure: {structure!r}")
        return cls.from_reads([(k, int(n))] for n, k in parts)

    @classmethod
    def from_run_info(cls, run_info: RunInfo, index_lengths: Sequence[int] = ()) -> ReadPlan:
        """One template segment per non-index read; index reads become barcodes.

        ``index_lengths`` (from the sample sheet) trims each index read's barcode to the
        sample indexes' length, skipping its remaining cycles, as bcl2fastq does.
        """
        reads: list[list[tuple[str, int]]] = []
        index_no = 0
        for read in run_info.reads:
            if not read.is_index:
                reads.append([("T", read.cycles)])
                continue
            used = read.cycles
            if index_no < len(index_lengths):
                used = min(index_lengths[index_no], read.cycles)
            index_no += 1
            reads.append([("B", used), ("S", read.cycles - used)])
        return cls.from_reads(reads)

    def of_kind(self, kind: SegmentKind) -> tuple[Segment, ...]:
        return tuple(s for s in self.segments if s.kind == kind)

    @property
    def total_cycles(self) -> int:
        return self.segments[-1].last_cycle if self.segments else 0

    def __str__(self) -> str:
        return "".join(f"{s.cycles}{s.kind}" for s in self.segments)


class DemuxConfig(_Frozen):
    """Options of one demultiplexing run (defaults: bcl2fastq / BCL Convert behaviour)."""

    #: None = from RunInfo's reads, index reads trimmed to the sample indexes' length.
    read_plan: ReadPlan | None = None
    #: Allowed mismatches per index read (bcl2fastq/BCL Convert rule); one value applies to all.
    barcode_mismatches: tuple[int, ...] = (1,)
    #: Lanes to process; empty = all lanes of the layout.
    lanes: tuple[int, ...] = ()
    #: Tile numbers to process; empty = all. Combine with ``part`` to share a run.
    tiles: tuple[int, ...] = ()
    #: ``(k, n)``: process only the k-th (0-based) of n contiguous shares of the tiles, so
    #: that merging the parts in order gives the files of a single run, byte for byte.
    part: tuple[int, int] | None = None
    #: Write clusters that failed the filter (flag ``Y``); None = only in Picard mode on
    #: per-tile BCL input (Picard's CBCL path drops them).
    include_non_pf: bool | None = None
    lane_splitting: bool = True
    create_fastq_for_index_reads: bool = False
    #: Write the sample sheet's index in read headers instead of the observed bases.
    write_sample_sheet_index: bool = False
    #: Write reads that match no sample to ``Undetermined`` (Picard: the ``N`` bucket).
    write_undetermined: bool = True
    #: Picard IlluminaBasecallsToFastq compatibility: EAMSS, non-PF kept (flag Y), Picard
    #: barcode rule, Picard header and file names, records sorted by name within a tile.
    picard: bool = False
    #: EAMSS masking; None = on in Picard mode for BCL input, off otherwise.
    eamss: bool | None = None
    picard_max_mismatches: int = 1
    picard_min_mismatch_delta: int = 1
    picard_max_no_calls: int = 2
    #: Picard output prefix when there are no samples (no demultiplexing).
    picard_output_prefix: str = "nonBarcoded"
    #: Read-header fields; None = from RunInfo.
    instrument: str | None = None
    run_number: str | None = None
    flowcell: str | None = None
    #: Clusters per chunk: bounds memory per worker (about 1.5 KB per cluster for 2x151).
    chunk_clusters: int = Field(default=65_536, ge=1)
    compression_level: int = Field(default=1, ge=0, le=3)
    top_unknown_barcodes: int = 100

    def mismatches_for(self, index_reads: int) -> tuple[int, ...]:
        """Allowed mismatches for each of ``index_reads`` index reads."""
        mm = self.barcode_mismatches or (1,)
        if len(mm) == 1:
            return mm * index_reads
        if len(mm) != index_reads:
            raise ConfigurationError(
                f"{len(mm)} barcode-mismatch values for {index_reads} index reads"
            )
        return mm

    def keeps_non_pf(self, data_format: str) -> bool:
        if self.include_non_pf is not None:
            return self.include_non_pf
        return self.picard and data_format == "bcl"

    def applies_eamss(self, data_format: str) -> bool:
        if self.eamss is not None:
            return self.eamss
        return self.picard and data_format == "bcl"
