"""Fault injection on the core engine: killed workers, RabbitMQ's consumer timeout, bad input.

Each test breaks something real (SIGKILL of a ``seqoia worker`` process, a RabbitMQ node
that takes back unacknowledged messages after 5 s) and then checks the store alone: one
committed generation per ``(stage, subject)``, outputs with their recorded checksums, and
the attempts the stage actually made (the toy ``process`` stage leaves a trace file per
attempt, named ``<sample>.<pid>.<ns>``).
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import dramatiq
import pytest

from seqoia.engine.reconciler import Reconciler
from seqoia.engine.runtime import build_runtime
from tests.fixtures.servers import RabbitMQFactory
from tests.integration.engine_helpers import (
    PIPELINE,
    TOY_ROWS,
    Stack,
    assert_toy_run_complete,
    build_stack,
    make_settings,
    settings_env,
    toy_expected,
    wait_for,
    wait_for_manifests,
    write_toy_run,
)
from tests.integration.worker_processes import (
    attempts_in,
    override_process,
    pid_of,
    start_worker,
    stop_all,
    wait_for_attempt,
)

RUN = "R1"


def is_gone(pid: int) -> bool:
    """Whether ``pid`` has exited (a zombie awaiting its reaper counts as exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


@pytest.mark.parametrize("stack_name", ["redis", "rgw"])
def test_worker_killed_mid_stage_is_taken_over_and_the_stage_commits_exactly_once(
    request: pytest.FixtureRequest, tmp_path: Path, stack_name: str
) -> None:
    """SIGKILL a ``seqoia worker`` while ``process/S1`` runs in its stage process.

    Redis returns the dead worker's unacknowledged message after its heartbeat timeout
    (3 s here); the second worker's attempt finds the dead attempt's lease, backs off
    (StageBusyError, retried) until the lease expires (6 s TTL, no longer renewed), takes
    it over and commits. The dead worker's fork server sees its control socket close and
    kills the orphaned stage process's group (had the server died too, the stage process
    would notice and kill its own group within about a second). On Ceph RGW (``rgw``)
    the takeover is an If-Match replace in the form RGW accepts (it refuses quoted ETags).
    """
    stack = build_stack(
        request,
        stack_name,
        tmp_path,
        heartbeat_timeout_s=3,
        lease_ttl_s=6,
        retry_min_backoff_s=1,
        retry_max_backoff_s=3,
    )
    trace = tmp_path / "trace"
    trace.mkdir()
    write_toy_run(stack.store, RUN, TOY_ROWS)
    override_process(stack, "S1", sleep_s=2, trace_dir=str(trace))
    lease_key = stack.runtime.layout.lease_key("process", "S1")
    log = tmp_path / "workers.log"
    sender = stack.workers()  # sends only: the workers are the subprocesses
    first = start_worker(stack.env, log)
    second = None
    try:
        sender.actors.notify(f"inbox/{RUN}/CopyComplete.txt")
        killed_attempt = wait_for_attempt(stack, trace, "S1", where="the first worker")
        orphan = pid_of(attempts_in(trace, "S1")[0])
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        wait_for(lambda: is_gone(orphan), timeout_s=5, what=f"stage process {orphan} to die")
        assert not stack.runtime.manifests.generations("process", "S1")

        second = start_worker(stack.env, log)
        wait_for_manifests(stack, toy_expected(RUN, TOY_ROWS), timeout_s=120)
    finally:
        stop_all(first, second, timeout_s=20)
        sender.stop()
    assert_toy_run_complete(stack, RUN, TOY_ROWS)
    attempts = attempts_in(trace, "S1")
    assert len(attempts) == 2, [a.name for a in attempts]
    assert pid_of(attempts[1]) != orphan
    manifest = stack.runtime.manifests.latest("process", "S1")
    assert manifest is not None and manifest.attempt != killed_attempt
    # The killed attempt uploaded nothing: its child died before returning.
    killed_prefix = stack.runtime.layout.attempt_prefix("process", "S1", killed_attempt)
    assert list(stack.store.list(killed_prefix)) == []
    assert not stack.store.exists(lease_key)


class DeliveryLog(dramatiq.Middleware):
    """Records every delivery of ``run_stage``: its arguments, redelivery flag and outcome."""

    def __init__(self) -> None:
        self.deliveries: list[dict[str, object]] = []

    def after_process_message(self, broker, message, *, result=None, exception=None):  # type: ignore[no-untyped-def]
        self.deliveries.append(
            {
                "actor": message.actor_name,
                "args": tuple(message.args[:2]),
                "redelivered": bool(getattr(message, "redelivered", False)),
                "error": type(exception).__name__ if exception else None,
                "at": time.time(),
            }
        )


def test_stage_outliving_rabbitmq_consumer_timeout_is_redelivered_but_runs_once(
    rabbitmq_factory: RabbitMQFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An hours-long stage survives RabbitMQ's consumer timeout.

    RabbitMQ takes back a delivery left unacknowledged past ``consumer_timeout`` (30 min
    by default): it closes the consumer's channel (PRECONDITION_FAILED) and requeues the
    message, and RabbitMQ 3.10 only checks on a channel tick, once a minute by default
    (``channel_tick_interval``, an application setting the broker's own test suite
    lowers). Here the node has ``consumer_timeout = 5000`` and a 1 s tick, so a 14 s
    stage is redelivered after about 6 s.

    The design that makes this harmless: a process-isolated stage holds a lease object in
    the store, renewed every third of its TTL while it runs; a redelivered duplicate finds
    the live lease (StageBusyError) and is sent again for when the lease would expire,
    instead of starting a second attempt; the commit is create-only, so even a duplicate that ran
    would lose. dramatiq reconnects the closed consumer, and the first attempt commits and
    routes downstream over the publisher's own connection. In production the consumer
    timeout is also raised in the broker's configuration (infra), since the channel close
    drops every other prefetched message on it too.
    """
    monkeypatch.setenv("RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS", "-rabbit channel_tick_interval 1000")
    node = rabbitmq_factory.start(consumer_timeout_ms=5000)
    settings = make_settings(
        f"file://{tmp_path / 'store'}",
        node.url,
        tmp_path / "scratch",
        lease_ttl_s=6,
        retry_min_backoff_s=0.5,
        retry_max_backoff_s=2,
    )
    stack = Stack("amqp", settings, build_runtime(settings, PIPELINE), settings_env(settings))
    trace = tmp_path / "trace"
    trace.mkdir()
    rows = [("S1", "-", "slow")]
    write_toy_run(stack.store, RUN, rows)
    override_process(stack, "S1", sleep_s=14, trace_dir=str(trace))
    deliveries = DeliveryLog()
    workers = stack.workers(threads=2)
    workers.broker.add_middleware(deliveries)
    with workers.start():
        workers.actors.notify(f"inbox/{RUN}/CopyComplete.txt")
        wait_for_manifests(stack, toy_expected(RUN, rows), timeout_s=75)
        workers.drain(timeout_s=30)
    assert_toy_run_complete(stack, RUN, rows)
    assert len(attempts_in(trace, "S1")) == 1, "the redelivered message started a second attempt"
    process_s1 = [d for d in deliveries.deliveries if d["args"] == ("process", "S1")]
    redelivered = [d for d in process_s1 if d["redelivered"]]
    assert redelivered, f"RabbitMQ did not redeliver process/S1: {process_s1}"
    # The redelivery arrived while the first attempt was still running (its lease live),
    # and it neither failed nor started a second attempt.
    manifest = stack.runtime.manifests.latest("process", "S1")
    assert manifest is not None
    committed_at = manifest.finished_at.timestamp()
    assert any(d["at"] < committed_at for d in redelivered), "\n".join(map(str, process_s1))
    assert all(d["error"] is None for d in process_s1), "\n".join(map(str, process_s1))
    assert "timed out" in node.server.output_tail(400)


def test_input_error_is_a_permanent_failure_dead_lettered_without_retries(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A sample whose text says FAIL raises InputError in ``process``: no retry, a failure
    record, one dead letter; the other samples still complete, and the reconciler reports
    the failure instead of enqueueing it again."""
    stack = build_stack(request, "memory", tmp_path)
    trace = tmp_path / "trace"
    trace.mkdir()
    rows = [("S1", "F1", "hello"), ("S2", "F1", "please FAIL"), ("S3", "-", "solo")]
    write_toy_run(stack.store, RUN, rows)
    for sample, _, _ in rows:
        override_process(stack, sample, trace_dir=str(trace))
    with stack.workers() as workers:
        workers.actors.notify(f"inbox/{RUN}/CopyComplete.txt")
        wait_for_manifests(stack, {("process", "S1"), ("process", "S3")})
        workers.drain()
        assert workers.dead_letters("samples") == 1
        report = Reconciler(stack.runtime, workers.actors.enqueue_stage).run_pass()
    assert report.failed == [("process", "S2")]
    assert report.enqueued == []
    assert len(attempts_in(trace, "S2")) == 1
    failure = json.loads(stack.store.get_text(stack.runtime.layout.failure_key("process", "S2")))
    assert failure["permanent"] is True
    assert failure["error_type"] == "InputError"
    assert "S2.txt" in failure["message"]
    assert not stack.runtime.manifests.generations("process", "S2")
    # Fan-ins over S2 wait; what does not need S2 completed.
    assert not stack.runtime.manifests.generations("joint", "F1")
    assert not stack.runtime.manifests.generations("tally", RUN)
