"""Commands that run the engine: `up`, `worker`, `intake`, `reconcile`, `notify`, `config`.

``seqoia up`` is everything in one process on the embedded defaults. On a cluster the
same parts run apart: ``seqoia worker`` (scaled on queue depth), ``seqoia intake`` (the
S3 webhook) and ``seqoia reconcile --every 300`` (the safety net for lost events).
"""

from __future__ import annotations

import functools
import json
import logging
import signal
import threading
import time
from pathlib import Path
from typing import Annotated, get_args
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from seqoia.commands.doctor import UNSAFE_STORE_HELP, guard_store
from seqoia.engine.forkserver import start_in_background
from seqoia.engine.notifications import any_matches, store_key_filters
from seqoia.engine.priority import Lane, lane_queues
from seqoia.engine.reconciler import Reconciler, ReconcileReport
from seqoia.engine.runtime import DEFAULT_PIPELINE, build_runtime
from seqoia.errors import ConfigurationError
from seqoia.intake.configure import build_intake, ensure_token, read_token, require_auth
from seqoia.intake.events import ObjectCreated, Source
from seqoia.intake.server import OUTCOMES, IntakeServer
from seqoia.metrics import enable_multiprocess, event_recorder, serve_metrics
from seqoia.redact import redact_url
from seqoia.settings import Settings
from seqoia.storage.counting import MeteredStore
from seqoia.tasks.stage import Pipeline
from seqoia.workers.actors import Actors, declare_actors
from seqoia.workers.broker import build_broker, stage_consumer
from seqoia.workers.collectors import ObservedReconciler, QueueCollector, ReconcileStatus
from seqoia.workers.embedded import EmbeddedWorkers
from seqoia.workers.handover import InFlight, stop_gracefully
from seqoia.workers.pool import WorkerPool

log = logging.getLogger(__name__)

#: Kubernetes kills a pod 30 s after SIGTERM: stages get 25 s, the handover the rest.
DEFAULT_GRACE_S = 25.0

PipelineOption = Annotated[
    str, typer.Option("--pipeline", help="Pipeline to run, as module:attribute")
]


def _settings(ctx: typer.Context) -> Settings:
    settings: Settings = ctx.obj
    return settings


def _wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM (what Kubernetes sends before killing a pod)."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


def _connected_actors(settings: Settings, pipeline: str) -> Actors:
    runtime = build_runtime(settings, pipeline)
    return declare_actors(build_broker(settings), runtime)


InsecureOption = Annotated[
    bool,
    typer.Option(
        "--insecure-no-auth",
        metavar="",
        help="Accept events from anyone (no token, no SNS signature): a laptop only",
    ),
]


def _intake_server(
    settings: Settings, actors: Actors, *, token: str | None, insecure_no_auth: bool
) -> IntakeServer:
    def submit(event: ObjectCreated) -> None:
        actors.notify(event.key, bucket=event.bucket, etag=event.etag)

    filters = store_key_filters(actors.runtime)
    return build_intake(
        settings,
        submit,
        store=actors.runtime.store,
        token=token,
        insecure_no_auth=insecure_no_auth,
        on_outcome=event_recorder(get_args(Source), OUTCOMES),
        routed=functools.partial(any_matches, filters),
    )


def _reconcile_forever(reconciler: Reconciler, every_s: float, stop: threading.Event) -> None:
    while True:
        try:
            reconciler.run_pass()
        except Exception:  # a failed pass must not end the loop: the next one retries
            log.exception("reconcile pass failed")
        if stop.wait(every_s):
            return


