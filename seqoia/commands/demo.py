"""``seqoia demo``: the whole germline pipeline on simulated data, on the embedded defaults.

It writes a reference genome and a FASTQ run folder of a few samples whose reads carry
known variants (fixed seed), drops the run into the inbox with its completion marker
last, runs every stage in-process with visible progress, and prints per sample the QC
verdict, the variant counts, precision and recall against the known variants, and where
the delivered report is. One sample is deliberately poor so that the QC gate shows.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from seqoia.commands.demo_pair import PAIR_STAGES, add_demo_pair, pair_done, pair_results
from seqoia.engine.runtime import Runtime, build_runtime
from seqoia.settings import Settings
from seqoia.workers.embedded import EmbeddedWorkers

RUN_ID = "261129_A00123_0042_AHDEMOXXXX"
FASTQ_DIR = "Analysis/1/Data/fastq"
SAMPLE_STAGES = ("align", "markduplicates", "call_variants", "qc", "report", "deliver")


@dataclass(frozen=True)
class DemoSample:
    sample: str
    centre: str
    sex: Literal["female", "male"]
    seed: int
    poor: Literal["low_coverage", "high_error", "high_duplicates"] | None = None


DEMO_SAMPLES = (
    DemoSample("DEMO-001", "APHP", "female", 11),
    DemoSample("DEMO-002", "CURIE", "male", 12),
    DemoSample("DEMO-003", "GUSTAVE-ROUSSY", "female", 13),
    DemoSample("DEMO-004", "APHP", "female", 14, poor="low_coverage"),
)


def _write_inputs(
    folder: Path, coverage: float, genome_kb: int
) -> tuple[Path, Path, dict[str, Path]]:
    """Reference, run folder and one truth VCF per sample, written under ``folder``."""
    from seqoia.genomics.simulate import (
        simulate_poor_sample,
        simulate_reads,
        simulate_reference,
        simulate_variants,
        write_truth_vcf,
    )

    reference = folder / "genome.fa"
    autosome_bp = genome_kb * 1000
    simulate_reference(
        reference,
        contigs={"chr1": autosome_bp * 6 // 10, "chr2": autosome_bp * 4 // 10},
        sex_chromosomes=True,
        seed=2026,
    )
    run = folder / RUN_ID
    fastq_dir = run / FASTQ_DIR
    fastq_dir.mkdir(parents=True)
    truths: dict[str, Path] = {}
    rows = []
    for number, spec in enumerate(DEMO_SAMPLES, start=1):
        sex: Literal["XX", "XY"] = "XY" if spec.sex == "male" else "XX"
        variants = simulate_variants(reference, seed=spec.seed, sex=sex)
        truths[spec.sample] = write_truth_vcf(
            variants,
            folder / f"{spec.sample}.truth.vcf.gz",
            reference=reference,
            sample=spec.sample,
        )
        r1 = fastq_dir / f"{spec.sample}_S{number}_L001_R1_001.fastq.gz"
        r2 = fastq_dir / f"{spec.sample}_S{number}_L001_R2_001.fastq.gz"
        if spec.poor:
            simulate_poor_sample(
                reference,
                variants,
                r1,
                r2,
                kind=spec.poor,
                seed=spec.seed,
                coverage=coverage,
                sex=sex,
            )
        else:
            simulate_reads(reference, variants, r1, r2, coverage=coverage, seed=spec.seed, sex=sex)
        rows.append(
            f"1,{spec.sample},{_index(number)},{_index(number + 40)},{spec.centre},{spec.sex}"
        )
    (run / "SampleSheet.csv").write_text(
        "[Header]\nFileFormatVersion,2\nRunName,seqoia-demo\nInstrumentPlatform,NovaSeqXSeries\n\n"
        "[Reads]\nRead1Cycles,150\nRead2Cycles,150\nIndex1Cycles,8\nIndex2Cycles,8\n\n"
        "[BCLConvert_Settings]\nSoftwareVersion,4.2.7\n\n"
        "[BCLConvert_Data]\nLane,Sample_ID,Index,Index2,Centre,Sex\n" + "\n".join(rows) + "\n"
    )
    (run / "CopyComplete.txt").write_text("")
    return reference, run, truths


def _index(n: int) -> str:
    """Distinct 8-nt indexes, far apart, from a number."""
    bases = "ACGT"
    return "".join(bases[(n * 7 + i * (n + 3)) % 4] for i in range(8))


def _upload(runtime: Runtime, reference: Path, run: Path) -> str:
    """Reference into refs/, run folder into the inbox with its completion marker last."""
    store, layout = runtime.store, runtime.layout
    store.upload_file(layout.reference_key(runtime.settings.reference), reference)
    files = sorted(p for p in run.rglob("*") if p.is_file() and p.name != "CopyComplete.txt")
    for path in [*files, run / "CopyComplete.txt"]:
        store.upload_file(layout.run_prefix(RUN_ID) + path.relative_to(run).as_posix(), path)
    return layout.run_prefix(RUN_ID) + "CopyComplete.txt"


def _count_done(runtime: Runtime) -> dict[str, int]:
    latest = runtime.manifests.latest
    done = {"validate_run": int(latest("validate_run", RUN_ID) is not None)}
    parts = runtime.manifests.related("run", RUN_ID, "part")  # one: the demo's single lane
    done["demultiplex"] = sum(latest("demultiplex", part) is not None for part in parts)
    for stage in SAMPLE_STAGES:
        done[stage] = sum(
            runtime.manifests.latest(stage, s.sample) is not None for s in DEMO_SAMPLES
        )
    return done


def _run_report_line(runtime: Runtime) -> str:
    """Where the run's MultiQC report is, or why there is none."""
    manifest = runtime.manifests.latest("multiqc", RUN_ID)
    if manifest is None:
        return "run report (MultiQC): not written"
    if "skipped" in manifest.summary:
        return f"run report (MultiQC): skipped, {manifest.summary['skipped']}"
    return (
        f"run report (MultiQC): {manifest.output('multiqc_report.html').key} "
        f"(seqoia outputs multiqc/{RUN_ID} --download DIR)"
    )


