"""A published file is in place only if it holds the generation's bytes, told by one HEAD.

Over the local store and S3 (a moto server): the store records the SHA-256 of what
``put_bytes`` wrote, and ``unpublished`` compares it with the manifest's checksum, so a
same-size file of other bytes (rewritten, tampered with) is published again.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from seqoia.engine.publication import complete_publication, publish, unpublished
from seqoia.storage.base import ObjectStore
from seqoia.storage.counting import CountingStore
from seqoia.storage.manifest import FileRef, Manifest, utcnow
from tests.integration.store_helpers import write_behind_our_back

FOLDER = "review/C1/S1/"
FILES = {"S1.report.json": b'{"verdict": "pass"}', "S1.report.txt": b"verdict: pass\n"}


def published_manifest(store: ObjectStore, out: Path) -> Manifest:
    """A committed-looking publishing manifest whose files are in the attempt's folder."""
    out.mkdir()
    outputs = []
    for name, data in FILES.items():
        (out / name).write_bytes(data)
        key = f"work/hand_over/S1/attempts/a1/{name}"
        store.put_bytes(key, data)
        outputs.append(
            FileRef(name=name, key=key, size=len(data), sha256=hashlib.sha256(data).hexdigest())
        )
    return Manifest(
        stage="hand_over",
        stage_version="1",
        subject="S1",
        subject_kind="sample",
        fingerprint="0" * 64,
        generation=1,
        attempt="a1",
        outputs=outputs,
        published_to=FOLDER,
        started_at=utcnow(),
        finished_at=utcnow(),
        worker="test",
    )


@pytest.mark.parametrize("store", ["file", "s3"], indirect=True)
def test_a_same_size_file_of_other_bytes_is_unpublished_and_publishing_restores_it(
    store: ObjectStore, tmp_path: Path
) -> None:
    manifest = published_manifest(store, tmp_path / "out")
    assert [ref.name for ref in unpublished(store, manifest)] == list(FILES)
    assert publish(store, manifest, tmp_path / "out") == len(FILES)

    counting = CountingStore(store)
    assert unpublished(counting, manifest) == []
    assert counting.counts == {"head": len(FILES)}  # one HEAD per file, no body read

    tampered = b'{"verdict": "FAIL"}'  # same size as the report it replaces
    assert len(tampered) == len(FILES["S1.report.json"])
    store.put_bytes(FOLDER + "S1.report.json", tampered)
    [ref] = unpublished(store, manifest)
    assert ref.name == "S1.report.json"

    assert complete_publication(store, manifest, tmp_path / "scratch") == 1
    assert store.get_bytes(FOLDER + "S1.report.json")[0] == FILES["S1.report.json"]
    assert unpublished(store, manifest) == []


@pytest.mark.parametrize("store", ["file", "s3"], indirect=True)
def test_a_file_written_without_a_recorded_checksum_is_checked_by_its_bytes(
    store: ObjectStore, tmp_path: Path
) -> None:
    manifest = published_manifest(store, tmp_path / "out")
    publish(store, manifest, tmp_path / "out")
    key = FOLDER + "S1.report.txt"
    write_behind_our_back(store, key, b"verdict: FAIL")  # one byte short: sizes differ too
    write_behind_our_back(store, key, b"verdict: fail\n")  # same size, other bytes
    info = store.head(key)
    assert info is not None and info.size == len(FILES["S1.report.txt"]) and info.sha256 is None
    assert [ref.name for ref in unpublished(store, manifest)] == ["S1.report.txt"]
    assert complete_publication(store, manifest, tmp_path / "scratch") == 1
    assert store.get_bytes(key)[0] == FILES["S1.report.txt"]
    assert unpublished(store, manifest) == []

    # The same bytes, written without a checksum: read and left alone, not rewritten.
    write_behind_our_back(store, key, FILES["S1.report.txt"])
    etag = store.head(key).etag  # type: ignore[union-attr]
    assert complete_publication(store, manifest, tmp_path / "scratch2") == 0
    assert store.head(key).etag == etag  # type: ignore[union-attr]
