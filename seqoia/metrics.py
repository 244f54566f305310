"""Metrics: seqoia's Prometheus families, safe across processes, and the ``/metrics`` endpoint.

prometheus-client keeps a value per process; with several processes (dramatiq's forked
workers, a stage's helpers) each writes its samples to memory-mapped files in
``PROMETHEUS_MULTIPROC_DIR`` and the serving process sums the files at scrape time. The
library decides between in-memory and file-backed values when a metric is *created*, so:

- :func:`enable_multiprocess` runs first in every serving command (``seqoia worker``,
  ``up``, ``intake``, ``reconcile --every``). It points the environment at a folder that
  this process owns (``settings.metrics_dir`` or a private temporary one), **empties it**
  (files left by an earlier process with the same pid, PID 1 in every container, would
  otherwise be added to the new counts), and makes the library use file-backed values
  even if it was imported earlier;
- metric objects are created lazily by :func:`metrics` on first use, after that choice;
- the collector behind ``/metrics`` removes the live-gauge files of processes that died
  without saying so (``mark_process_dead``), so a killed worker's stages stop counting as
  in flight, while counters of dead processes stay (counters must never go backwards).

Store- and broker-level gauges (queue depth, runs per state) are not files: custom
collectors compute them at scrape time in ``seqoia up``/``intake``/``reconcile``
(:mod:`seqoia.workers.collectors`), so N workers do not report the same queue N times.

Labels are bounded (invariant 6): stage, queue, outcome, source, metric, state, finding,
priority (routine/urgent), centre (the configured centre ids) — never a run or sample
identifier.
"""

from __future__ import annotations

import atexit
import glob
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqoia.errors import ConfigurationError

if TYPE_CHECKING:  # prometheus_client is imported only once the process mode is decided
    from prometheus_client import CollectorRegistry
    from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: dramatiq's Prometheus middleware reads its folder from this variable at import.
DRAMATIQ_DB_ENV = "dramatiq_prom_db"

#: Every way ``StageRunner.execute`` can end (label ``outcome`` of the outcome counter).
STAGE_OUTCOMES = (
    "committed",  # ran and committed a new generation
    "up_to_date",  # a manifest with the same fingerprint exists: nothing to do
    "not_ready",  # an upstream manifest or the run folder is missing
    "failed_before",  # failed permanently before with these very inputs: not tried again
    "lost_race",  # ran, but a concurrent attempt committed the same fingerprint first
    "failed_permanent",  # bad input: dead-lettered at once
    "failed_transient",  # tool crash, timeout, store or broker fault: retried
    "busy",  # another worker holds the lease: looked at again when it would expire
    "handed_over",  # its worker stopped (SIGTERM past the grace period): sent again
)
#: Families of dramatiq's Prometheus middleware (served by workers in multiprocess mode).
DRAMATIQ_FAMILIES = {
    "dramatiq_messages": "counter",
    "dramatiq_message_errors": "counter",
    "dramatiq_message_retries": "counter",
    "dramatiq_message_rejects": "counter",
    "dramatiq_messages_inprogress": "gauge",
    "dramatiq_delayed_messages_inprogress": "gauge",
    "dramatiq_message_duration_milliseconds": "histogram",
}
#: Outcomes of attempts that ran the stage (they have a duration).
RAN_OUTCOMES = ("committed", "lost_race", "failed_permanent", "failed_transient")
FAILED_OUTCOMES = ("failed_permanent", "failed_transient")

#: Genomics stages run from seconds (validation) to many hours (alignment of a genome).
STAGE_DURATION_BUCKETS_S = (
    *(0.25, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0),
    *(3600.0, 2 * 3600.0, 4 * 3600.0, 8 * 3600.0, 12 * 3600.0, 24 * 3600.0, 48 * 3600.0),
)
#: Run completion to delivery: hours to weeks in production, seconds in tests.
TURNAROUND_BUCKETS_S = (
    *(1.0, 10.0, 60.0, 600.0, 1800.0, 3600.0, 2 * 3600.0, 4 * 3600.0, 8 * 3600.0),
    *(12 * 3600.0, 24 * 3600.0, 48 * 3600.0, 72 * 3600.0, 5 * 86400.0, 7 * 86400.0),
    *(14 * 86400.0, 21 * 86400.0, 28 * 86400.0, 42 * 86400.0, 56 * 86400.0),
)
#: Time a message waits in its queue before a worker starts it.
MESSAGE_WAIT_BUCKETS_S = (
    *(0.01, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0),
    *(4 * 3600.0, 12 * 3600.0, 24 * 3600.0),
)


