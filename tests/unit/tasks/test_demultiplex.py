"""``demultiplex`` on files: one part of a run folder in, per-sample FASTQ out."""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

from seqoia.illumina.simulate import write_fastq_run_folder
from seqoia.tasks.germline import pipeline
from seqoia.tasks.local import LocalOutput, run_local

from .conftest import SimulatedRun

VALIDATE, DEMULTIPLEX = pipeline["validate_run"], pipeline["demultiplex"]


def _fastq(path: Path) -> dict[str, tuple[str, str]]:
    """Read name (``lane:tile:x:y``) -> (sequence, qualities)."""
    with gzip.open(path, "rt") as handle:
        lines = handle.read().splitlines()
    return {
        ":".join(lines[i].split()[0].split(":")[3:]): (lines[i + 1], lines[i + 3])
        for i in range(0, len(lines), 4)
    }


def _validated(run: SimulatedRun, work: Path, **params: int) -> LocalOutput:
    return run_local(VALIDATE, run.truth.run_id, work, source_dir=run.folder, params=params)


def test_a_lane_is_split_into_the_sample_fastq_the_truth_says(
    simulated_run: SimulatedRun, tmp_path: Path
) -> None:
    truth = simulated_run.truth
    validated = _validated(simulated_run, tmp_path / "validate")
    (part,) = validated.related("part")
    out = run_local(
        DEMULTIPLEX, part, tmp_path / "demux", source_dir=simulated_run.folder,
        inputs={"validate_run": [validated]},
    )  # fmt: skip
    expected = truth.pf_counts()
    assert out.summary["stats"]["reads"] == expected
    for sample in truth.samples:
        stem = f"{sample.sample_id}_S{sample.number}_L001"
        r1 = _fastq(out.files[f"{stem}_R1_001.fastq.gz"])
        r2 = _fastq(out.files[f"{stem}_R2_001.fastq.gz"])
        assert len(r1) == len(r2) == expected[sample.sample_id]
        assert r1.keys() == r2.keys()
        assert out.result.file_subjects[f"{stem}_R1_001.fastq.gz"] == sample.sample_id
        assert [f["read"] for f in out.summary["fastq"][sample.sample_id]] == ["R1", "R2"]
        # Clusters kept whole in the truth come out base for base, quality for quality.
        kept = [r for r in truth.reads if r.pf and r.sample_id == sample.sample_id]
        assert kept
        for read in kept:
            name = f"{read.lane}:{read.tile}:{read.x}:{read.y}"
            assert r1[name] == (read.sequences[0], read.qualities[0])
            assert r2[name] == (read.sequences[3], read.qualities[3])
    # Undetermined clusters stay in the part's files but belong to no sample.
    assert "Undetermined_S0_L001_R1_001.fastq.gz" in out.files
    assert "Undetermined_S0_L001_R1_001.fastq.gz" not in out.result.file_subjects


def test_the_tile_ranges_of_a_lane_hold_its_reads_once_each(
    simulated_run: SimulatedRun, tmp_path: Path
) -> None:
    truth = simulated_run.truth
    validated = _validated(simulated_run, tmp_path / "validate", tiles_per_part=1)
    totals: Counter[str] = Counter()
    tiles: dict[str, set[str]] = {}
    for part in validated.related("part"):
        out = run_local(
            DEMULTIPLEX, part, tmp_path / part, source_dir=simulated_run.folder,
            inputs={"validate_run": [validated]},
        )  # fmt: skip
        totals.update(out.summary["stats"]["reads"])
        assert out.summary["part"]["shares"] == 2
        names = _fastq(out.files["SIM001_S1_L001_R1_001.fastq.gz"])
        tiles[part] = {name.split(":")[1] for name in names}
    assert totals == Counter(truth.pf_counts())
    assert sorted(map(sorted, tiles.values())) == [["1101"], ["1102"]]


def test_a_part_that_a_new_validation_no_longer_lists_is_superseded(
    simulated_run: SimulatedRun, tmp_path: Path
) -> None:
    validated = _validated(simulated_run, tmp_path / "validate")
    out = run_local(
        DEMULTIPLEX, f"{simulated_run.truth.run_id}_L001_1of2", tmp_path / "demux",
        source_dir=simulated_run.folder, inputs={"validate_run": [validated]},
    )  # fmt: skip
    assert out.summary == {"superseded": True, "fastq": {}}
    assert out.files == {}


def test_fastq_converted_on_the_instrument_are_adopted_with_unchanged_records(
    tmp_path: Path,
) -> None:
    run = "240102_SIM_0001_FLOWCELL"
    reads = {s: [(f"{s}r{i}", "ACGTTGCA" * 5, "F" * 40) for i in range(7)] for s in ("S01", "S02")}
    written = write_fastq_run_folder(
        tmp_path / "run", run, {s: (r, r) for s, r in reads.items()},
        {"S01": {"Index": "ACGTACGT"}, "S02": {"Index": "TTGGCCAA"}},
    )  # fmt: skip
    validated = run_local(VALIDATE, run, tmp_path / "validate", source_dir=tmp_path / "run")
    out = run_local(
        DEMULTIPLEX, f"{run}_L001", tmp_path / "demux", source_dir=tmp_path / "run",
        inputs={"validate_run": [validated]},
    )  # fmt: skip
    assert sorted(out.files) == sorted(p.name for pair in written.values() for p in pair if p)
    for sample, (r1, r2) in written.items():
        assert r2 is not None
        # The records are unchanged; the gzip header loses its file name (FNAME), which
        # bcl2fastq-style names can make a patient's Sample_Name.
        assert gzip.decompress(out.files[r1.name].read_bytes()) == gzip.decompress(r1.read_bytes())
        assert out.result.file_subjects[r2.name] == sample
        with gzip.open(out.files[r1.name], "rt") as handle:
            assert handle.read().count("\n") == 4 * 7
