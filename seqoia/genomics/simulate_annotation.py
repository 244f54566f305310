"""The demo's annotation: genes written into the simulated reference, and their resources.

:func:`simulate_annotation` turns a reference from :func:`~seqoia.genomics.simulate.
simulate_reference` into an annotated one, so the clinical result can run offline:

- it writes a few multi-exon protein-coding genes *into* the reference (on both strands:
  5' UTR, an ATG, sense codons without a premature stop, GT…AG introns, a stop codon and
  a 3' UTR), rewriting the FASTA and its index;
- an Ensembl-style GFF3 of them (gene / mRNA / exon / CDS with phases / UTRs), as
  ``bcftools csq`` expects;
- a ClinVar-format VCF (``CLNSIG``, ``CLNREVSTAT``, ``GENEINFO``) with, per gene, one
  pathogenic stop-gain (codon 10, TGG>TAG), one variant of uncertain significance and one
  benign synonymous variant;
- a gnomAD-format sites VCF (``AF``, ``AC``, ``AN``) with a common synonymous variant per
  gene, the benign one at 5 % and the pathogenic one at a rare frequency;
- a gene-list panel of the genes.

:func:`demo_pathogenic_variant` gives the pathogenic variant to plant in demo sample *i*
(a heterozygous :class:`~seqoia.genomics.simulate.TruthVariant`), and
:func:`plant_variants` merges it into a simulated truth set, so the reads carry it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pysam
from pydantic import BaseModel, ConfigDict

from seqoia.genomics.simulate import TruthVariant

_STOPS = {"TAA", "TAG", "TGA"}
_SENSE = [a + b + c for a in "ACGT" for b in "ACGT" for c in "ACGT" if a + b + c not in _STOPS]
_COMPLEMENT = str.maketrans("ACGT", "TGCA")

#: Codons the simulator fixes, 1-based, so the planted variants have known meanings.
PATHOGENIC_CODON = 10  # TGG (Trp): c.29G>A makes TAG, p.(Trp10Ter)
BENIGN_CODON = 15  # CTG (Leu): c.45G>A makes CTA, p.(Leu15=)
VUS_CODON = 20  # CGC (Arg): c.58C>T makes TGC, p.(Arg20Cys)
COMMON_CODON = 25  # GCC (Ala): c.75C>T makes GCT, p.(Ala25=)
FIXED_CODONS = {PATHOGENIC_CODON: "TGG", BENIGN_CODON: "CTG", VUS_CODON: "CGC", COMMON_CODON: "GCC"}


class GeneSpec(BaseModel):
    """Where to put one simulated gene and what shape to give it."""

    model_config = ConfigDict(frozen=True)

    symbol: str
    strand: Literal["+", "-"]
    exons: int
    contig_index: int  # into the reference's contigs, modulo their number
    fraction: float  # where on the contig the gene starts, 0..1


DEFAULT_GENES = (
    GeneSpec(symbol="SQA1", strand="+", exons=4, contig_index=0, fraction=0.20),
    GeneSpec(symbol="SQB2", strand="-", exons=3, contig_index=0, fraction=0.60),
    GeneSpec(symbol="SQC3", strand="+", exons=5, contig_index=1, fraction=0.30),
    GeneSpec(symbol="SQD4", strand="-", exons=3, contig_index=1, fraction=0.70),
)


@dataclass(frozen=True)
class SimulatedGene:
    """A gene written into the reference: genomic layout and its coding positions."""

    symbol: str
    gene_id: str
    transcript_id: str
    contig: str
    strand: Literal["+", "-"]
    start: int  # 1-based, inclusive
    end: int
    exons: tuple[tuple[int, int], ...]  # genomic, ascending
    cds: tuple[tuple[int, int], ...]  # genomic, ascending
    utr5: tuple[tuple[int, int], ...]
    utr3: tuple[tuple[int, int], ...]
    cds_positions: tuple[int, ...]  # genomic position of c.1, c.2, ... (stop included)

    def snv(self, c_pos: int, alt_coding: str, reference: str) -> tuple[int, str, str]:
        """(genomic pos, REF, ALT) on the forward strand of coding change ``c.<pos>>alt``."""
        pos = self.cds_positions[c_pos - 1]
        ref = reference[pos - 1]
        alt = alt_coding if self.strand == "+" else alt_coding.translate(_COMPLEMENT)
        return pos, ref, alt


class AnnotationFiles(BaseModel):
    """Everything :func:`simulate_annotation` wrote."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    reference: Path
    gff3: Path
    clinvar: Path
    gnomad: Path
    panel: Path
    genes: tuple[str, ...]


def _reverse_complement(seq: str) -> str:
    return seq.translate(_COMPLEMENT)[::-1]


