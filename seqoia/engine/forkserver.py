"""Stage processes forked from a server that has imported the pipeline already.

A fresh interpreter per stage spends ~0.9 s importing pysam, numpy and pydantic before the
stage does any work: as long as a small stage takes. The fork server pays that once per
worker process and pipeline; each stage process then starts with a fork.

What a fresh interpreter per stage guaranteed still holds:

- A stage process leads its own session, so a time limit kills it with every tool it
  started (``StageProcess.kill``), and so does the end of the attempt however it came:
  the server kills the stage's process group as it reaps the stage process (a crash, an
  out-of-memory kill, or a normal exit that left a tool running).
- Nothing outlives the worker. The server exits when its control socket, which only the
  worker holds, closes, and kills its stage processes first. A stage process whose server
  is gone kills its own session (``child.py``'s watchdog).
- A native crash or an out-of-memory kill takes down one stage process, never the server.
- The request file stays the whole interface: ``python -m seqoia.engine.child`` replays it.

Protocol. The worker and the server share a ``SOCK_SEQPACKET`` pair. For each stage the
worker sends one message, ``{"request", "env", "cwd"}``, with two descriptors attached: one
end of a fresh socket pair and the stage's log file. The server forks, answers ``pid N``
on that socket and, once it has reaped the process, ``exit STATUS`` (the raw wait status).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import IO, Any

from seqoia.errors import StageCrashedError

log = logging.getLogger(__name__)

#: Bytes of one control message: the request path, the environment and the working folder.
MAX_MESSAGE_BYTES = 1 << 20
#: The server imports the pipeline before it answers; a cold disk can make that slow.
READY_TIMEOUT_S = 120.0
#: A fork returns at once; a stage process that is not reported by then never will be.
PID_TIMEOUT_S = 60.0
#: The server reaps a killed stage process at once; this only bounds a wedged server.
REAP_TIMEOUT_S = 10.0
#: How long one wait for a stage process blocks the worker's thread in C.
WAIT_SLICE_S = 1.0


def stage_environment() -> dict[str, str]:
    """The environment of a stage process: the worker's, able to import what it imports."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))


