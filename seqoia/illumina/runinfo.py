"""RunInfo.xml and RunParameters.xml: what the instrument says about a run.

Both are parsed with the standard library's expat into ElementTree elements, remembering
each element's line so that errors can point at it. Documents that declare a DTD or
entities are refused before anything is expanded: no Illumina file has one, and internal
entities are how "billion laughs" documents blow up memory. External entities are never
fetched (expat's default).

RunInfo.xml changed form over instrument generations; both are read:

- modern (HiSeq 2500 and later): ``<Read Number="1" NumCycles="151" IsIndexedRead="N"
  IsReverseComplement="N"/>``;
- old (GAIIx, RunInfo version 1): ``<Read Index="1" FirstCycle="1" LastCycle="101"/>``
  with ``IsIndexedRead`` sometimes absent (then: not an index read).

RunParameters.xml differs by instrument (MiSeq/NextSeq keep most fields under
``<Setup>``, NovaSeq 6000 at the top and flow-cell mode under ``<RfidsInfo>``, NovaSeq X
uses ``<InstrumentType>`` and ``<ConsumableInfo>``); fields are looked up by every known
tag name anywhere in the document, and absent ones are None.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast, get_args
from xml.etree.ElementTree import Element, TreeBuilder
from xml.parsers import expat

from seqoia.errors import RunFolderError
from seqoia.illumina.limits import (
    MAX_CYCLES_PER_READ,
    MAX_LANES,
    MAX_READS,
    MAX_SURFACES,
    MAX_SWATHS,
    MAX_TILE_NUMBER,
    MAX_TILES_PER_LANE,
    MAX_TILES_PER_SWATH,
    parse_count,
)
from seqoia.illumina.models import ReadInfo, RunInfo, RunParameters

_TILE_NAMINGS = get_args(RunInfo.model_fields["tile_naming"].annotation)

#: Largest XML file read: a NovaSeq RunInfo.xml listing every tile is about 100 KB.
MAX_XML_BYTES = 16 << 20

#: FlowcellLayout attribute -> (RunInfo field, largest value accepted).
_LAYOUT: tuple[tuple[str, str, int], ...] = (
    ("LaneCount", "lane_count", MAX_LANES),
    ("SurfaceCount", "surface_count", MAX_SURFACES),
    ("SwathCount", "swath_count", MAX_SWATHS),
    ("TileCount", "tile_count", MAX_TILES_PER_SWATH),
    ("SectionPerLane", "section_per_lane", MAX_TILES_PER_LANE),
    ("LanePerSection", "lane_per_section", MAX_LANES),
)


class _Document:
    """An ElementTree root plus the 1-based line where each element starts."""

    def __init__(self, root: Element, lines: dict[Element, int]) -> None:
        self.root = root
        self._lines = lines

    def line(self, element: Element | None) -> int | None:
        return None if element is None else self._lines.get(element)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_xml(data: bytes | str, *, file: str, run: str | None = None) -> _Document:
    """Parse an XML document safely; errors become :class:`RunFolderError` with the line."""
    if len(data) > MAX_XML_BYTES:
        raise RunFolderError(
            f"{len(data)} bytes is too large for an instrument's XML file "
            f"(at most {MAX_XML_BYTES >> 20} MiB)",
            run=run,
            file=file,
        )
    builder = TreeBuilder()
    lines: dict[Element, int] = {}
    parser = expat.ParserCreate()

    def refuse(*_: object) -> None:
        raise RunFolderError(
            "XML with a DTD or entity declarations is refused (no Illumina file has one)",
            run=run,
            file=file,
            line=parser.CurrentLineNumber,
        )

    def start(tag: str, attrs: dict[str, str]) -> None:
        element = builder.start(_local(tag), {_local(k): v for k, v in attrs.items()})
        lines[element] = parser.CurrentLineNumber

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.StartElementHandler = start
    parser.EndElementHandler = lambda tag: builder.end(_local(tag))
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(data, True)
    except expat.ExpatError as err:
        raise RunFolderError(
            f"malformed XML: {expat.errors.messages[err.code]} (column {err.offset + 1})",
            run=run,
            file=file,
            line=err.lineno,
        ) from err
    except (LookupError, ValueError) as err:
        # An <?xml encoding="..."?> that Python does not know (LookupError), or one expat
        # cannot switch to (ValueError: multi-byte encodings).
        raise RunFolderError(
            f"unreadable XML: {err}", run=run, file=file, line=parser.CurrentLineNumber or 1
        ) from err
    except RecursionError as err:
        raise RunFolderError(
            "XML nested too deeply", run=run, file=file, line=parser.CurrentLineNumber
        ) from err
    return _Document(builder.close(), lines)


def _text(element: Element | None) -> str | None:
    if element is None or element.text is None:
        return None
    text = element.text.strip()
    return text or None


def _int(
    value: str | None,
    what: str,
    doc: _Document,
    element: Element,
    *,
    file: str,
    run: str | None,
    low: int = 0,
    high: int | None = None,
) -> int | None:
    """An attribute's whole number in ``[low, high]``, None when absent or blank."""
    if value is None or value.strip() == "":
        return None
    number = parse_count(value)
    line = doc.line(element)
    if number is None:
        shown = value if len(value) <= 40 else value[:40] + "..."
        raise RunFolderError(f"{what} is {shown!r}, not a whole number in ASCII digits",
                             run=run, file=file, line=line)  # fmt: skip
    if number < low or (high is not None and number > high):
        bound = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise RunFolderError(f"{what} is {number}; it must be {bound}",
                             run=run, file=file, line=line)  # fmt: skip
    return number


