"""Somatic bench: a simulated tumour/normal pair, seqoia's somatic caller against truth.

The normal is a diploid genome (seqoia's simulator, 1 Mbp by default) at 30x; the tumour is
the same germline plus somatic SNVs and indels at allele fractions 40, 20, 10 and 5 % (nested
clones, 20 % normal cells), one clonal copy gain and one loss, at 60x. Both are aligned and
duplicate-marked by seqoia's tool layer, then:

- the somatic caller (``seqoia.genomics.somatic``) and, as the naive baseline, germline calls
  of the tumour minus germline calls of the normal (``seqoia.genomics.variants``);
- precision and recall per allele-fraction bin, germline variants wrongly called somatic per
  Mb, TMB against truth, copy-number breakpoints against truth, and the pair's identity check.

Targets (issue 16): at VAF >= 20 % recall >= 0.95 and precision >= 0.95; at 10 % recall >=
0.80; germline leakage <= 0.5 per Mb. Usage::

    python bench/somatic.py [--per-vaf 100] [--threads 2] [--seed 16] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pysam

from seqoia.genomics.align import FastqPair, ReadGroup, align_sample
from seqoia.genomics.copynumber import breakpoints, copy_number_segments
from seqoia.genomics.identity import genotype_concordance
from seqoia.genomics.markdup import mark_duplicates
from seqoia.genomics.reference import prepare_reference
from seqoia.genomics.simulate import (
    TruthVariant,
    simulate_reads,
    simulate_reference,
    simulate_variants,
)
from seqoia.genomics.simulate_tumour import (
    CopyEvent,
    draw_somatic,
    simulate_tumour_reads,
)
from seqoia.genomics.somatic import call_somatic
from seqoia.genomics.tmb import callable_mask, tumour_mutational_burden
from seqoia.genomics.variants import call_variants

VAFS = (0.4, 0.2, 0.1, 0.05)
Key = tuple[str, int, str, str]


def key(v: TruthVariant) -> Key:
    return (v.contig, v.pos, v.ref, v.alt)


def nudge(event: CopyEvent, germline: list[TruthVariant], margin: int = 400) -> CopyEvent:
    """Move an event's ends off germline variants (a boundary inside one would split it)."""
    sites = sorted(v.pos for v in germline if v.contig == event.contig)

    def clear(position: int) -> int:
        while any(abs(position - s) < margin for s in sites):
            position += margin
        return position

    return CopyEvent(event.contig, clear(event.start), clear(event.end), event.kind)


def vcf_keys(vcf: Path, *, passed_only: bool = True) -> set[Key]:
    out = set()
    with pysam.VariantFile(str(vcf)) as records:
        for rec in records:
            if passed_only and rec.filter.keys() and "PASS" not in rec.filter:
                continue
            for alt in rec.alts or ():
                ref = rec.ref
                while len(ref) > 1 and len(alt) > 1 and ref[-1] == alt[-1]:
                    ref, alt = ref[:-1], alt[:-1]
                out.add((rec.contig, rec.pos, ref, alt))
    return out


def per_bin(called: set[Key], truth: dict[Key, float], germline: set[Key]) -> dict[str, object]:
    """Recall per VAF bin; precision of the whole call set (a false call has no bin)."""
    hits: dict[float, int] = defaultdict(int)
    totals: dict[float, int] = defaultdict(int)
    for k, vaf in truth.items():
        totals[vaf] += 1
        hits[vaf] += k in called
    false = called - truth.keys()
    leaked = false & germline
    return {
        "recall": {vaf: hits[vaf] / totals[vaf] for vaf in sorted(totals, reverse=True)},
        "true": len(called & truth.keys()),
        "false": len(false),
        "germline_leaked": len(leaked),
        "precision": len(called & truth.keys()) / len(called) if called else 0.0,
    }


