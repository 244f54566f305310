"""``seqoia demo``: the whole germline pipeline on simulated data, on the embedded defaults.

It writes a reference genome carrying a few annotated genes (with their GFF3, ClinVar,
gnomAD and a gene panel in the reference area) and a FASTQ run folder of a few samples
whose reads carry known variants, among them one ClinVar-pathogenic stop-gain per sample
(fixed seed); drops the run into the inbox with its completion marker last, runs every
stage in-process with visible progress, and prints per sample the QC verdict, precision
and recall against the known variants, and the tier-1 variant found. The pipeline stops
at the review area; the demo then signs off the passing samples itself (``--by demo``, as
a biologist would with ``seqoia release``), so the outbox holds their final reports,
while the deliberately poor sample fails the QC gate and stays awaiting release.
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
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from seqoia.commands.demo_family import add_demo_trio, family_lines
from seqoia.commands.demo_pair import PAIR_STAGES, add_demo_pair, pair_done, pair_results
from seqoia.engine.runtime import Runtime, build_runtime
from seqoia.settings import Settings
from seqoia.storage.manifest import Manifest
from seqoia.workers.embedded import EmbeddedWorkers

RUN_ID = "261129_A00123_0042_AHDEMOXXXX"
FASTQ_DIR = "Analysis/1/Data/fastq"
SAMPLE_STAGES = (
    "align",
    "markduplicates",
    "call_variants",
    "annotate",
    "qc",
    "report",
    "deliver",
)
RELEASED_BY = "demo"


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
) -> tuple[Path, Path, dict[str, Path], dict[str, Path]]:
    """Reference, run folder, one truth VCF per sample and the reference area's resources,
    written under ``folder``."""
    from seqoia.admin.refarea import reference_area
    from seqoia.genomics.simulate import (
        simulate_poor_sample,
        simulate_reads,
        simulate_reference,
        simulate_variants,
        write_truth_vcf,
    )
    from seqoia.genomics.simulate_annotation import (
        demo_pathogenic_variant,
        plant_variants,
        simulate_annotation,
    )

    reference = folder / "genome.fa"
    autosome_bp = genome_kb * 1000
    simulate_reference(
        reference,
        contigs={"chr1": autosome_bp * 6 // 10, "chr2": autosome_bp * 4 // 10},
        sex_chromosomes=True,
        seed=2026,
    )
    files, genes = simulate_annotation(reference, folder / "annotation", seed=2026)
    area = reference_area(
        files.gff3, {"demo": files.panel}, clinvar=files.clinvar, gnomad=files.gnomad
    )
    run = folder / RUN_ID
    fastq_dir = run / FASTQ_DIR
    fastq_dir.mkdir(parents=True)
    truths: dict[str, Path] = {}
    rows = []
    for number, spec in enumerate(DEMO_SAMPLES, start=1):
        sex: Literal["XX", "XY"] = "XY" if spec.sex == "male" else "XX"
        planted = demo_pathogenic_variant(genes, reference, number - 1)
        variants = plant_variants(simulate_variants(reference, seed=spec.seed, sex=sex), [planted])
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
    return reference, run, truths, area


def _index(n: int) -> str:
    """Distinct 8-nt indexes, far apart, from a number."""
    bases = "ACGT"
    return "".join(bases[(n * 7 + i * (n + 3)) % 4] for i in range(8))


def _upload(runtime: Runtime, reference: Path, area: dict[str, Path], run: Path) -> str:
    """Reference area into refs/, run folder into the inbox with its completion marker last."""
    from seqoia.admin.refarea import upload_reference_area

    store, layout = runtime.store, runtime.layout
    upload_reference_area(store, layout, runtime.settings.reference, reference, area)
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
        # escape: the install hint's ``seqoia[multiqc]`` would otherwise be eaten as markup
        return f"run report (MultiQC): skipped, {escape(str(manifest.summary['skipped']))}"
    return (
        f"run report (MultiQC): {manifest.output('multiqc_report.html').key} "
        f"(seqoia outputs multiqc/{RUN_ID} --download DIR)"
    )


def _tier1_text(annotated: Manifest | None) -> str:
    """The first tier-1 variant as gene, c. and p. names (the transcript left out)."""
    if annotated is None:
        return ""
    found = annotated.summary.get("tier1") or []
    if not found:
        return "none"
    first = found[0]
    more = f" (+{len(found) - 1})" if len(found) > 1 else ""
    protein = first.get("hgvs_p") or ""
    return f"{first['gene']} {first['hgvs_c'].split(':')[-1]} {protein}{more}".strip()


def _release_passing(runtime: Runtime) -> dict[str, str]:
    """Sign off each passing sample's reviewed report, as a biologist would."""
    from seqoia.admin.release import release_sample, release_status

    states: dict[str, str] = {}
    for spec in DEMO_SAMPLES:
        status = release_status(runtime, spec.sample)
        if status is None:
            states[spec.sample] = "not in review"
        elif status.qc_passed and status.awaiting:
            release_sample(
                runtime,
                spec.sample,
                by=RELEASED_BY,
                reason="seqoia demo: simulated data, tier-1 variant as planted",
            )
            states[spec.sample] = "[green]released[/green]"
        elif status.awaiting:
            states[spec.sample] = "[yellow]awaiting[/yellow]"
        else:
            states[spec.sample] = "released"
    return states


