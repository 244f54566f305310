"""Known-variant resources in their published formats: ClinVar and gnomAD VCFs.

Both are bgzipped, tabix-indexed VCFs looked up by position and allele:

- ClinVar's ``clinvar.vcf.gz``: ``INFO/CLNSIG`` (clinical significance, e.g.
  ``Pathogenic``, ``Likely_pathogenic``, ``Pathogenic/Likely_pathogenic``),
  ``INFO/CLNREVSTAT`` (review status, e.g. ``criteria_provided,_single_submitter``) and
  ``INFO/GENEINFO`` (``SYMBOL:GeneID|…``).
- gnomAD's sites VCFs: ``INFO/AF``, one value per ALT allele.

A resource made on another assembly would give silently wrong answers, so opening one
checks it against the reference: every ``##contig`` it declares that the reference has
must have the same length, and at least one must be the reference's (a file without
them, like ClinVar's, must index at least one reference contig), and a
``##reference``/``##assembly`` header naming another assembly than the one expected is
refused. Each refusal is an
:class:`AssemblyMismatchError` naming the file and the header line. A header or record
that cannot be read (a contig length that is not a number, a record htslib cannot parse,
an allele frequency that is not a number) is a :class:`FormatError` naming the file and
the line or position; a missing frequency (``.``) is None. Both kinds are fuzzed
(``bench/fuzz_clinical.py``: ``clinvar_vcf``, ``gnomad_vcf``).
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable
from pathlib import Path
from typing import Self, TypeVar

import pysam
from pydantic import BaseModel, ConfigDict

from seqoia.errors import FormatError, InputError

#: Names of one assembly that resources write in their headers.
ASSEMBLY_SYNONYMS = (
    frozenset({"grch38", "hg38", "grch38.p13", "grch38.p14", "hs38", "hs38dh"}),
    frozenset({"grch37", "hg19", "b37", "hs37d5", "grch37.p13"}),
)
PATHOGENIC = frozenset({"Pathogenic", "Likely_pathogenic", "Pathogenic/Likely_pathogenic"})
BENIGN = frozenset({"Benign", "Likely_benign", "Benign/Likely_benign"})


T = TypeVar("T")


class AssemblyMismatchError(InputError):
    """A resource was made on another assembly than the reference in use."""


def assembly_name(text: str) -> str:
    """``file:///x/GRCh38.fa.gz`` or ``hg38`` -> a comparable lower-case assembly name."""
    name = text.strip().strip("<>").rsplit("/", 1)[-1].lower()
    name = re.sub(r"\.(gz|bgz|fa|fasta|fna)$", "", name)
    name = re.sub(r"\.(gz|bgz|fa|fasta|fna)$", "", name)
    return name


def same_assembly(a: str, b: str) -> bool:
    a, b = assembly_name(a), assembly_name(b)
    if a == b:
        return True
    return any(a in group and b in group for group in ASSEMBLY_SYNONYMS)


def _header_lines(path: Path) -> list[tuple[int, str]]:
    """The ``##`` meta-information lines of a (bgzipped) VCF with their 1-based numbers."""
    out = []
    try:
        with gzip.open(path, "rt") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.startswith("##"):
                    break
                out.append((number, line.rstrip("\n")))
    except (OSError, EOFError, UnicodeDecodeError) as err:
        raise FormatError(f"cannot read as a bgzipped VCF: {err}", file=str(path)) from err
    return out


_CONTIG = re.compile(r"^##contig=<(.*)>$")
_LENGTH = re.compile(r"[0-9]{1,12}")  # ASCII digits only: int() takes "²", "1_0", " 1"


def check_assembly(
    path: Path, reference_fasta: Path, *, expected_assembly: str | None = None
) -> None:
    """Refuse ``path`` unless its contigs and declared assembly match the reference.

    Files without ``##contig`` lines (ClinVar's has none) are judged on the contigs of
    their index: at least one must be in the reference.
    """
    name = str(path)
    ref_name = Path(reference_fasta).name
    with pysam.FastaFile(str(reference_fasta)) as fasta:
        lengths = dict(zip(fasta.references, fasta.lengths, strict=True))
    expected = expected_assembly or ref_name
    declared = 0
    unknown: list[str] = []
    for number, line in _header_lines(path):
        key, _, value = line[2:].partition("=")
        if key in ("reference", "assembly") and value:
            if not same_assembly(value, expected):
                raise AssemblyMismatchError(
                    f"declares ##{key}={value}, but the reference is {expected}",
                    file=name,
                    line=number,
                )
            continue
        match = _CONTIG.match(line)
        if not match:
            continue
        fields = dict(item.split("=", 1) for item in match.group(1).split(",") if "=" in item)
        contig, length = fields.get("ID"), fields.get("length")
        if contig not in lengths:
            # Resources declare every contig of their assembly (alts, decoys) and a
            # reference may hold only the primary ones: judged below, all together.
            unknown.append(str(contig))
            continue
        if length is not None and not _LENGTH.fullmatch(length):
            raise FormatError(
                f"##contig {contig} has a length that is not a number", file=name, line=number
            )
        if length is not None and int(length) != lengths[contig]:
            raise AssemblyMismatchError(
                f"contig {contig} is {length} bp here but {lengths[contig]} bp in the"
                f" reference {ref_name} (another assembly?)",
                file=name,
                line=number,
            )
        declared += 1
    if unknown and declared == 0:
        raise AssemblyMismatchError(
            f"none of its ##contig lines ({', '.join(unknown[:5])}) names a contig of the"
            f" reference {ref_name} (another assembly or naming?)",
            file=name,
        )
    if declared == 0:
        with open_vcf(path) as vf:
            indexed = [str(c) for c in vf.index] if vf.index is not None else []
        if indexed and not any(contig in lengths for contig in indexed):
            raise AssemblyMismatchError(
                f"none of its contigs ({', '.join(indexed[:5])}) is in the reference"
                f" {ref_name} (another assembly or naming?)",
                file=name,
            )


