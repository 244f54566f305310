"""A run's fan-out to its samples is routed several samples at a time on a remote store.

Each sample's look (is it ready, how urgent, whose) costs a few listings; one after the
other, an urgent sample's message waited for every other sample's look. The store here is
a local folder whose listings take 10 ms, as a remote store's round trip does.
"""

from __future__ import annotations

import builtins
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from seqoia.engine.router import Router
from seqoia.engine.runtime import Runtime
from seqoia.storage.local import LocalStore
from seqoia.storage.manifest import Manifest, utcnow
from seqoia.vocabulary import Relation
from tests.fixtures.committed import local_runtime

SAMPLES = [f"S{i:02d}" for i in range(12)]


class SlowListings(LocalStore):
    """Listings take a remote store's round trip; counts how many overlapped at most."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.fail_under: str | None = None
        self.listed: Counter[str] = Counter()
        self._count = threading.Lock()
        self.in_flight = self.most_in_flight = 0

    def list_children(self, prefix: str) -> builtins.list[str]:
        with self._count:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            self.listed[prefix] += 1
        try:
            time.sleep(0.01)
            if self.fail_under and self.fail_under in prefix:
                raise ConnectionError(f"store unreachable listing {prefix}")
            return super().list_children(prefix)
        finally:
            with self._count:
                self.in_flight -= 1


def fanned_out(tmp_path: Path, concurrency: int) -> tuple[Runtime, SlowListings, Manifest]:
    base = local_runtime(tmp_path, "tests.pipelines.toy:pipeline")
    store = SlowListings(tmp_path / "store")
    rt = Runtime(base.settings, store, base.pipeline)
    rt.store_concurrency = concurrency  # what a remote store's URL gives
    relations = [Relation(kind="run", subject="R1", other_kind="sample", other=s) for s in SAMPLES]
    ingest = rt.manifests.commit(
        Manifest(
            stage="ingest", stage_version=rt.pipeline["ingest"].version, subject="R1",
            subject_kind="run", fingerprint="0" * 64, generation=1, attempt="ingest-R1-1",
            relations=relations, started_at=utcnow(), finished_at=utcnow(), worker="unit",
        )
    )  # fmt: skip
    return rt, store, ingest


@pytest.mark.parametrize("concurrency", [1, 8])
def test_every_sample_of_a_fan_out_is_routed_once_whatever_the_concurrency(
    tmp_path: Path, concurrency: int
) -> None:
    rt, store, ingest = fanned_out(tmp_path, concurrency)
    sent: list[tuple[str, str]] = []
    router = Router(rt, lambda stage, subject, *_: sent.append((stage, subject)))
    routed = router.committed(ingest, fresh=True)
    assert routed == [("process", s) for s in SAMPLES]
    assert sent == routed  # sent in the run's order, whatever order the looks ended in
    # One at a time on a local folder; overlapped on a remote store.
    assert (store.most_in_flight > 1) == (concurrency > 1)


def test_a_failed_look_sends_nothing_and_is_raised_once_every_look_has_ended(
    tmp_path: Path,
) -> None:
    rt, store, ingest = fanned_out(tmp_path, 8)
    store.fail_under = "/S05/"
    sent: list[str] = []
    with pytest.raises(ConnectionError, match="S05"):
        Router(rt, lambda stage, subject, *_: sent.append(subject)).committed(ingest, fresh=True)
    assert store.in_flight == 0
    # Nothing sent: the reconciler resends what a failed routing left, as after a crash.
    assert sent == []


def test_the_looks_of_one_fan_out_list_the_run_s_commits_once(tmp_path: Path) -> None:
    """A replayed event plans each sample, and each plan reads the run's commits: one
    listing for the pass, not one per sample."""
    rt, store, ingest = fanned_out(tmp_path, 8)
    store.listed.clear()
    routed = Router(rt, lambda *_: None).committed(ingest)  # not fresh: every sample planned
    assert routed == [("process", s) for s in SAMPLES]
    assert store.listed[rt.layout.stage_prefix("ingest", "R1")] == 1
    # The next pass lists again: a snapshot lasts one pass.
    Router(rt, lambda *_: None).committed(ingest)
    assert store.listed[rt.layout.stage_prefix("ingest", "R1")] == 2
