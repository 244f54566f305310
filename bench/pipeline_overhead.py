"""bench/pipeline_overhead: seqoia end to end against the same tools chained by a plain script.

Both sides process the same simulated FASTQ run (a reference with repeats, N samples at
30x) with the same tools and the same threads:

- **plain**: a script that calls the tool layer directly, sample after sample:
  prepare_reference, fastq_metrics + align_sample, mark_duplicates, call_variants,
  compute_qc and bcftools stats, reports and FHIR bundle, and the run's MultiQC report
  when MultiQC is installed;
- **seqoia**: the run dropped into a local store's inbox and processed by the germline
  pipeline on the embedded stack (one stage at a time, as the plain script does), with
  everything the framework adds: downloads, child processes, checksums, uploads,
  manifests, routing, delivery into the outbox.

- **binaries**: the hand-chained command-line tools a bioinformatician would type, no
  Python in the loop: ``minimap2 -ax sr | samtools fixmate -m | samtools sort``, ``samtools
  markdup`` to CRAM + index, ``bcftools mpileup | bcftools call -mv`` + index, sample after
  sample, with the same threads. It does less than the other two (no QC, reports, FHIR,
  MultiQC, no region-parallel calling): it is the floor the CPU time is compared with.

It prints the wall time of each (median of ``--repeats``) and the ratio seqoia / plain
(goal <= 1.10), then the CPU time (user + sys of the process and every reaped descendant:
``getrusage(RUSAGE_SELF)`` + ``getrusage(RUSAGE_CHILDREN)``, before/after deltas) of each
side and the ratio seqoia / binaries. Nothing is asserted: this is a measurement.

    python bench/pipeline_overhead.py [--samples 2] [--genome-kb 4000] [--repeats 1]
                                      [--sides binaries,seqoia,plain]

``--store-requests`` instead counts the store requests of the seqoia side alone (its store
wrapped in ``CountingStore``, inputs uploaded before counting), for docs/capacity.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seqoia import metrics  # noqa: E402
from seqoia.admin.refarea import reference_area, upload_reference_area  # noqa: E402
from seqoia.engine.forkserver import fork_server  # noqa: E402
from seqoia.engine.runtime import Runtime, build_runtime  # noqa: E402
from seqoia.genomics import multiqc  # noqa: E402
from seqoia.genomics.align import FastqPair, ReadGroup, align_sample  # noqa: E402
from seqoia.genomics.fhir import build_fhir_bundle, reported_variants  # noqa: E402
from seqoia.genomics.markdup import mark_duplicates  # noqa: E402
from seqoia.genomics.qc import compute_qc, coverage_profile, fastq_metrics  # noqa: E402
from seqoia.genomics.qc_gate import QCThresholds, evaluate_gate  # noqa: E402
from seqoia.genomics.reference import prepare_reference  # noqa: E402
from seqoia.genomics.report import (  # noqa: E402
    build_report,
    file_checksum,
    write_report_html,
    write_report_json,
)
from seqoia.genomics.simulate import (  # noqa: E402
    simulate_reads,
    simulate_reference,
    simulate_variants,
)
from seqoia.genomics.simulate_annotation import simulate_annotation  # noqa: E402
from seqoia.genomics.variants import CallParams, call_variants  # noqa: E402
from seqoia.settings import Settings  # noqa: E402
from seqoia.storage.counting import CountingStore  # noqa: E402
from seqoia.storage.manifest import Manifest  # noqa: E402
from seqoia.workers.embedded import EmbeddedWorkers  # noqa: E402

RUN = "261129_A00123_0042_AHBENCHXXX"
FASTQ_DIR = "Analysis/1/Data/fastq"
#: Index sequences at least 4 mismatches apart, so the sample sheet validates.
#: The reference area's resources (name -> local file), set by main() from make_inputs.
AREA: dict[str, Path] = {}
INDEXES = ("ACGTACGT", "TGCATGCA", "CATGGTAC", "GTACCATG", "AACCGGTT", "TTGGCCAA")


def make_inputs(
    folder: Path, samples: int, genome_kb: int
) -> tuple[Path, Path, list[str], dict[str, Path]]:
    """Reference (with annotated genes), FASTQ run folder and the reference area's files."""
    folder.mkdir(parents=True)
    reference = folder / "genome.fa"
    simulate_reference(
        reference, contigs={"chr1": genome_kb * 600, "chr2": genome_kb * 400}, seed=1
    )
    # the annotate stage (issue 14) reads genes, ClinVar, gnomAD and a panel from refs/
    files, _genes = simulate_annotation(reference, folder / "annotation", seed=1)
    area = reference_area(
        files.gff3, {"demo": files.panel}, clinvar=files.clinvar, gnomad=files.gnomad
    )
    run = folder / RUN
    (run / FASTQ_DIR).mkdir(parents=True)
    names = [f"BENCH-{i:02d}" for i in range(1, samples + 1)]
    rows = []
    for number, name in enumerate(names, start=1):
        variants = simulate_variants(reference, seed=number)
        r1, r2 = _pair(run, name, number)
        simulate_reads(reference, variants, r1, r2, coverage=30, seed=100 + number)
        rows.append(f"1,{name},{INDEXES[number - 1]},{INDEXES[-number]},APHP")
    (run / "SampleSheet.csv").write_text(
        "[Header]\nFileFormatVersion,2\n\n[BCLConvert_Data]\nLane,Sample_ID,Index,Index2,Centre\n"
        + "\n".join(rows)
        + "\n"
    )
    (run / "CopyComplete.txt").write_text("")
    return reference, run, names, area


