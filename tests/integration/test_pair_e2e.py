"""A tumour/normal pair end to end on Redis and S3 (moto), split over two runs.

Run 1 brings the tumour of pair P-01 and a whole pair P-02 whose "normal" is another
patient's; run 2, later, brings P-01's normal. P-01 waits for its normal, then reaches its
delivery in the centre's outbox; P-02 fails its identity check for good, and ``seqoia
status`` / ``seqoia sample`` show why, naming both samples.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import dramatiq
import pytest
from typer.testing import CliRunner

from seqoia.cli import app
from seqoia.engine.runtime import Runtime, build_runtime
from seqoia.genomics.simulate import simulate_reference
from seqoia.genomics.simulate_pair import simulate_pair_fastq
from seqoia.settings import Settings
from seqoia.workers.actors import declare_actors
from seqoia.workers.broker import build_broker
from tests.integration.engine_helpers import settings_env

RUN1 = "261201_A00123_0050_AHPAIRXXXX"
RUN2 = "261208_A00123_0057_BHPAIRXXXX"
FASTQ_DIR = "Analysis/1/Data/fastq"
HEADER = (
    "[Header]\nFileFormatVersion,2\n\n[BCLConvert_Data]\n"
    "Lane,Sample_ID,Index,Index2,Centre,Pair_ID,Role\n"
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pairs")
    reference = root / "genome.fa"
    simulate_reference(reference, contigs={"chr1": 120_000, "chr2": 80_000}, seed=5)
    simulate_pair_fastq(
        reference, root / RUN1 / FASTQ_DIR, tumour=("T-01", 1), normal=None,
        scratch=root / "s1", seed=16, tumour_depth=45, per_vaf=10,
    )  # fmt: skip
    simulate_pair_fastq(
        reference, root / RUN2 / FASTQ_DIR, tumour=None, normal=("N-01", 1),
        scratch=root / "s2", seed=16, normal_depth=30,
    )  # fmt: skip
    simulate_pair_fastq(
        reference, root / RUN1 / FASTQ_DIR, tumour=("T-02", 2), normal=("X-02", 3),
        scratch=root / "s3", seed=16, other_patient=True, tumour_depth=30, per_vaf=2,
    )  # fmt: skip
    (root / RUN1 / "SampleSheet.csv").write_text(
        HEADER + "1,T-01,ACGTACGT,TTGGCCAA,CURIE,P-01,tumour\n"
        "1,T-02,CATGCATG,GGAATTCC,APHP,P-02,tumour\n"
        "1,X-02,GTCAGTCA,CCTTAAGG,APHP,P-02,normal\n"
    )
    (root / RUN2 / "SampleSheet.csv").write_text(
        HEADER + "1,N-01,TGCATGCA,AACCGGTT,CURIE,P-01,normal\n"
    )
    for run in (RUN1, RUN2):
        (root / run / "CopyComplete.txt").write_text("")
    return root


def _drop(runtime: Runtime, root: Path, run: str) -> str:
    runtime.store.upload_file(runtime.layout.reference_key("demo"), root / "genome.fa")
    folder = root / run
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "CopyComplete.txt")
    for path in [*files, folder / "CopyComplete.txt"]:
        key = runtime.layout.run_prefix(run) + path.relative_to(folder).as_posix()
        runtime.store.upload_file(key, path)
    return runtime.layout.run_prefix(run) + "CopyComplete.txt"


def _until(check, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"not within {timeout_s} s: {what}")


def test_a_pair_over_two_runs_is_delivered_and_a_swapped_normal_fails_by_name(
    runs: Path, tmp_path: Path, redis_server: str, s3_server: str
) -> None:
    from tests.fixtures.servers import make_bucket

    make_bucket(s3_server, "pairs")
    settings = Settings(
        store_url=f"s3://pairs?endpoint_url={s3_server}",
        broker_url=redis_server,
        scratch_dir=tmp_path / "scratch",
        max_retries=0,
    )
    runtime = build_runtime(settings)
    manifests, failures = runtime.manifests, runtime.planner.failures
    broker = build_broker(settings)
    actors = declare_actors(broker, runtime)
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=200)
    worker.start()
    try:
        actors.notify(_drop(runtime, runs, RUN1), bucket="pairs")
        _until(
            lambda: manifests.latest("markduplicates", "T-01") is not None
            and failures.read("somatic", "P-02") is not None,
            300, "run 1: T-01 duplicate-marked and P-02's identity check failed",
        )  # fmt: skip
        # P-01's tumour is ready, and its somatic stage waits for the normal by name.
        plan = runtime.planner.plan("somatic", "P-01")
        assert plan.waiting_for == ["pair P-01: the normal of tumour T-01 is in no run yet"]
        assert manifests.latest("somatic", "P-01") is None

        actors.notify(_drop(runtime, runs, RUN2), bucket="pairs")
        _until(
            lambda: manifests.latest("deliver_pair", "P-01") is not None,
            300, "deliver_pair/P-01 after run 2",
        )  # fmt: skip
    finally:
        worker.stop()
        broker.close()

    somatic = manifests.latest("somatic", "P-01")
    assert sorted(i.subject for i in somatic.inputs if i.stage == "validate_run") == [RUN1, RUN2]
    assert somatic.summary["identity"]["passed"]
    assert somatic.summary["somatic"]["passed"] >= 20  # 30 planted at 20-40 % VAF
    prefix = f"{runtime.layout.outbox}/CURIE/T-01_vs_N-01/"
    delivered = sorted(info.key[len(prefix) :] for info in runtime.store.list(prefix))
    assert "T-01_vs_N-01.somatic.vcf.gz" in delivered
    assert "T-01_vs_N-01.fhir.json" in delivered and "T-01_vs_N-01.report.html" in delivered
    report = json.loads(runtime.store.get_bytes(prefix + "T-01_vs_N-01.report.json")[0])
    assert report["runs"] == [RUN1, RUN2] and report["mode"] == "tumour/normal"

    record = failures.read("somatic", "P-02")
    assert record is not None and record.permanent
    assert "T-02 and X-02 do not come from the same patient" in record.message
    assert manifests.latest("pair_report", "P-02") is None

    env = settings_env(settings)
    shown = CliRunner().invoke(app, ["sample", "X-02", "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    rows = {(d["stage"], d["subject"]): d for d in json.loads(shown.stdout)["detail"]}
    assert rows["somatic", "P-02"]["state"] == "failed"
    assert "T-02 and X-02" in rows["somatic", "P-02"]["failure"]["message"]
    # Wide enough that the reason is not folded across table lines.
    status = CliRunner().invoke(app, ["status", RUN1], env={**env, "COLUMNS": "400"})
    assert status.exit_code == 0, status.output
    assert "T-02 and X-02" in " ".join(status.stdout.split())