def precision_at_or_above(
    called: set[Key], truth: dict[Key, float], vaf_floor: float, false_calls: set[Key]
) -> float:
    """Precision counting truth at >= vaf_floor and every false call (a conservative bound)."""
    good = {k for k, v in truth.items() if v >= vaf_floor} & called
    return len(good) / (len(good) + len(false_calls)) if good or false_calls else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-vaf", type=int, default=100, help="somatic variants per VAF bin")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--tumour-depth", type=float, default=60.0)
    parser.add_argument("--normal-depth", type=float, default=30.0)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="seqoia-somatic-"))
    work.mkdir(parents=True, exist_ok=True)
    times: dict[str, float] = {}

    def step(name: str, started: float) -> None:
        times[name] = round(time.monotonic() - started, 1)

    t = time.monotonic()
    fasta = work / "genome.fa"
    simulate_reference(fasta, seed=args.seed)
    reference = prepare_reference(fasta, work / "ref")
    germline = simulate_variants(fasta, seed=args.seed)
    events = [
        nudge(CopyEvent("chr1", 120_000, 200_000, "gain"), germline),
        nudge(CopyEvent("chr2", 150_000, 230_000, "loss"), germline),
    ]
    somatic = draw_somatic(
        fasta, germline, vafs=VAFS, per_vaf=args.per_vaf, avoid=events, seed=args.seed
    )
    n1, n2 = work / "normal_R1.fastq.gz", work / "normal_R2.fastq.gz"
    simulate_reads(fasta, germline, n1, n2, coverage=args.normal_depth, seed=args.seed + 1,
                   read_name_prefix="N0:1:NORMALFC")  # fmt: skip
    tumour_pairs, truth, _ = simulate_tumour_reads(
        fasta, germline, somatic, events, work / "tumour", coverage=args.tumour_depth,
        seed=args.seed + 2,
    )  # fmt: skip
    step("simulate", t)

    t = time.monotonic()
    crams = {}
    for name, pairs in (("NORMAL", [(n1, n2)]), ("TUMOUR", tumour_pairs)):
        fastq = [
            FastqPair(
                r1=r1,
                r2=r2,
                read_group=ReadGroup(
                    id=f"{name}.{i}", sample=name, library=name, platform_unit=f"FC.{i}"
                ),
            )
            for i, (r1, r2) in enumerate(pairs)
        ]
        bam = work / f"{name}.bam"
        align_sample(fastq, reference, bam, threads=args.threads)
        crams[name] = work / f"{name}.md.cram"
        mark_duplicates(bam, reference, crams[name], threads=args.threads)
    step("align + markdup", t)

    t = time.monotonic()
    somatic_vcf, pileup = work / "pair.somatic.vcf.gz", work / "pair.pileup.bcf"
    stats = call_somatic(
        crams["TUMOUR"], crams["NORMAL"], reference, somatic_vcf,
        tumour_name="TUMOUR", normal_name="NORMAL", keep_pileup=pileup,
    )  # fmt: skip
    step("somatic caller", t)

    t = time.monotonic()
    naive = {}
    for name in ("TUMOUR", "NORMAL"):
        naive[name] = work / f"{name}.germline.vcf.gz"
        call_variants([crams[name]], reference, naive[name], threads=args.threads)
    step("naive baseline (two germline calls)", t)

    genome_mb = reference.length / 1e6
    truth_bins = {key(s.variant): s.vaf for s in truth.somatic}
    germline_keys = {key(v) for v in germline}
    results = {
        "seqoia somatic": per_bin(vcf_keys(somatic_vcf), truth_bins, germline_keys),
        "naive tumour minus normal": per_bin(
            vcf_keys(naive["TUMOUR"]) - vcf_keys(naive["NORMAL"]), truth_bins, germline_keys
        ),
    }
    print(f"\ngenome {genome_mb:.2f} Mbp; {len(germline)} germline variants; "
          f"{len(truth.somatic)} somatic ({args.per_vaf} per VAF bin, "
          f"{sum(1 for s in truth.somatic if not s.variant.is_snv)} indels); tumour "
          f"{args.tumour_depth:.0f}x (normal cells {truth.normal_fraction:.0%}), normal "
          f"{args.normal_depth:.0f}x")  # fmt: skip
    print(f"caller: {stats.candidates} candidates, {stats.passed} PASS; filtered {stats.filtered}")
    header = f"{'caller':28} " + " ".join(f"rec@{v:.0%}".rjust(8) for v in VAFS)
    print("\n" + header + "   prec(all)  prec(>=20%)  germline/Mb  other FP/Mb")
    for caller, r in results.items():
        called = vcf_keys(somatic_vcf) if caller == "seqoia somatic" else (
            vcf_keys(naive["TUMOUR"]) - vcf_keys(naive["NORMAL"])
        )  # fmt: skip
        false = called - truth_bins.keys()
        low_bins = {k for k, v in truth_bins.items() if v < 0.2}
        p20 = precision_at_or_above(called - low_bins, truth_bins, 0.2, false)
        recalls = r["recall"]  # type: ignore[index]
        print(f"{caller:28} " + " ".join(f"{recalls[v]:8.3f}" for v in VAFS)
              + f"   {r['precision']:9.3f}  {p20:11.3f}  {r['germline_leaked'] / genome_mb:11.2f}"
              f"  {(r['false'] - r['germline_leaked']) / genome_mb:11.2f}")  # fmt: skip

    # TMB over every callable base (no transcript model in this bench: "coding" is the
    # whole callable genome; the pipeline passes the reference's CDS).
    mask = callable_mask(crams["TUMOUR"], crams["NORMAL"], reference)
    burden = tumour_mutational_burden(somatic_vcf, mask, coding=False)
    truth_in_mask = sum(1 for s in truth.somatic if mask[s.variant.contig][s.variant.pos - 1])
    truth_tmb = truth_in_mask / (burden.callable_bp / 1e6)
    print(f"\nTMB: {burden.per_mb:.1f} per Mb called vs {truth_tmb:.1f} per Mb true "
          f"({burden.mutations} vs {truth_in_mask} mutations over {burden.callable_bp:,} "
          f"callable bp; ratio {burden.per_mb / truth_tmb:.3f})")  # fmt: skip

    _, segments = copy_number_segments(
        crams["TUMOUR"], crams["NORMAL"], reference, pileup_bcf=pileup
    )
    called_breaks = breakpoints(segments)
    print("\ncopy-number segments (non-neutral):")
    for seg in segments:
        if seg.call != "neutral":
            print(f"  {seg.contig}:{seg.start}-{seg.end} {seg.call} log2 {seg.log2_ratio:+.3f} "
                  f"BAF {seg.baf} ({seg.het_sites} het sites)")  # fmt: skip
    print("breakpoints, truth -> nearest called (distance):")
    for event in truth.copy_events:
        for position in (event.start, event.end):
            near = [p for c, p in called_breaks if c == event.contig]
            best = min(near, key=lambda p: abs(p - position), default=None)
            shown = "none" if best is None else f"{best} ({abs(best - position):,} bp)"
            print(f"  {event.kind} {event.contig}:{position} -> {shown}")
    print(f"  called breakpoints: {len(called_breaks)}; true: {2 * len(truth.copy_events)}")

    identity = genotype_concordance(pileup, "TUMOUR", "NORMAL")
    print(f"\nidentity: {identity.message}")
    print("\ntimes (s): " + ", ".join(f"{k} {v}" for k, v in times.items()))
    print(f"work folder: {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
