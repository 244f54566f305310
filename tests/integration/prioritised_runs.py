"""Runs of the ``prioritised`` test pipeline, and the order their samples were processed in.

Shared by the priority and fair-share tests: both queue a backlog, add a run behind it and
look at where the late run's samples ended up.
"""

from __future__ import annotations

from collections.abc import Sequence

from seqoia.storage.base import ObjectStore
from seqoia.storage.manifest import ManifestStore
from seqoia.workers.actors import Actors
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


def late_run_order(
    actors: Actors,
    backlog: tuple[str, Sequence[tuple[str, ...]]],
    late: tuple[str, Sequence[tuple[str, ...]]],
    *,
    timeout_s: float,
) -> list[str]:
    """Queue the ``backlog`` run, then, once its first sample runs, the ``late`` run.

    Each is ``(run, rows)`` as :func:`write_run` takes them; the workers must be running.
    Returns every sample of both runs in the order their ``process`` ended.
    """
    store, manifests = actors.runtime.store, actors.runtime.manifests
    (backlog_run, backlog_rows), (late_run, late_rows) = backlog, late
    write_run(store, backlog_run, backlog_rows)
    actors.notify(f"inbox/{backlog_run}/CopyComplete.txt")
    first = backlog_rows[0][0]
    wait_for(
        lambda: bool(manifests.generations("process", first)),
        timeout_s=60,
        what="the backlog to start",
    )
    write_run(store, late_run, late_rows)
    actors.notify(f"inbox/{late_run}/CopyComplete.txt")
    samples = [row[0] for row in [*backlog_rows, *late_rows]]
    return processing_order(manifests, samples, timeout_s=timeout_s)
