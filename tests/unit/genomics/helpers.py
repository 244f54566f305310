"""A tiny diploid genome with planted variants and paired reads, for the tool-layer tests.

A random reference, two haplotypes carrying known SNVs and indels (heterozygous or
homozygous), and error-light 2x100 read pairs drawn from both haplotypes, with a few
exact duplicate pairs planted. Built once per test session in a temporary folder.
"""

from __future__ import annotations

import atexit
import functools
import gzip
import math
import random
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from seqoia.genomics.align import FastqPair, ReadGroup
from seqoia.genomics.reference import PreparedReference, prepare_reference

_COMPLEMENT = str.maketrans("ACGT", "TGCA")


@dataclass(frozen=True)
class Planted:
    chrom: str
    pos: int  # 1-based, VCF style (indels anchored on the preceding base)
    ref: str
    alt: str
    genotype: str  # "0|1", "1|0" or "1|1"


@dataclass(frozen=True)
class SampleData:
    folder: Path
    reference: PreparedReference
    variants: tuple[Planted, ...]
    truth_vcf: Path
    pairs: tuple[FastqPair, ...]  # two lanes of the same library
    duplicate_pairs: int


def random_genome(rng: random.Random, lengths: dict[str, int]) -> dict[str, str]:
    return {name: "".join(rng.choice("ACGT") for _ in range(n)) for name, n in lengths.items()}


