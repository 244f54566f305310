"""The germline pipeline end to end, from a FASTQ run folder in the inbox to the review area.

Runs on the embedded stack (memory:// + file://) and on real servers (redis:// + s3://
through moto's HTTP server) with the same assertions: CRAM readable and indexed with the
right read groups, VCF valid and indexed, QC values in range, the QC gate failing a poor
sample, a corrupt sample failing alone with a reason that names its file, and the run's
MultiQC report going ahead without the failed samples while naming them.
"""

from __future__ import annotations

import gzip
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import dramatiq
import pysam
import pytest

from seqoia.admin.refarea import reference_area, upload_reference_area
from seqoia.engine.notifications import any_matches, store_key_filters
from seqoia.engine.reconciler import Reconciler
from seqoia.engine.runtime import Runtime, build_runtime
from seqoia.genomics.simulate import (
    simulate_poor_sample,
    simulate_reads,
    simulate_reference,
    simulate_variants,
)
from seqoia.genomics.simulate_annotation import simulate_annotation
from seqoia.settings import Settings
from seqoia.vocabulary import source_alias
from seqoia.workers.actors import declare_actors
from seqoia.workers.broker import build_broker
from seqoia.workers.embedded import EmbeddedWorkers
from tests.fixtures.ceph import CephRGW
from tests.fixtures.servers import ServerProcess, free_port, rgw_store