def _pair(run: Path, name: str, number: int) -> tuple[Path, Path]:
    folder = run / FASTQ_DIR
    return (
        folder / f"{name}_S{number}_L001_R1_001.fastq.gz",
        folder / f"{name}_S{number}_L001_R2_001.fastq.gz",
    )


#: CPU seconds per (side, step), filled by ``step``; printed with ``--profile``.
STEP_CPU: dict[str, Counter[str]] = {"plain": Counter(), "binaries": Counter(), "seqoia": Counter()}
#: Wall seconds per seqoia stage (its manifests' started_at .. finished_at, summed).
STAGE_WALL: Counter[str] = Counter()
#: CPU seconds per seqoia stage and part ("stage/tools"), from ``seqoia_stage_cpu_seconds``.
STAGE_CPU: Counter[str] = Counter()


def stage_cpu() -> Counter[str]:
    """The process's ``seqoia_stage_cpu_seconds`` counters, as ``{"stage/part": seconds}``."""
    found: Counter[str] = Counter()
    for family in metrics.local_registry().collect():
        if family.name != "seqoia_stage_cpu_seconds":
            continue
        for sample in family.samples:
            if sample.name.endswith("_total"):
                found[f"{sample.labels['stage']}/{sample.labels['part']}"] += sample.value
    return found


@contextmanager
def step(side: str, name: str) -> Iterator[None]:
    """Add the CPU time (process tree) of the block to ``STEP_CPU[side][name]``."""
    before = cpu_s()
    try:
        yield
    finally:
        STEP_CPU[side][name] += cpu_s() - before


