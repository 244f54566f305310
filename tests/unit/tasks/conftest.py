"""A simulated run folder whose template reads come from a simulated reference.

Built once per session for the stage tests on files (validate_run, demultiplex, align):
per-tile BCL, one lane of two tiles, three samples, every template read drawn from the
reference so that alignment has something true to find.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from seqoia.genomics.simulate import simulate_reference
from seqoia.illumina.simulate import RunSpec, RunTruth, write_run_folder


@dataclass(frozen=True)
class SimulatedRun:
    folder: Path
    truth: RunTruth
    reference: Path


@pytest.fixture(scope="session")
def simulated_run(tmp_path_factory: pytest.TempPathFactory) -> SimulatedRun:
    root = tmp_path_factory.mktemp("simulated")
    reference = root / "genome.fa"
    simulate_reference(reference, contigs={"chr1": 30_000, "chr2": 20_000}, seed=5)
    spec = RunSpec(
        format="bcl",
        tiles_per_swath=2,
        clusters_per_tile=300,
        read_cycles=(60, 8, 8, 60),
        samples=3,
        reference=reference,
        reference_fraction=1.0,
        insert_mean=200,
        insert_sd=20,
        seed=11,
    )
    folder = root / spec.run_id
    truth = write_run_folder(folder, spec)
    return SimulatedRun(folder=folder, truth=truth, reference=reference)
