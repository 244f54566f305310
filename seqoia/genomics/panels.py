"""Gene panels: the genes (or regions) a clinical question looks at.

Two formats, both plain text:

- a **gene list**: a header of ``#name=…`` and ``#version=…`` lines (PanelApp's panel name
  and version), then one HGNC-style gene symbol per line; blank lines and other ``#``
  comments are ignored;
- a **BED** file (``.bed``/``.bed.gz``): ``contig  start  end  [name]``, 0-based half-open;
  an optional ``#name=``/``#version=`` header or ``track name=…`` line names it; the name
  column, when present, starts with the gene symbol (``GENE`` or ``GENE_exon2``).

Every gene a list names must be in the transcript model (the GFF3), and every BED contig
in it, or the panel is refused with a :class:`~seqoia.errors.FormatError` naming the file
and the 1-based line: a panel silently missing a gene would report that gene as clean.
"""

from __future__ import annotations

import gzip
import re
import zlib
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from seqoia.errors import FormatError
from seqoia.genomics.transcripts import Transcript, TranscriptModel

#: The largest panel read (after decompression): an exome BED is about 20 MiB.
MAX_PANEL_BYTES = 64 << 20
_SYMBOL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]*$")


class Panel(BaseModel):
    """A named, versioned set of genes and/or regions."""

    model_config = ConfigDict(frozen=True)

    name: str
    version: str
    genes: frozenset[str] = frozenset()
    regions: tuple[tuple[str, int, int], ...] = ()  # (contig, 0-based start, end)

    def covers_gene(self, symbol: str) -> bool:
        return symbol in self.genes

    def covers_position(self, contig: str, pos: int) -> bool:
        """Whether 1-based ``pos`` falls in one of the panel's regions."""
        return any(c == contig and start < pos <= end for c, start, end in self.regions)

    def covers(self, contig: str, pos: int, transcript: Transcript | None) -> bool:
        """A variant is in the panel through its gene or through a region."""
        if transcript is not None and transcript.gene in self.genes:
            return True
        return self.covers_position(contig, pos)


def _lines(path: Path) -> list[str]:
    """The file's lines: UTF-8 text, gzipped or not, at most :data:`MAX_PANEL_BYTES`."""
    name = str(path)
    with open(path, "rb") as fh:
        data = fh.read(MAX_PANEL_BYTES + 1)
    if data[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as fh:
                data = fh.read(MAX_PANEL_BYTES + 1)
        except (OSError, EOFError, zlib.error) as err:  # BadGzipFile is an OSError
            raise FormatError(f"not a readable gzip file ({err})", file=name) from err
    if len(data) > MAX_PANEL_BYTES:
        raise FormatError(f"larger than {MAX_PANEL_BYTES >> 20} MiB: not a panel", file=name)
    try:
        return data.decode("utf-8-sig").splitlines()  # a spreadsheet's BOM is fine
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise FormatError(
            f"not UTF-8: byte 0x{data[err.start]:02X} (byte {column} of the line) cannot be "
            "decoded; save the panel as UTF-8",
            file=name,
            line=line,
        ) from None


def _header(line: str) -> tuple[str, str] | None:
    match = re.match(r"^#+\s*(name|version)\s*[=:]\s*(.+?)\s*$", line, re.IGNORECASE)
    return (match.group(1).lower(), match.group(2)) if match else None


def read_panel(path: Path, model: TranscriptModel) -> Panel:
    """Read a gene list or a BED panel, checking it against the transcript model."""
    path = Path(path)
    if path.name.endswith((".bed", ".bed.gz")):
        return _read_bed(path, model)
    return _read_gene_list(path, model)


def _read_gene_list(path: Path, model: TranscriptModel) -> Panel:
    name = str(path)
    header: dict[str, str] = {}
    genes: set[str] = set()
    symbols = {g.symbol for g in model.genes.values()}
    for number, raw in enumerate(_lines(path), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            field = _header(line)
            if field:
                header[field[0]] = field[1]
            continue
        if not _SYMBOL.match(line):
            raise FormatError(f"not a gene symbol: {line!r}", file=name, line=number)
        if line not in symbols:
            raise FormatError(
                f"gene {line!r} is not in the annotation {Path(model.source).name}",
                file=name,
                line=number,
            )
        genes.add(line)
    missing = [key for key in ("name", "version") if key not in header]
    if missing:
        raise FormatError(
            f"gene list lacks a #{' and #'.join(missing)}= header line", file=name, line=1
        )
    if not genes:
        raise FormatError("panel names no genes", file=name)
    return Panel(name=header["name"], version=header["version"], genes=frozenset(genes))


def _read_bed(path: Path, model: TranscriptModel) -> Panel:
    name = str(path)
    header: dict[str, str] = {}
    regions: list[tuple[str, int, int]] = []
    genes: set[str] = set()
    symbols = {g.symbol for g in model.genes.values()}
    contigs = {t.contig for t in model.transcripts.values()} | {
        g.contig for g in model.genes.values()
    }
    for number, raw in enumerate(_lines(path), start=1):
        line = raw.rstrip("\n")
        if not line.strip():
            continue
        if line.startswith("#"):
            field = _header(line)
            if field:
                header[field[0]] = field[1]
            continue
        if line.startswith(("track", "browser")):
            match = re.search(r'name="?([^"\s]+)"?', line)
            if match:
                header.setdefault("name", match.group(1))
            continue
        cols = line.split("\t")
        if len(cols) < 3:
            raise FormatError("a BED line needs contig, start and end", file=name, line=number)
        try:
            start, end = int(cols[1]), int(cols[2])
        except ValueError as err:
            raise FormatError(
                f"start/end are not integers: {cols[1:3]}", file=name, line=number
            ) from err
        if start < 0 or end <= start:
            raise FormatError(f"empty or negative interval {start}-{end}", file=name, line=number)
        if cols[0] not in contigs:
            raise FormatError(
                f"contig {cols[0]!r} carries no gene of {Path(model.source).name}",
                file=name,
                line=number,
            )
        if len(cols) > 3 and cols[3].strip():
            # The name column names the gene (``BRCA1`` or ``BRCA1_exon2``): it must be
            # one the annotation knows, like a gene list's lines.
            gene = re.split(r"[_:|\s]", cols[3].strip(), maxsplit=1)[0]
            if gene not in symbols:
                raise FormatError(
                    f"gene {gene!r} is not in the annotation {Path(model.source).name}",
                    file=name,
                    line=number,
                )
            genes.add(gene)
        regions.append((cols[0], start, end))
    if not regions:
        raise FormatError("panel has no regions", file=name)
    return Panel(
        name=header.get("name", path.name.split(".")[0]),
        version=header.get("version", "unversioned"),
        genes=frozenset(genes),
        regions=tuple(regions),
    )