def up(
    ctx: typer.Context,
    pipeline: PipelineOption = DEFAULT_PIPELINE,
    intake_port: Annotated[int | None, typer.Option(help="Webhook port (0: any free port)")] = None,
    insecure_no_auth: InsecureOption = False,
) -> None:
    """Run everything in one process: workers, reconciler and event intake.

    Without a configured intake token, the one in the token file is used, or a random one
    written there (SEQOIA_INTAKE_TOKEN_FILE, default <scratch>/intake-token, mode
    0600); its path is printed, never the token.
    """
    settings = _settings(ctx)
    if intake_port is not None:
        settings = settings.model_copy(update={"intake_port": intake_port})
    token, token_file = (None, None) if insecure_no_auth else ensure_token(settings)
    enable_multiprocess(settings.metrics_dir)  # before any broker or metric exists
    runtime = build_runtime(settings, pipeline)
    stop = threading.Event()
    with EmbeddedWorkers(runtime) as workers:
        status = ReconcileStatus(runtime)
        reconciler = ObservedReconciler(runtime, workers.actors.enqueue_stage, status)
        queues = QueueCollector(workers.broker, workers.actors.queues())
        intake_server = _intake_server(
            settings, workers.actors, token=token, insecure_no_auth=insecure_no_auth
        )
        metrics = serve_metrics(settings.metrics_host, settings.metrics_port, [queues, status])
        threading.Thread(
            target=_reconcile_forever,
            args=(reconciler, settings.reconcile_interval_s, stop),
            daemon=True,
        ).start()
        with intake_server.start() as server:
            if token_file is not None:
                typer.echo(
                    f"event intake token in {token_file} (send it as "
                    "'Authorization: Bearer TOKEN' or http://seqoia:TOKEN@host/events)"
                )
            typer.echo(
                f"seqoia is up: store {redact_url(runtime.store.url)}, "
                f"events at {server.url}/events, metrics at {metrics.url}"
            )
            _wait_for_signal()
        stop.set()


def worker(
    ctx: typer.Context,
    pipeline: PipelineOption = DEFAULT_PIPELINE,
    queues: Annotated[
        list[str] | None, typer.Option("--queue", "-q", help="Consume only these queues")
    ] = None,
    processes: Annotated[
        int | None,
        typer.Option(min=1, help="Worker processes, each with its threads and fork server"),
    ] = None,
    threads: Annotated[int | None, typer.Option(help="Concurrent messages per process")] = None,
    lane: Annotated[
        Lane,
        typer.Option(
            help="Serve each queue's routine and urgent messages (all), or only one of "
            "the two: an urgent-only group keeps threads that routine work cannot fill",
        ),
    ] = "all",
    grace_s: Annotated[
        float,
        typer.Option(
            min=0,
            help="On SIGTERM, running stages get this long to finish before they are "
            "handed over to another worker (Kubernetes kills 30 s after SIGTERM)",
        ),
    ] = DEFAULT_GRACE_S,
    unsafe_store: Annotated[
        bool, typer.Option("--unsafe-store", metavar="", help=UNSAFE_STORE_HELP)
    ] = False,
    pool_metrics_dir: Annotated[
        Path | None, typer.Option(hidden=True, help="Set by the pool parent for its children")
    ] = None,
) -> None:
    """Consume stage and event messages from the broker until SIGTERM.

    The store's self-check runs first (the store checks of seqoia doctor): a store that
    does not enforce create-only or compare-and-swap writes is refused. With
    --processes N (default SEQOIA_WORKER_PROCESSES) the command starts N worker
    processes and serves their summed metrics.
    """
    settings = _settings(ctx)
    processes = processes or settings.worker_processes
    if processes > 1 and pool_metrics_dir is None:
        _worker_pool(settings, pipeline, queues, lane, processes, threads, grace_s, unsafe_store)
        return
    if pool_metrics_dir is None:
        enable_multiprocess(settings.metrics_dir)  # before any broker or metric exists
    else:  # a pool's child: record into the parent's folder, which the parent serves
        enable_multiprocess(pool_metrics_dir, empty=False)
    began = time.monotonic()
    runtime = build_runtime(settings, pipeline)
    opened = time.monotonic()
    _start_fork_server_ahead(runtime.pipeline, queues)
    guard_store(
        runtime.store,
        unsafe=unsafe_store,
        valid_s=settings.store_check_valid_s,
        worker=settings.worker_id,
    )
    checked = time.monotonic()
    runtime.store = MeteredStore(runtime.store)  # before anything caches the store
    actors = declare_actors(build_broker(settings), runtime)
    connected = time.monotonic()
    in_flight = InFlight()
    actors.broker.add_middleware(in_flight)
    consumed = lane_queues(queues or actors.queues(), lane)
    consumer = stage_consumer(
        actors.broker,
        queues=set(consumed),
        threads=threads or settings.worker_threads,
        worker_timeout_ms=settings.worker_poll_ms,
        short_queues=actors.short_queues(),
        thread_slots=settings.thread_slots,
    )
    consumer.start()
    # A replacement worker's start-up is part of a takeover when every other thread is busy.
    log.info(
        "start-up: pipeline and store %.2f s, store checks %.2f s, broker %.2f s, consumer %.2f s",
        opened - began,
        checked - opened,
        connected - checked,
        time.monotonic() - connected,
    )
    where = ""
    if pool_metrics_dir is None:
        metrics = serve_metrics(settings.metrics_host, settings.metrics_port)
        where = f", metrics at {metrics.url}"
    typer.echo(f"worker {settings.worker_id} consuming {consumed}{where}")
    try:
        _wait_for_signal()
    finally:
        handed = stop_gracefully(consumer, in_flight, grace_s=grace_s)
        if handed:
            typer.echo(f"worker {settings.worker_id} handed {handed} running stage(s) over")
        actors.broker.close()