RUN = "261129_A00123_0042_AHTESTXXXX"
FASTQ_DIR = "Analysis/1/Data/fastq"
GOOD, POOR, CORRUPT = "GOOD-01", "POOR-02", "BROKEN-03"
UNEVEN, MISSING, STRAY = "UNEVEN-04", "MISSING-05", "STRAY-06"


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reference and a FASTQ run folder: one good, one poor, one corrupt sample."""
    root = tmp_path_factory.mktemp("germline")
    reference = root / "genome.fa"
    simulate_reference(reference, contigs={"chr1": 120_000, "chr2": 80_000}, seed=5)
    simulate_annotation(reference, root / "annotation", seed=5)  # genes for `annotate`
    run = root / RUN
    fastq = run / FASTQ_DIR
    fastq.mkdir(parents=True)
    variants = simulate_variants(reference, seed=6)
    simulate_reads(reference, variants, *_pair(fastq, GOOD, 1), coverage=30, seed=7)
    simulate_poor_sample(reference, variants, *_pair(fastq, POOR, 2), kind="low_coverage", seed=8)
    simulate_reads(reference, variants, *_pair(fastq, CORRUPT, 3), coverage=5, seed=9)
    r1 = _pair(fastq, CORRUPT, 3)[0]
    r1.write_bytes(r1.read_bytes()[:-5000])  # truncated gzip: a copy that was cut short
    # R2 with fewer records than R1 (both valid gzip), and FASTQ of no listed sample.
    simulate_reads(reference, variants, *_pair(fastq, UNEVEN, 4), coverage=2, seed=10)
    r2 = _pair(fastq, UNEVEN, 4)[1]
    with gzip.open(r2, "rt") as handle:
        lines = handle.readlines()
    with gzip.open(r2, "wt") as handle:
        handle.writelines(lines[: len(lines) // 8 * 4])  # whole records, half of them
    simulate_reads(reference, variants, *_pair(fastq, STRAY, 6), coverage=1, seed=11)
    (run / "SampleSheet.csv").write_text(
        "[Header]\nFileFormatVersion,2\n\n[BCLConvert_Data]\nLane,Sample_ID,Index,Index2,Centre\n"
        f"1,{GOOD},ACGTACGT,TTGGCCAA,APHP\n1,{POOR},CATGCATG,GGAATTCC,CURIE\n"
        f"1,{CORRUPT},GTCAGTCA,CCTTAAGG,APHP\n1,{UNEVEN},TGCATGCA,AACCGGTT,APHP\n"
        f"1,{MISSING},AGTCAGTC,GGCCTTAA,CURIE\n"
    )
    (run / "CopyComplete.txt").write_text("")
    return root


def _pair(folder: Path, sample: str, number: int) -> tuple[Path, Path]:
    return tuple(folder / f"{sample}_S{number}_L001_R{r}_001.fastq.gz" for r in (1, 2))  # type: ignore[return-value]


def _drop(runtime: Runtime, root: Path) -> str:
    notes = root / "annotation"
    area = reference_area(
        notes / "genes.gff3",
        {"demo": notes / "panel.tsv"},
        clinvar=notes / "clinvar.vcf.gz",
        gnomad=notes / "gnomad.sites.vcf.gz",
    )
    upload_reference_area(runtime.store, runtime.layout, "demo", root / "genome.fa", area)
    run = root / RUN
    files = sorted(p for p in run.rglob("*") if p.is_file() and p.name != "CopyComplete.txt")
    for path in [*files, run / "CopyComplete.txt"]:
        runtime.store.upload_file(
            runtime.layout.run_prefix(RUN) + path.relative_to(run).as_posix(), path
        )
    return runtime.layout.run_prefix(RUN) + "CopyComplete.txt"


def _wait_for(runtime: Runtime, keys: list[tuple[str, str]], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(runtime.manifests.latest(stage, subject) for stage, subject in keys):
            return
        time.sleep(0.5)
    missing = [k for k in keys if not runtime.manifests.latest(*k)]
    raise AssertionError(f"not committed within {timeout_s} s: {missing}")


def _check_results(runtime: Runtime, tmp: Path) -> None:
    store, manifests = runtime.store, runtime.manifests
    # The good sample: CRAM with its read group, indexed; VCF indexed; QC in range; passes.
    md = manifests.latest("markduplicates", GOOD)
    cram, crai = tmp / "good.cram", tmp / "good.cram.crai"
    store.download_file(md.output(f"{GOOD}.md.cram").key, cram)
    store.download_file(md.output(f"{GOOD}.md.cram.crai").key, crai)
    reference = tmp / "genome.fa"
    store.download_file(runtime.layout.reference_key("demo"), reference)
    with pysam.AlignmentFile(str(cram), "rc", reference_filename=str(reference)) as aln:
        groups = aln.header.to_dict()["RG"]
        assert [(g["ID"], g["SM"], g["PL"]) for g in groups] == [(f"{RUN}.1", GOOD, "ILLUMINA")]
        assert aln.check_index()
        assert aln.count("chr1", 1000, 2000) > 0
    calls = manifests.latest("call_variants", GOOD)
    vcf = tmp / "good.vcf.gz"
    store.download_file(calls.output(f"{GOOD}.bcftools.vcf.gz").key, vcf)
    store.download_file(calls.output(f"{GOOD}.bcftools.vcf.gz.tbi").key, Path(f"{vcf}.tbi"))
    with pysam.VariantFile(str(vcf)) as variants:
        assert list(variants.header.samples) == [GOOD]
        assert sum(1 for _ in variants.fetch("chr1")) > 50
    qc_good = manifests.latest("qc", GOOD).summary
    metrics = qc_good["metrics"]
    assert 25 <= metrics["mean_coverage"] <= 35
    assert metrics["mapped_pct"] > 95 and metrics["properly_paired_pct"] > 90
    assert 1.5 <= metrics["ti_tv"] <= 2.6
    assert qc_good["verdict"]["passed"], qc_good["verdict"]["failures"]
    # The poor sample: committed, but the gate fails it on coverage.
    qc_poor = manifests.latest("qc", POOR).summary
    assert not qc_poor["verdict"]["passed"]
    assert "mean_coverage" in {f["metric"] for f in qc_poor["verdict"]["failures"]}
    # The corrupt sample fails alone, permanently, with its file named.
    assert manifests.latest("align", CORRUPT) is None
    failure = json.loads(store.get_bytes(runtime.layout.failure_key("align", CORRUPT))[0])
    assert failure["permanent"] is True
    assert f"{CORRUPT}_S3_L001_R1_001.fastq.gz" in failure["message"]
    # R1/R2 of different lengths, and a listed sample without files: each fails alone.
    uneven = json.loads(store.get_bytes(runtime.layout.failure_key("align", UNEVEN))[0])
    assert uneven["permanent"] and f"{UNEVEN}_S4_L001_R2_001.fastq.gz" in uneven["message"]
    missing = json.loads(store.get_bytes(runtime.layout.failure_key("align", MISSING))[0])
    assert missing["permanent"] and "SampleSheet.csv" in missing["message"]
    assert "no FASTQ files" in missing["message"]
    # Files of no listed sample are reported and ignored.
    validated = manifests.latest("validate_run", RUN)
    # Named by alias: a stray file may be named after a patient (issue 12).
    strays = [source_alias(f"{FASTQ_DIR}/{STRAY}_S6_L001_R{r}_001.fastq.gz") for r in (1, 2)]
    assert any(
        "2 FASTQ file(s)" in warning and all(str(a) in warning for a in strays)
        for warning in validated.summary["warnings"]
    )
    assert STRAY not in manifests.related("run", RUN, "sample")
    # Put up for review (never into the outbox before a release): the reports.
    assert list(store.list(f"{runtime.layout.outbox}/")) == []
    prefix = runtime.layout.review_prefix("APHP", GOOD)
    delivered = {info.key.removeprefix(prefix) for info in store.list(prefix)}
    assert delivered >= {
        f"{GOOD}.clinical.json",
        f"{GOOD}.report.json",
        f"{GOOD}.report.html",
        f"{GOOD}.fhir.json",
    }
    report = json.loads(store.get_bytes(prefix + f"{GOOD}.report.json")[0])
    assert report["qc_passed"] is True and report["sample"] == GOOD
    bundle = json.loads(store.get_bytes(prefix + f"{GOOD}.fhir.json")[0])
    assert bundle["resourceType"] == "Bundle"
    kinds = {entry["resource"]["resourceType"] for entry in bundle["entry"]}
    assert {"DiagnosticReport", "Observation", "DocumentReference"} <= kinds
    poor = json.loads(
        store.get_bytes(runtime.layout.review_prefix("CURIE", POOR) + f"{POOR}.report.json")[0]
    )
    assert poor["qc_passed"] is False
    _check_multiqc(runtime)


def _check_multiqc(runtime: Runtime) -> None:
    """The run's MultiQC report did not wait for the failed samples: it names them."""
    run_report = runtime.manifests.latest("multiqc", RUN)
    assert run_report.summary["samples"] == [GOOD, POOR]
    excluded = {e["sample"]: e for e in run_report.summary["excluded"]}
    assert sorted(excluded) == [CORRUPT, MISSING, UNEVEN]
    assert excluded[CORRUPT]["stage"] == "align"
    assert f"{CORRUPT}_S3_L001_R1_001.fastq.gz" in excluded[CORRUPT]["reason"]
    html = runtime.store.get_bytes(run_report.output("multiqc_report.html").key)[0].decode()
    for sample in (GOOD, POOR, CORRUPT, MISSING, UNEVEN):
        assert sample in html
    assert "Samples not in this report" in html
    assert run_report.output("multiqc_data.zip").size > 0


