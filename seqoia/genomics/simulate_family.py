"""A simulated family: founders drawn from one population, children by meiosis, de novo
variants planted in the proband, and each member's reads with its truth.

Built on :mod:`seqoia.genomics.simulate`: the variant *sites* of a population come from
:func:`~seqoia.genomics.simulate.simulate_variants` (realistic SNVs and left-aligned
indels), each gets a population allele frequency, and each founder (mother, father)
draws both haplotypes' alleles from it (Hardy-Weinberg, so relatedness estimators see
the population they expect). A child takes one recombinant haplotype from each parent:
crossovers fall uniformly at ``crossovers_per_mbp`` per meiosis (2 per Mbp, scaled up
from the human ~0.01 so that a bacterial-size genome still recombines). On chrX a son
takes his mother's recombinant X only and a daughter her father's single X as well. The
proband then gets ``n_de_novo`` new SNVs and indels (heterozygous, or hemizygous on a
son's chrX) at least ``DE_NOVO_SPACING`` bases from any other variant. Each member's
reads come from :func:`~seqoia.genomics.simulate.simulate_reads` at ``coverage``.

The meiosis and founder functions work on allele arrays alone, so genotype-level
simulations (many trios, no reads) use the same model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pysam
from pydantic import BaseModel, ConfigDict

from seqoia.genomics.simulate import (
    Sex,
    SimulationSummary,
    TruthVariant,
    simulate_reads,
    simulate_variants,
    write_truth_vcf,
)

Role = Literal["proband", "mother", "father", "sibling"]
#: Minimum distance (bp) between a de novo variant and any other variant.
DE_NOVO_SPACING = 60
_X_NAMES = ("chrX", "X")
_Y_NAMES = ("chrY", "Y")


@dataclass(frozen=True)
class Population:
    """Variant sites per contig (in position order) with their alternate allele frequencies."""

    sites: dict[str, list[TruthVariant]]
    frequencies: dict[str, np.ndarray]

    def positions(self, contig: str) -> np.ndarray:
        return np.array([v.pos for v in self.sites[contig]], dtype=np.int64)


def draw_population(
    reference: Path,
    *,
    seed: int,
    snv_rate: float = 2e-3,
    indel_rate: float = 2e-4,
    min_frequency: float = 0.05,
    max_frequency: float = 0.95,
) -> Population:
    """Population variant sites on ``reference`` (not chrY), frequencies uniform in a range."""
    variants = simulate_variants(reference, seed=seed, snv_rate=snv_rate, indel_rate=indel_rate)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 11]))
    sites: dict[str, list[TruthVariant]] = {}
    for v in variants:
        if v.contig not in _Y_NAMES:
            sites.setdefault(v.contig, []).append(v)
    frequencies = {
        c: rng.uniform(min_frequency, max_frequency, size=len(vs)) for c, vs in sites.items()
    }
    return Population(sites, frequencies)


def draw_founder(frequencies: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Two haplotypes of alleles (sites x 2, 0/1) drawn independently at ``frequencies``."""
    return (rng.random((len(frequencies), 2)) < frequencies[:, None]).astype(np.int8)


def meiosis(
    haplotypes: np.ndarray,
    positions: np.ndarray,
    contig_length: int,
    rng: np.random.Generator,
    *,
    crossovers_per_mbp: float = 2.0,
) -> np.ndarray:
    """One transmitted haplotype: a random start copy, switched at Poisson crossovers."""
    n_cross = rng.poisson(crossovers_per_mbp * contig_length / 1e6)
    breaks = np.sort(rng.integers(1, max(2, contig_length), size=n_cross))
    # the copy in force at each site: start copy flipped once per crossover before it
    copy = (int(rng.integers(2)) + np.searchsorted(breaks, positions, side="right")) % 2
    return haplotypes[np.arange(len(positions)), copy]


class FamilyMember(BaseModel):
    """One simulated member: role, sex, truth and reads."""

    model_config = ConfigDict(frozen=True)

    sample: str
    role: Role
    sex: Sex
    truth_vcf: Path
    r1: Path
    r2: Path
    reads: SimulationSummary | None = None