def _build_gene(rng: random.Random, spec: GeneSpec) -> tuple[str, list[tuple[str, int, int]]]:
    """The gene's sequence 5'->3' and its features as (kind, first, last) 0-based indices."""
    n_codons = rng.randint(60, 90)
    codons = (
        ["ATG"] + [rng.choice(_SENSE) for _ in range(n_codons - 2)] + [rng.choice(sorted(_STOPS))]
    )
    for index, codon in FIXED_CODONS.items():
        codons[index - 1] = codon
    cds = "".join(codons)
    # Cut the CDS into exon pieces of roughly equal size.
    cuts = sorted(rng.sample(range(30, len(cds) - 30), spec.exons - 1))
    pieces = [cds[a:b] for a, b in zip([0, *cuts], [*cuts, len(cds)], strict=True)]
    utr5 = "".join(rng.choice("ACGT") for _ in range(40)).replace("ATG", "ACG")
    utr3 = "".join(rng.choice("ACGT") for _ in range(60))
    seq, features = [], []
    cursor = 0

    def add(kind: str, text: str) -> None:
        nonlocal cursor
        seq.append(text)
        features.append((kind, cursor, cursor + len(text) - 1))
        cursor += len(text)

    add("five_prime_UTR", utr5)
    for k, piece in enumerate(pieces):
        add("CDS", piece)
        if k < len(pieces) - 1:
            middle = "".join(rng.choice("ACGT") for _ in range(rng.randint(120, 260)))
            add("intron", "GTAAGT" + middle + "TTTTCCAG")
    add("three_prime_UTR", utr3)
    return "".join(seq), features


@dataclass(frozen=True)
class _Placement:
    """Maps a gene's 5'->3' index to genomic positions on its strand."""

    start: int
    length: int
    strand: str

    def genomic(self, i: int) -> int:
        return self.start + i if self.strand == "+" else self.start + self.length - 1 - i

    def span(self, first: int, last: int) -> tuple[int, int]:
        a, b = self.genomic(first), self.genomic(last)
        return (min(a, b), max(a, b))


def _read_fasta(path: Path) -> dict[str, str]:
    with pysam.FastaFile(str(path)) as fasta:
        return {name: fasta.fetch(name) for name in fasta.references}


def _write_fasta(path: Path, contigs: dict[str, str], line_width: int = 60) -> None:
    with open(path, "w") as fh:
        for name, seq in contigs.items():
            fh.write(f">{name}\n")
            fh.write("\n".join(seq[i : i + line_width] for i in range(0, len(seq), line_width)))
            fh.write("\n")
    Path(str(path) + ".fai").unlink(missing_ok=True)
    pysam.faidx(str(path))


def add_genes(
    reference_fasta: Path, *, seed: int = 0, genes: Sequence[GeneSpec] = DEFAULT_GENES
) -> list[SimulatedGene]:
    """Write ``genes`` into ``reference_fasta`` (rewritten in place) and describe them."""
    contigs = _read_fasta(reference_fasta)
    names = list(contigs)
    placed: list[SimulatedGene] = []
    for number, spec in enumerate(genes, start=1):
        rng = random.Random(f"{seed}:{spec.symbol}")
        contig = names[spec.contig_index % len(names)]
        oriented, features = _build_gene(rng, spec)
        length = len(oriented)
        start = max(1, int(len(contigs[contig]) * spec.fraction))
        if start + length > len(contigs[contig]):
            raise ValueError(f"{contig} is too short for gene {spec.symbol} ({length} bp)")
        forward = oriented if spec.strand == "+" else _reverse_complement(oriented)
        seq = contigs[contig]
        contigs[contig] = seq[: start - 1] + forward + seq[start - 1 + length :]

        place = _Placement(start, length, spec.strand)
        genomic, span = place.genomic, place.span
        cds = [span(a, b) for kind, a, b in features if kind == "CDS"]
        utr5 = [span(a, b) for kind, a, b in features if kind == "five_prime_UTR"]
        utr3 = [span(a, b) for kind, a, b in features if kind == "three_prime_UTR"]
        # Exons are the UTRs and CDS pieces, the first and last merged with their UTR.
        exon_pieces = [(a, b) for kind, a, b in features if kind != "intron"]
        merged: list[list[int]] = []
        for a, b in exon_pieces:
            if merged and merged[-1][1] + 1 == a:
                merged[-1][1] = b
            else:
                merged.append([a, b])
        exons = sorted(span(a, b) for a, b in merged)
        coding = [genomic(i) for kind, a, b in features if kind == "CDS" for i in range(a, b + 1)]
        placed.append(
            SimulatedGene(
                symbol=spec.symbol,
                gene_id=f"SQG{number:05d}",
                transcript_id=f"SQT{number:05d}",
                contig=contig,
                strand=spec.strand,
                start=start,
                end=start + length - 1,
                exons=tuple(exons),
                cds=tuple(sorted(cds)),
                utr5=tuple(utr5),
                utr3=tuple(utr3),
                cds_positions=tuple(coding),
            )
        )
    _write_fasta(reference_fasta, contigs)
    return placed


