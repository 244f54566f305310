"""Germline accuracy bench: simulated 30x E. coli K-12 MG1655, diploid truth from dwgsim.

Runs the germline tool layer end to end (prepare reference, align, mark duplicates, call
variants) on reads simulated by Debian's ``dwgsim`` and compares the calls with the
mutations dwgsim planted, genome-wide and outside the reference's own repeats. Prints
precision, recall and F1 for SNVs and indels, the targets met or missed, and the time of
each step.

Needs ``apt-get install -y ragout-examples dwgsim``. Usage::

    python bench/accuracy.py [--threads 2] [--aligner mappy] [--use-binaries auto]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pysam

from seqoia.genomics.align import FastqPair, ReadGroup, align_sample
from seqoia.genomics.evaluate import Counts, evaluate_calls, repeat_mask
from seqoia.genomics.markdup import mark_duplicates
from seqoia.genomics.reference import PreparedReference, prepare_reference
from seqoia.genomics.variants import CallParams, call_variants

IUPAC = {"R": "AG", "Y": "CT", "S": "CG", "W": "AT", "K": "GT", "M": "AC"}
#: (scope, class) -> (min precision, min recall)
TARGETS = {
    ("outside repeats", "SNV"): (0.995, 0.995),
    ("outside repeats", "indel"): (0.995, 0.98),
    ("genome-wide", "SNV"): (0.995, 0.98),
    ("genome-wide", "indel"): (0.995, 0.97),
}


def find_ecoli() -> Path:
    """The MG1655 FASTA shipped by Debian's ragout-examples."""
    try:
        listing = subprocess.run(
            ["dpkg", "-L", "ragout-examples"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        sys.exit("needs the E. coli reference: apt-get install -y ragout-examples")
    for line in listing.splitlines():
        if line.endswith("MG1655-K12.fasta.gz"):
            return Path(line)
    sys.exit("MG1655-K12.fasta.gz not found in ragout-examples")


def simulate(fasta: Path, prefix: Path, coverage: float, seed: int) -> None:
    """Diploid 2x150 paired reads with dwgsim's default het/hom mutation model."""
    if shutil.which("dwgsim") is None:
        sys.exit("needs dwgsim: apt-get install -y dwgsim")
    command = ["dwgsim", "-C", str(coverage), "-1", "150", "-2", "150", "-r", "0.001",
               "-R", "0.1", "-X", "0", "-y", "0", "-d", "350", "-s", "35", "-z", str(seed),
               "-o", "1", str(fasta), str(prefix)]  # fmt: skip
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def truth_from_dwgsim(mutations_txt: Path, fasta: Path, out_vcf: Path) -> int:
    """Build a diploid truth VCF from dwgsim's ``.mutations.txt``.

    The ``.txt`` is the complete record (its ``.vcf`` can omit a deletion). Columns:
    contig, 1-based position, reference, variant (IUPAC for a heterozygous SNV, ``-`` for
    an absent allele), and the haplotypes carrying it (1, 2, or 3 for both).
    """
    ref = pysam.FastaFile(str(fasta))
    records: list[tuple[str, int, str, str, str]] = []
    with mutations_txt.open() as handle:
        for line in handle:
            chrom, pos_s, ref_s, var_s, strand_s = line.split()[:5]
            pos, strand = int(pos_s), int(strand_s)
            gt = {1: "1|0", 2: "0|1", 3: "1|1"}[strand]
            if ref_s == "-":  # insertion after pos
                base = ref.fetch(chrom, pos - 1, pos).upper()
                records.append((chrom, pos, base, base + var_s, gt))
            elif var_s == "-":  # deletion of ref_s starting at pos
                base = ref.fetch(chrom, pos - 2, pos - 1).upper()
                records.append((chrom, pos - 1, base + ref_s, base, gt))
            else:
                alts = [b for b in IUPAC.get(var_s, var_s) if b != ref_s]
                if len(alts) == 2:
                    records.append((chrom, pos, ref_s, ",".join(alts), "1|2"))
                else:
                    records.append((chrom, pos, ref_s, alts[0], "1|1" if strand == 3 else gt))
    header = ["##fileformat=VCFv4.2", '##FORMAT=<ID=GT,Number=1,Type=String,Description="GT">']
    header += [f"##contig=<ID={n},length={ref.get_reference_length(n)}>" for n in ref.references]
    header.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ttruth")
    plain = out_vcf.with_suffix("")
    with plain.open("w") as out:
        out.write("\n".join(header) + "\n")
        for chrom, pos, r, a, gt in sorted(records, key=lambda x: (x[0], x[1])):
            out.write(f"{chrom}\t{pos}\t.\t{r}\t{a}\t.\tPASS\t.\tGT\t{gt}\n")
    pysam.tabix_index(str(plain), preset="vcf", force=True)
    return len(records)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/seqoia-bench-accuracy"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--coverage", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=35)
    parser.add_argument("--aligner", choices=["mappy", "minimap2", "bwa"], default="mappy")
    parser.add_argument("--use-binaries", choices=["auto", "yes", "no"], default="auto")
    args = parser.parse_args()
    binaries = {"auto": None, "yes": True, "no": False}[args.use_binaries]
    work: Path = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}

    def timed(step: str, fn, *a, **kw):  # type: ignore[no-untyped-def]
        started = time.monotonic()
        result = fn(*a, **kw)
        timings[step] = time.monotonic() - started
        print(f"  {step:<18} {timings[step]:7.1f} s", flush=True)
        return result

    print(f"accuracy bench in {work} ({args.threads} threads, aligner {args.aligner})")
    reference: PreparedReference = timed(
        "prepare reference", prepare_reference, find_ecoli(), work / "ref", bwa=None
    )
    prefix = work / f"sim_c{args.coverage:g}_s{args.seed}"
    r1, r2 = Path(f"{prefix}.bwa.read1.fastq.gz"), Path(f"{prefix}.bwa.read2.fastq.gz")
    if not (r1.exists() and Path(f"{prefix}.mutations.txt").exists()):
        timed("simulate (dwgsim)", simulate, reference.fasta, prefix, args.coverage, args.seed)
    truth = work / "truth.vcf.gz"
    n_truth = truth_from_dwgsim(Path(f"{prefix}.mutations.txt"), reference.fasta, truth)
    group = ReadGroup(id="sim.1", sample="SIM", library="lib1", platform_unit="sim.1")
    pair = FastqPair(r1=r1, r2=r2, read_group=group)
    bam, cram, vcf = work / "SIM.bam", work / "SIM.md.cram", work / "SIM.bcftools.vcf.gz"
    aligned = timed("align", align_sample, [pair], reference, bam, threads=args.threads,
                    aligner=args.aligner, use_binaries=binaries)  # fmt: skip
    dups = timed("markdup", mark_duplicates, bam, reference, cram, threads=args.threads,
                 use_binaries=binaries)  # fmt: skip
    called = timed("call", call_variants, [cram], reference, vcf, threads=args.threads,
                   params=CallParams(), use_binaries=binaries)  # fmt: skip
    mask = work / "repeats.bed"
    masked = timed("repeat mask", repeat_mask, reference, mask, threads=args.threads)
    scopes = {
        "genome-wide": timed("evaluate", evaluate_calls, vcf, truth, reference.fasta),
        "outside repeats": evaluate_calls(vcf, truth, reference.fasta, mask_bed=mask),
    }
    print(f"\nreads: {aligned.read_pairs} pairs, {aligned.mapped_fraction:.4f} mapped, "
          f"duplicates {dups.duplicate_fraction:.4f}; truth {n_truth} variants; "
          f"calls {called.snvs} SNVs, {called.indels} indels (PASS), Ti/Tv "
          f"{called.ti_tv:.2f}; repeats {masked} bp ({masked / reference.length:.2%})")  # fmt: skip
    print(f"\n{'scope':<16} {'class':<6} {'TP':>6} {'FP':>5} {'FN':>5} {'precision':>9} "
          f"{'recall':>7} {'F1':>7} {'GT-F1':>7}  target")  # fmt: skip
    missed = 0
    for scope, evaluation in scopes.items():
        for label, counts, gt_counts in (
            ("SNV", evaluation.snv, evaluation.snv_genotype),
            ("indel", evaluation.indel, evaluation.indel_genotype),
        ):
            want_p, want_r = TARGETS[(scope, label)]
            ok = counts.precision >= want_p and counts.recall >= want_r
            missed += not ok
            print(_row(scope, label, counts, gt_counts)
                  + f"  P>={want_p} R>={want_r} {'met' if ok else 'MISSED'}")  # fmt: skip
    pipeline = sum(timings.get(s, 0.0) for s in ("align", "markdup", "call"))
    print("\ntimes: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    print(f"pipeline (align + markdup + call): {pipeline:.1f} s")
    print(f"targets: {4 - missed} of 4 met")
    return 0 if missed == 0 else 1


def _row(scope: str, label: str, c: Counts, g: Counts) -> str:
    return (f"{scope:<16} {label:<6} {c.tp:>6} {c.fp:>5} {c.fn:>5} {c.precision:>9.4f} "
            f"{c.recall:>7.4f} {c.f1:>7.4f} {g.f1:>7.4f}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
