"""``seqoia worker`` subprocesses for the fault and pool tests, and the traces their stages leave.

The toy ``process`` stage, given a ``trace_dir`` by an override, leaves a trace file per
attempt named ``<sample>.<pid>.<time_ns>``: which attempts ran, in which process, in order.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.integration.engine_helpers import PIPELINE, REPO_ROOT, Stack, wait_for


def override_process(stack: Stack, sample: str, **params: object) -> None:
    """An admin parameter override for ``process/<sample>`` (what ``seqoia reprocess`` writes)."""
    key = stack.runtime.layout.override_key("process", sample)
    stack.store.put_bytes(key, json.dumps({"params": params}).encode())


def attempts_in(trace_dir: Path, sample: str) -> list[Path]:
    """Trace files of a sample's attempts, oldest first (``<sample>.<pid>.<time_ns>``).

    By start time, not by name: pids of different digit counts sort wrongly as text.
    """
    return sorted(trace_dir.glob(f"{sample}.*"), key=lambda p: int(p.name.split(".")[2]))


def pid_of(trace: Path) -> int:
    """The process an attempt ran in."""
    return int(trace.name.split(".")[1])


def wait_for_attempt(stack: Stack, trace_dir: Path, sample: str, *, where: str) -> str:
    """Wait until ``process/<sample>`` runs (lease taken, trace left); its attempt id."""
    lease_key = stack.runtime.layout.lease_key("process", sample)
    wait_for(
        lambda: stack.store.exists(lease_key) and bool(attempts_in(trace_dir, sample)),
        timeout_s=60,
        interval_s=0.05,
        what=f"process/{sample} to start in {where}",
    )
    attempt: str = json.loads(stack.store.get_bytes(lease_key)[0])["attempt"]
    return attempt


def start_worker(env: dict[str, str], log: Path, *options: str) -> subprocess.Popen[bytes]:
    """``seqoia worker --pipeline <toy> [options]``, its output appended to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "seqoia.cli", "worker", "--pipeline", PIPELINE, *options],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop_all(*processes: subprocess.Popen[Any] | None, timeout_s: float) -> None:
    """Terminate what still runs, killing what has not exited within ``timeout_s``."""
    for process in processes:
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