class SeqoiaMetrics:
    """seqoia's recorded (per-process) metric families, created once per process."""

    def __init__(self, registry: CollectorRegistry) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.stage_duration = Histogram(
            "seqoia_stage_duration_seconds",
            "Wall time of stage attempts that ran (download, run, upload, commit)",
            ["stage", "priority"],
            buckets=STAGE_DURATION_BUCKETS_S,
            registry=registry,
        )
        self.stage_outcomes = Counter(
            "seqoia_stage_outcomes",
            "Stage executions by outcome",
            ["stage", "outcome", "priority"],
            registry=registry,
        )
        self.stages_in_flight = Gauge(
            "seqoia_stages_in_flight",
            "Stage attempts running now",
            ["stage", "priority"],
            multiprocess_mode="livesum",  # a dead process's attempts are not running
            registry=registry,
        )
        self.stage_bytes_read = Counter(
            "seqoia_stage_bytes_read",
            "Bytes of inputs and run-folder files downloaded for stage attempts",
            ["stage"],
            registry=registry,
        )
        self.stage_bytes_written = Counter(
            "seqoia_stage_bytes_written",
            "Bytes of outputs uploaded by stage attempts",
            ["stage"],
            registry=registry,
        )
        self.stage_cpu = Counter(
            "seqoia_stage_cpu_seconds",
            "CPU time (user + system) of stage attempts, by part: the stage process's own"
            " ('stage'), the tools it ran and reaped ('tools'), the worker's thread that"
            " downloaded, checked, uploaded and committed ('worker')",
            ["stage", "part"],
            registry=registry,
        )
        self.events = Counter(
            "seqoia_events",
            "Store notifications received by the event intake, per source and outcome",
            ["source", "outcome"],
            registry=registry,
        )
        self.turnaround = Histogram(
            "seqoia_turnaround_seconds",
            "Run completion marker written -> delivery stage committed (first generation)",
            buckets=TURNAROUND_BUCKETS_S,
            registry=registry,
        )
        self.qc_gate_failures = Counter(
            "seqoia_qc_gate_failures",
            "QC gate checks failed, per metric",
            ["metric"],
            registry=registry,
        )
        self.qc_verdicts = Counter(
            "seqoia_qc_verdicts",
            "QC gate verdicts committed",
            ["verdict"],
            registry=registry,
        )
        self.message_wait = Histogram(
            "seqoia_message_wait_seconds",
            "Time from enqueue (or due time of a delayed message) to processing",
            ["queue"],
            buckets=MESSAGE_WAIT_BUCKETS_S,
            registry=registry,
        )
        self.store_requests = Counter(
            "seqoia_store_requests",
            "Object-store requests made by workers, per operation (a listing page is one)",
            ["operation"],
            registry=registry,
        )
        self.fair_share_deferrals = Counter(
            "seqoia_fair_share_deferrals",
            "Routine messages sent back to their queue's tail: their centre held more than "
            "its share of the queue while another centre waited",
            ["queue", "centre"],
            registry=registry,
        )
        self.centre_stages_in_flight = Gauge(
            "seqoia_centre_stages_in_flight",
            "Stage attempts of a centre's samples, families and pairs running now",
            ["centre"],
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.dead_lettered = Counter(
            "seqoia_dead_lettered",
            "Messages this worker sent to the dead letters",
            ["queue"],
            registry=registry,
        )


@dataclass
class _State:
    metrics: SeqoiaMetrics | None = None
    registry: CollectorRegistry | None = None
    multiproc_dir: Path | None = None
    owned_temp_dir: bool = False


_state = _State()
_lock = threading.Lock()


def metrics() -> SeqoiaMetrics:
    """The process's metric objects, created on first use (after the mode is decided)."""
    if _state.metrics is None:
        with _lock:
            if _state.metrics is None:
                from prometheus_client import CollectorRegistry

                registry = CollectorRegistry(auto_describe=True)
                _state.metrics = SeqoiaMetrics(registry)
                _state.registry = registry
    return _state.metrics


def local_registry() -> CollectorRegistry:
    """The in-process registry of :func:`metrics` (what a single-process scrape reads)."""
    metrics()
    assert _state.registry is not None
    return _state.registry


def multiprocess_dir() -> Path | None:
    """The folder of this process's multiprocess files, when enabled."""
    return _state.multiproc_dir


def empty_multiprocess_dir(path: Path) -> int:
    """Remove every metrics file (``*.db``) in ``path``; returns how many."""
    removed = 0
    for name in glob.glob(os.path.join(glob.escape(str(path)), "*.db")):
        os.remove(name)
        removed += 1
    return removed


def enable_multiprocess(path: Path | None = None, *, empty: bool = True) -> Path:
    """Make this process (and its children) record into multiprocess files under ``path``.

    ``None`` makes a private temporary folder, removed at exit. The folder is emptied:
    whoever starts the serving process owns it; a helper process joining its parent's
    folder passes ``empty=False``. Call before any metric is recorded.
    """
    with _lock:
        owned = path is None
        if path is None:
            remove_orphaned_temp_dirs()
            folder = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-"))
        else:
            folder = path
        folder.mkdir(parents=True, exist_ok=True)
        stale = empty_multiprocess_dir(folder) if empty else 0
        if stale:
            log.info("removed %d stale metrics file(s) from %s", stale, folder)
        os.environ[MULTIPROC_ENV] = str(folder)
        os.environ[DRAMATIQ_DB_ENV] = str(folder)
        if "prometheus_client.values" in sys.modules:  # imported earlier: choose again
            from prometheus_client import values

            values.ValueClass = values.get_value_class()
        _state.metrics = None  # recreate file-backed on next use
        _state.registry = None
        _state.multiproc_dir = folder
        _state.owned_temp_dir = owned
    atexit.register(_process_exit, folder, owned)
    return folder


TEMP_PREFIX = "seqoia-metrics-"


def remove_orphaned_temp_dirs(parent: Path | None = None) -> list[Path]:
    """Remove private metrics folders of processes that were killed (no exit handler ran)."""
    removed = []
    for folder in Path(parent or tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*-*"):
        pid = folder.name[len(TEMP_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _process_exit(folder: Path, owned: bool) -> None:
    from prometheus_client import multiprocess

    try:
        multiprocess.mark_process_dead(os.getpid(), str(folder))
        if owned:
            shutil.rmtree(folder, ignore_errors=True)
    except OSError:
        pass


_LIVE_GAUGE_FILE = re.compile(r"^gauge_live\w*?_(\d+)\.db$")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def reap_dead_processes(path: Path) -> list[int]:
    """``mark_process_dead`` for every pid with live-gauge files that no longer runs."""
    from prometheus_client import multiprocess

    dead = set()
    for name in os.listdir(path):
        match = _LIVE_GAUGE_FILE.match(name)
        if match and int(match.group(1)) != os.getpid() and not pid_alive(int(match.group(1))):
            dead.add(int(match.group(1)))
    for pid in sorted(dead):
        multiprocess.mark_process_dead(pid, str(path))
    return sorted(dead)


class ReapingMultiProcessCollector:
    """The multiprocess files of ``path``, after dropping dead processes' live gauges."""

    def __init__(self, path: Path) -> None:
        from prometheus_client.multiprocess import MultiProcessCollector

        self.path = path
        self._inner = MultiProcessCollector(None, path=str(path))

    def collect(self) -> Iterable[Any]:
        try:
            reap_dead_processes(self.path)
        except OSError as err:
            log.warning("could not reap dead processes' metrics in %s: %s", self.path, err)
        return self._inner.collect()


class _LocalCollector:
    """The in-process registry, for a process that never enabled multiprocess mode."""

    def collect(self) -> Iterable[Any]:
        return local_registry().collect()


def exposition_registry(collectors: Iterable[Collector] = ()) -> CollectorRegistry:
    """A registry for ``/metrics``: recorded families, process stats and ``collectors``."""
    from prometheus_client import CollectorRegistry, ProcessCollector

    registry = CollectorRegistry(auto_describe=False)
    folder = _state.multiproc_dir
    registry.register(ReapingMultiProcessCollector(folder) if folder else _LocalCollector())
    ProcessCollector(registry=registry)
    for collector in collectors:
        registry.register(collector)
    return registry


@dataclass
class MetricsServer:
    """The ``/metrics`` HTTP server, or why there is none (``error``)."""

    httpd: Any = None
    thread: threading.Thread | None = None
    error: str | None = None

    @property
    def port(self) -> int | None:
        return int(self.httpd.server_address[1]) if self.httpd else None

    @property
    def url(self) -> str:
        if self.httpd is None:
            return f"(not served: {self.error})"
        host = self.httpd.server_address[0]
        host = f"[{host}]" if ":" in str(host) else host
        return f"http://{host}:{self.port}/metrics"

    def stop(self) -> None:
        if self.httpd is not None and self.thread is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join(timeout=5)


def serve_metrics(
    host: str, port: int, collectors: Iterable[Collector] = (), *, required: bool = False
) -> MetricsServer:
    """Serve ``/metrics`` on ``host:port`` (port 0: any free port) in a daemon thread.

    A port already taken (several seqoia processes on one host with the same setting) is
    logged as an error and the process goes on working unobserved, unless ``required``:
    a worker that refuses to work for want of a metrics port helps nobody, and the
    ``up == 0`` alert of its scrape target tells the operator.
    """
    from prometheus_client import start_http_server

    try:
        httpd, thread = start_http_server(port, host, registry=exposition_registry(collectors))
    except OSError as err:
        message = f"cannot serve /metrics on {host}:{port}: {err}"
        if required:
            raise ConfigurationError(message) from err
        log.error("%s; set SEQOIA_METRICS_PORT to a free port", message)
        return MetricsServer(error=str(err))
    server = MetricsServer(httpd, thread)
    log.info("metrics at %s", server.url)
    return server


def record_event(source: str, outcome: str) -> None:
    """Count one intake outcome (the ``IntakeServer(on_outcome=...)`` hook)."""
    metrics().events.labels(source, outcome).inc()


def event_recorder(sources: Iterable[str], outcomes: Iterable[str]) -> Callable[[str, str], None]:
    """:func:`record_event`, after creating every (source, outcome) series at zero.

    So that ``rate()`` sees the first event of each kind (a series born at 1 shows no
    increase); the intake passes its closed lists of sources and outcomes.
    """
    events = metrics().events
    outcomes = tuple(outcomes)
    for source in (*sources, "unknown"):
        for outcome in outcomes:
            events.labels(source, outcome)
    return record_event