def _expected(runtime: Runtime) -> list[tuple[str, str]]:
    return [("deliver", GOOD), ("deliver", POOR), ("validate_run", RUN), ("multiqc", RUN)]


def test_fastq_run_is_delivered_on_the_embedded_stack(run_folder: Path, tmp_path: Path) -> None:
    settings = Settings(
        store_url=f"file://{tmp_path}/store", scratch_dir=tmp_path / "scratch", max_retries=0
    )
    runtime = build_runtime(settings)
    marker = _drop(runtime, run_folder)
    with EmbeddedWorkers(runtime, threads=2) as workers:
        workers.actors.notify(marker)
        workers.wait_idle(timeout_s=600)
    _check_results(runtime, tmp_path)
    # Dropping the same run again does nothing: no new generation anywhere.
    before = {k: runtime.manifests.generations(*k) for k in _expected(runtime)}
    generations_poor = runtime.manifests.generations("call_variants", POOR)
    with EmbeddedWorkers(runtime, threads=2) as workers:
        workers.actors.notify(marker)
        workers.wait_idle(timeout_s=120)
    assert {k: runtime.manifests.generations(*k) for k in _expected(runtime)} == before
    # New calling parameters for one sample rerun that stage and what depends on it, only.
    runtime.store.put_bytes(
        runtime.layout.override_key("call_variants", GOOD),
        json.dumps({"params": {"min_baseq": 15}}).encode(),
    )
    stages = [s.name for s in runtime.pipeline if s.kind == "sample"]
    generations = {s: runtime.manifests.generations(s, GOOD) for s in stages}
    with EmbeddedWorkers(runtime, threads=2) as workers:
        Reconciler(runtime, workers.actors.enqueue_stage).run_pass()
        workers.wait_idle(timeout_s=300)
    rerun = {s for s in stages if runtime.manifests.generations(s, GOOD) != generations[s]}
    assert rerun == {"call_variants", "annotate", "qc", "report", "deliver"}
    assert runtime.manifests.latest("call_variants", GOOD).parameters["min_baseq"] == 15
    assert runtime.manifests.generations("call_variants", POOR) == generations_poor