def open_vcf(path: Path) -> pysam.VariantFile:
    """Open a bgzipped, indexed VCF or fail with a FormatError naming it."""
    try:
        vf = pysam.VariantFile(str(path))
    except (OSError, ValueError) as err:
        raise FormatError(f"cannot read as VCF: {err}", file=str(path)) from err
    if (
        vf.index is None
        and not Path(str(path) + ".tbi").exists()
        and not Path(str(path) + ".csi").exists()
    ):
        vf.close()
        raise FormatError("is not indexed (bgzip it and run tabix -p vcf)", file=str(path))
    return vf


class ClinvarAssertion(BaseModel):
    """ClinVar's aggregate classification of one allele."""

    model_config = ConfigDict(frozen=True)

    variation_id: str
    significance: str
    review_status: str
    genes: tuple[str, ...] = ()

    @property
    def is_pathogenic(self) -> bool:
        return self.significance in PATHOGENIC

    @property
    def is_benign(self) -> bool:
        return self.significance in BENIGN


def _joined(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, tuple | list):
        return ",".join(str(v) for v in value)
    return str(value)


class _Resource:
    """An open, checked, indexed VCF resource."""

    def __init__(self, path: Path, reference_fasta: Path, expected_assembly: str | None) -> None:
        self.path = Path(path)
        check_assembly(self.path, reference_fasta, expected_assembly=expected_assembly)
        self._vcf = open_vcf(self.path)
        index = self._vcf.index
        self._contigs = set(index.keys()) if index is not None else set()

    def _first(
        self, contig: str, pos: int, ref: str, alt: str, read: Callable[[pysam.VariantRecord], T]
    ) -> T | None:
        """``read`` of the first record of this allele; a record htslib or ``read`` cannot
        parse is a FormatError naming the file and the position (not a crash, not a retry)."""
        if contig not in self._contigs:
            return None
        try:
            for rec in self._vcf.fetch(contig, pos - 1, pos):
                if (
                    rec.pos == pos
                    and (rec.ref or "").upper() == ref.upper()
                    and alt in (rec.alts or ())
                ):
                    return read(rec)
        except (OSError, ValueError) as err:  # UnicodeDecodeError is a ValueError
            raise FormatError(
                f"cannot read its record at {contig}:{pos}: {err}", file=str(self.path)
            ) from err
        return None

    def close(self) -> None:
        self._vcf.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _assertion(rec: pysam.VariantRecord) -> ClinvarAssertion:
    info = rec.info
    geneinfo = _joined(info.get("GENEINFO"))
    return ClinvarAssertion(
        variation_id=str(rec.id or ""),
        significance=_joined(info.get("CLNSIG")),
        review_status=_joined(info.get("CLNREVSTAT")),
        genes=tuple(g.split(":")[0] for g in geneinfo.split("|") if g),
    )


class ClinvarResource(_Resource):
    """ClinVar's VCF, looked up by allele."""

    def lookup(self, contig: str, pos: int, ref: str, alt: str) -> ClinvarAssertion | None:
        return self._first(contig, pos, ref, alt, _assertion)


class PopulationResource(_Resource):
    """A gnomAD-style sites VCF: allele frequency per ALT allele."""

    def allele_frequency(self, contig: str, pos: int, ref: str, alt: str) -> float | None:
        def read(rec: pysam.VariantRecord) -> float | None:
            af = rec.info.get("AF")
            values = af if isinstance(af, tuple) else (af,)
            index = (rec.alts or ()).index(alt)
            value = values[index] if index < len(values) else None
            return None if value is None else float(value)  # "." is None; text: ValueError

        return self._first(contig, pos, ref, alt, read)