def write_gff3(genes: Sequence[SimulatedGene], out: Path, reference_fasta: Path) -> Path:
    """An Ensembl-style GFF3 of ``genes``, in reference order."""
    with pysam.FastaFile(str(reference_fasta)) as fasta:
        lengths = dict(zip(fasta.references, fasta.lengths, strict=True))
    rank = {name: i for i, name in enumerate(lengths)}
    lines = ["##gff-version 3"]
    lines += [f"##sequence-region   {name} 1 {length}" for name, length in lengths.items()]
    for gene in sorted(genes, key=lambda g: (rank[g.contig], g.start)):
        col = f"{gene.contig}\tseqoia\t{{}}\t{{}}\t{{}}\t.\t{gene.strand}\t{{}}\t{{}}"
        tx = f"transcript:{gene.transcript_id}"
        lines.append(
            col.format(
                "gene",
                gene.start,
                gene.end,
                ".",
                f"ID=gene:{gene.gene_id};Name={gene.symbol};biotype=protein_coding",
            )
        )
        lines.append(
            col.format(
                "mRNA",
                gene.start,
                gene.end,
                ".",
                f"ID={tx};Parent=gene:{gene.gene_id};Name={gene.symbol}-201;biotype=protein_coding",
            )
        )
        for a, b in gene.utr5:
            lines.append(col.format("five_prime_UTR", a, b, ".", f"Parent={tx}"))
        for k, (a, b) in enumerate(gene.exons, start=1):
            lines.append(
                col.format("exon", a, b, ".", f"Parent={tx};Name={gene.transcript_id}.e{k}")
            )
        # Phase: bases to skip at this piece's 5' end to reach a codon start, counted in
        # transcript order (the minus strand's 5' end is its highest coordinate).
        ordered = gene.cds if gene.strand == "+" else tuple(reversed(gene.cds))
        before = 0
        for a, b in ordered:
            phase = (3 - before % 3) % 3
            lines.append(
                col.format("CDS", a, b, phase, f"ID=CDS:{gene.transcript_id}P;Parent={tx}")
            )
            before += b - a + 1
        for a, b in gene.utr3:
            lines.append(col.format("three_prime_UTR", a, b, ".", f"Parent={tx}"))
    out.write_text("\n".join(lines) + "\n")
    return out


def _write_vcf(
    path: Path,
    header: list[str],
    rows: list[tuple[str, int, str, str, str, str]],
    rank: dict[str, int],
) -> Path:
    body = [
        "\t".join([c, str(p), vid, r, a, ".", ".", info])
        for c, p, vid, r, a, info in sorted(rows, key=lambda x: (rank[x[0]], x[1]))
    ]
    with pysam.BGZFile(str(path), "wb", index=None) as fh:  # type: ignore[arg-type]
        fh.write(
            (
                "\n".join([*header, "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO", *body]) + "\n"
            ).encode()
        )
    pysam.tabix_index(str(path), preset="vcf", force=True)
    return path


def _info(ident: str, number: str, kind: str, description: str) -> str:
    return f'##INFO=<ID={ident},Number={number},Type={kind},Description="{description}">'


