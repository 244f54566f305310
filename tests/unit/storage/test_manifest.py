"""Manifests and their create-only commit, on a local-folder store."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from seqoia.errors import PreconditionFailedError
from seqoia.storage.layout import Layout
from seqoia.storage.local import LocalStore
from seqoia.storage.manifest import (
    FileRef,
    Manifest,
    ManifestStore,
    fingerprint_of,
    read_json,
    utcnow,
)
from seqoia.vocabulary import Relation


def manifest(generation: int = 1, **changes: object) -> Manifest:
    values: dict[str, object] = {
        "stage": "align",
        "stage_version": "1",
        "subject": "S1",
        "subject_kind": "sample",
        "fingerprint": "f" * 64,
        "generation": generation,
        "attempt": f"a{generation}",
        "outputs": [FileRef(name="S1.cram", key="work/align/S1/attempts/a1/S1.cram", size=3)],
        "started_at": utcnow(),
        "finished_at": utcnow(),
        "worker": "unit",
    }
    values.update(changes)
    return Manifest(**values)  # type: ignore[arg-type]


@pytest.fixture
def manifests(tmp_path: Path) -> ManifestStore:
    return ManifestStore(LocalStore(tmp_path / "store"), Layout())


def test_fingerprint_ignores_key_order_and_follows_every_value() -> None:
    base = {"params": {"a": 1, "b": [1, 2]}, "version": "1"}
    assert fingerprint_of(base) == fingerprint_of({"version": "1", "params": {"b": [1, 2], "a": 1}})
    assert fingerprint_of(base) != fingerprint_of({**base, "version": "2"})
    assert fingerprint_of(base) != fingerprint_of({**base, "params": {"a": 1, "b": [2, 1]}})


def test_commit_is_create_only_so_a_second_writer_of_a_generation_loses(
    manifests: ManifestStore,
) -> None:
    first = manifests.commit(manifest())
    with pytest.raises(PreconditionFailedError):
        manifests.commit(manifest(attempt="other"))
    key = Layout().manifest_key("align", "S1", 1)
    assert key == "work/align/S1/g000001.manifest.json"
    # Bypass the cache: the bytes in the store are the first writer's.
    assert Manifest.model_validate_json(manifests.store.get_bytes(key)[0]) == first


def test_generations_latest_and_history_read_committed_manifests_only(
    manifests: ManifestStore,
) -> None:
    assert manifests.latest("align", "S1") is None
    for generation in (1, 2, 10):
        manifests.commit(manifest(generation))
    manifests.store.put_bytes("work/align/S1/attempts/a9/S1.cram", b"xyz")  # not a manifest
    manifests.store.put_bytes("work/align/S1/g000003.manifest.json.tmp", b"{}")
    assert manifests.generations("align", "S1") == [1, 2, 10]
    latest = manifests.latest("align", "S1")
    assert latest is not None and latest.generation == 10
    assert [m.attempt for m in manifests.history("align", "S1")] == ["a1", "a2", "a10"]


def test_relations_are_linked_both_ways_before_the_manifest_and_relinking_is_harmless(
    manifests: ManifestStore,
) -> None:
    rel = Relation(kind="run", subject="R1", other_kind="sample", other="S1")
    manifests.commit(manifest(relations=[rel]))
    manifests.commit(manifest(2, relations=[rel]))
    assert manifests.related("run", "R1", "sample") == ["S1"]
    assert manifests.related("sample", "S1", "run") == ["R1"]
    assert manifests.related("run", "R1", "family") == []


def test_manifest_json_round_trips_and_names_its_outputs(manifests: ManifestStore) -> None:
    original = manifest(summary={"reads": 12}, parameters={"depth": 30})
    assert Manifest.model_validate_json(original.to_json()) == original
    assert original.output("S1.cram").size == 3
    with pytest.raises(KeyError, match="no output"):
        original.output("S1.bam")
    assert original.duration_s >= 0


def test_layout_recognises_manifest_keys_and_nothing_else() -> None:
    layout = Layout()
    assert layout.split_manifest_key("work/align/S1/g000012.manifest.json") == ("align", "S1", 12)
    for key in (
        "work/_leases/align/g000001.manifest.json",
        "work/align/S1/attempts/a/g000001.manifest.json",
        "work/align/S1/g1.manifest.json",
        "inbox/R1/g000001.manifest.json",
    ):
        assert layout.split_manifest_key(key) is None, key
    assert layout.split_inbox_key("inbox/R1/Data/x.bcl") == ("R1", "Data/x.bcl")
    assert layout.split_inbox_key("inbox/R1") is None


def test_read_json_is_none_for_an_absent_object(manifests: ManifestStore) -> None:
    assert read_json(manifests.store, "work/_overrides/align/S1.json") is None
    manifests.store.put_bytes("work/_overrides/align/S1.json", b'{"salt": "x"}')
    assert read_json(manifests.store, "work/_overrides/align/S1.json") == {"salt": "x"}


class _RecordingStore(LocalStore):
    """Records the order of writes and how many were in flight at once; fails on request."""

    def __init__(self, root: Path, *, fail_on: str | None = None) -> None:
        super().__init__(root)
        self.fail_on = fail_on
        self.written: list[str] = []
        self.in_flight = self.most_in_flight = 0
        self._count = threading.Lock()

    def put_bytes(self, key: str, data: bytes, **kwargs: Any) -> Any:
        with self._count:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if "/_links/" in key:
                time.sleep(0.01)  # a remote store's round trip, so that requests overlap
            if key == self.fail_on:
                raise ConnectionError(f"store unreachable writing {key}")
            result = super().put_bytes(key, data, **kwargs)
            with self._count:
                self.written.append(key)
            return result
        finally:
            with self._count:
                self.in_flight -= 1


def _run_relations(samples: int) -> list[Relation]:
    return [
        Relation(kind="run", subject="R1", other_kind="sample", other=f"S{i}")
        for i in range(samples)
    ]


def test_a_commit_sends_its_links_at_once_and_every_one_before_the_manifest(
    tmp_path: Path,
) -> None:
    store = _RecordingStore(tmp_path / "store")
    manifests = ManifestStore(store, Layout(), concurrency=8)
    manifests.commit(manifest(relations=_run_relations(24)))
    key = Layout().manifest_key("align", "S1", 1)
    assert store.written[-1] == key
    assert len(store.written) == 1 + 2 * 24
    assert store.most_in_flight > 1  # overlapped, not one after the other
    assert manifests.related("run", "R1", "sample") == sorted(f"S{i}" for i in range(24))
    assert manifests.related("sample", "S7", "run") == ["R1"]


def test_a_failed_link_stops_the_commit_once_no_other_link_is_in_flight(tmp_path: Path) -> None:
    failing = Layout().link_key("sample", "S5", "run", "R1")
    store = _RecordingStore(tmp_path / "store", fail_on=failing)
    manifests = ManifestStore(store, Layout(), concurrency=8)
    with pytest.raises(ConnectionError, match="S5"):
        manifests.commit(manifest(relations=_run_relations(24)))
    assert store.in_flight == 0  # nothing still being written behind the caller's back
    assert manifests.latest("align", "S1") is None  # no manifest without all its links
    assert failing not in store.written and len(store.written) < 2 * 24


def test_links_the_next_generation_drops_are_removed_both_ways(tmp_path: Path) -> None:
    manifests = ManifestStore(LocalStore(tmp_path / "store"), Layout(), concurrency=8)
    first = manifests.commit(manifest(relations=_run_relations(6)))
    manifests.commit(manifest(2, relations=_run_relations(2)), replaces=first)
    assert manifests.related("run", "R1", "sample") == ["S0", "S1"]
    assert manifests.related("sample", "S4", "run") == []
