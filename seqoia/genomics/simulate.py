"""The demo's synthetic sample: a reference genome, a diploid truth set and Illumina reads.

Three steps, each deterministic for a seed: :func:`simulate_reference` writes a FASTA
with repeats and low-complexity stretches (so alignment and calling are not trivial);
:func:`simulate_variants` draws a germline truth set on it (SNVs with a realistic Ti/Tv,
small indels in their left-aligned VCF form, het and hom genotypes, haploid sex
chromosomes for XY samples); :func:`simulate_reads` writes gzipped paired FASTQ with
Illumina-style names, qualities that decay along the read (NovaSeq binning optional),
substitution errors drawn from those qualities, occasional Ns and PCR duplicates.

Reads are produced in numpy batches and streamed to isal-compressed files; only the
two haplotypes of the genome are held in memory (fine up to a few hundred Mbp).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pysam
from isal import igzip
from pydantic import BaseModel, ConfigDict, Field

Sex = Literal["XX", "XY"]

DEFAULT_CONTIGS: dict[str, int] = {"chr1": 400_000, "chr2": 350_000, "chr3": 250_000}
SEX_CONTIG_FRACTION = {"chrX": 0.15, "chrY": 0.05}  # of the autosomal total

_BASES = np.frombuffer(b"ACGT", dtype=np.uint8)
_COMPLEMENT = np.zeros(256, dtype=np.uint8)
for _a, _b in zip(b"ACGTN", b"TGCAN", strict=True):
    _COMPLEMENT[_a] = _b
_TRANSITION = {"A": "G", "G": "A", "C": "T", "T": "C"}
_TRANSVERSIONS = {"A": "CT", "G": "CT", "C": "AG", "T": "AG"}
NOVASEQ_BINS = (2, 12, 23, 37)


def _rng(seed: int, *keys: int) -> np.random.Generator:
    """A generator for one (seed, purpose, item) so adding a contig does not shift others."""
    return np.random.default_rng(np.random.SeedSequence([seed, *keys]))


# -- reference -------------------------------------------------------------------------


def _random_sequence(rng: np.random.Generator, length: int) -> np.ndarray:
    """Random bases whose GC content drifts in ~20 kb blocks (a nod to isochores)."""
    out = np.empty(length, dtype=np.uint8)
    block = 20_000
    for start in range(0, length, block):
        n = min(block, length - start)
        gc = float(np.clip(rng.normal(0.41, 0.05), 0.30, 0.58))
        p = np.array([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])
        out[start : start + n] = _BASES[rng.choice(4, size=n, p=p)]
    return out


def _mutate(rng: np.random.Generator, seq: np.ndarray, divergence: float) -> np.ndarray:
    copy = seq.copy()
    hits = np.flatnonzero(rng.random(len(copy)) < divergence)
    copy[hits] = _BASES[rng.integers(0, 4, size=len(hits))]
    return copy


def _add_repeats(rng: np.random.Generator, seq: np.ndarray) -> None:
    """Segmental duplications, an interspersed element family and low-complexity runs."""
    n = len(seq)
    # Segmental duplications: 1-4 kb copied elsewhere at 0.5-2 % divergence, so some reads
    # map with low MAPQ and some variants sit in paralogous sequence.
    for _ in range(max(1, n // 150_000)):
        length = int(rng.integers(1_000, 4_000))
        if n < 3 * length:
            break
        src, dst = rng.integers(0, n - length, size=2)
        seq[dst : dst + length] = _mutate(rng, seq[src : src + length], rng.uniform(0.005, 0.02))
    # An Alu-like family: one 300 bp consensus inserted every ~25 kb at 5-15 % divergence.
    element = _random_sequence(rng, 300)
    for _ in range(n // 25_000):
        dst = int(rng.integers(0, n - 300))
        seq[dst : dst + 300] = _mutate(rng, element, rng.uniform(0.05, 0.15))
    # Homopolymers and short tandem repeats every ~4 kb: indel-calling territory.
    for _ in range(n // 4_000):
        unit = _BASES[rng.integers(0, 4, size=int(rng.integers(1, 5)))]
        length = int(rng.integers(10, 60)) if len(unit) > 1 else int(rng.integers(8, 25))
        dst = int(rng.integers(0, max(1, n - length)))
        seq[dst : dst + length] = np.resize(unit, length)[: n - dst]


def simulate_reference(
    out_fasta: Path,
    *,
    contigs: dict[str, int] | None = None,
    seed: int = 0,
    sex_chromosomes: bool = False,
    line_width: int = 60,
) -> dict[str, int]:
    """Write a random reference FASTA (+ ``.fai``) and return its contig lengths.

    ``sex_chromosomes`` adds a ``chrX`` (15 % of the autosomal total) and a ``chrY`` (5 %)
    so that predicted sex can be shown; they share no sequence (no PAR is modelled).
    """
    lengths = dict(contigs or DEFAULT_CONTIGS)
    if sex_chromosomes:
        total = sum(lengths.values())
        for name, frac in SEX_CONTIG_FRACTION.items():
            lengths.setdefault(name, max(10_000, int(total * frac)))
    out_fasta = Path(out_fasta)
    with open(out_fasta, "wb") as fh:
        for index, (name, length) in enumerate(lengths.items()):
            rng = _rng(seed, 1, index)
            seq = _random_sequence(rng, length)
            _add_repeats(rng, seq)
            fh.write(f">{name}\n".encode())
            raw = seq.tobytes()
            fh.write(b"\n".join(raw[i : i + line_width] for i in range(0, length, line_width)))
            fh.write(b"\n")
    pysam.faidx(str(out_fasta))
    return lengths


# -- variants --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TruthVariant:
    """One simulated variant in normalised VCF form (1-based ``pos``, anchor base for indels)."""

    contig: str
    pos: int
    ref: str
    alt: str
    genotype: tuple[int, int]  # (haplotype 0, haplotype 1); haploid contigs use (1, 1)

    @property
    def is_snv(self) -> bool:
        return len(self.ref) == 1 and len(self.alt) == 1

    @property
    def end(self) -> int:
        """1-based last reference base covered."""
        return self.pos + len(self.ref) - 1


def contig_ploidy(contig: str, sex: Sex) -> int:
    """Copies of ``contig`` in a sample of ``sex`` (no PAR: chrX is haploid in XY)."""
    name = contig.removeprefix("chr")
    if name == "X":
        return 1 if sex == "XY" else 2
    if name == "Y":
        return 1 if sex == "XY" else 0
    return 2


def _left_align(seq: str, start: int, allele: str, is_deletion: bool) -> tuple[int, str]:
    """Shift an indel left while it stays equivalent; ``start`` is its 0-based site."""
    if is_deletion:
        length = len(allele)
        while start > 1 and seq[start - 1] == seq[start + length - 1]:
            start -= 1
        return start, seq[start : start + length]
    while start > 1 and seq[start - 1] == allele[-1]:
        allele = allele[-1] + allele[:-1]
        start -= 1
    return start, allele


def simulate_variants(
    reference: Path,
    *,
    seed: int = 0,
    snv_rate: float = 1e-3,
    indel_rate: float = 1.5e-4,
    het_fraction: float = 0.62,
    transition_fraction: float = 0.672,
    max_indel_length: int = 12,
    sex: Sex = "XX",
) -> list[TruthVariant]:
    """Draw a germline truth set on ``reference``, sorted and non-overlapping.

    ``transition_fraction`` 0.672 gives Ti/Tv ≈ 2.05 (a human genome's); ``het_fraction``
    0.62 gives het/hom ≈ 1.6. Indels have geometric lengths, half of them extend a tandem
    repeat; all are left-aligned. Variants on haploid contigs are written ``1/1``.
    """
    variants: list[TruthVariant] = []
    with pysam.FastaFile(str(reference)) as fasta:
        for index, contig in enumerate(fasta.references):
            ploidy = contig_ploidy(contig, sex)
            if ploidy == 0:
                continue
            seq = fasta.fetch(contig).upper()
            rng = _rng(seed, 2, index)
            length = len(seq)
            n_snv = rng.poisson(snv_rate * length)
            n_indel = rng.poisson(indel_rate * length)
            sites = rng.integers(1, length - max_indel_length - 1, size=n_snv + n_indel)
            kinds = np.r_[np.zeros(n_snv, dtype=bool), np.ones(n_indel, dtype=bool)]
            order = np.argsort(sites, kind="stable")
            last_end = 0  # 1-based end of the previous accepted variant
            for site, is_indel in zip(sites[order].tolist(), kinds[order].tolist(), strict=True):
                if is_indel:
                    v = _draw_indel(rng, seq, contig, int(site), max_indel_length)
                else:
                    v = _draw_snv(rng, seq, contig, int(site), transition_fraction)
                # Keep a gap of one base so that no two variants touch after normalising.
                if v is None or v.pos <= last_end + 1 or "N" in v.ref or "N" in v.alt:
                    continue
                if ploidy == 1 or rng.random() >= het_fraction:
                    gt = (1, 1)
                else:
                    gt = (0, 1) if rng.random() < 0.5 else (1, 0)
                variants.append(TruthVariant(v.contig, v.pos, v.ref, v.alt, gt))
                last_end = v.end
    return variants


def _draw_snv(
    rng: np.random.Generator, seq: str, contig: str, site: int, ti_fraction: float
) -> TruthVariant | None:
    ref = seq[site]
    if ref not in _TRANSITION:
        return None
    alt = _TRANSITION[ref] if rng.random() < ti_fraction else _TRANSVERSIONS[ref][rng.integers(2)]
    return TruthVariant(contig, site + 1, ref, alt, (1, 1))


def _draw_indel(
    rng: np.random.Generator, seq: str, contig: str, site: int, max_length: int
) -> TruthVariant | None:
    length = min(max_length, int(rng.geometric(0.45)))
    if rng.random() < 0.5:  # deletion of seq[site:site+length]
        start, deleted = _left_align(seq, site, seq[site : site + length], True)
        anchor = seq[start - 1]
        return TruthVariant(contig, start, anchor + deleted, anchor, (1, 1))
    if rng.random() < 0.5:  # tandem duplication of the preceding bases (repeat expansion)
        inserted = seq[site - length : site] if site >= length else seq[:length]
    else:
        inserted = "".join("ACGT"[i] for i in rng.integers(0, 4, size=length))
    start, inserted = _left_align(seq, site, inserted, False)
    anchor = seq[start - 1]
    return TruthVariant(contig, start, anchor, anchor + inserted, (1, 1))


def write_truth_vcf(
    variants: Iterable[TruthVariant],
    out_vcf_gz: Path,
    *,
    reference: Path,
    sample: str = "TRUTH",
) -> Path:
    """Write ``variants`` as a bgzipped, tabix-indexed VCF in reference order."""
    with pysam.FastaFile(str(reference)) as fasta:
        contigs = list(zip(fasta.references, fasta.lengths, strict=True))
    rank = {name: i for i, (name, _) in enumerate(contigs)}
    lines = [
        "##fileformat=VCFv4.2",
        "##source=seqoia.genomics.simulate",
        f"##reference={Path(reference).name}",
        *(f"##contig=<ID={name},length={length}>" for name, length in contigs),
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "\t".join(
            ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", sample]
        ),
    ]
    for v in sorted(variants, key=lambda v: (rank[v.contig], v.pos)):
        gt = "|".join(map(str, v.genotype))
        lines.append(f"{v.contig}\t{v.pos}\t.\t{v.ref}\t{v.alt}\t.\tPASS\t.\tGT\t{gt}")
    out_vcf_gz = Path(out_vcf_gz)
    with pysam.BGZFile(str(out_vcf_gz), "wb", index=None) as fh:  # type: ignore[arg-type]
        fh.write(("\n".join(lines) + "\n").encode())
    pysam.tabix_index(str(out_vcf_gz), preset="vcf", force=True)
    return out_vcf_gz


# -- reads -----------------------------------------------------------------------------


class ErrorProfile(BaseModel):
    """How qualities and sequencing errors behave along a read.

    Mean quality falls from ``start_quality`` to ``end_quality`` following
    ``(cycle / length) ** decay_power`` (flat first, dropping at the end, as on Illumina),
    with per-read and per-base Gaussian noise and a fraction of uniformly poor reads. Errors
    are drawn with probability ``10 ** (-q / 10)`` from the quality *before* binning, so
    binned qualities stay roughly calibrated.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    start_quality: float = 38.0
    end_quality: float = 32.0
    decay_power: float = 2.0
    base_sd: float = 3.0
    read_sd: float = 1.5
    poor_read_fraction: float = Field(default=0.02, ge=0, le=1)
    poor_read_penalty: float = 12.0
    r2_penalty: float = 1.0
    n_rate: float = Field(default=2e-4, ge=0, le=1)
    max_quality: int = 41
    novaseq_binning: bool = True


HIGH_ERROR_PROFILE = ErrorProfile(
    start_quality=33.0, end_quality=20.0, base_sd=4.5, poor_read_fraction=0.10, n_rate=2e-3
)


class SimulationSummary(BaseModel):
    """What :func:`simulate_reads` produced, for tests and the demo's narrative."""

    model_config = ConfigDict(frozen=True)

    read_pairs: int
    duplicate_pairs: int
    bases: int
    substitution_errors: int
    n_bases: int
    q30_bases: int


_ERROR_PROBABILITY = np.power(10.0, -np.arange(64) / 10.0).astype(np.float32)
_NOVASEQ_BIN = np.array(
    [2 if q < 3 else 12 if q < 15 else 23 if q < 31 else 37 for q in range(64)], np.uint8
)
_BASE_CODE = np.zeros(256, dtype=np.uint8)
_BASE_CODE[np.frombuffer(b"ACGT", np.uint8)] = np.arange(4, dtype=np.uint8)


def _qualities(
    rng: np.random.Generator, n: int, length: int, profile: ErrorProfile, penalty: float
) -> tuple[np.ndarray, np.ndarray]:
    """(error probability, reported phred) matrices of shape ``(n, length)``."""
    cycle = np.arange(length, dtype=np.float32) / max(1, length - 1)
    mean = profile.start_quality - (profile.start_quality - profile.end_quality) * (
        cycle**profile.decay_power
    )
    offset = rng.normal(-penalty, profile.read_sd, size=(n, 1)).astype(np.float32)
    offset -= (rng.random((n, 1)) < profile.poor_read_fraction) * profile.poor_read_penalty
    noise = rng.standard_normal(size=(n, length), dtype=np.float32)
    noise *= profile.base_sd
    noise += mean[None, :] + offset
    q = np.clip(np.rint(noise), 2, profile.max_quality).astype(np.uint8)
    p_error = _ERROR_PROBABILITY[q]
    if profile.novaseq_binning:
        q = _NOVASEQ_BIN[q]
    return p_error, q


def _sequence_errors(
    rng: np.random.Generator,
    bases: np.ndarray,
    p_error: np.ndarray,
    quals: np.ndarray,
    n_rate: float,
) -> tuple[int, int]:
    """Substitute bases in place where errors fire; put Ns at quality 2. Returns counts."""
    errors = np.flatnonzero(rng.random(bases.size, dtype=np.float32) < p_error.ravel())
    flat, flat_q = bases.reshape(-1), quals.reshape(-1)
    errors = errors[flat[errors] != ord("N")]
    # Shift by 1-3 in ACGT space so the error base always differs from the true one.
    shift = rng.integers(1, 4, size=len(errors), dtype=np.uint8)
    flat[errors] = _BASES[(_BASE_CODE[flat[errors]] + shift) % 4]
    ns = rng.integers(0, bases.size, size=rng.binomial(bases.size, n_rate))
    flat[ns] = ord("N")
    flat_q[ns] = 2
    substituted = len(errors) - int(np.count_nonzero(np.isin(errors, ns)))
    return substituted, int(np.count_nonzero(flat == ord("N")))


def _haplotypes(
    reference: Path, variants: Sequence[TruthVariant], sex: Sex
) -> list[tuple[str, int, np.ndarray]]:
    """(contig, haplotype index, sequence) for every copy present in a ``sex`` sample."""
    by_contig: dict[str, list[TruthVariant]] = {}
    for v in variants:
        by_contig.setdefault(v.contig, []).append(v)
    out = []
    with pysam.FastaFile(str(reference)) as fasta:
        for contig in fasta.references:
            seq = fasta.fetch(contig).upper()
            for hap in range(contig_ploidy(contig, sex)):
                pieces, cursor = [], 0
                for v in sorted(by_contig.get(contig, []), key=lambda v: v.pos):
                    if v.genotype[hap] == 1:
                        pieces.append(seq[cursor : v.pos - 1])
                        pieces.append(v.alt)
                        cursor = v.pos - 1 + len(v.ref)
                pieces.append(seq[cursor:])
                out.append((contig, hap, np.frombuffer("".join(pieces).encode(), np.uint8)))
    return out


def simulate_reads(
    reference: Path,
    variants: Sequence[TruthVariant],
    out_r1: Path,
    out_r2: Path,
    *,
    coverage: float = 30.0,
    read_length: int = 150,
    insert_mean: float = 350.0,
    insert_sd: float = 50.0,
    seed: int = 0,
    error_profile: ErrorProfile | None = None,
    duplicate_fraction: float = 0.02,
    sex: Sex = "XX",
    instrument: str = "A00123",
    run_number: int = 42,
    flowcell: str = "HSIMFLOWX",
    lane: int = 1,
    index: str = "ACGTACGT+TTGCAGGA",
    read_name_prefix: str | None = None,
    batch_pairs: int = 50_000,
    compresslevel: int = 1,
) -> SimulationSummary:
    """Write paired gzipped FASTQ sampled from the diploid genome ``reference`` + ``variants``.

    ``coverage`` is raw sequencing depth per diploid position, duplicates included; a
    haploid contig (chrX or chrY in XY) gets half of it. Names follow Illumina's
    ``@<instrument>:<run>:<flowcell>:<lane>:<tile>:<x>:<y> <read>:N:0:<index>``, unique
    because y grows within a tile; ``read_name_prefix`` replaces the first three fields.
    ``duplicate_fraction`` of pairs are PCR copies of another fragment (fresh errors).
    """
    profile = error_profile or ErrorProfile()
    haps = _haplotypes(reference, variants, sex)
    haps = [h for h in haps if len(h[2]) > insert_mean + 4 * insert_sd]
    lengths = np.array([len(h[2]) for h in haps], dtype=np.int64)
    genome = np.concatenate([h[2] for h in haps])
    offsets = np.r_[0, np.cumsum(lengths)[:-1]]
    # Each haplotype copy carries half of the diploid depth.
    total_pairs = int(round(coverage * lengths.sum() / (4 * read_length)))
    weights = lengths / lengths.sum()
    prefix = read_name_prefix or f"{instrument}:{run_number}:{flowcell}"
    tiles = [s * 1000 + sw * 100 + t for s in (1, 2) for sw in (1, 2) for t in range(1, 79)]
    per_tile = max(1, math.ceil(total_pairs / len(tiles)))
    y_step = max(1, 37_000 // per_tile)

    rng = _rng(seed, 3)
    counts = dict(bases=0, errors=0, ns=0, q30=0, dups=0)
    with (
        igzip.open(out_r1, "wb", compresslevel=compresslevel) as f1,
        igzip.open(out_r2, "wb", compresslevel=compresslevel) as f2,
    ):
        for first in range(0, total_pairs, batch_pairs):
            n = min(batch_pairs, total_pairs - first)
            inserts = np.rint(rng.normal(insert_mean, insert_sd, n)).astype(np.int64)
            inserts = np.clip(inserts, read_length, None)
            which = rng.choice(len(haps), size=n, p=weights)
            room = np.maximum(lengths[which] - inserts, 1)
            starts = offsets[which] + (rng.random(n) * room).astype(np.int64)
            n_dup = min(int(rng.binomial(n, duplicate_fraction)), n - 1) if n > 1 else 0
            if n_dup:
                # Copies take their fragment from pairs that stay unique, so that exactly
                # n_dup pairs are duplicates (a copy of a copy would lose its original).
                order = rng.permutation(n)
                copies, originals = order[:n_dup], order[n_dup:]
                sources = originals[rng.integers(0, len(originals), size=n_dup)]
                starts[copies], inserts[copies] = starts[sources], inserts[sources]
                counts["dups"] += n_dup
            cols = np.arange(read_length)
            left = genome[starts[:, None] + cols]
            right = _COMPLEMENT[genome[(starts + inserts - read_length)[:, None] + cols]][:, ::-1]
            flip = rng.random(n) < 0.5
            r1 = np.where(flip[:, None], right, left)
            r2 = np.where(flip[:, None], left, right)
            names = _read_names(prefix, lane, tiles, per_tile, y_step, first, n, rng)
            for mate, (reads, fh) in enumerate(((r1, f1), (r2, f2)), start=1):
                p_err, quals = _qualities(
                    rng, n, read_length, profile, profile.r2_penalty * (mate - 1)
                )
                errs, ns = _sequence_errors(rng, reads, p_err, quals, profile.n_rate)
                counts["errors"] += errs
                counts["ns"] += ns
                counts["bases"] += reads.size
                counts["q30"] += int(np.count_nonzero(quals >= 30))
                fh.write(_fastq_block(names, f" {mate}:N:0:{index}\n".encode(), reads, quals))
    return SimulationSummary(
        read_pairs=total_pairs,
        duplicate_pairs=counts["dups"],
        bases=counts["bases"],
        substitution_errors=counts["errors"],
        n_bases=counts["ns"],
        q30_bases=counts["q30"],
    )


def _read_names(
    prefix: str,
    lane: int,
    tiles: list[int],
    per_tile: int,
    y_step: int,
    first: int,
    n: int,
    rng: np.random.Generator,
) -> list[bytes]:
    i = np.arange(first, first + n)
    tile_idx = np.minimum(i // per_tile, len(tiles) - 1)
    y = 1000 + (i % per_tile) * y_step + rng.integers(0, y_step, size=n)
    x = rng.integers(1000, 32_000, size=n)
    return [
        f"@{prefix}:{lane}:{tiles[t]}:{xx}:{yy}".encode()
        for t, xx, yy in zip(tile_idx.tolist(), x.tolist(), y.tolist(), strict=True)
    ]


def _fastq_block(names: list[bytes], suffix: bytes, seqs: np.ndarray, quals: np.ndarray) -> bytes:
    n, length = seqs.shape
    body = np.empty((n, 2 * length + 4), dtype=np.uint8)
    body[:, :length] = seqs
    body[:, length : length + 3] = np.frombuffer(b"\n+\n", np.uint8)
    body[:, length + 3 : 2 * length + 3] = quals + 33
    body[:, -1] = ord("\n")
    raw = body.tobytes()
    width = body.shape[1]
    return b"".join(
        name + suffix + raw[k * width : (k + 1) * width] for k, name in enumerate(names)
    )


PoorKind = Literal["low_coverage", "high_error", "high_duplicates"]


def simulate_poor_sample(
    reference: Path,
    variants: Sequence[TruthVariant],
    out_r1: Path,
    out_r2: Path,
    *,
    kind: PoorKind,
    seed: int = 0,
    coverage: float = 30.0,
    **options: object,
) -> SimulationSummary:
    """Reads for a sample that must fail QC: ``low_coverage`` (6×), ``high_error``
    (poor qualities, Q30 ≈ 40 %) or ``high_duplicates`` (45 % PCR duplicates)."""
    settings: dict[str, object] = {"coverage": coverage}
    if kind == "low_coverage":
        settings["coverage"] = coverage / 5
    elif kind == "high_error":
        settings["error_profile"] = HIGH_ERROR_PROFILE
    elif kind == "high_duplicates":
        settings["duplicate_fraction"] = 0.45
    else:
        raise ValueError(f"unknown poor-sample kind {kind!r}")
    settings.update(options)
    return simulate_reads(reference, variants, out_r1, out_r2, seed=seed, **settings)  # type: ignore[arg-type]
