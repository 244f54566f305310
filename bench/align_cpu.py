"""bench/align_cpu: CPU of align's variants on one simulated sample (issue 17).

Two comparisons, interleaved, CPU of the process tree (user + sys of this process and of
the programs it reaped):

- ``align_sample`` with mappy (SAM text built in Python) against the ``minimap2`` program
  (same ``sr`` preset, same FASTQ reader and metrics), with the pairs, mapped and properly
  paired counts and the BAM's size of each;
- ``samtools fixmate -m -u | samtools sort -l 1`` with ``-@1`` against ``-@2``, and
  ``samtools flagstat`` with ``-@0`` against ``-@2`` (thread overhead is CPU too).

    python bench/align_cpu.py [--genome-kb 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seqoia.genomics.align import FastqPair, ReadGroup, align_sample  # noqa: E402
from seqoia.genomics.reference import prepare_reference  # noqa: E402
from seqoia.genomics.simulate import (  # noqa: E402
    simulate_reads,
    simulate_reference,
    simulate_variants,
)


def cpu_s() -> float:
    """User + system seconds of this process and every descendant it reaped."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genome-kb", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="seqoia-bench-align-"))
    try:
        ref = root / "genome.fa"
        kb = args.genome_kb
        simulate_reference(ref, contigs={"chr1": kb * 600, "chr2": kb * 400}, seed=1)
        r1, r2 = root / "r1.fastq.gz", root / "r2.fastq.gz"
        simulate_reads(ref, simulate_variants(ref, seed=1), r1, r2, coverage=30, seed=101)
        prepared = prepare_reference(ref, root / "ref")
        group = ReadGroup(id="R.1", sample="S", library="S", platform_unit="X.1")
        pair = FastqPair(r1=r1, r2=r2, read_group=group)
        sam = root / "a.sam"
        subprocess.run(
            f"minimap2 -t 2 -ax sr {ref} {r1} {r2} > {sam} 2>/dev/null", shell=True, check=True
        )
        results: dict[str, list[float]] = {}

        def measure(label: str, command: str) -> None:
            before = cpu_s()
            subprocess.run(
                ["bash", "-o", "pipefail", "-c", command], check=True, stderr=subprocess.DEVNULL
            )
            results.setdefault(label, []).append(cpu_s() - before)

        for repeat in range(args.repeats):
            for aligner in ("mappy", "minimap2"):
                out = root / f"{aligner}{repeat}.bam"
                before = cpu_s()
                stats = align_sample([pair], prepared, out, threads=2, aligner=aligner)
                results.setdefault(f"align {aligner}", []).append(cpu_s() - before)
                print(
                    f"{aligner:>8} {repeat + 1}: {results[f'align {aligner}'][-1]:.1f} s CPU,"
                    f" {stats.read_pairs} pairs, {stats.mapped_primary} mapped,"
                    f" {stats.properly_paired} properly paired, {out.stat().st_size} bytes",
                    flush=True,
                )
            for t in (1, 2):
                measure(
                    f"fixmate | sort -@{t}",
                    f"samtools fixmate -m -u {sam} - | samtools sort -@ {t} -m 512M -l 1"
                    f" -T {root}/sort -o {root}/sorted{t}.bam -",
                )
            for t in (0, 2):
                flagstat = f"samtools flagstat -@ {t} {root}/sorted2.bam >/dev/null"
                measure(f"flagstat -@{t}", flagstat)
        for label, values in results.items():
            print(
                f"{label:<20} median {statistics.median(values):6.2f} s CPU"
                f"  range {min(values):.2f}-{max(values):.2f}"
            )
    finally:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