def _results_table(runtime: Runtime, truths: dict[str, Path], reference: Path) -> Table:
    from seqoia.genomics.evaluate import evaluate_calls

    table = Table(title=f"seqoia demo — run {RUN_ID}")
    for column in (
        "sample",
        "centre",
        "QC",
        "SNVs",
        "indels",
        "SNV P / R",
        "indel P / R",
        "report",
    ):
        table.add_column(column)
    for spec in DEMO_SAMPLES:
        qc = runtime.manifests.latest("qc", spec.sample)
        calls = runtime.manifests.latest("call_variants", spec.sample)
        delivered = runtime.manifests.latest("deliver", spec.sample)
        if qc is None or calls is None:
            failed = [
                stage
                for stage in SAMPLE_STAGES
                if runtime.failures.read(stage, spec.sample) is not None
            ]
            state = f"[red]{failed[0]} failed[/red]" if failed else "not run"
            table.add_row(spec.sample, spec.centre, state)
            continue
        verdict = qc.summary["verdict"]
        qc_text = (
            "[green]pass[/green]"
            if verdict["passed"]
            else ("[red]FAIL[/red]: " + ", ".join(f["metric"] for f in verdict["failures"]))
        )
        with tempfile.TemporaryDirectory() as tmp:
            vcf = Path(tmp) / "calls.vcf.gz"
            runtime.store.download_file(calls.output(f"{spec.sample}.bcftools.vcf.gz").key, vcf)
            runtime.store.download_file(
                calls.output(f"{spec.sample}.bcftools.vcf.gz.tbi").key, Path(str(vcf) + ".tbi")
            )
            score = evaluate_calls(vcf, truths[spec.sample], reference)
        variants = calls.summary["variants"]
        report_at = ""
        if delivered is not None:
            report_at = next((r.key for r in delivered.outputs if r.name.endswith(".html")), "")
        table.add_row(
            spec.sample,
            spec.centre,
            qc_text,
            str(variants.get("snvs", "")),
            str(variants.get("indels", "")),
            f"{score.snv.precision:.3f} / {score.snv.recall:.3f}",
            f"{score.indel.precision:.3f} / {score.indel.recall:.3f}",
            report_at,
        )
    return table


def demo(
    ctx: typer.Context,
    coverage: Annotated[
        float, typer.Option(help="Sequencing depth of the simulated samples")
    ] = 30.0,
    genome_kb: Annotated[
        int, typer.Option(help="Autosome size of the simulated genome, kb")
    ] = 1000,
    threads: Annotated[int, typer.Option(help="Stages running at once")] = 2,
    fresh: Annotated[bool, typer.Option(help="Delete the demo's earlier store first")] = False,
) -> None:
    """Simulate a run, process it end to end on the embedded defaults, print the results."""
    settings: Settings = ctx.obj
    settings = settings.model_copy(update={"broker_url": "memory://"})
    console = Console()
    if fresh and settings.store_url.startswith("file://"):
        shutil.rmtree(settings.store_url.removeprefix("file://"), ignore_errors=True)
    runtime = build_runtime(settings)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="seqoia-demo-") as tmp:
        with console.status("simulating a reference and a run of 4 samples with known variants"):
            reference, run, truths = _write_inputs(Path(tmp), coverage, genome_kb)
            # -- the tumour/normal pair (seqoia.commands.demo_pair) --
            pair_truth = add_demo_pair(run, reference, Path(tmp) / "pair", len(DEMO_SAMPLES) + 1)
            marker = _upload(runtime, reference, run)
        console.print(f"run {RUN_ID} dropped into {runtime.store.url}/{runtime.layout.inbox}/")
        total = {"validate_run": 1, "demultiplex": 1} | {
            s: len(DEMO_SAMPLES) for s in SAMPLE_STAGES
        }
        total |= dict.fromkeys(PAIR_STAGES, 1)
        with (
            EmbeddedWorkers(runtime, threads=threads) as workers,
            Progress(
                TextColumn("{task.description:<15}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as progress,
        ):
            tasks = {stage: progress.add_task(stage, total=n) for stage, n in total.items()}
            workers.actors.notify(marker)
            while True:
                for stage, done in (_count_done(runtime) | pair_done(runtime)).items():
                    progress.update(tasks[stage], completed=done)
                if workers.is_idle():
                    time.sleep(1.0)  # a stage may be between commit and routing
                    if workers.is_idle():
                        break
                time.sleep(0.5)
            for stage, done in (_count_done(runtime) | pair_done(runtime)).items():
                progress.update(tasks[stage], completed=done)
        console.print(_results_table(runtime, truths, reference))
        console.print(pair_results(runtime, pair_truth))
        console.print(_run_report_line(runtime))
    console.print(
        f"finished in {time.monotonic() - started:.0f} s; outbox: "
        f"{runtime.store.url}/{runtime.layout.outbox}/"
    )
