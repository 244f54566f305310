"""``seqoia up``: workers, reconciler and event intake in one process on the embedded defaults.

The command runs as a real process with no intake configuration: it writes a random token
to a 0600 file and prints where; an S3 notification in AWS's shape is POSTed to its
webhook with that token, and the toy pipeline's manifests appear in the local store. A
hostile record and a foreign bucket's record in the same payload are refused without
stopping anything, and a request without the token is refused. ``seqoia intake`` refuses
to start without authentication or on the in-process broker.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from seqoia.engine.runtime import build_runtime
from seqoia.settings import Settings
from tests.fixtures.servers import free_port

REPO = Path(__file__).resolve().parents[2]


def _records(*objects: tuple[str, str]) -> bytes:
    """AWS-shaped records of ``(bucket, key)`` pairs."""
    return json.dumps(
        {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "eventName": "ObjectCreated:Put",
                    "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 0}},
                }
                for bucket, key in objects
            ]
        }
    ).encode()


def _post(url: str, body: bytes, token: str | None) -> tuple[int, dict[str, object]]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_seqoia_up_runs_a_dropped_run_from_an_s3_event(tmp_path: Path) -> None:
    settings = Settings(store_url=f"file://{tmp_path}/store", scratch_dir=tmp_path / "scratch")
    runtime = build_runtime(settings, "tests.pipelines.toy:pipeline")
    runtime.store.put_bytes("inbox/RUN1/samples.tsv", b"S1\tF1\tab\nS2\tF1\tcd\n")
    runtime.store.put_bytes("inbox/RUN1/CopyComplete.txt", b"")
    port = free_port()
    output = (tmp_path / "up.log").open("wb")
    env = dict(
        {k: v for k, v in os.environ.items() if not k.startswith("SEQOIA_INTAKE_")},
        SEQOIA_STORE_URL=settings.store_url,
        SEQOIA_SCRATCH_DIR=str(settings.scratch_dir),
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
        stdout=output,
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
                    log = (tmp_path / "up.log").read_text()
                    raise AssertionError(f"seqoia up did not start: {log}") from err
                time.sleep(0.2)
        token_file = settings.scratch_dir / "intake-token"
        while f"token in {token_file}" not in (tmp_path / "up.log").read_text():
            assert time.monotonic() < deadline, (tmp_path / "up.log").read_text()
            time.sleep(0.1)
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        token = token_file.read_text().strip()
        assert token not in (tmp_path / "up.log").read_text()  # where it is, not what

        # The local store's folder is named "store": that is the bucket it serves.
        body = _records(("store", "inbox/RUN1/CopyComplete.txt"))
        assert _post(url, body, None)[0] == 401
        assert _post(url + "?token=" + token, body, None)[0] == 401
        body = _records(
            ("store", "inbox/RUN1/CopyComplete.txt"),
            ("store", "inbox/../../etc/passwd"),
            ("foreign", "inbox/RUN1/CopyComplete.txt"),
        )
        status, summary = _post(url, body, token)
        assert status == 200, summary
        assert summary["accepted"] == 1
        assert summary["ignored"] == 1  # the foreign bucket's record
        assert any("etc/passwd" in str(error) for error in summary["errors"])
        deadline = time.monotonic() + 120
        while runtime.manifests.latest("joint", "F1") is None:
            assert time.monotonic() < deadline, "the toy pipeline did not finish"
            assert process.poll() is None, "seqoia up died"
            time.sleep(0.3)
        assert runtime.manifests.latest("tally", "RUN1").summary == {"chars": 6, "samples": 2}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        output.close()


def _seqoia(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SEQOIA_")}
    return subprocess.run(
        [sys.executable, "-m", "seqoia.cli", *args],
        cwd=REPO,
        env=dict(
            clean,
            PYTHONPATH=str(REPO),
            SEQOIA_STORE_URL=f"file://{tmp_path}/store",
            SEQOIA_SCRATCH_DIR=str(tmp_path / "scratch"),
            SEQOIA_INTAKE_PORT="0",
            SEQOIA_METRICS_PORT="0",
            **env,
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_seqoia_intake_refuses_the_in_process_broker_that_would_lose_every_event(
    tmp_path: Path,
) -> None:
    done = _seqoia(tmp_path, "intake", SEQOIA_INTAKE_TOKEN="t" * 32)
    assert done.returncode == 2
    assert "seqoia intake needs a shared broker: SEQOIA_BROKER_URL is memory://" in done.stderr


def test_seqoia_intake_refuses_to_start_without_authentication(tmp_path: Path) -> None:
    done = _seqoia(tmp_path, "intake", SEQOIA_BROKER_URL="redis://127.0.0.1:1/0")
    assert done.returncode == 2
    assert "refuses to start without authentication" in done.stderr
    assert "--insecure-no-auth" in done.stderr
