"""Exactly once where it shows: duplicate messages run a stage once, publication happens once.

Several :class:`StageRunner` (one per simulated worker, each with its own worker id) share
one local-folder store behind a counting proxy that also records the key of every write.
Stage functions of the ``once`` test pipeline leave a marker file per execution.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from seqoia.engine import runner as runner_module
from seqoia.engine.runner import Outcome, StageRunner
from seqoia.engine.runtime import Runtime, load_pipeline
from seqoia.errors import StageBusyError, StageFailedError
from seqoia.settings import Settings
from seqoia.storage.counting import CountingStore
from seqoia.storage.urls import open_store

PIPELINE = "tests.pipelines.once:pipeline"
DUPLICATES = 4


class WriteLog(CountingStore):
    """A counting store that also remembers which keys were written, and how often."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        super().__init__(inner)
        self.writes: Counter[str] = Counter()

    def put_bytes(self, key, data, *, if_none_match=False, if_match=None, durable=True):  # type: ignore[no-untyped-def]
        result = super().put_bytes(
            key, data, if_none_match=if_none_match, if_match=if_match, durable=durable
        )
        with self._lock:
            self.writes[key] += 1  # counted once it succeeded: a refused create wrote nothing
        return result

    def upload_file(self, key, path):  # type: ignore[no-untyped-def]
        result = super().upload_file(key, path)
        with self._lock:
            self.writes[key] += 1
        return result


@pytest.fixture
def store(tmp_path: Path) -> WriteLog:
    return WriteLog(open_store(f"file://{tmp_path / 'store'}"))


def runtime_for(store: WriteLog, tmp_path: Path, worker: str) -> Runtime:
    settings = Settings(
        store_url=store.url, scratch_dir=tmp_path / f"scratch-{worker}", worker_id=worker
    )
    return Runtime(settings=settings, store=store, pipeline=load_pipeline(PIPELINE))


@pytest.fixture
def trace(tmp_path: Path, store: WriteLog) -> Path:
    """Run R1 (sample S1) ingested, both traced stages overridden to leave markers here."""
    trace_dir = tmp_path / "trace"
    trace_dir.mkdir()
    rt = runtime_for(store, tmp_path, "setup")
    rt.store.put_bytes("inbox/R1/samples.tsv", b"S1\t-\ts1\n")
    rt.store.put_bytes("inbox/R1/CopyComplete.txt", b"")
    for stage in ("work", "hand_over"):
        params = {"trace_dir": str(trace_dir), "sleep_s": 0.5}
        rt.store.put_bytes(
            rt.layout.override_key(stage, "S1"), json.dumps({"params": params}).encode()
        )
    assert StageRunner(rt).execute("ingest", "R1").kind == "committed"
    return trace_dir


def executions(trace_dir: Path, stage: str) -> int:
    return len(list(trace_dir.glob(f"{stage}.S1.*")))


