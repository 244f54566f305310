"""The transcript model: genes, transcripts, exons and CDS read from an Ensembl-style GFF3.

The GFF3 is the one ``bcftools csq`` expects (``gene`` with ``ID=gene:…;Name=SYMBOL``,
``mRNA``/``transcript`` with ``ID=transcript:…;Parent=gene:…``, ``exon`` and ``CDS`` with
``Parent=transcript:…``). Reading it is checked against the reference FASTA: a feature on
an unknown contig, a feature past the contig's end, a CDS whose length is not a multiple
of three, a CDS phase that disagrees with the CDS lengths before it, or a CDS outside
its exons is a :class:`~seqoia.errors.FormatError` naming the
file and the 1-based line.

Coordinates are 1-based and inclusive, as in GFF3 and VCF.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import unquote

import pysam

from seqoia.errors import FormatError

Strand = Literal["+", "-"]
#: Feature types read as transcripts (Ensembl writes mRNA for protein-coding ones).
TRANSCRIPT_TYPES = frozenset({"mRNA", "transcript"})


@dataclass(frozen=True, slots=True)
class Interval:
    """A 1-based inclusive genomic interval."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1


@dataclass(frozen=True)
class Transcript:
    """One transcript: exons and coding part on one strand of one contig.

    ``cds_start``/``cds_end`` are the lowest and highest genomic CDS positions (the stop
    codon included, as Ensembl's GFF3 writes it); None for a non-coding transcript.
    """

    id: str
    gene_id: str
    gene: str
    contig: str
    strand: Strand
    exons: tuple[Interval, ...]  # ascending genomic order
    cds_start: int | None
    cds_end: int | None
    biotype: str = "protein_coding"

    @property
    def start(self) -> int:
        return self.exons[0].start

    @property
    def end(self) -> int:
        return self.exons[-1].end

    @property
    def is_coding(self) -> bool:
        return self.cds_start is not None


@dataclass(frozen=True)
class Gene:
    """A gene and its transcripts."""

    id: str
    symbol: str
    contig: str
    start: int
    end: int
    strand: Strand
    transcripts: tuple[Transcript, ...] = ()


@dataclass
class TranscriptModel:
    """Every gene and transcript of a GFF3, indexed by id and gene symbol."""

    source: str
    genes: dict[str, Gene] = field(default_factory=dict)  # by gene id
    transcripts: dict[str, Transcript] = field(default_factory=dict)  # by transcript id

    def by_symbol(self) -> dict[str, Gene]:
        return {gene.symbol: gene for gene in self.genes.values()}

    def has_gene(self, symbol: str) -> bool:
        return any(g.symbol == symbol or g.id == symbol for g in self.genes.values())

    def overlapping(self, contig: str, start: int, end: int) -> list[Transcript]:
        """Transcripts whose span overlaps ``[start, end]`` on ``contig``."""
        return [
            t
            for t in self.transcripts.values()
            if t.contig == contig and t.start <= end and start <= t.end
        ]