def write_resources(
    genes: Sequence[SimulatedGene], reference_fasta: Path, clinvar: Path, gnomad: Path
) -> tuple[Path, Path]:
    """ClinVar- and gnomAD-format VCFs for ``genes``."""
    contigs = _read_fasta(reference_fasta)
    rank = {name: i for i, name in enumerate(contigs)}
    assembly = Path(reference_fasta).name
    clin_rows, pop_rows = [], []
    for n, gene in enumerate(genes, start=1):
        seq = contigs[gene.contig]
        geneinfo = f"GENEINFO={gene.symbol}:{90000 + n}"
        p = gene.snv(PATHOGENIC_CODON * 3 - 1, "A", seq)
        b = gene.snv(BENIGN_CODON * 3, "A", seq)
        v = gene.snv(VUS_CODON * 3 - 2, "T", seq)
        c = gene.snv(COMMON_CODON * 3, "T", seq)
        clin_rows += [
            (gene.contig, p[0], str(1000 * n + 1), p[1], p[2],
             f"CLNSIG=Pathogenic;CLNREVSTAT=criteria_provided,_multiple_submitters,_no_conflicts;{geneinfo};MC=SO:0001587|nonsense"),
            (gene.contig, v[0], str(1000 * n + 2), v[1], v[2],
             f"CLNSIG=Uncertain_significance;CLNREVSTAT=criteria_provided,_single_submitter;{geneinfo};MC=SO:0001583|missense_variant"),
            (gene.contig, b[0], str(1000 * n + 3), b[1], b[2],
             f"CLNSIG=Benign;CLNREVSTAT=reviewed_by_expert_panel;{geneinfo};MC=SO:0001819|synonymous_variant"),
        ]  # fmt: skip
        pop_rows += [
            (gene.contig, c[0], ".", c[1], c[2], "AC=35000;AN=152000;AF=0.230263"),
            (gene.contig, b[0], ".", b[1], b[2], "AC=7600;AN=152000;AF=0.05"),
            (gene.contig, p[0], ".", p[1], p[2], "AC=1;AN=152000;AF=6.57895e-06"),
        ]
    clin_header = [
        "##fileformat=VCFv4.1",
        "##source=ClinVar (simulated by seqoia.genomics.simulate_annotation)",
        f"##reference={assembly}",  # like ClinVar's: no ##contig lines
        _info("CLNSIG", ".", "String", "Aggregate germline classification"),
        _info("CLNREVSTAT", ".", "String", "ClinVar review status of the classification"),
        _info("GENEINFO", "1", "String", "Gene(s) for the variant: symbol:gene id"),
        _info("MC", ".", "String", "Molecular consequences: SO id|consequence"),
    ]  # fmt: skip
    pop_header = [
        "##fileformat=VCFv4.2",
        "##source=gnomAD-style sites (simulated by seqoia.genomics.simulate_annotation)",
        f"##reference={assembly}",
        *(f"##contig=<ID={name},length={len(s)}>" for name, s in contigs.items()),
        _info("AC", "A", "Integer", "Alternate allele count"),
        _info("AN", "1", "Integer", "Total number of alleles"),
        _info("AF", "A", "Float", "Alternate allele frequency"),
    ]
    return _write_vcf(clinvar, clin_header, clin_rows, rank), _write_vcf(
        gnomad, pop_header, pop_rows, rank
    )


def demo_pathogenic_variant(
    genes: Sequence[SimulatedGene], reference_fasta: Path, sample_index: int
) -> TruthVariant:
    """The heterozygous pathogenic stop-gain to plant in demo sample ``sample_index``."""
    gene = genes[sample_index % len(genes)]
    with pysam.FastaFile(str(reference_fasta)) as fasta:
        seq = fasta.fetch(gene.contig)
    pos, ref, alt = gene.snv(PATHOGENIC_CODON * 3 - 1, "A", seq)
    return TruthVariant(gene.contig, pos, ref, alt, (0, 1))


def plant_variants(
    truth: Sequence[TruthVariant], planted: Sequence[TruthVariant], *, min_gap: int = 20
) -> list[TruthVariant]:
    """``truth`` without its variants near ``planted`` ones, plus ``planted``, sorted."""
    kept = [
        v
        for v in truth
        if not any(
            v.contig == p.contig and v.pos - min_gap <= p.end and p.pos <= v.end + min_gap
            for p in planted
        )
    ]
    order: dict[str, int] = {}
    for v in [*truth, *planted]:
        order.setdefault(v.contig, len(order))
    return sorted([*kept, *planted], key=lambda v: (order[v.contig], v.pos))


def write_gene_panel(
    genes: Sequence[SimulatedGene],
    out: Path,
    *,
    name: str = "Seqoia demo panel",
    version: str = "1.0",
) -> Path:
    """A gene-list panel naming ``genes``."""
    out.write_text(f"#name={name}\n#version={version}\n" + "".join(f"{g.symbol}\n" for g in genes))
    return out


def simulate_annotation(
    reference_fasta: Path,
    out_dir: Path,
    *,
    seed: int = 0,
    genes: Sequence[GeneSpec] = DEFAULT_GENES,
) -> tuple[AnnotationFiles, list[SimulatedGene]]:
    """Write genes into ``reference_fasta`` and the GFF3, ClinVar, gnomAD and panel files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    placed = add_genes(reference_fasta, seed=seed, genes=genes)
    gff3 = write_gff3(placed, out_dir / "genes.gff3", reference_fasta)
    clinvar, gnomad = write_resources(
        placed, reference_fasta, out_dir / "clinvar.vcf.gz", out_dir / "gnomad.sites.vcf.gz"
    )
    panel = write_gene_panel(placed, out_dir / "panel.tsv")
    files = AnnotationFiles(
        reference=Path(reference_fasta), gff3=gff3, clinvar=clinvar, gnomad=gnomad, panel=panel,
        genes=tuple(g.symbol for g in placed),
    )  # fmt: skip
    return files, placed