def _start_fork_server_ahead(pipeline: Pipeline, queues: list[str] | None) -> None:
    """Start the fork server now if this worker runs process stages: ready by the first."""
    served = set(lane_queues(queues or pipeline.queues(), "routine"))  # either lane's stages
    if pipeline.process_queues() & served and pipeline.import_path:
        start_in_background(pipeline.import_path)


def _worker_pool(
    settings: Settings,
    pipeline: str,
    queues: list[str] | None,
    lane: Lane,
    processes: int,
    threads: int | None,
    grace_s: float,
    unsafe_store: bool,
) -> None:
    """Run ``processes`` worker processes and serve their metrics until SIGTERM."""
    folder = enable_multiprocess(settings.metrics_dir)
    child_args = ["-v"] if logging.getLogger().isEnabledFor(logging.INFO) else []
    child_args += ["worker", "--pipeline", pipeline, "--processes", "1"]
    child_args += ["--grace-s", str(grace_s), "--pool-metrics-dir", str(folder)]
    child_args += ["--threads", str(threads or settings.worker_threads)]
    for queue in queues or []:
        child_args += ["--queue", queue]
    child_args += ["--lane", lane]
    if unsafe_store:
        child_args.append("--unsafe-store")
    # Settings travel in the environment, not on the command line: URLs carry passwords.
    env = {
        "SEQOIA_STORE_URL": settings.store_url,
        "SEQOIA_BROKER_URL": settings.broker_url,
        "SEQOIA_SCRATCH_DIR": str(settings.scratch_dir),
        "SEQOIA_LOG_JSON": "1" if settings.log_json else "0",
    }
    pool = WorkerPool(child_args, processes, grace_s, settings.worker_id, env=env)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    pool.start()
    metrics = serve_metrics(settings.metrics_host, settings.metrics_port)
    typer.echo(
        f"worker pool {settings.worker_id}: {processes} processes (pids "
        f"{' '.join(map(str, pool.pids()))}), metrics at {metrics.url}"
    )
    try:
        healthy = pool.watch(stop)
    finally:
        codes = pool.stop()
        typer.echo(f"worker pool {settings.worker_id} stopped (exit codes {codes})")
    if not healthy:
        typer.echo("error: worker processes keep failing at start-up (see their log)", err=True)
        raise typer.Exit(1)


def intake(
    ctx: typer.Context,
    pipeline: PipelineOption = DEFAULT_PIPELINE,
    insecure_no_auth: InsecureOption = False,
) -> None:
    """Serve the S3 event-notification webhook, turning records into messages."""
    settings = _settings(ctx)
    if settings.broker_url.startswith("memory:"):
        # The in-process broker would acknowledge every event and lose it with no worker
        # to consume it: a silent loss of every notification.
        raise ConfigurationError(
            "seqoia intake needs a shared broker: SEQOIA_BROKER_URL is memory://, whose "
            "messages no worker would ever see; set redis://... or amqp://..., or run "
            "`seqoia up` for everything in one process"
        )
    token = read_token(settings)
    require_auth(settings, token, insecure_no_auth=insecure_no_auth)  # before any connection
    enable_multiprocess(settings.metrics_dir)  # before any broker or metric exists
    actors = _connected_actors(settings, pipeline)
    server = _intake_server(settings, actors, token=token, insecure_no_auth=insecure_no_auth)
    queues = QueueCollector(actors.broker, actors.queues())
    metrics = serve_metrics(settings.metrics_host, settings.metrics_port, [queues])
    with server.start():
        typer.echo(f"event intake listening on {server.url}/events, metrics at {metrics.url}")
        _wait_for_signal()