def plain(reference: Path, run: Path, names: list[str], work: Path, threads: int) -> float:
    """The same tools, chained by hand."""
    started = time.perf_counter()
    with step("plain", "prepare_reference"):
        prepared = prepare_reference(reference, work / "ref")
    run_qc: dict[str, dict[str, object]] = {}
    for number, name in enumerate(names, start=1):
        out = work / name
        out.mkdir(parents=True)
        r1, r2 = _pair(run, name, number)
        with step("plain", "fastq_metrics"):
            fastq_metrics([r1, r2])
        group = ReadGroup(id=f"{RUN}.1", sample=name, library=name, platform_unit="X.1")
        with step("plain", "align"):
            align_sample(
                [FastqPair(r1=r1, r2=r2, read_group=group)],
                prepared,
                out / f"{name}.sorted.bam",
                threads=threads,
            )
        cram = out / f"{name}.md.cram"
        with step("plain", "markduplicates"):
            mark_duplicates(out / f"{name}.sorted.bam", prepared, cram, threads=threads)
        vcf = out / f"{name}.bcftools.vcf.gz"
        with step("plain", "call_variants"):
            stats = call_variants([cram], prepared, vcf, threads=threads, params=CallParams())
        qc_step = step("plain", "qc + reports + FHIR")
        qc_step.__enter__()
        metrics = compute_qc(alignment=cram, reference_fasta=prepared.fasta, vcf=vcf)
        verdict = evaluate_gate(metrics, QCThresholds())
        multiqc.write_bcftools_stats(vcf, work / "multiqc", name)
        run_qc[name] = {
            "metrics": metrics.model_dump(mode="json"),
            "verdict": verdict.model_dump(mode="json"),
            "thresholds": QCThresholds().model_dump(mode="json"),
        }
        files = [file_checksum(p) for p in (cram, Path(f"{cram}.crai"), vcf, Path(f"{vcf}.tbi"))]
        common = {
            "sample": name,
            "runs": [RUN],
            "metrics": metrics,
            "verdict": verdict,
            "variant_stats": stats.model_dump(),
            "tools": {},
            "reference": {"name": "genome", "sha256": prepared.sha256},
            "files": files,
        }
        report = build_report(**common)
        write_report_json(out / f"{name}.report.json", report)
        write_report_html(
            out / f"{name}.report.html", report, coverage_profile(cram, prepared.fasta)
        )
        variants, total = reported_variants(vcf, sample=name)
        bundle = build_fhir_bundle(
            sample=name,
            metrics=metrics,
            verdict=verdict,
            variants=variants,
            files=files,
            reference=common["reference"],
            issued=datetime.now(UTC),
            total_variants=total,
        )
        (out / f"{name}.fhir.json").write_text(json.dumps(bundle))
        qc_step.__exit__(None, None, None)
    if multiqc.multiqc_available():
        with step("plain", "multiqc"):
            multiqc.write_custom_content(work / "multiqc", run=RUN, qc=run_qc)
            multiqc.run_multiqc(work / "multiqc", work / "multiqc-report", title=RUN)
    return time.perf_counter() - started


def binaries(reference: Path, run: Path, names: list[str], work: Path, threads: int) -> float:
    """The same steps as command lines chained by hand: the CPU floor."""
    started = time.perf_counter()
    ref = work / "genome.fa"
    shutil.copyfile(reference, ref)
    _sh(f"samtools faidx {ref}")
    t = str(threads)
    for number, name in enumerate(names, start=1):
        r1, r2 = _pair(run, name, number)
        out = work / name
        out.mkdir(parents=True)
        bam, cram, vcf = out / f"{name}.sorted.bam", out / f"{name}.md.cram", out / f"{name}.vcf.gz"
        group = f"@RG\\tID:{RUN}.1\\tSM:{name}\\tLB:{name}\\tPL:ILLUMINA"
        with step("binaries", "align"):
            _sh(
                f"minimap2 -t {t} -ax sr -R '{group}' {ref} {r1} {r2} 2>/dev/null"
                f" | samtools fixmate -@ {t} -m - -"
                f" | samtools sort -@ {t} -T {out}/sort -o {bam} -"
            )
        with step("binaries", "markduplicates"):
            _sh(f"samtools markdup -@ {t} --reference {ref} -O cram,version=3.0 {bam} {cram}")
            _sh(f"samtools index -@ {t} {cram}")
        with step("binaries", "call_variants"):
            _sh(
                f"bcftools mpileup -f {ref} -a FORMAT/AD,FORMAT/DP -Ou {cram}"
                f" | bcftools call -mv -Oz -o {vcf} && bcftools index -t {vcf}"
            )
    return time.perf_counter() - started


