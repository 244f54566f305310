"""``seqoia up``: workers, reconciler and event intake in one process on the embedded defaults.

The command runs as a real process; an S3 notification in AWS's shape is POSTed to its
webhook, and the toy pipeline's manifests appear in the local store. A hostile record in
the same payload is refused without stopping anything.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from seqoia.engine.runtime import build_runtime
from seqoia.settings import Settings
from tests.fixtures.servers import free_port

REPO = Path(__file__).resolve().parents[2]


def _records(*keys: str) -> bytes:
    return json.dumps(
        {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "eventName": "ObjectCreated:Put",
                    "s3": {"bucket": {"name": "local"}, "object": {"key": key, "size": 0}},
                }
                for key in keys
            ]
        }
    ).encode()


def test_seqoia_up_runs_a_dropped_run_from_an_s3_event(tmp_path: Path) -> None:
    settings = Settings(store_url=f"file://{tmp_path}/store", scratch_dir=tmp_path / "scratch")
    runtime = build_runtime(settings, "tests.pipelines.toy:pipeline")
    runtime.store.put_bytes("inbox/RUN1/samples.tsv", b"S1\tF1\tab\nS2\tF1\tcd\n")
    runtime.store.put_bytes("inbox/RUN1/CopyComplete.txt", b"")
    port = free_port()
    env = dict(
        os.environ,
        SEQOIA_STORE_URL=settings.store_url,
        SEQOIA_SCRATCH_DIR=str(settings.scratch_dir),
        SEQOIA_INTAKE_TOKEN="s3cret",
        SEQOIA_RECONCILE_INTERVAL_S="3600",  # the event, not the reconciler, must do it
        PYTHONPATH=str(REPO),
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "seqoia.cli",
            "up",
            "--pipeline",
            "tests.pipelines.toy:pipeline",
            "--intake-port",
            str(port),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/events"
        deadline = time.monotonic() + 60
        while True:  # the first reconcile pass may already have done the work: that is fine
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError as err:
                if time.monotonic() > deadline or process.poll() is not None:
                    output = process.stdout.read().decode() if process.stdout else ""
                    raise AssertionError(f"seqoia up did not start: {output}") from err
                time.sleep(0.2)
        request = urllib.request.Request(
            url,
            data=_records("inbox/RUN1/CopyComplete.txt", "inbox/../../etc/passwd"),
            headers={"Authorization": "Bearer s3cret", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as reply:
            summary = json.loads(reply.read())
        assert summary["accepted"] == 1
        assert any("etc/passwd" in error for error in summary["errors"])
        deadline = time.monotonic() + 120
        while runtime.manifests.latest("joint", "F1") is None:
            assert time.monotonic() < deadline, "the toy pipeline did not finish"
            assert process.poll() is None, "seqoia up died"
            time.sleep(0.3)
        assert runtime.manifests.latest("tally", "RUN1").summary == {"chars": 6, "samples": 2}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