class FamilyTruth(BaseModel):
    """What :func:`simulate_family` wrote: members and the proband's de novo variants."""

    model_config = ConfigDict(frozen=True)

    family: str
    members: tuple[FamilyMember, ...]
    de_novo: tuple[tuple[str, int, str, str], ...]  # (contig, pos, ref, alt)
    de_novo_vcf: Path

    def member(self, role: Role) -> FamilyMember:
        return next(m for m in self.members if m.role == role)


@dataclass
class _Person:
    sample: str
    role: Role
    sex: Sex
    haps: dict[str, np.ndarray] = field(default_factory=dict)  # contig -> sites x 2
    extra: list[TruthVariant] = field(default_factory=list)  # de novo variants


def _is_x(contig: str) -> bool:
    return contig in _X_NAMES


def _child(
    sample: str, role: Role, sex: Sex, mother: _Person, father: _Person, population: Population,
    lengths: dict[str, int], rng: np.random.Generator, crossovers_per_mbp: float,
) -> _Person:  # fmt: skip
    child = _Person(sample, role, sex)
    for contig, freqs in population.frequencies.items():
        positions = population.positions(contig)
        from_mother = meiosis(mother.haps[contig], positions, lengths[contig], rng,
                              crossovers_per_mbp=crossovers_per_mbp)  # fmt: skip
        if _is_x(contig):
            # a father's single X goes whole to a daughter; a son gets his Y instead
            from_father = father.haps[contig][:, 0] if sex == "XX" else from_mother
        else:
            from_father = meiosis(father.haps[contig], positions, lengths[contig], rng,
                                  crossovers_per_mbp=crossovers_per_mbp)  # fmt: skip
        child.haps[contig] = np.stack([from_mother, from_father], axis=1).astype(np.int8)
        assert len(freqs) == len(positions)
    return child


def _founder(sample: str, role: Role, sex: Sex, population: Population,
             rng: np.random.Generator) -> _Person:  # fmt: skip
    person = _Person(sample, role, sex)
    for contig, freqs in population.frequencies.items():
        haps = draw_founder(freqs, rng)
        if sex == "XY" and _is_x(contig):
            haps[:, 1] = haps[:, 0]  # one X: the haploid copy read by simulate_reads
        person.haps[contig] = haps
    return person


def _left_align(seq: str, start: int, allele: str, deletion: bool) -> tuple[int, str]:
    """Shift an indel left while it stays equivalent (``start`` 0-based, after the anchor)."""
    if deletion:
        while start > 1 and seq[start - 1] == seq[start + len(allele) - 1]:
            start -= 1
            allele = seq[start : start + len(allele)]
        return start, allele
    while start > 1 and seq[start - 1] == allele[-1]:
        allele = allele[-1] + allele[:-1]
        start -= 1
    return start, allele


def plant_de_novo(
    reference: Path,
    population: Population,
    child: _Person,
    n: int,
    rng: np.random.Generator,
    *,
    indel_fraction: float = 0.25,
) -> list[TruthVariant]:
    """``n`` new variants on random haplotypes of ``child``, clear of every other variant."""
    taken: dict[str, list[int]] = {c: [v.pos for v in vs] for c, vs in population.sites.items()}
    planted: list[TruthVariant] = []
    with pysam.FastaFile(str(reference)) as fasta:
        contigs = [c for c in fasta.references if c not in _Y_NAMES]
        lengths = np.array([fasta.get_reference_length(c) for c in contigs], dtype=float)
        seqs = {c: fasta.fetch(c).upper() for c in contigs}
    attempts = 0
    while len(planted) < n and attempts < 100 * n:
        attempts += 1
        contig = contigs[int(rng.choice(len(contigs), p=lengths / lengths.sum()))]
        seq = seqs[contig]
        site = int(rng.integers(200, len(seq) - 200))  # 0-based
        variant = _draw(seq, contig, site, rng, indel_fraction)
        if variant is None or "N" in variant.ref + variant.alt:
            continue
        near = taken.setdefault(contig, [])
        if any(abs(variant.pos - p) < DE_NOVO_SPACING for p in near):
            continue
        hemizygous = child.sex == "XY" and _is_x(contig)
        gt = (1, 1) if hemizygous else ((1, 0) if rng.random() < 0.5 else (0, 1))
        planted.append(TruthVariant(contig, variant.pos, variant.ref, variant.alt, gt))
        near.append(variant.pos)
    child.extra = planted
    return planted


