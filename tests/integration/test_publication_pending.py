"""A committed but unpublished generation is found by the reconciler, and published once.

The committer of a publishing stage dies between its manifest's commit and the copies into
the review area, and the message that would have led the next attempt to complete them is
lost (events are hints). The store alone must say the work is pending: a reconciler pass
sends the stage again, a worker completes the publication (every file once, create-only,
the generation's bytes), and the next pass sends nothing. Over the local store, S3 (moto)
and Ceph RGW.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest

from seqoia.admin.state import StateReader
from seqoia.engine import runner as runner_module
from seqoia.engine.reconciler import Reconciler
from seqoia.engine.runner import StageRunner
from seqoia.engine.runtime import Runtime, load_pipeline
from seqoia.errors import StageFailedError
from seqoia.settings import Settings
from seqoia.storage.base import ObjectStore
from seqoia.storage.counting import CountingStore
from seqoia.storage.local import LocalStore
from seqoia.vocabulary import ObjectInfo

PIPELINE = "tests.pipelines.once:pipeline"
REVIEW = "review/C1/S1/"


class WriteLog(CountingStore):
    """A counting store that also remembers every successful write, by key."""

    def __init__(self, inner: ObjectStore) -> None:
        super().__init__(inner)
        self.writes: Counter[str] = Counter()
        self.heads: list[str] = []

    def put_bytes(
        self,
        key: str,
        data: bytes,
        *,
        if_none_match: bool = False,
        if_match: str | None = None,
        durable: bool = True,
    ) -> str:
        etag = super().put_bytes(
            key, data, if_none_match=if_none_match, if_match=if_match, durable=durable
        )
        with self._lock:
            self.writes[key] += 1  # counted once it succeeded: a refused create wrote nothing
        return etag

    def head(self, key: str) -> ObjectInfo | None:
        with self._lock:
            self.heads.append(key)
        return super().head(key)

    def upload_file(self, key, path, **options):  # type: ignore[no-untyped-def]
        info = super().upload_file(key, path, **options)
        with self._lock:
            self.writes[key] += 1
        return info


def runtime_on(store: ObjectStore, tmp_path: Path, worker: str) -> Runtime:
    url = store.url if store.url.startswith("file:") else "s3://test"
    settings = Settings(store_url=url, scratch_dir=tmp_path / f"scratch-{worker}", worker_id=worker)
    return Runtime(settings=settings, store=store, pipeline=load_pipeline(PIPELINE))


def commit_without_publishing(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run R1's stages; the committer of ``hand_over`` dies after its commit."""
    rt.store.put_bytes("inbox/R1/samples.tsv", b"S1\t-\ts1\n")
    rt.store.put_bytes("inbox/R1/CopyComplete.txt", b"")
    runner = StageRunner(rt)
    assert runner.execute("ingest", "R1").kind == "committed"
    assert runner.execute("work", "S1").kind == "committed"

    def worker_dies(*args: object) -> int:
        raise SystemExit("worker killed between commit and publication")

    with monkeypatch.context() as patch:
        patch.setattr(runner_module, "publish", worker_dies)
        with pytest.raises(SystemExit):
            runner.execute("hand_over", "S1")
    # Its message died with it: nothing else will ever name hand_over/S1.


@pytest.mark.parametrize("store", ["file", "s3", "rgw"], indirect=True)
def test_the_reconciler_resends_a_committed_unpublished_stage_and_it_is_published_once(
    store: ObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = WriteLog(store)
    rt = runtime_on(log, tmp_path, "w0")
    commit_without_publishing(rt, monkeypatch)
    manifest = rt.manifests.latest("hand_over", "S1")
    assert manifest is not None and manifest.published_to == REVIEW
    assert not [key for key in log.writes if key.startswith("review/")]

    # Status shows it: committed, but not done while its files are not where they go.
    [state] = [s for s in StateReader(rt).run("R1").stages if s.stage == "hand_over"]
    assert state.state == "due" and state.publication_pending and state.generation == 1

    sent: list[tuple[str, str]] = []
    reconciler = Reconciler(rt, lambda stage, subject, *_: sent.append((stage, subject)))
    report = reconciler.run_pass()
    assert sent == [("hand_over", "S1")]
    assert report.runs_done == []  # not marked done: it would never be visited again

    # A worker handles the message: it finds the stage up to date and publishes.
    worker = StageRunner(runtime_on(log, tmp_path, "w1"))
    assert worker.execute("hand_over", "S1", reason="reconcile").kind == "up_to_date"
    review = {key: n for key, n in log.writes.items() if key.startswith("review/")}
    assert review == {REVIEW + "S1.report.json": 1, REVIEW + "S1.report.txt": 1}
    for ref in manifest.outputs:
        published, _ = store.get_bytes(REVIEW + ref.name)
        assert published == store.get_bytes(ref.key)[0]
        assert hashlib.sha256(published).hexdigest() == ref.sha256
        info = store.head(REVIEW + ref.name)
        assert info is not None and info.sha256 == ref.sha256
    marker = rt.layout.publication_key("hand_over", "S1", manifest.generation)
    assert json.loads(store.get_bytes(marker)[0])["attempt"] == manifest.attempt
    assert rt.manifests.generations("hand_over", "S1") == [1]  # published, not re-run

    # Nothing is pending any more: the next pass (a new reconciler, which forgets
    # nothing it is owed) sends nothing and marks the run done.
    again: list[tuple[str, str]] = []
    second = Reconciler(rt, lambda stage, subject, *_: again.append((stage, subject))).run_pass()
    assert again == [] and second.runs_done == ["R1"]
    [state] = [s for s in StateReader(rt).run("R1").stages if s.stage == "hand_over"]
    assert state.state == "done" and not state.publication_pending

    # A replayed message writes nothing; a pass over the run (active again) reads no
    # published file: what tells "published" is the listing that finds the manifest.
    before = sum(log.writes.values())
    assert worker.execute("hand_over", "S1").kind == "up_to_date"
    assert sum(log.writes.values()) == before
    store.delete(rt.layout.done_key("R1"))
    log.heads.clear()
    assert Reconciler(rt, lambda *_: None).run_pass().enqueued == []
    assert not [key for key in log.heads if key.startswith("review/")]


def test_a_pending_publication_to_a_forged_folder_fails_for_good_and_is_not_sent_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = WriteLog(LocalStore(tmp_path / "store"))
    rt = runtime_on(store, tmp_path, "w0")
    commit_without_publishing(rt, monkeypatch)
    key = rt.layout.manifest_key("hand_over", "S1", 1)
    body = json.loads(store.get_bytes(key)[0])
    body["published_to"] = "outbox/C1/S1/"  # someone with write access to the bucket
    store.inner.put_bytes(key, json.dumps(body).encode())

    sent: list[tuple[str, str]] = []
    assert Reconciler(rt, lambda s, subject, *_: sent.append((s, subject))).run_pass()
    assert sent == [("hand_over", "S1")]
    with pytest.raises(StageFailedError, match="outside the stage's review area"):
        StageRunner(runtime_on(store, tmp_path, "w1")).execute("hand_over", "S1")
    assert not [k for k in store.writes if k.startswith(("outbox/", "review/"))]

    again: list[tuple[str, str]] = []
    report = Reconciler(rt, lambda s, subject, *_: again.append((s, subject))).run_pass()
    assert again == [] and report.failed == [("hand_over", "S1")]
    [state] = [s for s in StateReader(rt).run("R1").stages if s.stage == "hand_over"]
    assert state.state == "failed" and state.publication_pending