def test_fastq_run_is_delivered_on_redis_and_s3(
    run_folder: Path, tmp_path: Path, redis_server: str, s3_server: str
) -> None:
    from tests.fixtures.servers import make_bucket

    make_bucket(s3_server, "germline")
    settings = Settings(
        store_url=f"s3://germline?endpoint_url={s3_server}",
        broker_url=redis_server,
        scratch_dir=tmp_path / "scratch",
        max_retries=0,
    )
    runtime = build_runtime(settings)
    marker = _drop(runtime, run_folder)
    broker = build_broker(settings)
    actors = declare_actors(broker, runtime)
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=200)
    worker.start()
    try:
        actors.notify(marker, bucket="germline")
        _wait_for(runtime, _expected(runtime), timeout_s=600)
    finally:
        worker.stop()
        broker.close()
    _check_results(runtime, tmp_path)


def test_truncated_gzip_fixture_is_really_truncated(run_folder: Path) -> None:
    with (
        pytest.raises((EOFError, OSError)),
        gzip.open(_pair(run_folder / RUN / FASTQ_DIR, CORRUPT, 3)[0]) as handle,
    ):
        while handle.read(1 << 20):
            pass


def test_fastq_run_is_delivered_on_rgw_and_redis_driven_by_the_buckets_own_events(
    run_folder: Path, tmp_path: Path, redis_server: str, rgw_server: CephRGW
) -> None:
    """A deployment as on the data centre's cluster: RGW's notifications are the only nudge.

    `seqoia intake` and `seqoia worker` run as their own processes; RGW pushes the
    ObjectCreated records of the keys the router acts on (run folder markers, manifests:
    the filters a deployment sets) to the intake through a persistent topic. No
    `seqoia notify`, no reconciler: only the bucket's events move the run along.
    """
    token = uuid.uuid4().hex
    bucket = rgw_store(rgw_server).bucket
    intake_port = free_port()
    env = {
        # RGW 16.2 accepts SSE-S3 and ignores it: the worker's store check refuses that, so
        # a deployment on it turns SSE off explicitly (or configures RGW's own encryption).
        "SEQOIA_STORE_URL": f"s3://{bucket}?endpoint_url={rgw_server.endpoint}&sse=none",
        "SEQOIA_BROKER_URL": redis_server,
        "SEQOIA_SCRATCH_DIR": str(tmp_path / "scratch"),
        "SEQOIA_MAX_RETRIES": "0",
        "SEQOIA_INTAKE_TOKEN": token,
        "SEQOIA_INTAKE_PORT": str(intake_port),
        "AWS_ACCESS_KEY_ID": rgw_server.access_key,
        "AWS_SECRET_ACCESS_KEY": rgw_server.secret_key,
        "AWS_DEFAULT_REGION": "us-east-1",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    servers = []
    metrics_ports = {"intake": free_port(), "worker": free_port()}
    for name, metrics_port in metrics_ports.items():
        server = ServerProcess(
            f"seqoia-{name}",
            [sys.executable, "-m", "seqoia.cli", name],
            tmp_path / name,
            env={**os.environ, **env, "SEQOIA_METRICS_PORT": str(metrics_port)},
        )
        server.start()
        servers.append(server)
    try:
        intake_server, worker_server = servers
        intake_url = f"http://127.0.0.1:{intake_port}/events"
        intake_server.wait_until(lambda: _answers(intake_url), timeout_s=60, what="an HTTP answer")
        worker_server.wait_until(
            lambda: "consuming" in worker_server.output_tail(), timeout_s=60, what="consuming"
        )
        # Before any event: the worker starts its fork server at start-up, so a freshly
        # scaled-up worker's first stage does not wait for an interpreter and its imports.
        assert worker_server.process is not None
        worker_pid = worker_server.process.pid
        worker_server.wait_until(
            lambda: _fork_servers_of(worker_pid), timeout_s=60, what="its fork server"
        )
        settings = Settings(store_url=env["SEQOIA_STORE_URL"], scratch_dir=tmp_path / "mine")
        with pytest.MonkeyPatch.context() as patch:
            for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
                patch.setenv(name, env[name])
            runtime = build_runtime(settings)
        # The intake takes the token only as the Basic password RGW sends for the endpoint.
        # Only the keys the router acts on are announced, as a deployment configures it.
        filters = store_key_filters(runtime)
        rgw_server.push_events(
            bucket, f"http://seqoia:{token}@127.0.0.1:{intake_port}/events", filters=filters
        )
        _drop(runtime, run_folder)
        _wait_for(runtime, _expected(runtime), timeout_s=600)
        _check_results(runtime, tmp_path)
        # The intake saw RGW's records, all well-formed and authorised: one at least per
        # marker and manifest in the bucket (the last may still be in RGW's queue).
        announced = [i.key for i in runtime.store.list("") if any_matches(filters, i.key)]
        deadline = time.monotonic() + 60
        events = _intake_events(metrics_ports["intake"])
        while events.get(("s3", "accepted"), 0) < len(announced):
            assert time.monotonic() < deadline, (len(announced), events)
            time.sleep(0.5)
            events = _intake_events(metrics_ports["intake"])
        assert len(announced) >= 10, announced  # the marker and the run's manifests
        assert sum(events.get(("s3", bad), 0) for bad in ("invalid", "unauthorized")) == 0
    except BaseException:
        for server in servers:
            print(f"--- {server.name}\n{server.output_tail(60)}")
        raise
    finally:
        for server in servers:
            server.stop()


def _fork_servers_of(pid: int) -> list[int]:
    """The pids of the fork servers that process ``pid`` started (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue  # not a process, or gone since the listing
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and b"seqoia.engine.forkserver" in argv:
            found.append(int(entry.name))
    return found


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # 401/405: it is up


def _intake_events(metrics_port: int) -> dict[tuple[str, str], float]:
    """seqoia_events_total by (source, outcome), scraped from the intake's /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as page:
        text = page.read().decode()
    return {
        (sample.labels["source"], sample.labels["outcome"]): sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "seqoia_events"
        for sample in family.samples
        if sample.name == "seqoia_events_total"
    }
