"""Run-level stages in the pipeline: completion, validation and demultiplexing of base calls.

A simulated NovaSeq CBCL run folder goes into the inbox; ``validate_run`` fans out to its
samples and ``demultiplex`` writes per-sample FASTQ that the per-sample stages consume.
Bad runs (a failed instrument run, a malformed sample sheet, a truncated CBCL) fail with
a reason naming the file, and the other runs in the same store go on.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from seqoia.engine.reconciler import Reconciler
from seqoia.engine.runtime import Runtime, build_runtime
from seqoia.illumina.simulate import RunSpec, write_run_folder
from seqoia.settings import Settings
from seqoia.workers.embedded import EmbeddedWorkers


def _runtime(tmp_path: Path, **settings: object) -> Runtime:
    return build_runtime(
        Settings(
            store_url=f"file://{tmp_path}/store",
            scratch_dir=tmp_path / "scratch",
            max_retries=0,
            **settings,
        )
    )


def _drop(runtime: Runtime, folder: Path, run: str, *, marker: bool = True) -> str:
    last = folder / "CopyComplete.txt"
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p != last):
        runtime.store.upload_file(
            runtime.layout.run_prefix(run) + path.relative_to(folder).as_posix(), path
        )
    if marker:
        runtime.store.upload_file(runtime.layout.run_prefix(run) + "CopyComplete.txt", last)
    return runtime.layout.run_prefix(run) + "CopyComplete.txt"


@pytest.fixture(scope="module")
def cbcl_run(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("runs") / "good"
    spec = RunSpec(
        format="cbcl",
        tiles_per_swath=2,
        clusters_per_tile=1500,
        read_cycles=(31, 8, 8, 31),
        samples=3,
        seed=3,
    )
    truth = write_run_folder(folder, spec)
    return folder, truth


def _fastq_reads(path: Path) -> int:
    with gzip.open(path, "rt") as handle:
        return sum(1 for _ in handle) // 4


def test_cbcl_run_is_validated_and_demultiplexed_into_per_sample_fastq(
    cbcl_run,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    folder, truth = cbcl_run
    runtime = _runtime(tmp_path)
    marker = _drop(runtime, folder, truth.run_id)
    with EmbeddedWorkers(runtime, threads=2) as workers:
        workers.actors.notify(marker)
        workers.wait_idle(timeout_s=300)
    validated = runtime.manifests.latest("validate_run", truth.run_id)
    assert validated is not None
    assert sorted(validated.summary["samples"]) == sorted(s.sample_id for s in truth.samples)
    assert sorted(runtime.manifests.related("run", truth.run_id, "sample")) == sorted(
        s.sample_id for s in truth.samples
    )
    assert runtime.manifests.related("run", truth.run_id, "part") == [f"{truth.run_id}_L001"]
    demux = runtime.manifests.latest("demultiplex", f"{truth.run_id}_L001")
    assert demux is not None
    expected = truth.pf_counts()
    for sample in truth.samples:
        r1 = [r for r in demux.outputs if r.subject == sample.sample_id and "_R1_" in r.name]
        assert len(r1) == 1, [r.name for r in demux.outputs]
        local = tmp_path / r1[0].name
        runtime.store.download_file(r1[0].key, local)
        assert _fastq_reads(local) == expected[sample.sample_id]
        assert r1[0].name.startswith(f"{sample.sample_id}_S{sample.number}_L001_R1_001")
    # Without a reference in the store, alignment waits instead of failing.
    plan = runtime.planner.plan("align", truth.samples[0].sample_id)
    assert not plan.ready and any("reference" in w for w in plan.waiting_for)


def test_bad_runs_fail_with_the_file_named_while_the_good_run_goes_on(
    cbcl_run,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    folder, truth = cbcl_run
    runtime = _runtime(tmp_path)
    good = _drop(runtime, folder, truth.run_id)
    # A run that the instrument reports as failed.
    failed = runtime.layout.run_prefix("RUN_FAILED")
    runtime.store.put_bytes(failed + "SampleSheet.csv", (folder / "SampleSheet.csv").read_bytes())
    runtime.store.put_bytes(
        failed + "RunCompletionStatus.xml",
        b"<RunCompletionStatus><CompletionStatus>UserEndedEarly</CompletionStatus></RunCompletionStatus>",
    )
    runtime.store.put_bytes(failed + "CopyComplete.txt", b"")
    # A run whose sample sheet repeats a sample and its index (on line 3 of the data
    # section; the same sample with another index would be a second barcode of it).
    sheet = runtime.layout.run_prefix("RUN_BADSHEET")
    runtime.store.put_bytes(
        sheet + "SampleSheet.csv",
        b"[Header]\nFileFormatVersion,2\n[BCLConvert_Data]\nSample_ID,Index\nS1,ACGTACGT\nS1,ACGTACGT\n",
    )
    runtime.store.put_bytes(sheet + "CopyComplete.txt", b"")
    # A run with a truncated CBCL file.
    broken = runtime.layout.run_prefix("RUN_TRUNCATED")
    _drop(runtime, folder, "RUN_TRUNCATED")
    cbcl = next(k.key for k in runtime.store.list(broken) if k.key.endswith(".cbcl"))
    data, _ = runtime.store.get_bytes(cbcl)
    runtime.store.put_bytes(cbcl, data[: len(data) // 2])
    with EmbeddedWorkers(runtime, threads=2) as workers:
        for marker in (
            good,
            failed + "CopyComplete.txt",
            sheet + "CopyComplete.txt",
            broken + "CopyComplete.txt",
        ):
            workers.actors.notify(marker)
        workers.wait_idle(timeout_s=300)

    def failure(stage: str, run: str) -> dict:  # type: ignore[type-arg]
        return json.loads(runtime.store.get_bytes(runtime.layout.failure_key(stage, run))[0])

    assert runtime.manifests.latest("demultiplex", f"{truth.run_id}_L001") is not None
    status = failure("validate_run", "RUN_FAILED")
    assert status["permanent"] and "RunCompletionStatus.xml" in status["message"]
    assert "UserEndedEarly" in status["message"]
    duplicate = failure("validate_run", "RUN_BADSHEET")
    assert duplicate["permanent"] and "SampleSheet.csv:6" in duplicate["message"]
    truncated = failure("demultiplex", "RUN_TRUNCATED_L001")
    assert truncated["permanent"] and cbcl.rsplit("/", 1)[-1] in truncated["message"]
    assert "RUN_TRUNCATED" in truncated["message"]


def test_partial_run_folders_wait_and_are_reported_stuck_past_their_age(
    cbcl_run,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    folder, truth = cbcl_run
    runtime = _runtime(tmp_path, incomplete_run_age_s=0.001)
    _drop(runtime, folder, truth.run_id, marker=False)
    enqueued: list[tuple[str, str]] = []
    report = Reconciler(
        runtime, lambda stage, subject, reason, delay: enqueued.append((stage, subject))
    ).run_pass()
    assert enqueued == []
    assert report.incomplete_runs == [truth.run_id]
    assert report.stuck_runs == [truth.run_id]
    assert runtime.manifests.latest("validate_run", truth.run_id) is None