def _draw(seq: str, contig: str, site: int, rng: np.random.Generator,
          indel_fraction: float) -> TruthVariant | None:  # fmt: skip
    if rng.random() >= indel_fraction:
        ref = seq[site]
        if ref not in "ACGT":
            return None
        alt = "ACGT".replace(ref, "")[int(rng.integers(3))]
        return TruthVariant(contig, site + 1, ref, alt, (0, 1))
    length = int(rng.integers(1, 5))
    if rng.random() < 0.5:
        start, deleted = _left_align(seq, site, seq[site : site + length], True)
        anchor = seq[start - 1]
        return TruthVariant(contig, start, anchor + deleted, anchor, (0, 1))
    inserted = "".join("ACGT"[i] for i in rng.integers(0, 4, size=length))
    start, inserted = _left_align(seq, site, inserted, False)
    anchor = seq[start - 1]
    return TruthVariant(contig, start, anchor, anchor + inserted, (0, 1))


def member_variants(person: _Person, population: Population) -> list[TruthVariant]:
    """The person's non-reference variants (phased) with its de novo ones, in order."""
    out = list(person.extra)
    for contig, haps in person.haps.items():
        for v, (a, b) in zip(population.sites[contig], haps.tolist(), strict=True):
            if a or b:
                out.append(TruthVariant(v.contig, v.pos, v.ref, v.alt, (int(a), int(b))))
    return sorted(out, key=lambda v: (v.contig, v.pos))


def simulate_family(
    reference: Path,
    out_dir: Path,
    *,
    family: str = "FAM1",
    seed: int = 0,
    proband_sex: Sex = "XY",
    n_siblings: int = 0,
    n_de_novo: int = 40,
    coverage: float = 30.0,
    crossovers_per_mbp: float = 2.0,
    population: Population | None = None,
    reads: bool = True,
    read_length: int = 150,
) -> FamilyTruth:
    """Simulate a trio (plus siblings) on ``reference``; write truth VCFs and FASTQs.

    Samples are named ``<family>-P`` (proband), ``-M``, ``-F`` and ``-S<n>``; siblings
    alternate XX / XY. ``reads=False`` writes the truth only.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 12]))
    population = population or draw_population(reference, seed=seed)
    with pysam.FastaFile(str(reference)) as fasta:
        lengths = dict(zip(fasta.references, fasta.lengths, strict=True))
    mother = _founder(f"{family}-M", "mother", "XX", population, rng)
    father = _founder(f"{family}-F", "father", "XY", population, rng)
    proband = _child(f"{family}-P", "proband", proband_sex, mother, father, population,
                     lengths, rng, crossovers_per_mbp)  # fmt: skip
    people = [proband, mother, father]
    for i in range(n_siblings):
        sex: Sex = "XX" if i % 2 == 0 else "XY"
        people.append(_child(f"{family}-S{i + 1}", "sibling", sex, mother, father, population,
                             lengths, rng, crossovers_per_mbp))  # fmt: skip
    de_novo = plant_de_novo(reference, population, proband, n_de_novo, rng)
    de_novo_vcf = write_truth_vcf(de_novo, out_dir / f"{family}.de_novo.truth.vcf.gz",
                                  reference=reference, sample=proband.sample)  # fmt: skip
    members = []
    for index, person in enumerate(people):
        variants = member_variants(person, population)
        truth = write_truth_vcf(variants, out_dir / f"{person.sample}.truth.vcf.gz",
                                reference=reference, sample=person.sample)  # fmt: skip
        r1 = out_dir / f"{person.sample}_R1.fastq.gz"
        r2 = out_dir / f"{person.sample}_R2.fastq.gz"
        summary = None
        if reads:
            summary = simulate_reads(reference, variants, r1, r2, coverage=coverage,
                                     seed=seed * 100 + index + 1, sex=person.sex,
                                     read_length=read_length, lane=1 + index)  # fmt: skip
        members.append(FamilyMember(sample=person.sample, role=person.role, sex=person.sex,
                                    truth_vcf=truth, r1=r1, r2=r2, reads=summary))  # fmt: skip
    result = FamilyTruth(
        family=family,
        members=tuple(members),
        de_novo=tuple((v.contig, v.pos, v.ref, v.alt) for v in de_novo),
        de_novo_vcf=de_novo_vcf,
    )
    (out_dir / f"{family}.truth.json").write_text(json.dumps(result.model_dump(mode="json"),
                                                             indent=1))  # fmt: skip
    return result