def _results_table(
    runtime: Runtime, truths: dict[str, Path], reference: Path, released: dict[str, str]
) -> Table:
    from seqoia.genomics.evaluate import evaluate_calls

    table = results_table(f"seqoia demo — run {RUN_ID}")
    for spec in DEMO_SAMPLES:
        qc = runtime.manifests.latest("qc", spec.sample)
        calls = runtime.manifests.latest("call_variants", spec.sample)
        if qc is None or calls is None:
            failed = [
                stage
                for stage in SAMPLE_STAGES
                if runtime.failures.read(stage, spec.sample) is not None
            ]
            state = f"[red]{failed[0]} failed[/red]" if failed else "not run"
            table.add_row(spec.sample, spec.centre, state)
            continue
        passed = qc.summary["verdict"]["passed"]
        with tempfile.TemporaryDirectory() as tmp:
            vcf = Path(tmp) / "calls.vcf.gz"
            runtime.store.download_file(calls.output(f"{spec.sample}.bcftools.vcf.gz").key, vcf)
            runtime.store.download_file(
                calls.output(f"{spec.sample}.bcftools.vcf.gz.tbi").key, Path(str(vcf) + ".tbi")
            )
            score = evaluate_calls(vcf, truths[spec.sample], reference)
        table.add_row(
            spec.sample,
            spec.centre,
            "[green]pass[/green]" if passed else "[red]FAIL[/red]",
            f"{score.snv.precision:.2f}/{score.snv.recall:.2f}",
            f"{score.indel.precision:.2f}/{score.indel.recall:.2f}",
            _tier1_text(runtime.manifests.latest("annotate", spec.sample)),
            released.get(spec.sample, ""),
        )
    return table


def _where_lines(runtime: Runtime) -> list[str]:
    """Where each sample's report is: the outbox once released, else the review area."""
    from seqoia.admin.release import release_status

    lines = []
    for spec in DEMO_SAMPLES:
        status = release_status(runtime, spec.sample)
        qc = runtime.manifests.latest("qc", spec.sample)
        if status is None or qc is None:
            continue
        if status.record is not None:
            lines.append(f"{spec.sample}: final report in {status.record.outbox}")
            continue
        failed = ", ".join(f["metric"] for f in qc.summary["verdict"]["failures"])
        review = runtime.layout.review_prefix(status.centre, spec.sample)
        lines.append(
            f"{spec.sample}: QC failed ({failed or 'gate'}); preliminary report in {review}, "
            f"awaiting release (seqoia release {spec.sample} --by NAME --reason TEXT "
            "--override-qc)"
        )
    return lines


# -- results table layout (folds rather than cuts at 80-120 columns) -------------------
def results_table(title: str) -> Table:
    """The demo's results table: ids never wrap; QC reasons, variants and sign-off fold."""
    table = Table(title=title)
    table.add_column("sample", no_wrap=True)
    table.add_column("centre", overflow="fold")
    table.add_column("QC", overflow="fold", ratio=2)
    for column in ("SNV P/R", "indel P/R"):
        table.add_column(column, overflow="fold")
    table.add_column("tier 1 (gene, c., p.)", overflow="fold", ratio=3)
    table.add_column("sign-off", overflow="fold", ratio=2)
    return table


# -- end of results table layout ------------------------------------------------------


def demo(
    ctx: typer.Context,
    coverage: Annotated[
        float, typer.Option(help="Sequencing depth of the simulated samples")
    ] = 30.0,
    genome_kb: Annotated[
        int, typer.Option(help="Autosome size of the simulated genome, kb")
    ] = 1000,
    threads: Annotated[int, typer.Option(help="Stages running at once")] = 2,
    fresh: Annotated[
        bool, typer.Option(metavar="", help="Delete the demo's earlier store first")
    ] = False,
) -> None:
    """Simulate a run, process it end to end on the embedded defaults, print the results."""
    settings: Settings = ctx.obj
    settings = settings.model_copy(update={"broker_url": "memory://"})
    # The table is laid out for 100 columns; a narrower terminal wraps the centre names.
    probe = Console()
    console = Console(width=min(probe.width, 100) if probe.is_terminal else 100)
    if fresh and settings.store_url.startswith("file://"):
        shutil.rmtree(settings.store_url.removeprefix("file://"), ignore_errors=True)
    runtime = build_runtime(settings)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="seqoia-demo-") as tmp:
        with console.status(
            "simulating a reference, 4 samples, a pair and a trio with known variants"
        ):
            reference, run, truths, area = _write_inputs(Path(tmp), coverage, genome_kb)
            # -- the tumour/normal pair (seqoia.commands.demo_pair) --
            pair_truth = add_demo_pair(run, reference, Path(tmp) / "pair", len(DEMO_SAMPLES) + 1)
            # -- the rare-disease trio (seqoia.commands.demo_family) --
            trio = add_demo_trio(
                run, reference, Path(tmp) / "trio", len(DEMO_SAMPLES) + 3, coverage
            )
            marker = _upload(runtime, reference, area, run)
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
        released = _release_passing(runtime)
        console.print(_results_table(runtime, truths, reference, released))
        for line in _where_lines(runtime):
            console.print(line, highlight=False)
        console.print(pair_results(runtime, pair_truth))
        console.print(_run_report_line(runtime))
        for line in family_lines(runtime, trio):
            console.print(line, highlight=False)
    console.print(
        f"finished in {time.monotonic() - started:.0f} s; outbox: "
        f"{runtime.store.url}/{runtime.layout.outbox}/"
    )
