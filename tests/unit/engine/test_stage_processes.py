"""Stage processes forked from the worker's fork server: isolation, time limits, crashes.

Runs the ``unruly`` test pipeline's process-isolated stage through :class:`StageRunner`
on a local-folder store. Dying with the worker itself is tested in test_engine_faults.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from seqoia.engine.forkserver import fork_server, start_in_background
from seqoia.engine.runner import StageRunner
from seqoia.engine.runtime import Runtime, build_runtime
from seqoia.errors import StageCrashedError, StageTimeoutError
from seqoia.settings import Settings

PIPELINE = "tests.pipelines.unruly:pipeline"


@pytest.fixture
def rt(tmp_path: Path) -> Runtime:
    settings = Settings(
        store_url=f"file://{tmp_path / 'store'}", scratch_dir=tmp_path / "scratch", worker_id="unit"
    )
    runtime = build_runtime(settings, PIPELINE)
    samples = "".join(f"{s}\t-\t{s.lower()}\n" for s in ("S1", "S2", "S3"))
    runtime.store.put_bytes("inbox/R1/samples.tsv", samples.encode())
    runtime.store.put_bytes("inbox/R1/CopyComplete.txt", b"")
    assert StageRunner(runtime).execute("ingest", "R1").kind == "committed"
    return runtime


def behave(rt: Runtime, sample: str, **params: str) -> None:
    rt.store.put_bytes(
        rt.layout.override_key("process", sample), json.dumps({"params": params}).encode()
    )


def is_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def wait_until(condition, timeout_s: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_stage_processes_fork_from_one_server_in_their_own_sessions_with_the_workers_env(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = StageRunner(rt)
    first = runner.execute("process", "S1")
    monkeypatch.setenv("SEQOIA_TEST_MARKER", "set-after-the-server-started")
    second = runner.execute("process", "S2")
    assert first.manifest is not None and second.manifest is not None
    one, two = first.manifest.summary, second.manifest.summary
    assert one["parent"] == two["parent"] == fork_server(PIPELINE).pid != os.getpid()
    assert one["pid"] != two["pid"]
    assert one["session_leader"] and two["session_leader"]
    assert one["marker"] == "" and two["marker"] == "set-after-the-server-started"
    assert two["cwd"] == os.getcwd()


def test_a_stage_past_its_time_limit_is_killed_with_the_tool_it_started(
    rt: Runtime, tmp_path: Path
) -> None:
    pid_file = tmp_path / "tool.pid"
    behave(rt, "S1", behaviour="hang", pid_file=str(pid_file))
    runner = StageRunner(rt)
    with pytest.raises(StageTimeoutError, match="process/S1 exceeded its time limit of 3 s"):
        runner.execute("process", "S1")
    tool = int(pid_file.read_text())
    assert wait_until(lambda: is_gone(tool)), f"tool {tool} outlived its stage"
    assert runner.execute("process", "S2").kind == "committed"  # the server carries on


def test_a_stage_killed_by_a_signal_fails_with_its_last_words_and_the_next_one_runs(
    rt: Runtime,
) -> None:
    behave(rt, "S1", behaviour="crash")
    runner = StageRunner(rt)
    with pytest.raises(StageCrashedError) as crashed:
        runner.execute("process", "S1")
    assert "stage process died (signal 9)" in str(crashed.value)
    assert "S1: about to die" in str(crashed.value)
    record = json.loads(rt.store.get_text(rt.layout.failure_key("process", "S1")))
    assert record["permanent"] is False  # a crash may be the machine's: it is retried
    assert runner.execute("process", "S2").kind == "committed"


def is_dead(pid: int) -> bool:
    """Gone, or a zombie (killed, waiting for whichever process adopted it to reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def test_a_stage_that_crashes_leaves_no_tool_running(rt: Runtime, tmp_path: Path) -> None:
    pid_file = tmp_path / "tool.pid"
    behave(rt, "S1", behaviour="crash_with_tool", pid_file=str(pid_file))
    runner = StageRunner(rt)
    with pytest.raises(StageCrashedError, match="signal 9"):
        runner.execute("process", "S1")
    tool = int(pid_file.read_text())
    # Killed before the crash was reported: not seconds later, while a retry already runs.
    assert is_dead(tool), f"tool {tool} (sleep 60) outlived its crashed stage"


def test_a_stage_that_exits_with_a_tool_still_running_takes_it_down(
    rt: Runtime, tmp_path: Path
) -> None:
    pid_file = tmp_path / "tool.pid"
    behave(rt, "S1", behaviour="leave_tool", pid_file=str(pid_file))
    assert StageRunner(rt).execute("process", "S1").kind == "committed"
    tool = int(pid_file.read_text())
    assert is_dead(tool), f"tool {tool} (sleep 60) outlived its finished stage"


@dataclass
class HangingStage:
    """``process/S1`` hanging in a thread of its own, with the tool it started."""

    thread: threading.Thread
    errors: list[BaseException]
    tool: int


def start_hanging_stage(rt: Runtime, runner: StageRunner, pid_file: Path) -> HangingStage:
    behave(rt, "S1", behaviour="hang", pid_file=str(pid_file))
    errors: list[BaseException] = []

    def run() -> None:
        try:
            runner.execute("process", "S1")
        except BaseException as err:  # noqa: BLE001 - examined by the test
            errors.append(err)

    thread = threading.Thread(target=run)
    thread.start()
    assert wait_until(lambda: pid_file.exists() and pid_file.read_text() != "")
    return HangingStage(thread, errors, int(pid_file.read_text()))


def test_stage_processes_die_with_their_fork_server_and_a_new_server_takes_over(
    rt: Runtime, tmp_path: Path
) -> None:
    runner = StageRunner(rt)
    server = fork_server(PIPELINE)
    hanging = start_hanging_stage(rt, runner, tmp_path / "tool.pid")
    old_server = server.pid
    assert old_server is not None
    os.kill(old_server, signal.SIGKILL)
    hanging.thread.join(timeout=10)
    assert not hanging.thread.is_alive()
    assert len(hanging.errors) == 1 and isinstance(hanging.errors[0], StageCrashedError)
    assert "lost with its fork server" in str(hanging.errors[0])
    assert wait_until(lambda: is_gone(hanging.tool)), "the tool outlived its fork server"

    done = runner.execute("process", "S2")
    assert done.kind == "committed" and done.manifest is not None
    assert done.manifest.summary["parent"] == server.pid != old_server


def test_a_fork_server_started_ahead_of_work_serves_the_first_stage(rt: Runtime) -> None:
    server = fork_server(PIPELINE)
    server.close()  # none left by an earlier test: the first stage would start one
    assert server.pid is None
    start_in_background(PIPELINE).join(timeout=120)
    ready = server.pid
    assert ready is not None
    done = StageRunner(rt).execute("process", "S1")
    assert done.kind == "committed" and done.manifest is not None
    assert done.manifest.summary["parent"] == server.pid == ready  # no second start


def test_a_fork_server_that_cannot_start_ahead_of_work_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = fork_server(PIPELINE)
    server.close()
    monkeypatch.setattr(sys, "executable", "/bin/false")  # exits before it says "ready"
    with caplog.at_level(logging.WARNING, logger="seqoia.engine.forkserver"):
        start_in_background(PIPELINE).join(timeout=120)
    assert server.pid is None
    assert f"fork server for {PIPELINE} did not start ahead of work" in caplog.text
    assert "did not start (exit code 1)" in caplog.text


class Interrupted(BaseException):
    """What dramatiq's shutdown notice or time limit raises in a worker thread."""


def test_a_worker_thread_interrupted_while_waiting_kills_its_stage_process(
    rt: Runtime, tmp_path: Path
) -> None:
    hanging = start_hanging_stage(rt, StageRunner(rt), tmp_path / "tool.pid")
    # As dramatiq does: an exception raised asynchronously in the thread that waits.
    assert hanging.thread.ident is not None
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(hanging.thread.ident), ctypes.py_object(Interrupted)
    )
    hanging.thread.join(timeout=2.5)  # before the stage's own 3 s time limit could act
    assert not hanging.thread.is_alive()
    assert len(hanging.errors) == 1 and isinstance(hanging.errors[0], Interrupted)
    assert wait_until(lambda: is_gone(hanging.tool)), "the tool outlived its interrupted stage"
