"""``seqoia worker --processes N``: a pool of worker processes and its graceful stop.

SIGTERM to the pool's parent (what Kubernetes sends) reaches every worker process. A
stage that finishes within ``--grace-s`` commits in the stopping worker; one that does
not is handed over: its stage process is killed, its lease released and its message sent
again, so that another worker takes it over at once (no wait for the lease's TTL, 60 s
here) and commits it exactly once. The toy ``process`` stage leaves a trace file per
attempt (``<sample>.<pid>.<ns>``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.engine_helpers import (
    REPO_ROOT,
    TOY_ROWS,
    Stack,
    assert_toy_run_complete,
    build_stack,
    toy_expected,
    wait_for_manifests,
)
from tests.integration.engine_helpers import write_toy_run as write_run
from tests.integration.worker_processes import (
    attempts_in,
    override_process,
    pid_of,
    start_worker,
    stop_all,
    wait_for_attempt,
)

RUN = "R1"
#: Long enough that a takeover that waited for the lease to expire would time the test out.
LEASE_TTL_S = 60.0


def start_pool(
    stack: Stack, log: Path, *, processes: int, grace_s: float
) -> subprocess.Popen[bytes]:
    env = dict(stack.env, SEQOIA_METRICS_PORT="0")
    options = ["--processes", str(processes), "--threads", "1", "--grace-s", str(grace_s)]
    return start_worker(env, log, *options)


def stop(pool: subprocess.Popen[bytes], log: Path, *, timeout_s: float) -> float:
    """SIGTERM the pool; seconds it took to exit (fails with the log if it did not)."""
    started = time.monotonic()
    pool.send_signal(signal.SIGTERM)
    try:
        code = pool.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        pool.kill()
        pytest.fail(f"pool did not stop in {timeout_s} s:\n{log.read_text()[-3000:]}")
    assert code == 0, log.read_text()[-3000:]
    return time.monotonic() - started


def start_run(
    request: pytest.FixtureRequest, tmp_path: Path, *, sleep_s: float
) -> tuple[Stack, Path, Path]:
    """A Redis stack with the toy run written, whose ``process/S1`` sleeps and leaves traces;
    the stack, the trace folder and the pool's log."""
    stack = build_stack(request, "redis", tmp_path, lease_ttl_s=LEASE_TTL_S)
    trace = tmp_path / "trace"
    trace.mkdir()
    write_run(stack.store, RUN, TOY_ROWS)
    override_process(stack, "S1", sleep_s=sleep_s, trace_dir=str(trace))
    return stack, trace, tmp_path / "pool.log"


def test_sigterm_past_the_grace_period_hands_the_running_stage_over_and_it_commits_once(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    stack, trace, log = start_run(request, tmp_path, sleep_s=4)
    lease_key = stack.runtime.layout.lease_key("process", "S1")
    sender = stack.workers()  # sends only: the workers are the subprocesses
    pool = start_pool(stack, log, processes=2, grace_s=0.5)
    successor = None
    try:
        sender.actors.notify(f"inbox/{RUN}/CopyComplete.txt")
        handed_attempt = wait_for_attempt(stack, trace, "S1", where="the pool")
        first_pid = pid_of(attempts_in(trace, "S1")[0])
        took_s = stop(pool, log, timeout_s=30)
        assert took_s < 15, f"stopping took {took_s:.1f} s"
        assert "handed 1 running stage(s) over" in log.read_text()
        # Released, not left to expire; nothing committed by the interrupted attempt.
        assert not stack.store.exists(lease_key)
        assert not stack.runtime.manifests.generations("process", "S1")
        interrupted = stack.runtime.layout.attempt_prefix("process", "S1", handed_attempt)
        assert list(stack.store.list(interrupted)) == []

        successor = start_pool(stack, log, processes=1, grace_s=25)
        # The re-sent message alone brings S1 in (no reconciler runs here), well before
        # the lease's TTL would have expired.
        wait_for_manifests(stack, toy_expected(RUN, TOY_ROWS), timeout_s=LEASE_TTL_S - 15)
    finally:
        stop_all(pool, successor, timeout_s=40)
        sender.stop()
    assert_toy_run_complete(stack, RUN, TOY_ROWS)
    attempts = attempts_in(trace, "S1")
    assert len(attempts) == 2, [a.name for a in attempts]
    assert pid_of(attempts[1]) != first_pid
    assert len(stack.manifests_of("process", "S1")) == 1
    manifest = stack.runtime.manifests.latest("process", "S1")
    assert manifest is not None and manifest.attempt != handed_attempt


def test_sigterm_within_the_grace_period_lets_the_running_stage_commit_in_the_stopping_worker(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    stack, trace, log = start_run(request, tmp_path, sleep_s=2)
    sender = stack.workers()
    pool = start_pool(stack, log, processes=2, grace_s=20)
    try:
        sender.actors.notify(f"inbox/{RUN}/CopyComplete.txt")
        attempt = wait_for_attempt(stack, trace, "S1", where="the pool")
        took_s = stop(pool, log, timeout_s=40)
        assert took_s < 15, f"stopping took {took_s:.1f} s"
    finally:
        if pool.poll() is None:
            pool.kill()
        sender.stop()
    assert "handed" not in log.read_text()
    manifest = stack.runtime.manifests.latest("process", "S1")
    assert manifest is not None and manifest.attempt == attempt
    assert len(attempts_in(trace, "S1")) == 1


def test_pool_whose_processes_cannot_start_exits_with_an_error_instead_of_looping(
    tmp_path: Path,
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEQOIA_")}
    env |= {
        "SEQOIA_STORE_URL": f"file://{tmp_path / 'store'}",
        "SEQOIA_SCRATCH_DIR": str(scratch),
        "SEQOIA_METRICS_PORT": "0",
        "PYTHONPATH": str(REPO_ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-m", "seqoia.cli", "worker", "--pipeline", "tests.pipelines.nosuch:x",
         "--processes", "2", "--grace-s", "1"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert done.returncode == 1, done.stdout + done.stderr
    assert "keep failing at start-up" in done.stderr
    assert "cannot import pipeline 'tests.pipelines.nosuch:x'" in done.stderr
