"""What a run folder says about itself: the parsed RunInfo, RunParameters and sample sheet.

These frozen models are the contract between the parsers (``runinfo``, ``samplesheet``)
and their users (validation, demultiplexing, the pipeline's run stages). Parsers fill
them; nobody else reads the XML or CSV again.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ReadInfo(_Frozen):
    """One read of RunInfo.xml's ``<Reads>`` (a template read or an index read)."""

    number: int = Field(ge=1)
    cycles: int = Field(ge=1)
    is_index: bool
    is_reverse_complement: bool = False


class RunInfo(_Frozen):
    """RunInfo.xml."""

    run_id: str
    run_number: int | None = None
    flowcell: str
    instrument: str
    date: str | None = None
    reads: tuple[ReadInfo, ...]
    lane_count: int = Field(ge=1)
    surface_count: int = 1
    swath_count: int = 1
    tile_count: int = 1
    section_per_lane: int | None = None
    lane_per_section: int | None = None
    tile_naming: Literal["FourDigit", "FiveDigit", "None", ""] = "FourDigit"
    #: Tiles as RunInfo lists them, ``"<lane>_<tile>"`` (e.g. ``"1_1101"``); empty when
    #: the file has no ``<Tiles>`` element (older instruments: derive them from layout).
    tiles: tuple[str, ...] = ()

    @property
    def total_cycles(self) -> int:
        return sum(r.cycles for r in self.reads)


class RunParameters(_Frozen):
    """The few RunParameters.xml fields the pipeline uses (instrument and chemistry)."""

    instrument_type: str | None = None  # e.g. "NovaSeq 6000", "NextSeq 2000", "MiSeq"
    application: str | None = None
    application_version: str | None = None
    rta_version: str | None = None
    chemistry: str | None = None
    flowcell_mode: str | None = None
    experiment_name: str | None = None


class SampleRow(_Frozen):
    """One sample (and lane) of a sample sheet's data section.

    ``index``/``index2`` are as written in the sheet (i7 and i5 bases, upper case);
    ``line`` is the 1-based line in the sheet, for error messages.
    """

    sample_id: str
    sample_name: str | None = None
    project: str | None = None
    lane: int | None = None
    index: str = ""
    index2: str = ""
    override_cycles: str | None = None
    #: Prescribing hospital (the outbox folder): column ``Centre``/``Center``/``Site``.
    centre: str | None = None
    #: Rare-disease family (column ``Family``) or tumour/normal pair (column ``Pair_ID``)
    #: this sample belongs to, with its role (``proband``, ``mother``, ``father``,
    #: ``sibling``; ``tumour``, ``normal``).
    family: str | None = None
    pair: str | None = None
    role: str | None = None
    #: Column ``Analysis``: ``tumour_only`` asks for a tumour's analysis without a normal.
    analysis: str | None = None
    sex: Literal["male", "female", "unknown"] | None = None
    #: The gene panel of the clinical question (column ``Panel``); else the centre's.
    panel: str | None = None
    #: Column ``Priority``: ``urgent`` (neonatal intensive care) is served first.
    priority: Literal["routine", "urgent"] | None = None
    line: int = 0
    #: Every other column, unchanged.
    extra: dict[str, str] = Field(default_factory=dict)


class SampleSheet(_Frozen):
    """A parsed SampleSheet.csv, version 1 (bcl2fastq) or 2 (BCL Convert)."""

    version: Literal[1, 2]
    header: dict[str, str] = Field(default_factory=dict)
    #: ``[Reads]`` cycles (v1: the list of numbers; v2: Read1Cycles, Index1Cycles, ...).
    reads: dict[str, int] = Field(default_factory=dict)
    #: ``[Settings]`` (v1) or ``[BCLConvert_Settings]`` (v2), keys as written.
    settings: dict[str, str] = Field(default_factory=dict)
    samples: tuple[SampleRow, ...]
    #: Allowed mismatches per index read, from BarcodeMismatchesIndex1/2 (default 1).
    barcode_mismatches_index1: int = 1
    barcode_mismatches_index2: int = 1
    #: Sheet-wide OverrideCycles (v2 setting); a sample's own value wins.
    override_cycles: str | None = None
    create_fastq_for_index_reads: bool = False
    no_lane_splitting: bool = False
    adapter_read1: str | None = None
    adapter_read2: str | None = None
