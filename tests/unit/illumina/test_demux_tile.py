"""Tile demultiplexing on simulated runs: output independent of chunking, every PF read
written when the run has no index read to split on."""

from __future__ import annotations

import gzip
from pathlib import Path

from seqoia.illumina.demux import DemuxSample, RunLayout, demultiplex, demultiplex_layout
from seqoia.illumina.demux_config import DemuxConfig, ReadPlan
from seqoia.illumina.runinfo import read_run_info
from seqoia.illumina.simulate import RunSpec, write_run_folder


def _run(tmp_path: Path) -> tuple[Path, int]:
    spec = RunSpec(
        format="cbcl",
        tiles_per_swath=2,
        clusters_per_tile=403,
        read_cycles=(11, 4, 4, 10),
        samples=5,
        pf_excluded_cycles=(2, 20),
        seed=8,
    )
    run = tmp_path / "run"
    truth = write_run_folder(run, spec)
    return run, truth.pf_clusters


def _texts(folder: Path) -> dict[str, bytes]:
    return {p.name: gzip.decompress(p.read_bytes()) for p in sorted(folder.glob("*.fastq.gz"))}


def test_chunk_size_does_not_change_the_fastq_text(tmp_path: Path) -> None:
    run, _ = _run(tmp_path)
    whole = demultiplex(run, tmp_path / "whole", DemuxConfig(create_fastq_for_index_reads=True))
    small = demultiplex(
        run, tmp_path / "small", DemuxConfig(create_fastq_for_index_reads=True, chunk_clusters=37)
    )
    a, b = _texts(tmp_path / "whole"), _texts(tmp_path / "small")
    assert a == b
    assert {"R1", "R2", "I1", "I2"} <= {name.split("_")[-2] for name in a}
    assert whole.stats.counts == small.stats.counts


def test_run_without_index_reads_writes_every_pf_read_to_its_one_sample(tmp_path: Path) -> None:
    run, pf_clusters = _run(tmp_path)
    run_info = read_run_info(run / "RunInfo.xml")
    result = demultiplex_layout(
        run,
        tmp_path / "out",
        RunLayout.from_run_info(run_info),
        [DemuxSample("ALL")],
        DemuxConfig(read_plan=ReadPlan.parse("11T8S10T")),
    )
    texts = _texts(tmp_path / "out")
    assert sorted(texts) == ["ALL_S1_L001_R1_001.fastq.gz", "ALL_S1_L001_R2_001.fastq.gz"]
    r1 = texts["ALL_S1_L001_R1_001.fastq.gz"].split(b"\n")
    assert len(r1) // 4 == pf_clusters
    assert len(r1[1]) == 11 and r1[0].endswith(b" 1:N:0:")
    assert result.stats.reads("ALL") == pf_clusters
