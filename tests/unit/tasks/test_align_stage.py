"""``align`` on files: a sample's demultiplexed FASTQ of every part in, one sorted BAM out."""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import pysam
import pytest

from seqoia.errors import InputError
from seqoia.illumina.simulate import write_fastq_run_folder
from seqoia.tasks.germline import pipeline
from seqoia.tasks.local import LocalOutput, run_local

from .conftest import SimulatedRun

VALIDATE, DEMULTIPLEX, ALIGN = pipeline["validate_run"], pipeline["demultiplex"], pipeline["align"]


def _upstream(run: SimulatedRun, work: Path, **params: int) -> dict[str, list[LocalOutput]]:
    """validate_run and every part's demultiplex, as align's inputs."""
    validated = run_local(
        VALIDATE, run.truth.run_id, work / "validate", source_dir=run.folder, params=params
    )
    parts = [
        run_local(
            DEMULTIPLEX,
            part,
            work / part,
            source_dir=run.folder,
            inputs={"validate_run": [validated]},
        )  # fmt: skip
        for part in validated.related("part")
    ]
    return {"validate_run": [validated], "demultiplex": parts}


def _names(path: Path) -> set[str]:
    with gzip.open(path, "rt") as handle:
        return {line[1:].split()[0] for i, line in enumerate(handle) if i % 4 == 0}


def test_a_sample_is_aligned_into_one_sorted_bam_of_its_own_reads(
    simulated_run: SimulatedRun, tmp_path: Path
) -> None:
    truth = simulated_run.truth
    inputs = _upstream(simulated_run, tmp_path)
    sample = truth.samples[0]
    out = run_local(
        ALIGN, sample.sample_id, tmp_path / "align", inputs=inputs,
        reference_fasta=simulated_run.reference,
    )  # fmt: skip
    pairs = truth.pf_counts()[sample.sample_id]
    demux = inputs["demultiplex"][0]
    expected_names = _names(demux.files[f"{sample.sample_id}_S1_L001_R1_001.fastq.gz"])
    with pysam.AlignmentFile(str(out.files[f"{sample.sample_id}.sorted.bam"])) as bam:
        header = bam.header.to_dict()
        records = list(bam)
    assert header["HD"]["SO"] == "coordinate"
    assert [(rg["ID"], rg["SM"]) for rg in header["RG"]] == [(f"{truth.run_id}.1", "SIM001")]
    primary = [r for r in records if not (r.is_secondary or r.is_supplementary)]
    assert len(primary) == 2 * pairs
    assert Counter(r.is_read1 for r in primary) == {True: pairs, False: pairs}
    # Only this sample's reads, each pair whole; none of another sample's.
    assert {r.query_name for r in primary} == expected_names
    # Every template read was drawn from the reference: nearly all map, as proper pairs.
    mapped = [r for r in primary if not r.is_unmapped]
    assert len(mapped) >= 0.95 * len(primary)
    assert sum(r.is_proper_pair for r in mapped) >= 0.9 * len(primary)
    positions = [(r.reference_id, r.reference_start) for r in mapped]
    assert positions == sorted(positions)
    assert all(r.has_tag("MC") for r in mapped if not r.mate_is_unmapped)  # fixmate ran
    assert out.summary["align"]["read_pairs"] == pairs
    assert out.summary["fastq"]["records"] == 2 * pairs
    assert out.summary["read_groups"] == [f"{truth.run_id}.1"]
    assert "mappy" in out.result.tools


def test_the_tile_ranges_of_a_lane_become_one_read_group_each(
    simulated_run: SimulatedRun, tmp_path: Path
) -> None:
    truth = simulated_run.truth
    inputs = _upstream(simulated_run, tmp_path, tiles_per_part=1)
    sample = truth.samples[1].sample_id
    out = run_local(
        ALIGN, sample, tmp_path / "align", inputs=inputs, reference_fasta=simulated_run.reference
    )
    groups = [f"{truth.run_id}.1.1", f"{truth.run_id}.1.2"]
    assert out.summary["read_groups"] == groups
    with pysam.AlignmentFile(str(out.files[f"{sample}.sorted.bam"])) as bam:
        assert [rg["ID"] for rg in bam.header.to_dict()["RG"]] == groups
        per_group = Counter(
            r.get_tag("RG") for r in bam if not (r.is_secondary or r.is_supplementary)
        )
    # Each tile range's reads carry its group; together they are the sample's reads.
    assert sum(per_group.values()) == 2 * truth.pf_counts()[sample]
    assert set(per_group) == set(groups)


def test_a_listed_sample_without_fastq_fails_naming_the_sample_sheet(
    simulated_run: SimulatedRun, tmp_path: Path
) -> None:
    run = "240102_SIM_0001_FLOWCELL"
    records = [(f"r{i}", "ACGT" * 10, "I" * 40) for i in range(5)]
    folder = tmp_path / "run"
    indexes = {"S01": {"Index": "ACGTACGT"}, "S02": {"Index": "TTGGCCAA"}}
    write_fastq_run_folder(
        folder, run, {"S01": (records, records), "S02": (records, records)}, indexes
    )
    sheet = folder / "SampleSheet.csv"
    sheet.write_text(sheet.read_text().replace("1,S02", "1,S03"))
    validated = run_local(VALIDATE, run, tmp_path / "validate", source_dir=folder)
    demux = run_local(
        DEMULTIPLEX, f"{run}_L001", tmp_path / "demux", source_dir=folder,
        inputs={"validate_run": [validated]},
    )  # fmt: skip
    with pytest.raises(InputError, match="S03 is listed in SampleSheet.csv") as caught:
        run_local(
            ALIGN, "S03", tmp_path / "align", reference_fasta=simulated_run.reference,
            inputs={"validate_run": [validated], "demultiplex": [demux]},
        )  # fmt: skip
    assert caught.value.file == "SampleSheet.csv"
    assert caught.value.run == run
