"""Runs of the ``prioritised`` test pipeline, and the order their samples were processed in.

Shared by the priority and fair-share tests: both queue a backlog, add a run behind it and
look at where the late run's samples ended up.
"""

from __future__ import annotations

from collections.abc import Sequence

from seqoia.storage.base import ObjectStore
from seqoia.storage.manifest import ManifestStore
from tests.integration.engine_helpers import wait_for

PIPELINE = "tests.pipelines.prioritised:pipeline"


def write_run(store: ObjectStore, run: str, rows: Sequence[tuple[str, ...]]) -> None:
    """A complete run folder of ``(sample, family, priority[, centre])`` rows."""
    table = "".join("\t".join(row) + "\n" for row in rows)
    store.put_bytes(f"inbox/{run}/samples.tsv", table.encode())
    store.put_bytes(f"inbox/{run}/CopyComplete.txt", b"")


def processing_order(
    manifests: ManifestStore, samples: list[str], *, timeout_s: float
) -> list[str]:
    """Wait until every sample's ``process`` committed; the samples by when it ended."""
    wait_for(
        lambda: all(manifests.generations("process", s) for s in samples),
        timeout_s=timeout_s,
        what="every sample to be processed",
    )
    ended = {}
    for sample in samples:
        manifest = manifests.latest("process", sample)
        assert manifest is not None
        ended[sample] = manifest.summary["ended"]
    return sorted(ended, key=ended.__getitem__)
