"""Truth evaluation (normalised matching) and the reference self-repeat mask."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from seqoia.genomics.evaluate import evaluate_calls, repeat_mask
from seqoia.genomics.reference import prepare_reference

from .helpers import random_genome, write_fasta

_HEADER = (
    "##fileformat=VCFv4.2\n##contig=<ID=c,length={n}>\n"
    '##FILTER=<ID=LowQual,Description="low">\n'
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="GT">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS\n"
)


def _vcf(path: Path, length: int, rows: list[str]) -> Path:
    path.write_text(_HEADER.format(n=length) + "".join(r.replace(" ", "\t") + "\n" for r in rows))
    return path


@pytest.fixture
def fasta(tmp_path: Path) -> Path:
    # A homopolymer run AAAAA at 1-based 101-105 lets an indel be written two ways.
    seq = list(random_genome(random.Random(3), {"c": 400})["c"])
    seq[99] = "C"
    seq[100:105] = "AAAAA"
    seq[105] = "G"
    write_fasta({"c": "".join(seq)}, tmp_path / "ref.fa")
    return tmp_path / "ref.fa"


def _base(fasta: Path, pos: int) -> str:
    return "".join(fasta.read_text().split("\n")[1:])[pos - 1]


def test_evaluation_matches_after_normalisation_and_counts_each_class(
    tmp_path: Path, fasta: Path
) -> None:
    b = {p: _base(fasta, p) for p in (50, 60, 70, 80, 200)}
    alt = {p: "T" if b[p] != "T" else "G" for p in b}
    truth = _vcf(tmp_path / "truth.vcf", 400, [
        f"c 50 . {b[50]} {alt[50]} . PASS . GT 0|1",   # found
        f"c 60 . {b[60]} {alt[60]} . PASS . GT 1|1",   # found as het: genotype mismatch
        f"c 70 . {b[70]} {alt[70]} . PASS . GT 0|1",   # missed
        "c 100 . CA C . PASS . GT 0|1",                # deletion of one A, left-aligned
        f"c 200 . {b[200]} {b[200]}TT . PASS . GT 1|1",  # insertion missed
    ])  # fmt: skip
    calls = _vcf(tmp_path / "calls.vcf", 400, [
        f"c 50 . {b[50]} {alt[50]} 50 PASS . GT 0/1",
        f"c 60 . {b[60]} {alt[60]} 50 PASS . GT 0/1",
        f"c 80 . {b[80]} {alt[80]} 50 PASS . GT 0/1",     # false positive
        f"c 70 . {b[70]} {alt[70]} 5 LowQual . GT 0/1",   # filtered: does not count
        "c 104 . AAG AG 50 PASS . GT 0/1",                # same deletion, right-shifted
    ])  # fmt: skip
    result = evaluate_calls(calls, truth, fasta)
    assert (result.snv.tp, result.snv.fp, result.snv.fn) == (2, 1, 1)
    assert (result.indel.tp, result.indel.fp, result.indel.fn) == (1, 0, 1)
    assert (result.snv_genotype.tp, result.snv_genotype.fp, result.snv_genotype.fn) == (1, 2, 2)
    assert result.snv.precision == pytest.approx(2 / 3)
    assert result.snv.recall == pytest.approx(2 / 3)
    assert result.indel.f1 == pytest.approx(2 * 1 * 0.5 / 1.5)
    masked = tmp_path / "mask.bed"
    masked.write_text("c\t75\t85\nc\t199\t201\n")
    outside = evaluate_calls(calls, truth, fasta, mask_bed=masked)
    assert (outside.snv.fp, outside.indel.fn) == (0, 0)
    include = tmp_path / "include.bed"
    include.write_text("c\t40\t65\n")
    inside = evaluate_calls(calls, truth, fasta, include_bed=include)
    assert (inside.snv.tp, inside.snv.fp, inside.snv.fn, inside.indel.fn) == (2, 0, 0, 0)


def test_repeat_mask_marks_both_copies_of_a_duplicated_segment_only(tmp_path: Path) -> None:
    rng = random.Random(11)
    genome = random_genome(rng, {"c": 30_000})["c"]
    segment = genome[5_000:5_800]
    genome = genome[:20_000] + segment + genome[20_800:]  # copy 5000-5800 to 20000-20800
    write_fasta({"c": genome}, tmp_path / "g.fa")
    reference = prepare_reference(tmp_path / "g.fa", tmp_path / "ref", bwa=False)
    bed = tmp_path / "repeats.bed"
    masked = repeat_mask(reference, bed, k=100, step=10, threads=2)
    spans = [tuple(map(int, line.split("\t")[1:3])) for line in bed.read_text().splitlines()]
    assert masked == sum(e - s for s, e in spans)
    for start, end in ((5_000, 5_800), (20_000, 20_800)):
        covered = sum(max(0, min(e, end) - max(s, start)) for s, e in spans)
        assert covered >= 0.9 * (end - start)
    # Nothing far from either copy is masked.
    assert all((s >= 4_800 and e <= 6_000) or (s >= 19_800 and e <= 21_000) for s, e in spans)
