"""One run shared by several workers: a part per lane (or tile range), joined at alignment.

A simulated two-lane NovaSeq CBCL run whose reads come from a reference goes through the
whole germline pipeline: ``validate_run`` links the run to one part per lane, each part
is demultiplexed as its own stage (its own message, lease and manifest, downloading its
lane only), ``demux_stats`` joins the parts' statistics, and each sample's CRAM holds
the reads of both lanes under one read group per lane. Re-validated into tile ranges
(``validate_run.tiles_per_part``), the run drops its old parts, and no read counts twice.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pysam
import pytest
from typer.testing import CliRunner

from seqoia.admin.refarea import reference_area, upload_reference_area
from seqoia.cli import app
from seqoia.engine.runtime import Runtime, build_runtime
from seqoia.genomics.simulate import simulate_reference
from seqoia.genomics.simulate_annotation import simulate_annotation
from seqoia.illumina.demux import demultiplex as demultiplex_folder
from seqoia.illumina.simulate import RunSpec, RunTruth, write_run_folder
from seqoia.settings import Settings
from seqoia.tasks.runs import _wants_for_demultiplex
from seqoia.workers.embedded import EmbeddedWorkers


def _runtime(tmp_path: Path) -> Runtime:
    settings = Settings(
        store_url=f"file://{tmp_path}/store", scratch_dir=tmp_path / "scratch", max_retries=0
    )
    return build_runtime(settings)


def _drop(runtime: Runtime, folder: Path, run: str) -> str:
    last = folder / "CopyComplete.txt"
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p != last):
        key = runtime.layout.run_prefix(run) + path.relative_to(folder).as_posix()
        runtime.store.upload_file(key, path)
    runtime.store.upload_file(runtime.layout.run_prefix(run) + "CopyComplete.txt", last)
    return runtime.layout.run_prefix(run) + "CopyComplete.txt"


def _reads(path: Path) -> list[str]:
    with gzip.open(path, "rt") as handle:
        return handle.read().splitlines()[::4]


@pytest.fixture(scope="module")
def two_lanes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, RunTruth]:
    root = tmp_path_factory.mktemp("parts")
    reference = root / "genome.fa"
    simulate_reference(reference, contigs={"chr1": 60_000, "chr2": 40_000}, seed=11)
    simulate_annotation(reference, root / "annotation", seed=11)  # genes for `annotate`
    spec = RunSpec(
        format="cbcl",
        lanes=2,
        tiles_per_swath=2,
        clusters_per_tile=2000,
        read_cycles=(101, 8, 8, 101),
        samples=2,
        reference=reference,
        reference_fraction=1.0,
        seed=12,
    )
    return reference, root / "run", write_run_folder(root / "run", spec)


def test_a_part_downloads_the_metadata_and_its_own_lane_only(two_lanes) -> None:  # type: ignore[no-untyped-def]
    _, folder, truth = two_lanes
    names = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
    lane1 = {n for n in names if _wants_for_demultiplex(f"{truth.run_id}_L001", n)}
    assert {"RunInfo.xml", "SampleSheet.csv"} <= lane1
    assert any("/L001/" in n and n.endswith(".cbcl") for n in lane1)
    assert not any("L002" in n for n in lane1)
    lane2 = {n for n in names if _wants_for_demultiplex(f"{truth.run_id}_L002", n)}
    assert any("/L002/" in n for n in lane2) and not any("/L001/" in n for n in lane2)


def test_each_lane_is_its_own_stage_and_every_sample_gets_both_lanes(
    two_lanes,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    reference, folder, truth = two_lanes
    run = truth.run_id
    runtime = _runtime(tmp_path)
    notes = reference.parent / "annotation"
    area = reference_area(notes / "genes.gff3", {"demo": notes / "panel.tsv"})
    upload_reference_area(
        runtime.store, runtime.layout, runtime.settings.reference, reference, area
    )
    marker = _drop(runtime, folder, run)
    with EmbeddedWorkers(runtime, threads=2) as workers:
        workers.actors.notify(marker)
        workers.wait_idle(timeout_s=600)

    parts = [f"{run}_L001", f"{run}_L002"]
    assert runtime.manifests.related("run", run, "part") == parts
    for lane, part in enumerate(parts, start=1):
        manifest = runtime.manifests.latest("demultiplex", part)
        assert manifest is not None and manifest.summary["part"]["lane"] == lane
        assert manifest.summary["stats"]["reads"] == {
            s: n for s, n in truth.pf_counts(lane).items() if n
        }
        assert sorted(runtime.manifests.related("part", part, "sample")) == sorted(
            s.sample_id for s in truth.samples
        )
    stats = runtime.manifests.latest("demux_stats", run)
    assert stats is not None and stats.summary["parts"] == parts
    assert stats.summary["reads"] == {s: n for s, n in truth.pf_counts().items() if n}
    csv_ref = next(o for o in stats.outputs if o.name == "Demultiplex_Stats.csv")
    csv_text = runtime.store.get_bytes(csv_ref.key)[0].decode()
    assert csv_text.count("\n2,") >= len(truth.samples)  # rows of lane 2 are in the run's file

    for sample in truth.samples:
        cram = next(
            o for o in runtime.manifests.latest("markduplicates", sample.sample_id).outputs
            if o.name.endswith(".md.cram")
        )  # fmt: skip
        local = tmp_path / cram.name
        runtime.store.download_file(cram.key, local)
        with pysam.AlignmentFile(str(local), "rc", reference_filename=str(reference)) as bam:
            groups = {rg["ID"]: rg for rg in bam.header.to_dict()["RG"]}
            assert sorted(groups) == [f"{run}.1", f"{run}.2"]
            assert groups[f"{run}.2"]["PU"] == f"{truth.spec.flowcell}.2"
            primary = sum(1 for r in bam if not (r.is_secondary or r.is_supplementary))
        assert primary == 2 * truth.pf_counts()[sample.sample_id]
        delivered = runtime.manifests.latest("deliver", sample.sample_id)
        assert delivered is not None

    # The laboratory shares lanes out by tile range: the run is re-validated into new
    # parts; the old ones are superseded and nothing reads their reads twice.
    result = CliRunner().invoke(
        app,
        ["--store", runtime.settings.store_url, "--scratch", str(tmp_path / "cli-scratch"),
         "reprocess", run, "--set", "validate_run.tiles_per_part=1", "--reason", "share lanes"],
    )  # fmt: skip
    assert result.exit_code == 0, (result.stdout, result.stderr)
    shares = [f"{run}_L00{lane}_{k}of2" for lane in (1, 2) for k in (1, 2)]
    assert runtime.manifests.related("run", run, "part") == shares  # old parts unlinked
    assert runtime.manifests.related("sample", truth.samples[0].sample_id, "part") == shares
    stats = runtime.manifests.latest("demux_stats", run)
    assert stats.summary["parts"] == shares
    assert stats.summary["reads"] == {s: n for s, n in truth.pf_counts().items() if n}
    sample = truth.samples[0].sample_id
    cram = runtime.manifests.latest("markduplicates", sample).output(f"{sample}.md.cram")
    local = tmp_path / "shared.cram"
    runtime.store.download_file(cram.key, local)
    with pysam.AlignmentFile(str(local), "rc", reference_filename=str(reference)) as bam:
        groups = sorted(rg["ID"] for rg in bam.header.to_dict()["RG"])
        primary = sum(1 for r in bam if not (r.is_secondary or r.is_supplementary))
    assert groups == [f"{run}.{lane}.{k}" for lane in (1, 2) for k in (1, 2)]
    assert primary == 2 * truth.pf_counts()[sample]
    # Each stage ran once more, not once per changed input (qc needs validate_run too),
    # and the run's report not once per sample: it waited for both samples' qc.
    for stage, subject in (("align", sample), ("qc", sample), ("deliver", sample),
                           ("demux_stats", run), ("multiqc", run)):  # fmt: skip
        assert len(runtime.manifests.generations(stage, subject)) == 2, stage
    report = runtime.manifests.latest("multiqc", run)
    latest_qc = {s.sample_id: runtime.manifests.latest("qc", s.sample_id) for s in truth.samples}
    assert {(i.subject, i.generation) for i in report.inputs if i.stage == "qc"} == {
        (s, m.generation) for s, m in latest_qc.items()
    }


def test_tile_ranges_of_a_lane_join_into_the_reads_of_the_whole_lane(
    two_lanes,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    _, folder, truth = two_lanes
    run = truth.run_id
    runtime = _runtime(tmp_path)
    runtime.store.put_bytes(
        runtime.layout.override_key("validate_run", run),
        json.dumps({"params": {"tiles_per_part": 1}}).encode(),
    )
    marker = _drop(runtime, folder, run)
    with EmbeddedWorkers(runtime, threads=2) as workers:
        workers.actors.notify(marker)
        workers.wait_idle(timeout_s=300)  # align waits for a reference: none here

    parts = runtime.manifests.related("run", run, "part")
    assert parts == [f"{run}_L001_1of2", f"{run}_L001_2of2", f"{run}_L002_1of2", f"{run}_L002_2of2"]
    whole = demultiplex_folder(folder, tmp_path / "whole")
    sample = truth.samples[0]
    expected = next(p for p in whole.fastqs if p.name.startswith(f"{sample.sample_id}_S1_L001_R1"))
    joined: list[str] = []
    for part in parts[:2]:  # lane 1, in share order
        manifest = runtime.manifests.latest("demultiplex", part)
        ref = next(o for o in manifest.outputs if o.name == expected.name)
        local = tmp_path / part / ref.name
        local.parent.mkdir()
        runtime.store.download_file(ref.key, local)
        joined += _reads(local)
    assert joined and joined == _reads(expected)
    stats = runtime.manifests.latest("demux_stats", run)
    assert stats is not None and stats.summary["reads"] == {
        s: n for s, n in truth.pf_counts().items() if n
    }