def _flag(value: str | None) -> bool:
    return (value or "").strip().upper() in {"Y", "YES", "TRUE", "1"}


# -- RunInfo.xml ---------------------------------------------------------------------


def parse_run_info(
    data: bytes | str, *, file: str = "RunInfo.xml", run: str | None = None
) -> RunInfo:
    """Parse RunInfo.xml; problems raise :class:`RunFolderError` naming run, file and line."""
    doc = parse_xml(data, file=file, run=run)

    def fail(message: str, element: Element | None) -> RunFolderError:
        return RunFolderError(message, run=run, file=file, line=doc.line(element))

    root = doc.root
    run_el = root if root.tag == "Run" else root.find("Run")
    if root.tag not in {"RunInfo", "Run"} or run_el is None:
        raise fail(f"expected <RunInfo><Run ...>, found <{root.tag}>", root)
    run_id = (run_el.get("Id") or "").strip()
    if not run_id:
        raise fail("<Run> has no Id", run_el)
    run = run or run_id

    def integer(
        value: str | None, what: str, element: Element, low: int = 0, high: int | None = None
    ) -> int | None:
        return _int(value, what, doc, element, file=file, run=run, low=low, high=high)

    flowcell = _text(run_el.find("Flowcell"))
    instrument = _text(run_el.find("Instrument"))
    if flowcell is None:
        raise fail("<Run> has no <Flowcell>", run_el)
    if instrument is None:
        raise fail("<Run> has no <Instrument>", run_el)

    reads_el = run_el.find("Reads")
    if reads_el is None or not reads_el.findall("Read"):
        raise fail("<Run> has no <Reads>/<Read>", reads_el if reads_el is not None else run_el)
    reads: list[ReadInfo] = []
    read_els = reads_el.findall("Read")
    if len(read_els) > MAX_READS:
        raise fail(f"{len(read_els)} <Read> elements; a run has at most {MAX_READS}", reads_el)
    for position, read_el in enumerate(read_els, start=1):
        number = integer(
            read_el.get("Number") or read_el.get("Index"), "Read Number", read_el, 1, MAX_READS
        )
        cycles = integer(read_el.get("NumCycles"), "Read NumCycles", read_el)
        if cycles is None:
            first = integer(read_el.get("FirstCycle"), "Read FirstCycle", read_el)
            last = integer(read_el.get("LastCycle"), "Read LastCycle", read_el)
            if first is None or last is None:
                raise fail("<Read> has neither NumCycles nor FirstCycle/LastCycle", read_el)
            cycles = last - first + 1
        if not 1 <= cycles <= MAX_CYCLES_PER_READ:
            raise fail(f"read {number or position} has {cycles} cycles; a read has from 1 to "
                       f"{MAX_CYCLES_PER_READ}", read_el)  # fmt: skip
        reads.append(
            ReadInfo(
                number=number or position,
                cycles=cycles,
                is_index=_flag(read_el.get("IsIndexedRead")),
                is_reverse_complement=_flag(read_el.get("IsReverseComplement")),
            )
        )
    reads.sort(key=lambda r: r.number)
    if len({r.number for r in reads}) != len(reads):
        raise fail("two <Read> elements have the same Number", reads_el)

    layout = run_el.find("FlowcellLayout")
    fields: dict[str, object] = {}
    tiles: list[str] = []
    if layout is None:
        raise fail("<Run> has no <FlowcellLayout>", run_el)
    for attr, key, high in _LAYOUT:
        value = integer(layout.get(attr), f"FlowcellLayout {attr}", layout, 1, high)
        if value is not None:
            fields[key] = value
    if "lane_count" not in fields:
        raise fail("<FlowcellLayout> has no LaneCount", layout)
    tile_set = layout.find("TileSet")
    if tile_set is not None and tile_set.get("TileNamingConvention") is not None:
        naming = tile_set.get("TileNamingConvention", "").strip()
        if naming not in _TILE_NAMINGS:
            raise fail(f"unknown TileNamingConvention {naming!r}", tile_set)
        fields["tile_naming"] = naming
    lane_count = cast(int, fields["lane_count"])
    per_lane: dict[int, int] = {}
    for tile_el in layout.iter("Tile"):
        tile = _text(tile_el)
        if tile is None:
            continue
        lane_text, _, tile_text = tile.partition("_")
        lane, tile_number = parse_count(lane_text), parse_count(tile_text)
        if lane is None or tile_number is None or not 1 <= tile_number <= MAX_TILE_NUMBER:
            shown = tile if len(tile) <= 40 else tile[:40] + "..."
            raise fail(f"tile {shown!r} is not '<lane>_<tile>' (tile 1 to {MAX_TILE_NUMBER})",
                       tile_el)  # fmt: skip
        if not 1 <= lane <= lane_count:
            raise fail(f"tile {tile!r} is in lane {lane}, but LaneCount is {lane_count}", tile_el)
        per_lane[lane] = per_lane.get(lane, 0) + 1
        if per_lane[lane] > MAX_TILES_PER_LANE:
            raise fail(f"lane {lane} lists more than {MAX_TILES_PER_LANE} tiles", tile_el)
        tiles.append(tile)

    try:
        return RunInfo(
            run_id=run_id,
            run_number=integer(run_el.get("Number"), "Run Number", run_el),
            flowcell=flowcell,
            instrument=instrument,
            date=_text(run_el.find("Date")),
            reads=tuple(reads),
            tiles=tuple(tiles),
            **fields,  # type: ignore[arg-type]
        )
    except ValueError as err:  # pydantic's ValidationError is a ValueError
        raise fail(f"invalid RunInfo: {err}", run_el) from err


