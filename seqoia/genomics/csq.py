"""Consequences per transcript from ``bcftools csq``, haplotype-aware.

``bcftools csq`` reads the VCF, the reference and an Ensembl-style GFF3 and writes each
record's consequences into ``INFO/BCSQ``:
``consequence|gene|transcript|biotype|strand|amino_acid_change|dna_change``. It is
haplotype-aware: variants in one codon or frame on the same haplotype are judged together
(two SNVs making one stop codon, a frameshift rescued by a second indel), so a compound
consequence is written once, on the first record, and the others point at it with
``@POS``. Phase comes from the genotypes; ``-p a`` treats unphased genotypes as phased
(the caller's choice; ``-p m`` would merge and ``-p s`` skip them). A consequence that
bcftools prefixes with ``*`` lies downstream of a stop or frameshift on the same
haplotype, so that protein change is never made; the flag is kept on
:class:`Consequence` (and means little for unphased calls read with ``-p a``).

Either the ``bcftools`` program or the bcftools compiled into pysam runs it (both have
``csq``); failures come out as :class:`~seqoia.errors.ToolError`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import pysam
import pysam.bcftools
from pydantic import BaseModel, ConfigDict

from seqoia.errors import FormatError, SeqoiaError, ToolError
from seqoia.genomics.tools import run_command, run_pysam, want_binary

log = logging.getLogger(__name__)

PhaseMode = Literal["a", "m", "r", "R", "s"]

#: Consequences that truncate or destroy the protein (loss of function), in the terms
#: bcftools csq writes them.
LOSS_OF_FUNCTION = frozenset(
    {"stop_gained", "frameshift", "splice_acceptor", "splice_donor", "start_lost", "stop_lost"}
)
MISSENSE = frozenset({"missense", "inframe_deletion", "inframe_insertion", "inframe_altering"})
#: Most severe first: picks the consequence a report leads with when bcftools joins
#: several with ``&`` (``missense&splice_region``).
SEVERITY = (
    "stop_gained",
    "frameshift",
    "splice_acceptor",
    "splice_donor",
    "start_lost",
    "stop_lost",
    "missense",
    "inframe_deletion",
    "inframe_insertion",
    "inframe_altering",
    "splice_region",
    "start_retained",
    "stop_retained",
    "synonymous",
    "5_prime_utr",
    "3_prime_utr",
    "non_coding",
    "intron",
    "intergenic",
)


class Consequence(BaseModel):
    """One transcript's consequence of a variant (or of a compound it is part of)."""

    model_config = ConfigDict(frozen=True)

    consequence: str  # may join several with "&", e.g. "missense&splice_region"
    gene: str
    transcript: str
    biotype: str = ""
    strand: str = ""
    amino_acid_change: str = ""
    dna_change: str = ""
    starred: bool = False

    @property
    def terms(self) -> tuple[str, ...]:
        return tuple(self.consequence.split("&"))

    @property
    def most_severe(self) -> str:
        rank = {term: i for i, term in enumerate(SEVERITY)}
        return min(self.terms, key=lambda t: rank.get(t, len(SEVERITY)))

    @property
    def is_loss_of_function(self) -> bool:
        return any(t in LOSS_OF_FUNCTION for t in self.terms)

    @property
    def is_missense(self) -> bool:
        return any(t in MISSENSE for t in self.terms)


def parse_bcsq(values: Iterable[str]) -> tuple[list[Consequence], list[int]]:
    """Split a record's BCSQ values into consequences and ``@POS`` back-references."""
    consequences: list[Consequence] = []
    references: list[int] = []
    for value in values:
        if value.startswith("@"):
            references.append(int(value[1:]))
            continue
        fields = value.split("|")
        kind = fields[0]
        starred = kind.startswith("*")
        fields += [""] * (7 - len(fields))
        consequences.append(
            Consequence(
                consequence=kind.lstrip("*"),
                gene=fields[1],
                transcript=fields[2],
                biotype=fields[3],
                strand=fields[4],
                amino_acid_change=fields[5],
                dna_change=fields[6],
                starred=starred,
            )
        )
    return consequences, references


def run_csq(
    vcf: Path,
    reference_fasta: Path,
    gff3: Path,
    out_vcf_gz: Path,
    *,
    phase: PhaseMode = "a",
    use_binaries: bool | None = None,
) -> Path:
    """Annotate ``vcf`` with ``bcftools csq``; write a bgzipped, indexed VCF."""
    args = [
        "csq",
        "-f", str(reference_fasta),
        "-g", str(gff3),
        "-p", phase,
        "-O", "z",
        "-o", str(out_vcf_gz),
        str(vcf),
    ]  # fmt: skip
    bcftools = want_binary("bcftools", use_binaries)
    try:
        if bcftools:
            run_command([bcftools, *args])
        else:
            run_pysam(pysam.bcftools.csq, *args[1:])
    except ToolError as err:
        raise _input_error(err, vcf, gff3) from err
    pysam.tabix_index(str(out_vcf_gz), preset="vcf", force=True)
    return Path(out_vcf_gz)


def _input_error(err: ToolError, vcf: Path, gff3: Path) -> SeqoiaError:
    """Bad input is permanent, not a tool fault: say which file, so it is not retried."""
    text = str(err).replace("\\n", "\n")
    ref = re.search(r"does not match the VCF REF allele at (\S+?):(\d+) \.\. (.*)", text)
    if ref:
        return FormatError(
            f"REF does not match the reference at {ref.group(1)}:{ref.group(2)} ({ref.group(3)})",
            file=str(vcf),
        )
    gff = re.search(r"(GFF3 assumption failed[^\n']*)", text)
    if gff:
        return FormatError(gff.group(1), file=str(gff3))
    return err


VariantKey = tuple[str, int, str, str]  # contig, pos, ref, alt


def read_consequences(annotated_vcf: Path) -> dict[VariantKey, list[Consequence]]:
    """Every ALT allele's consequences, with ``@POS`` back-references resolved.

    A record that points at a compound consequence gets that consequence too (for the
    transcripts it names), so each variant lists everything it takes part in.
    """
    own: dict[tuple[str, int], list[Consequence]] = {}
    pending: list[tuple[VariantKey, list[int]]] = []
    out: dict[VariantKey, list[Consequence]] = {}
    with pysam.VariantFile(str(annotated_vcf)) as vf:
        has_bcsq = "BCSQ" in vf.header.info
        for rec in vf:
            raw = rec.info.get("BCSQ") if has_bcsq else None
            values = (raw,) if isinstance(raw, str) else tuple(raw or ())
            consequences, references = parse_bcsq(values)
            own.setdefault((rec.chrom, rec.pos), []).extend(consequences)
            for alt in rec.alts or ():
                key = (rec.chrom, rec.pos, rec.ref or "", alt)
                out[key] = list(consequences)
                if references:
                    pending.append((key, references))
    for key, references in pending:
        for pos in references:
            out[key].extend(own.get((key[0], pos), []))
    return out
