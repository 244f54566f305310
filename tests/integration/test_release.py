"""Report -> review -> release, embedded (file:// store, memory:// broker), on real reads.

A small annotated reference (the annotation simulator's genes, GFF3, ClinVar, gnomAD and
panel) goes into the reference area; a FASTQ run of two samples goes into the inbox: GOOD
carries a planted ClinVar-pathogenic stop-gain at 30x, POOR is low coverage and fails the
QC gate. The pipeline stops at the review area; ``seqoia release`` puts the final report
and the CRAM/VCF into the outbox, refuses the QC-failed sample without --override-qc, and
refuses a second release of one generation; a reprocess makes a generation to release.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from seqoia.admin.audit import AuditLog
from seqoia.admin.refarea import reference_area, upload_reference_area
from seqoia.admin.state import StateReader
from seqoia.cli import app
from seqoia.commands.admin_common import attached
from seqoia.engine.reconciler import Reconciler
from seqoia.engine.runtime import Runtime, build_runtime
from seqoia.genomics.clinical_report import ClinicalReport
from seqoia.genomics.simulate import (
    simulate_poor_sample,
    simulate_reads,
    simulate_reference,
    simulate_variants,
)
from seqoia.genomics.simulate_annotation import (
    demo_pathogenic_variant,
    plant_variants,
    simulate_annotation,
)
from seqoia.settings import Settings
from seqoia.workers.embedded import EmbeddedWorkers

RUN = "261201_A00123_0050_AHRELEASEX"
FASTQ_DIR = "Analysis/1/Data/fastq"
GOOD, POOR = "GOOD-01", "POOR-02"


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Runtime, EmbeddedWorkers, dict]:
    """The pipeline run to the review area; workers left running for the tests."""
    root = tmp_path_factory.mktemp("release")
    reference = root / "genome.fa"
    simulate_reference(reference, contigs={"chr1": 120_000, "chr2": 80_000}, seed=5)
    files, genes = simulate_annotation(reference, root / "annotation", seed=5)
    planted = demo_pathogenic_variant(genes, reference, 0)
    variants = plant_variants(simulate_variants(reference, seed=6), [planted])
    run = root / RUN
    fastq = run / FASTQ_DIR
    fastq.mkdir(parents=True)
    pair = [fastq / f"{GOOD}_S1_L001_R{r}_001.fastq.gz" for r in (1, 2)]
    simulate_reads(reference, variants, pair[0], pair[1], coverage=30, seed=7)
    poor = [fastq / f"{POOR}_S2_L001_R{r}_001.fastq.gz" for r in (1, 2)]
    simulate_poor_sample(reference, variants, poor[0], poor[1], kind="low_coverage", seed=8)
    (run / "SampleSheet.csv").write_text(
        "[Header]\nFileFormatVersion,2\n\n[BCLConvert_Data]\nLane,Sample_ID,Index,Index2,Centre\n"
        f"1,{GOOD},ACGTACGT,TTGGCCAA,APHP\n1,{POOR},CATGCATG,GGAATTCC,CURIE\n"
    )
    (run / "CopyComplete.txt").write_text("")
    settings = Settings(
        store_url=f"file://{root}/store", scratch_dir=root / "scratch", max_retries=0
    )
    runtime = build_runtime(settings)
    area = reference_area(
        files.gff3, {"demo": files.panel}, clinvar=files.clinvar, gnomad=files.gnomad
    )
    upload_reference_area(runtime.store, runtime.layout, "demo", reference, area)
    for path in sorted(p for p in run.rglob("*") if p.is_file() and p.name != "CopyComplete.txt"):
        runtime.store.upload_file(
            runtime.layout.run_prefix(RUN) + path.relative_to(run).as_posix(), path
        )
    marker = runtime.layout.run_prefix(RUN) + "CopyComplete.txt"
    runtime.store.upload_file(marker, run / "CopyComplete.txt")
    workers = EmbeddedWorkers(runtime, threads=2)
    workers.__enter__()
    workers.actors.notify(marker)
    workers.wait_idle(timeout_s=600)
    yield runtime, workers, {"gene": genes[0].symbol, "marker": marker}
    workers.__exit__(None, None, None)


def _cli(runtime: Runtime, workers: EmbeddedWorkers, *args: str):  # type: ignore[no-untyped-def]
    env = {
        "SEQOIA_STORE_URL": runtime.settings.store_url,
        "SEQOIA_SCRATCH_DIR": str(runtime.settings.scratch_dir),
        "SEQOIA_BROKER_URL": "memory://",
    }
    with attached(workers.actors):
        return CliRunner().invoke(app, list(args), env=env)


def _clinical(runtime: Runtime, key: str) -> ClinicalReport:
    return ClinicalReport.model_validate_json(runtime.store.get_bytes(key)[0])


def test_the_pipeline_stops_at_the_review_area_with_a_preliminary_report(reviewed) -> None:  # type: ignore[no-untyped-def]
    runtime, _workers, facts = reviewed
    layout = runtime.layout
    assert list(runtime.store.list(f"{layout.outbox}/")) == []  # nothing reaches a hospital
    report = _clinical(runtime, layout.review_prefix("APHP", GOOD) + f"{GOOD}.clinical.json")
    assert report.status == "preliminary" and report.release is None
    marker = runtime.store.head(facts["marker"])
    assert report.effective == marker.modified  # the run's completion, not the wall clock
    tier1 = [v for v in report.variants if v.tier == 1]
    assert [(v.gene, v.hgvs_p) for v in tier1] == [(facts["gene"], "p.(Trp10Ter)")]
    assert report.panel is not None and report.panel.name == "Seqoia demo panel"
    # Every panel gene's coverage at 30x is reported, nearly all of it at >= 20x.
    assert [c.gene for c in report.coverage] == sorted(report.panel.genes)
    assert all(c.pct_bases_20x > 80 for c in report.coverage), report.coverage
    poor = _clinical(runtime, layout.review_prefix("CURIE", POOR) + f"{POOR}.clinical.json")
    assert not poor.qc_passed
    assert all(c.pct_bases_20x < 20 and c.low_coverage_exons for c in poor.coverage)
    state = StateReader(runtime).run(RUN)
    assert state.awaiting_release == [GOOD, POOR]


def test_status_and_sample_show_what_awaits_release(reviewed) -> None:  # type: ignore[no-untyped-def]
    runtime, workers, _ = reviewed
    result = _cli(runtime, workers, "status", RUN)
    assert result.exit_code == 0, result.output
    assert f"awaiting release: {GOOD}, {POOR}" in " ".join(result.stdout.split())
    sample = _cli(runtime, workers, "sample", POOR)
    assert "release: awaiting release (report g1, QC FAILED)" in sample.stdout


def test_a_qc_failed_sample_is_refused_without_override(reviewed) -> None:  # type: ignore[no-untyped-def]
    runtime, workers, _ = reviewed
    result = _cli(runtime, workers, "release", POOR, "--by", "Dr Curie", "--reason", "reviewed")
    assert result.exit_code == 2
    assert f"sample {POOR} failed QC (mean_coverage" in " ".join(result.stderr.split())
    assert "--override-qc" in result.stderr
    assert list(runtime.store.list(f"{runtime.layout.outbox}/")) == []


def test_release_writes_the_final_report_files_and_an_audit_record(reviewed) -> None:  # type: ignore[no-untyped-def]
    runtime, workers, _ = reviewed
    result = _cli(
        runtime, workers, "release", GOOD, "--by", "Dr Lejeune", "--reason", "variant confirmed"
    )
    assert result.exit_code == 0, (result.stdout, result.stderr)
    prefix = runtime.layout.release_prefix("APHP", GOOD, 1)
    written = {i.key.removeprefix(prefix) for i in runtime.store.list(prefix)}
    assert {
        f"{GOOD}.clinical.json",
        f"{GOOD}.clinical.html",
        f"{GOOD}.clinical.pdf",
        f"{GOOD}.clinical.fhir.json",
        f"{GOOD}.report.json",
        f"{GOOD}.report.html",
        f"{GOOD}.md.cram",
        f"{GOOD}.md.cram.crai",
        f"{GOOD}.bcftools.vcf.gz",
        f"{GOOD}.bcftools.vcf.gz.tbi",
    } == written
    final = _clinical(runtime, prefix + f"{GOOD}.clinical.json")
    # The renderings are of the final report: the bundle says so, the PDF is attached.
    bundle = json.loads(runtime.store.get_bytes(prefix + f"{GOOD}.clinical.fhir.json")[0])
    statuses = {
        e["resource"].get("status")
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "DiagnosticReport"
    }
    assert statuses == {"final"}
    assert runtime.store.get_bytes(prefix + f"{GOOD}.clinical.pdf")[0].startswith(b"%PDF")
    assert final.status == "final" and final.release is not None
    assert (final.release.by, final.release.reason, final.release.qc_override) == (
        "Dr Lejeune",
        "variant confirmed",
        False,
    )
    record = json.loads(runtime.store.get_bytes(runtime.layout.release_key(GOOD, 1))[0])
    assert record["by"] == "Dr Lejeune" and record["outbox"] == prefix
    audit = AuditLog(runtime.store, runtime.layout).records(limit=5)
    assert [(a.command, a.target, a.reason) for a in audit][0] == (
        "release",
        f"sample/{GOOD}",
        "variant confirmed",
    )
    assert audit[0].params["by"] == "Dr Lejeune"
    assert StateReader(runtime).run(RUN).awaiting_release == [POOR]


def test_a_second_release_of_one_generation_is_refused(reviewed) -> None:  # type: ignore[no-untyped-def]
    runtime, workers, _ = reviewed
    result = _cli(runtime, workers, "release", GOOD, "--by", "Dr Other", "--reason", "again")
    assert result.exit_code == 2
    text = " ".join(result.stderr.split())
    assert "generation 1 was already released by Dr Lejeune" in text
    final = _clinical(
        runtime, runtime.layout.release_prefix("APHP", GOOD, 1) + f"{GOOD}.clinical.json"
    )
    assert final.release is not None and final.release.by == "Dr Lejeune"


def test_override_releases_a_qc_failed_sample_and_says_so(reviewed) -> None:  # type: ignore[no-untyped-def]
    runtime, workers, _ = reviewed
    result = _cli(
        runtime, workers, "release", POOR, "--by", "Dr Curie",
        "--reason", "resequencing impossible", "--override-qc",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    final = _clinical(
        runtime, runtime.layout.release_prefix("CURIE", POOR, 1) + f"{POOR}.clinical.json"
    )
    assert final.release is not None and final.release.qc_override and not final.qc_passed
    assert AuditLog(runtime.store, runtime.layout).records(limit=1)[0].params["override_qc"]


def test_a_reprocess_with_a_stricter_max_af_is_a_new_generation_to_release(reviewed) -> None:  # type: ignore[no-untyped-def]
    runtime, workers, _ = reviewed
    runtime.store.put_bytes(
        runtime.layout.override_key("annotate", GOOD),
        json.dumps({"params": {"max_af": 0.005}}).encode(),
    )
    Reconciler(runtime, workers.actors.enqueue_stage).run_pass()
    workers.wait_idle(timeout_s=300)
    assert runtime.manifests.latest("report", GOOD).generation == 2
    assert StateReader(runtime).run(RUN).awaiting_release == [GOOD]
    result = _cli(runtime, workers, "release", GOOD, "--by", "Dr Lejeune", "--reason", "rerun")
    assert result.exit_code == 0, result.stderr
    assert runtime.store.head(
        runtime.layout.release_prefix("APHP", GOOD, 2) + f"{GOOD}.clinical.json"
    )