def read_run_info(path: Path, *, run: str | None = None) -> RunInfo:
    """Read and parse a RunInfo.xml file; errors name the run folder until the run id is
    known."""
    run = run or path.resolve().parent.name or None
    return parse_run_info(_read(path, run=run), file=path.name, run=run)


def _read(path: Path, *, run: str | None) -> bytes:
    try:
        if path.stat().st_size > MAX_XML_BYTES:  # refused before it is read into memory
            raise RunFolderError(f"{path.stat().st_size} bytes is too large for an "
                                 "instrument's XML file", run=run, file=path.name)  # fmt: skip
        return path.read_bytes()
    except OSError as err:
        raise RunFolderError(f"cannot read: {err.strerror}", run=run, file=path.name) from err


# -- RunParameters.xml ---------------------------------------------------------------

#: Each field and the tag names instruments use for it, most specific first.
_PARAMETER_TAGS: dict[str, tuple[str, ...]] = {
    "instrument_type": ("InstrumentType", "InstrumentPlatform"),
    "application": ("ApplicationName", "Application"),
    "application_version": ("ApplicationVersion",),
    "rta_version": ("RtaVersion", "RTAVersion"),
    "chemistry": ("Chemistry", "ChemistryVersion"),
    "flowcell_mode": ("FlowCellMode", "FlowcellMode"),
    "experiment_name": ("ExperimentName",),
}


def parse_run_parameters(
    data: bytes | str, *, file: str = "RunParameters.xml", run: str | None = None
) -> RunParameters:
    """Parse RunParameters.xml (any instrument); fields it does not have are None."""
    doc = parse_xml(data, file=file, run=run)
    if doc.root.tag != "RunParameters":
        raise RunFolderError(
            f"expected <RunParameters>, found <{doc.root.tag}>", run=run, file=file, line=1
        )
    first: dict[str, str] = {}
    for element in doc.root.iter():
        text = _text(element)
        if text is not None and len(element) == 0:
            first.setdefault(element.tag, text)
    values: dict[str, str | None] = {}
    for field, tags in _PARAMETER_TAGS.items():
        values[field] = next((first[t] for t in tags if t in first), None)
    if values["flowcell_mode"] is None:
        values["flowcell_mode"] = _novaseq_x_flowcell_mode(doc.root)
    return RunParameters(**values)


def _novaseq_x_flowcell_mode(root: Element) -> str | None:
    # NovaSeq X: <ConsumableInfo><Type>FlowCell</Type>...<Mode>10B</Mode></ConsumableInfo>
    for info in root.iter("ConsumableInfo"):
        if (_text(info.find("Type")) or "").lower() == "flowcell":
            return _text(info.find("Mode"))
    return None


def read_run_parameters(path: Path, *, run: str | None = None) -> RunParameters:
    """Read and parse a RunParameters.xml (or older runParameters.xml) file."""
    run = run or path.resolve().parent.name or None
    return parse_run_parameters(_read(path, run=run), file=path.name, run=run)