def plant_variants(
    rng: random.Random, genome: dict[str, str], *, snvs: int, indels: int, spacing: int = 300
) -> list[Planted]:
    """SNVs and 1-6 bp indels at least ``spacing`` apart, away from contig ends.

    Indels are drawn so that they are already left-aligned (the last inserted or deleted
    base differs from the anchor), hence their VCF form is the normalised one.
    """
    slots = [(c, s) for c, seq in genome.items() for s in range(400, len(seq) - 400, spacing)]
    rng.shuffle(slots)
    planted = []
    for i, (chrom, start) in enumerate(slots[: snvs + indels]):
        seq = genome[chrom]
        pos = start + rng.randrange(0, spacing // 3)
        gt = rng.choice(["0|1", "1|0", "1|1"])
        anchor = seq[pos - 1]
        if i < snvs:
            planted.append(Planted(chrom, pos, anchor, rng.choice(
                [b for b in "ACGT" if b != anchor]), gt))  # fmt: skip
            continue
        size = rng.randint(1, 6)
        if i % 2:
            ref = seq[pos - 1 : pos + size]
            while ref[-1] == anchor:
                pos += 1
                anchor, ref = seq[pos - 1], seq[pos - 1 : pos + size]
            planted.append(Planted(chrom, pos, ref, anchor, gt))
        else:
            insert = "".join(rng.choice("ACGT") for _ in range(size - 1))
            insert += rng.choice([b for b in "ACGT" if b != anchor])
            planted.append(Planted(chrom, pos, anchor, anchor + insert, gt))
    return sorted(planted, key=lambda v: (v.chrom, v.pos))


def haplotypes(genome: dict[str, str], planted: list[Planted]) -> list[dict[str, str]]:
    result = []
    for hap in (0, 1):
        seqs = {}
        for chrom, seq in genome.items():
            chars = list(seq)
            here = [v for v in planted if v.chrom == chrom and v.genotype.split("|")[hap] == "1"]
            for v in sorted(here, key=lambda v: v.pos, reverse=True):
                chars[v.pos - 1 : v.pos - 1 + len(v.ref)] = list(v.alt)
            seqs[chrom] = "".join(chars)
        result.append(seqs)
    return result


def simulate_pairs(
    rng: random.Random,
    haps: list[dict[str, str]],
    n_pairs: int,
    *,
    read_length: int = 100,
    insert: int = 300,
    error: float = 0.002,
) -> list[tuple[str, str, str, str, str]]:
    pairs = []
    contigs = [(h, c) for h in range(len(haps)) for c in haps[h]]
    for i in range(n_pairs):
        hap, chrom = rng.choice(contigs)
        seq = haps[hap][chrom]
        size = max(read_length + 10, int(rng.gauss(insert, 30)))
        start = rng.randrange(0, len(seq) - size)
        fragment = seq[start : start + size]
        r1, r2 = fragment[:read_length], fragment[-read_length:].translate(_COMPLEMENT)[::-1]
        if rng.random() < 0.5:
            r1, r2 = r2, r1
        # Qualities honest about the error rate (Q27 for 0.2%), as a caller relies on them.
        qual = chr(33 + round(-10 * math.log10(error))) * read_length
        pairs.append((f"sim{i}", _mutate(rng, r1, error), qual, _mutate(rng, r2, error), qual))
    return pairs


def _mutate(rng: random.Random, read: str, error: float) -> str:
    chars = list(read)
    for i in range(len(chars)):
        if rng.random() < error:
            chars[i] = rng.choice([b for b in "ACGT" if b != chars[i]])
    return "".join(chars)


def write_fastq_pair(records: list[tuple[str, ...]], r1: Path, r2: Path) -> None:
    with gzip.open(r1, "wt") as one, gzip.open(r2, "wt") as two:
        for name, s1, q1, s2, q2 in records:
            one.write(f"@{name}/1\n{s1}\n+\n{q1}\n")
            two.write(f"@{name}/2\n{s2}\n+\n{q2}\n")


def write_fasta(genome: dict[str, str], path: Path) -> None:
    with path.open("w") as out:
        for name, seq in genome.items():
            out.write(f">{name}\n")
            for i in range(0, len(seq), 60):
                out.write(seq[i : i + 60] + "\n")


def write_truth(planted: list[Planted], genome: dict[str, str], path: Path) -> None:
    lines = ["##fileformat=VCFv4.2", '##FORMAT=<ID=GT,Number=1,Type=String,Description="GT">']
    lines += [f"##contig=<ID={c},length={len(s)}>" for c, s in genome.items()]
    lines.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ttruth")
    for v in sorted(planted, key=lambda v: (v.chrom, v.pos)):
        lines.append(f"{v.chrom}\t{v.pos}\t.\t{v.ref}\t{v.alt}\t.\tPASS\t.\tGT\t{v.genotype}")
    path.write_text("\n".join(lines) + "\n")


@functools.cache
def sample_data() -> SampleData:
    """The shared test sample: 2 contigs (60 kb), ~30x of 2x100 reads over two lanes."""
    folder = Path(tempfile.mkdtemp(prefix="seqoia-genomics-test-"))
    atexit.register(shutil.rmtree, folder, True)
    rng = random.Random(20240229)
    genome = random_genome(rng, {"chrA": 40_000, "chrB": 20_000})
    planted = plant_variants(rng, genome, snvs=60, indels=20)
    fasta = folder / "genome.fa.gz"
    write_fasta(genome, folder / "genome.fa")
    with (folder / "genome.fa").open("rb") as src, gzip.open(fasta, "wb") as dst:
        shutil.copyfileobj(src, dst)
    reference = prepare_reference(fasta, folder / "ref")
    truth = folder / "truth.vcf"
    write_truth(planted, genome, truth)
    reads = simulate_pairs(rng, haplotypes(genome, planted), 9000)
    duplicates = 50  # exact copies of earlier pairs under new names
    copies = [(f"dup{i}", *reads[i][1:]) for i in range(duplicates)]
    lanes = (reads[:4500] + copies, reads[4500:])
    pairs = []
    for lane, records in enumerate(lanes, start=1):
        r1, r2 = folder / f"S1_L00{lane}_R1.fastq.gz", folder / f"S1_L00{lane}_R2.fastq.gz"
        write_fastq_pair(records, r1, r2)
        group = ReadGroup(
            id=f"FC1.{lane}", sample="S1", library="LIB1", platform_unit=f"FC1.{lane}"
        )
        pairs.append(FastqPair(r1=r1, r2=r2, read_group=group))
    return SampleData(folder, reference, tuple(planted), truth, tuple(pairs), duplicates)