def run_duplicates(store: WriteLog, tmp_path: Path, stage: str) -> list[str]:
    """``DUPLICATES`` workers handle the same message at once; each retries while busy."""
    runners = [StageRunner(runtime_for(store, tmp_path, f"w{i}")) for i in range(DUPLICATES)]
    start = threading.Barrier(DUPLICATES)
    kinds: list[str] = []
    errors: list[BaseException] = []

    def handle(runner: StageRunner) -> None:
        start.wait()
        try:
            while True:
                try:
                    outcome: Outcome = runner.execute(stage, "S1", reason="duplicate")
                except StageBusyError as busy:  # what the actor does: look again later
                    time.sleep(min(busy.retry_after_s, 0.2))
                    continue
                kinds.append(outcome.kind)
                return
        except BaseException as err:  # noqa: BLE001 - examined below
            errors.append(err)

    threads = [threading.Thread(target=handle, args=(r,)) for r in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return sorted(kinds)


def test_concurrent_duplicates_of_a_process_stage_run_its_function_once(
    store: WriteLog, trace: Path, tmp_path: Path
) -> None:
    kinds = run_duplicates(store, tmp_path, "work")
    assert kinds == ["committed"] + ["up_to_date"] * (DUPLICATES - 1)
    assert executions(trace, "work") == 1
    rt = runtime_for(store, tmp_path, "check")
    assert rt.manifests.generations("work", "S1") == [1]


def test_concurrent_duplicates_of_an_inline_stage_run_it_once_and_publish_each_file_once(
    store: WriteLog, trace: Path, tmp_path: Path
) -> None:
    assert run_duplicates(store, tmp_path, "work")[0] == "committed"
    kinds = run_duplicates(store, tmp_path, "hand_over")
    assert kinds == ["committed"] + ["up_to_date"] * (DUPLICATES - 1)
    assert executions(trace, "hand_over") == 1
    review = {key: n for key, n in store.writes.items() if key.startswith("review/")}
    assert review == {"review/C1/S1/S1.report.json": 1, "review/C1/S1/S1.report.txt": 1}
    rt = runtime_for(store, tmp_path, "check")
    manifest = rt.manifests.latest("hand_over", "S1")
    assert manifest is not None and manifest.published_to == "review/C1/S1/"
    # The manifest names the attempt's own files; the review area holds the same bytes.
    for ref in manifest.outputs:
        assert f"/attempts/{manifest.attempt}/" in ref.key
        assert store.get_bytes(manifest.published_to + ref.name)[0] == store.get_bytes(ref.key)[0]


def test_a_committer_killed_before_publishing_is_completed_by_the_next_message_once(
    store: WriteLog, trace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = runtime_for(store, tmp_path, "w0")
    assert StageRunner(rt).execute("work", "S1").kind == "committed"

    def worker_dies(*args: object) -> int:
        raise SystemExit("worker killed between commit and publication")

    monkeypatch.setattr(runner_module, "publish", worker_dies)
    with pytest.raises(SystemExit):
        StageRunner(rt).execute("hand_over", "S1")
    monkeypatch.undo()
    assert rt.manifests.generations("hand_over", "S1") == [1]
    assert not [key for key in store.writes if key.startswith("review/")]

    kinds = run_duplicates(store, tmp_path, "hand_over")
    assert kinds == ["up_to_date"] * DUPLICATES
    assert executions(trace, "hand_over") == 1
    review = {key: n for key, n in store.writes.items() if key.startswith("review/")}
    assert review == {"review/C1/S1/S1.report.json": 1, "review/C1/S1/S1.report.txt": 1}


def test_a_stage_up_to_date_and_published_takes_no_lease(
    store: WriteLog, trace: Path, tmp_path: Path
) -> None:
    rt = runtime_for(store, tmp_path, "w0")
    runner = StageRunner(rt)
    assert runner.execute("work", "S1").kind == "committed"
    assert runner.execute("hand_over", "S1").kind == "committed"
    before = sum(store.writes.values())
    assert runner.execute("hand_over", "S1").kind == "up_to_date"
    assert runner.execute("work", "S1").kind == "up_to_date"
    assert sum(store.writes.values()) == before  # a replayed message costs reads only


@pytest.mark.parametrize("forged", ["work/hand_over/S2/", "outbox/C1/S1/", "review/C1/"])
def test_a_forged_publication_folder_is_refused_and_nothing_is_written_there(
    store: WriteLog, trace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forged: str
) -> None:
    rt = runtime_for(store, tmp_path, "w0")
    assert StageRunner(rt).execute("work", "S1").kind == "committed"
    monkeypatch.setattr(runner_module, "publish", lambda *args: 0)  # the committer died
    assert StageRunner(rt).execute("hand_over", "S1").kind == "committed"
    monkeypatch.undo()
    [key] = [k for k in store.writes if "hand_over" in k and k.endswith(".manifest.json")]
    body = json.loads(store.inner.get_bytes(key)[0])
    body["published_to"] = forged  # someone with write access to the bucket
    store.inner.put_bytes(key, json.dumps(body).encode())
    with pytest.raises(StageFailedError, match="outside the stage's review area"):
        StageRunner(runtime_for(store, tmp_path, "w1")).execute("hand_over", "S1")
    assert not [k for k in store.writes if k.startswith(forged)]