def reconcile(
    ctx: typer.Context,
    pipeline: PipelineOption = DEFAULT_PIPELINE,
    every: Annotated[
        float | None, typer.Option(help="Repeat every this many seconds (default: once)")
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", metavar="", help="Print the report as JSON")
    ] = False,
) -> None:
    """List the store and enqueue every stage that is due: lost messages lose nothing.

    On the in-process broker (memory://, the default) no worker would ever receive
    the messages, so one pass runs the due stages right here until they are done;
    --every is refused there ('seqoia up' reconciles on its own).
    """
    settings = _settings(ctx)
    if urlsplit(settings.broker_url).scheme == "memory":
        _reconcile_in_process(settings, pipeline, every=every, json_output=json_output)
        return
    if every:
        enable_multiprocess(settings.metrics_dir)  # before any broker or metric exists
    actors = _connected_actors(settings, pipeline)
    reconciler = Reconciler(actors.runtime, actors.enqueue_stage)
    if every:
        status = ReconcileStatus(actors.runtime)
        reconciler = ObservedReconciler(actors.runtime, actors.enqueue_stage, status)
        metrics = serve_metrics(settings.metrics_host, settings.metrics_port, [status])
        typer.echo(f"reconciling every {every:g} s, metrics at {metrics.url}")
        stop = threading.Event()
        threading.Thread(
            target=_reconcile_forever, args=(reconciler, every, stop), daemon=True
        ).start()
        _wait_for_signal()
        stop.set()
        return
    _print_reconcile(reconciler.run_pass(), json_output=json_output, verb="enqueued")
    actors.broker.close()


def _print_reconcile(report: ReconcileReport, *, json_output: bool, verb: str) -> None:
    if json_output:
        typer.echo(json.dumps(report.__dict__, indent=1))
        return
    typer.echo(
        f"visited {report.runs_visited} active run(s); {verb} {len(report.enqueued)}, "
        f"running {len(report.running)}, failed {len(report.failed)}, "
        f"incomplete runs {len(set(report.incomplete_runs))}, "
        f"stuck {len(set(report.stuck_runs))}, finished {len(report.runs_done)}"
    )
    for stage, subject in report.enqueued:
        typer.echo(f"  {verb} {stage}/{subject}")


def _reconcile_in_process(
    settings: Settings, pipeline: str, *, every: float | None, json_output: bool
) -> None:
    """One reconcile pass whose due stages run in this process (memory:// broker)."""
    if every:
        typer.echo(
            "error: --every needs a broker shared with workers (redis:// or amqp://); "
            "on the in-process memory:// broker run `seqoia up`, which reconciles itself",
            err=True,
        )
        raise typer.Exit(code=2)
    runtime = build_runtime(settings, pipeline)
    with EmbeddedWorkers(runtime) as workers:
        report = Reconciler(runtime, workers.actors.enqueue_stage).run_pass()
        if report.enqueued and not json_output:
            typer.echo(
                f"memory:// broker: running {len(report.enqueued)} due stage(s) in this "
                "process (no worker shares an in-process broker)",
                err=True,
            )
        while True:  # idle twice in a row: a stage may be between commit and routing
            if workers.is_idle():
                time.sleep(1.0)
                if workers.is_idle():
                    break
            time.sleep(0.5)
    _print_reconcile(report, json_output=json_output, verb="ran")


def notify(
    ctx: typer.Context,
    keys: Annotated[list[str], typer.Argument(help="Object keys that appeared")],
    pipeline: PipelineOption = DEFAULT_PIPELINE,
) -> None:
    """Send object-created events for keys by hand, as the store's notifications would."""
    actors = _connected_actors(_settings(ctx), pipeline)
    for key in keys:
        actors.notify(key)
    actors.broker.close()


def config(ctx: typer.Context) -> None:
    """Show the effective configuration and where each setting comes from."""
    settings = _settings(ctx)
    table = Table("setting", "environment variable", "value", "meaning")
    for name, field in Settings.model_fields.items():
        value = getattr(settings, name)
        if name == "intake_token" and value:
            value = "********"
        elif isinstance(value, str) and "://" in value:
            value = redact_url(value)  # a broker or store URL may carry a password
        table.add_row(
            *(
                Text(cell)
                for cell in (name, f"SEQOIA_{name.upper()}", str(value), field.description or "")
            )
        )
    Console().print(table)