def _sh(command: str) -> None:
    subprocess.run(["bash", "-o", "pipefail", "-c", command], check=True)


def cpu_s() -> float:
    """User + system seconds of this process and every descendant it (transitively) reaped."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def seqoia(reference: Path, run: Path, names: list[str], work: Path, threads: int) -> float:
    """The germline pipeline on the embedded stack, from the inbox to the outbox."""
    settings = Settings(
        store_url=f"file://{work}/store",
        scratch_dir=work / "scratch",
        worker_threads=1,
        stage_threads=threads,
    )
    runtime = build_runtime(settings)
    started = time.perf_counter()
    with step("seqoia", "inputs into the store"):
        upload_reference_area(runtime.store, runtime.layout, "demo", reference, AREA)
        last = run / "CopyComplete.txt"
        for path in [*sorted(p for p in run.rglob("*") if p.is_file() and p != last), last]:
            runtime.store.upload_file(
                runtime.layout.run_prefix(RUN) + path.relative_to(run).as_posix(), path
            )
    cpu_before = stage_cpu()
    with step("seqoia", "pipeline"):
        with EmbeddedWorkers(runtime, threads=1) as workers:
            workers.actors.notify(runtime.layout.run_prefix(RUN) + "CopyComplete.txt")
            workers.wait_idle(timeout_s=3600)
        elapsed = time.perf_counter() - started
        # The stage processes fork from a server that outlives the workers; stopping it
        # here reaps it, so its CPU and its reaped stage processes' reach RUSAGE_CHILDREN.
        fork_server(runtime.pipeline.import_path).close()
    STAGE_CPU.update(stage_cpu() - cpu_before)
    missing = [n for n in names if runtime.manifests.latest("deliver", n) is None]
    if missing:
        raise SystemExit(f"seqoia did not deliver {missing}")
    for path in (work / "store" / "work").glob("*/*/g*.manifest.json"):
        manifest = Manifest.model_validate_json(path.read_text())
        STAGE_WALL[manifest.stage] += manifest.duration_s
    return elapsed


def store_requests(reference: Path, run: Path, names: list[str], work: Path) -> Counter[str]:
    """Store requests, by operation, of the germline pipeline taking the run to the outbox."""
    settings = Settings(
        store_url=f"file://{work}/store", scratch_dir=work / "scratch", worker_threads=1
    )
    base = build_runtime(settings)
    upload_reference_area(base.store, base.layout, "demo", reference, AREA)
    last = run / "CopyComplete.txt"
    for path in [*sorted(p for p in run.rglob("*") if p.is_file() and p != last), last]:
        base.store.upload_file(base.layout.run_prefix(RUN) + path.relative_to(run).as_posix(), path)
    counting = CountingStore(base.store)
    runtime = Runtime(base.settings, counting, base.pipeline)
    with EmbeddedWorkers(runtime, threads=1) as workers:
        workers.actors.notify(runtime.layout.run_prefix(RUN) + "CopyComplete.txt")
        workers.wait_idle(timeout_s=3600)
    missing = [n for n in names if runtime.manifests.latest("deliver", n) is None]
    if missing:
        raise SystemExit(f"seqoia did not deliver {missing}")
    return counting.counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--genome-kb", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--store-requests", action="store_true", help="count store requests")
    parser.add_argument(
        "--sides",
        default="binaries,seqoia,plain",
        help="comma-separated sides to run, in this order within each repetition",
    )
    args = parser.parse_args()
    if args.store_requests:
        with tempfile.TemporaryDirectory(prefix="seqoia-bench-") as tmp:
            root = Path(tmp)
            reference, run, names, area = make_inputs(root / "in", args.samples, args.genome_kb)
            AREA.update(area)
            counts = store_requests(reference, run, names, root / "work")
        print(f"{args.samples} samples: {sum(counts.values())} store requests {dict(counts)}")
        return
    with tempfile.TemporaryDirectory(prefix="seqoia-bench-") as tmp:
        root = Path(tmp)
        reference, run, names, area = make_inputs(root / "inputs", args.samples, args.genome_kb)
        AREA.update(area)
        known = {"binaries": binaries, "seqoia": seqoia, "plain": plain}
        chosen = [name.strip() for name in args.sides.split(",") if name.strip()]
        unknown = sorted(set(chosen) - set(known))
        if unknown or not chosen:
            raise SystemExit(f"--sides: unknown {unknown}; choose among {sorted(known)}")
        sides = tuple((name, known[name]) for name in chosen)
        times: dict[str, list[float]] = {name: [] for name, _ in sides}
        cpu: dict[str, list[float]] = {name: [] for name, _ in sides}
        for repeat in range(args.repeats):
            for name, fn in sides:
                work = root / f"{name}-{repeat}"
                work.mkdir()
                before = cpu_s()
                times[name].append(fn(reference, run, names, work, args.threads))
                cpu[name].append(cpu_s() - before)
                shutil.rmtree(work)
                print(
                    f"repeat {repeat + 1}: {name:>8} {times[name][-1]:7.1f} s wall"
                    f" {cpu[name][-1]:7.1f} s CPU",
                    flush=True,
                )
    wall = {name: statistics.median(values) for name, values in times.items()}
    cpu_median = {name: statistics.median(values) for name, values in cpu.items()}
    print(
        f"\n{args.samples} samples x 30x on {args.genome_kb} kb, {args.threads} threads, "
        f"median of {args.repeats}"
    )
    for name, value in wall.items():
        print(f"{name:<13}: {value:7.1f} s")
    if "plain" in wall and "seqoia" in wall:
        print(f"ratio seqoia/plain = {wall['seqoia'] / wall['plain']:.3f} (goal <= 1.10)")
    print("\nCPU time (user + sys, process tree):")
    for name, value in cpu_median.items():
        print(f"{name:<13}: {value:7.1f} s")
    if "binaries" in cpu:
        for name in ("seqoia", "plain"):
            if name in cpu:
                ratios = [c / b for c, b in zip(cpu[name], cpu["binaries"], strict=True)]
                print(
                    f"CPU ratio {name}/binaries = {cpu_median[name] / cpu_median['binaries']:.3f}"
                    f" (per repetition: {' / '.join(f'{r:.3f}' for r in ratios)})"
                )
    print(f"\nwhere the CPU goes, summed over {args.repeats} repeat(s):")
    for side, steps in STEP_CPU.items():
        print(f"  {side}: " + ", ".join(f"{k} {v:.1f} s" for k, v in steps.most_common()))
    print(
        "  seqoia stage wall time (manifests): "
        + ", ".join(f"{k} {v:.1f} s" for k, v in STAGE_WALL.most_common())
    )
    if STAGE_CPU:
        by_stage: Counter[str] = Counter()
        by_part: Counter[str] = Counter()
        for key, value in STAGE_CPU.items():
            stage_name, part = key.split("/")
            by_stage[stage_name] += value
            by_part[part] += value
        pipeline = STEP_CPU["seqoia"]["pipeline"]
        print(
            "  seqoia stage CPU by part: "
            + ", ".join(f"{k} {v:.1f} s" for k, v in by_part.most_common())
            + f"; outside stage attempts (routing, planning, fork server, broker)"
            f" {pipeline - sum(by_part.values()):.1f} s"
        )
        print(
            "  seqoia stage CPU by stage: "
            + ", ".join(f"{k} {v:.1f} s" for k, v in by_stage.most_common())
        )
        print(
            "  seqoia stage CPU by stage and part: "
            + ", ".join(f"{k} {v:.1f} s" for k, v in STAGE_CPU.most_common())
        )


if __name__ == "__main__":
    main()