def _attributes(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in text.strip().strip(";").split(";"):
        if "=" in item:
            key, value = item.split("=", 1)
            out[key.strip()] = unquote(value.strip())
    return out


def _strip_prefix(ident: str) -> str:
    """``gene:ENSG…`` -> ``ENSG…`` (Ensembl prefixes ids with their feature kind)."""
    return ident.split(":", 1)[1] if ":" in ident else ident


def _open_text(path: Path) -> Iterator[str]:
    """The file's lines, gzipped or not, as UTF-8 text (universal newlines, as text mode).

    An Ensembl GFF3 is hundreds of MB, so lines are decoded in C, chunk by chunk. A chunk
    that is not UTF-8 hands over to :func:`_lines_one_by_one`, which names the line if
    the reader gets that far (``read_gff3`` stops at ``##FASTA``); a corrupt or truncated
    gzip is a :class:`FormatError` naming the file.
    """
    with open(path, "rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    number = 0
    try:
        for line in _decoded_lines(path, gzipped):
            number += 1
            yield line
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise FormatError(
            f"not a readable gzip file after line {number} ({err})", file=str(path)
        ) from err


def _decoded_lines(path: Path, gzipped: bool) -> Iterator[str]:
    done = 0
    try:
        with (
            gzip.open(path, "rt", encoding="utf-8")
            if gzipped
            else open(path, encoding="utf-8") as fh
        ):
            for line in fh:
                yield line
                done += 1
    except UnicodeDecodeError:
        yield from _lines_one_by_one(path, gzipped, skip=done)


def _lines_one_by_one(path: Path, gzipped: bool, *, skip: int) -> Iterator[str]:
    """:func:`_open_text`'s lines after the first ``skip``, decoded one raw line at a time."""
    name = str(path)
    number = 0
    with gzip.open(path, "rb") if gzipped else open(path, "rb") as fh:
        for raw in fh:
            number += 1
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise FormatError(
                    f"not UTF-8: byte 0x{raw[err.start]:02X} (byte {err.start + 1} of the line) "
                    "cannot be decoded",
                    file=name,
                    line=number,
                ) from None
            # Universal newlines, as text mode read it: CRLF and a lone CR end a line too.
            text = text.replace("\r\n", "\n").replace("\r", "\n")
            while text:
                line, end, text = text.partition("\n")
                if skip:
                    skip -= 1
                    continue
                yield line + end


@dataclass
class _Pending:
    """A transcript while its lines are being read."""

    id: str
    gene_id: str
    contig: str
    strand: Strand
    biotype: str
    line: int
    exons: list[Interval] = field(default_factory=list)
    cds: list[tuple[Interval, int]] = field(default_factory=list)  # (interval, line)
    phases: dict[int, str] = field(default_factory=dict)  # line -> GFF3 phase column


def read_gff3(gff3: Path, reference_fasta: Path) -> TranscriptModel:
    """Read ``gff3`` into a :class:`TranscriptModel`, checked against ``reference_fasta``."""
    gff3 = Path(gff3)
    name = str(gff3)
    with pysam.FastaFile(str(reference_fasta)) as fasta:
        lengths = dict(zip(fasta.references, fasta.lengths, strict=True))
    genes: dict[str, tuple[str, str, int, int, Strand, int]] = {}  # id -> (symbol, ...)
    pending: dict[str, _Pending] = {}
    for number, raw in enumerate(_open_text(gff3), start=1):
        if raw.startswith("##FASTA"):
            break
        if not raw.strip() or raw.startswith("#"):
            continue
        cols = raw.rstrip("\n").split("\t")
        if len(cols) != 9:
            raise FormatError(
                f"expected 9 tab-separated columns, got {len(cols)}", file=name, line=number
            )
        contig, _, kind, start_s, end_s, _, strand, _, attr_text = cols
        try:
            start, end = int(start_s), int(end_s)
        except ValueError as err:
            raise FormatError(
                f"start/end are not integers: {start_s!r}, {end_s!r}", file=name, line=number
            ) from err
        if contig not in lengths:
            raise FormatError(
                f"contig {contig!r} is not in the reference {Path(reference_fasta).name}",
                file=name,
                line=number,
            )
        if start < 1 or end < start:
            raise FormatError(f"bad interval {start}-{end}", file=name, line=number)
        if end > lengths[contig]:
            raise FormatError(
                f"{kind} ends at {end}, past the end of {contig} ({lengths[contig]} bp)",
                file=name,
                line=number,
            )
        if strand not in ("+", "-") and kind in {"gene", "exon", "CDS", *TRANSCRIPT_TYPES}:
            raise FormatError(f"strand must be + or -, got {strand!r}", file=name, line=number)
        attrs = _attributes(attr_text)
        if kind == "gene":
            gene_id = _strip_prefix(attrs.get("ID", ""))
            if not gene_id:
                raise FormatError("gene without an ID", file=name, line=number)
            symbol = attrs.get("Name") or attrs.get("gene_name") or gene_id
            genes[gene_id] = (symbol, contig, start, end, strand, number)  # type: ignore[assignment]
        elif kind in TRANSCRIPT_TYPES:
            tx_id = _strip_prefix(attrs.get("ID", ""))
            parent = _strip_prefix(attrs.get("Parent", ""))
            if not tx_id or not parent:
                raise FormatError(f"{kind} needs both ID and Parent", file=name, line=number)
            biotype = attrs.get("biotype", "protein_coding")
            pending[tx_id] = _Pending(tx_id, parent, contig, strand, biotype, number)  # type: ignore[arg-type]
        elif kind in ("exon", "CDS"):
            parent = _strip_prefix(attrs.get("Parent", ""))
            tx = pending.get(parent)
            if tx is None:
                raise FormatError(
                    f"{kind} names unknown transcript {parent!r} (parents must come first)",
                    file=name,
                    line=number,
                )
            if tx.contig != contig or tx.strand != strand:
                raise FormatError(
                    f"{kind} is not on its transcript's contig and strand", file=name, line=number
                )
            if kind == "exon":
                tx.exons.append(Interval(start, end))
            else:
                tx.cds.append((Interval(start, end), number))
                tx.phases[number] = cols[7]
    return _assemble(name, genes, pending)


def _assemble(
    name: str,
    genes: dict[str, tuple[str, str, int, int, Strand, int]],
    pending: dict[str, _Pending],
) -> TranscriptModel:
    model = TranscriptModel(source=name)
    by_gene: dict[str, list[Transcript]] = {}
    for tx in pending.values():
        if tx.gene_id not in genes:
            raise FormatError(
                f"transcript {tx.id} names unknown gene {tx.gene_id!r}", file=name, line=tx.line
            )
        if not tx.exons:
            raise FormatError(f"transcript {tx.id} has no exons", file=name, line=tx.line)
        exons = tuple(sorted(tx.exons, key=lambda e: e.start))
        for left, right in zip(exons, exons[1:], strict=False):
            if right.start <= left.end:
                raise FormatError(
                    f"transcript {tx.id} has overlapping exons", file=name, line=tx.line
                )
        cds_start = cds_end = None
        if tx.cds:
            total = sum(iv.length for iv, _ in tx.cds)
            last_line = max(line for _, line in tx.cds)
            if total % 3:
                raise FormatError(
                    f"CDS of transcript {tx.id} is {total} bp, not a multiple of 3",
                    file=name,
                    line=last_line,
                )
            for iv, line in tx.cds:
                if not any(e.start <= iv.start and iv.end <= e.end for e in exons):
                    raise FormatError(
                        f"CDS {iv.start}-{iv.end} of {tx.id} is outside its exons",
                        file=name,
                        line=line,
                    )
            # Phase: bases to skip at a piece's 5' end to reach a codon, in transcript
            # order; bcftools csq refuses a GFF3 where it disagrees with the lengths.
            ordered = sorted(tx.cds, key=lambda c: c[0].start, reverse=tx.strand == "-")
            before = 0
            for iv, line in ordered:
                expected = (3 - before % 3) % 3
                if tx.phases.get(line) not in (str(expected), "."):
                    raise FormatError(
                        f"CDS phase {tx.phases.get(line)} of {tx.id}, expected {expected}"
                        f" after {before} coding bases",
                        file=name,
                        line=line,
                    )
                before += iv.length
            cds_start = min(iv.start for iv, _ in tx.cds)
            cds_end = max(iv.end for iv, _ in tx.cds)
        symbol = genes[tx.gene_id][0]
        transcript = Transcript(
            tx.id, tx.gene_id, symbol, tx.contig, tx.strand, exons, cds_start, cds_end, tx.biotype
        )
        model.transcripts[tx.id] = transcript
        by_gene.setdefault(tx.gene_id, []).append(transcript)
    for gene_id, (symbol, contig, start, end, strand, _) in genes.items():
        model.genes[gene_id] = Gene(
            gene_id, symbol, contig, start, end, strand, tuple(by_gene.get(gene_id, []))
        )
    return model
