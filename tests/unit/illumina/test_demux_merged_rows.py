"""One sample on several sample-sheet rows (several barcodes) is demultiplexed into one
sample's files, as bcl2fastq and BCL Convert merge such rows."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from seqoia.errors import SampleSheetError
from seqoia.illumina.barcodes import IndexMatcher
from seqoia.illumina.demux import demultiplex
from seqoia.illumina.simulate import RunSpec, write_run_folder


def _names(path: Path) -> list[str]:
    with gzip.open(path, "rt") as fh:
        return [line.split()[0] for line in fh.read().splitlines()[::4]]


def test_rows_of_one_sample_with_different_indexes_write_one_sample_in_cluster_order(
    tmp_path: Path,
) -> None:
    spec = RunSpec(
        read_cycles=(12, 8, 8, 10),
        clusters_per_tile=400,
        samples=5,
        seed=3,
        truth_reads_per_tile=400,
    )
    folder = tmp_path / spec.run_id
    truth = write_run_folder(folder, spec)
    sheet = folder / "SampleSheet.csv"
    # SIM003's barcode becomes a second barcode of SIM002.
    sheet.write_text(sheet.read_text().replace("1,SIM003,", "1,SIM002,"))
    counts = truth.pf_counts()

    out = tmp_path / "out"
    demultiplex(folder, out, threads=1)

    merged = _names(out / "SIM002_S2_L001_R1_001.fastq.gz")
    assert len(merged) == counts["SIM002"] + counts["SIM003"] > counts["SIM002"] > 0
    assert not list(out.glob("SIM003_*"))
    # SIM004 is now the third sample of the sheet, so S3.
    assert len(_names(out / "SIM004_S3_L001_R1_001.fastq.gz")) == counts["SIM004"]
    # Reads of both barcodes interleave in cluster order, as one barcode's would: the
    # known (truth) reads of the two appear in the file in (tile, cluster) order.
    position = {":".join(name.split(":")[4:7]): i for i, name in enumerate(merged)}
    known = sorted(
        (r.tile, r.cluster, position[f"{r.tile}:{r.x}:{r.y}"], r.sample_id)
        for r in truth.reads
        if r.pf and r.sample_id in {"SIM002", "SIM003"}
    )
    assert {sample for *_, sample in known} == {"SIM002", "SIM003"}
    assert [p for _, _, p, _ in known] == sorted(p for _, _, p, _ in known)


def test_matcher_lets_barcodes_of_one_sample_be_close_but_not_of_two() -> None:
    close = [("ACGTACGT",), ("ACGTACGA",)]

    matcher = IndexMatcher(close, [1], owners=["S1", "S1"])

    assert matcher.n_reads == 1
    with pytest.raises(SampleSheetError, match="barcode collision"):
        IndexMatcher(close, [1], owners=["S1", "S2"])