# -- the worker's side -------------------------------------------------------------------
class StageProcess:
    """One forked stage process as the worker sees it: a pid and a socket to wait on."""

    def __init__(self, conn: socket.socket) -> None:
        self._conn = conn
        self._buffer = b""
        self.returncode: int | None = None
        line = self._line(PID_TIMEOUT_S)
        if line is None or not line.startswith("pid "):
            conn.close()
            raise StageCrashedError(f"the fork server did not start a stage process ({line!r})")
        self.pid = int(line.split()[1])

    def wait(self, timeout: float | None = None) -> int:
        """The exit code, negative for a signal, as ``Popen.wait`` gives it."""
        if self.returncode is not None:
            return self.returncode
        line = self._line(timeout)
        self._conn.close()
        if line is None:
            raise StageCrashedError(f"stage process {self.pid} was lost with its fork server")
        self.returncode = os.waitstatus_to_exitcode(int(line.removeprefix("exit ")))
        return self.returncode

    def kill(self) -> None:
        """Kill the stage process and every tool it started, and wait until it is reaped."""
        if self.returncode is not None:
            return  # reaped: its pid may be someone else's by now
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:  # forked a moment ago, before it made its own session
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        if self._conn.fileno() < 0:
            return  # its server is gone: nobody will report a reap
        # A lost server or a slow reap must not hide why the stage was killed.
        with contextlib.suppress(StageCrashedError, subprocess.TimeoutExpired):
            self.wait(timeout=REAP_TIMEOUT_S)

    def _line(self, timeout: float | None) -> str | None:
        """The server's next line; None when it closed the socket (it died)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._buffer:
            # Short waits: an exception sent to this thread (dramatiq's time limit or
            # shutdown notice) is raised between two of them, as Popen.wait allowed.
            remaining = WAIT_SLICE_S if deadline is None else deadline - time.monotonic()
            self._conn.settimeout(max(0.01, min(remaining, WAIT_SLICE_S)))  # 0 = non-blocking
            try:
                chunk = self._conn.recv(256)
            except TimeoutError:
                if deadline is None or time.monotonic() < deadline:
                    continue
                raise subprocess.TimeoutExpired("stage process", timeout or 0.0) from None
            if not chunk:
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()


class ForkServer:
    """The worker's handle on its fork server for one pipeline; started on first use."""

    def __init__(self, import_path: str) -> None:
        self.import_path = import_path
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None

    def launch(self, request_path: Path, log: IO[bytes]) -> StageProcess:
        """Fork a stage process for ``request_path``, its output going to ``log``."""
        message = json.dumps(
            {"request": str(request_path), "env": stage_environment(), "cwd": os.getcwd()}
        ).encode()
        mine, theirs = socket.socketpair()
        try:
            with self._lock:
                for attempt in (1, 2):
                    control = self._running_control()
                    try:
                        socket.send_fds(control, [message], [theirs.fileno(), log.fileno()])
                        break
                    except OSError:  # the server died since it was last used: start anew
                        self._stop()
                        if attempt == 2:
                            raise
        finally:
            theirs.close()
        return StageProcess(mine)

    def start(self) -> None:
        """Start the server now rather than at the first stage (no-op while it runs)."""
        with self._lock:
            self._running_control()

    @property
    def pid(self) -> int | None:
        """The server's pid while it runs."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def close(self) -> None:
        """Stop the server; stage processes still running are killed with it."""
        with self._lock:
            self._stop()

    def _running_control(self) -> socket.socket:
        if self._proc is not None and self._proc.poll() is None and self._control is not None:
            return self._control
        self._stop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with theirs:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", __name__, self.import_path, str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C at the terminal is the worker's to handle
                env=stage_environment(),
            )
        ours.settimeout(READY_TIMEOUT_S)
        try:
            ready = ours.recv(64)
        except TimeoutError:
            ready = b""
        if ready != b"ready":
            ours.close()
            self._proc.kill()
            code = self._proc.wait()
            raise StageCrashedError(
                f"the fork server for {self.import_path} did not start (exit code {code})"
            )
        ours.settimeout(None)
        self._control = ours
        return ours

    def _stop(self) -> None:
        if self._control is not None:
            self._control.close()  # the server sees the end of its control stream and exits
            self._control = None
        if self._proc is not None:
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None


_servers: dict[tuple[str, tuple[str, ...]], ForkServer] = {}
_servers_lock = threading.Lock()


def fork_server(import_path: str) -> ForkServer:
    """This process's fork server for a pipeline (one per import path and ``sys.path``)."""
    key = (import_path, tuple(sys.path))
    with _servers_lock:
        server = _servers.get(key)
        if server is None:
            server = _servers[key] = ForkServer(import_path)
        return server


def start_in_background(import_path: str) -> threading.Thread:
    """Start this process's fork server for a pipeline without waiting for it.

    A worker does so at start-up: the server's interpreter start and imports (a second
    or more on a busy node) then overlap the worker's store checks and broker connection
    instead of delaying the first stage of a freshly scaled-up worker, which is usually
    the stage it was scaled up for. A stage launched meanwhile waits for the same start.
    A failure is only logged: the first stage starts the server again and fails with why.
    """

    def start() -> None:
        began = time.monotonic()
        try:
            fork_server(import_path).start()
        except (OSError, StageCrashedError) as err:
            log.warning("fork server for %s did not start ahead of work: %s", import_path, err)
            return
        log.info("fork server for %s ready in %.2f s", import_path, time.monotonic() - began)

    thread = threading.Thread(target=start, name="seqoia-forkserver-start", daemon=True)
    thread.start()
    return thread


