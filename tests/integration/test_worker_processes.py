"""The fault and pool tests' shared helpers: attempt traces in start order, a sure stop."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.integration.worker_processes import attempts_in, pid_of, stop_all

IGNORES_SIGTERM = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


def test_attempts_are_ordered_by_start_time_not_by_their_pid_as_text(tmp_path: Path) -> None:
    for name in ["S1.99999.300", "S1.100000.100", "S1.5.200", "S10.1.50"]:
        (tmp_path / name).touch()
    attempts = attempts_in(tmp_path, "S1")
    assert [pid_of(a) for a in attempts] == [100000, 5, 99999]


def test_stop_all_kills_what_ignores_sigterm_and_skips_what_has_exited() -> None:
    stubborn = subprocess.Popen(
        [sys.executable, "-c", IGNORES_SIGTERM], stdout=subprocess.PIPE, text=True
    )
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait(timeout=30)
    assert stubborn.stdout is not None and stubborn.stdout.readline() == "ready\n"
    started = time.monotonic()
    stop_all(stubborn, None, done, timeout_s=0.5)
    assert stubborn.returncode == -9  # SIGTERM ignored, then killed
    assert time.monotonic() - started < 10
    assert done.returncode == 0
    stubborn.stdout.close()