def _forget_inherited_servers() -> None:
    """A forked worker starts its own servers; the parent's must not see it as theirs."""
    for server in _servers.values():
        if server._control is not None:
            server._control.close()  # this process's copy only: the parent's stays open
    _servers.clear()


os.register_at_fork(after_in_child=_forget_inherited_servers)


# -- the server's side -------------------------------------------------------------------
class _Server:
    """Forks a stage process per request until the worker closes the control socket."""

    def __init__(self, control: socket.socket) -> None:
        self.control = control
        self.wake_read, self.wake_write = os.pipe()
        for fd in (self.wake_read, self.wake_write):
            os.set_blocking(fd, False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(control, selectors.EVENT_READ)
        self.selector.register(self.wake_read, selectors.EVENT_READ)
        self.running: dict[int, socket.socket] = {}  # pid -> the socket its worker waits on

    def serve(self) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.set_wakeup_fd(self.wake_write, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes the selector through the pipe
        self.control.send(b"ready")
        while True:
            for key, _ in self.selector.select():
                if key.fileobj is not self.control:
                    self._drain_wake_pipe()
                    self._reap()
                    continue
                data, fds, _, _ = socket.recv_fds(self.control, MAX_MESSAGE_BYTES, 2)
                if not data:
                    self._kill_all()
                    return
                conn = socket.socket(fileno=fds[0])
                try:
                    pid = self._fork_stage(json.loads(data), conn, log_fd=fds[1])
                except OSError as err:  # out of memory or processes: this stage fails, not all
                    _send(conn, f"error {err}\n")
                    conn.close()
                    continue
                finally:
                    os.close(fds[1])
                self.running[pid] = conn
                _send(conn, f"pid {pid}\n")

    def _fork_stage(self, message: dict[str, Any], conn: socket.socket, *, log_fd: int) -> int:
        server = os.getpid()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid:
            return pid
        code = 1
        try:
            os.setsid()  # first: from here a kill of the group reaches everything it starts
            self._close_in_child(conn)
            os.dup2(log_fd, 1)
            os.dup2(log_fd, 2)
            os.close(log_fd)
            os.environ.clear()
            os.environ.update(message["env"])
            os.chdir(message["cwd"])
            from seqoia.engine.child import serve_request

            code = serve_request(Path(message["request"]), parent=server)
        except BaseException:  # noqa: BLE001 - never return into the server's loop
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)

    def _close_in_child(self, conn: socket.socket) -> None:
        """Drop what belongs to the server: its signals, sockets and pipe."""
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGCHLD, signal.SIGINT):
            signal.signal(signum, signal.SIG_DFL)
        self.selector.close()
        for sock in (conn, self.control, *self.running.values()):
            sock.close()
        os.close(self.wake_read)
        os.close(self.wake_write)

    def _drain_wake_pipe(self) -> None:
        try:
            while os.read(self.wake_read, 512):
                pass
        except BlockingIOError:
            pass

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.running.pop(pid, None)
            if conn is not None:
                # The attempt is over however it ended (exit, crash, OOM kill): its tools
                # go with it. The group keeps the stage's pid reserved while any member
                # lives, so this reaches the stage's tools and nobody else's.
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
                _send(conn, f"exit {status}\n")
                conn.close()

    def _kill_all(self) -> None:
        for pid in self.running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        for pid in self.running:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _send(conn: socket.socket, text: str) -> None:
    with contextlib.suppress(OSError):  # the worker stopped waiting: nothing to tell
        conn.sendall(text.encode())


def main(argv: list[str]) -> int:
    import_path, control = argv[1], socket.socket(fileno=int(argv[2]))
    from seqoia.engine.runtime import load_pipeline

    try:
        load_pipeline(import_path)  # the point of the server: every stage forks from here
    except Exception:  # noqa: BLE001 - each stage process reports it through its result
        traceback.print_exc()
    _Server(control).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
