"""The core engine end to end on three stacks: memory + file, redis + S3, RabbitMQ + S3.

Each test runs the toy pipeline (run -> samples -> family and run fan-ins) with a real
``dramatiq.Worker`` over the stack's broker, and checks the store alone: each
``(stage, subject)`` committed exactly once, outputs with the recorded size and sha256,
joint and tally contents, and the run/sample/family links.
"""

from __future__ import annotations

import random

from typer.testing import CliRunner

from seqoia.cli import app
from seqoia.engine.reconciler import Reconciler
from tests.integration.engine_helpers import (
    PIPELINE,
    TOY_ROWS,
    Stack,
    assert_toy_run_complete,
    stack,  # noqa: F401 - the parametrised fixture
    toy_expected,
    wait_for,
    wait_for_manifests,
    write_toy_run,
)

RUN = "R1"


def test_toy_pipeline_commits_every_stage_once_with_checksummed_outputs_and_links(
    stack: Stack,  # noqa: F811
) -> None:
    write_toy_run(stack.store, RUN, TOY_ROWS)
    with stack.workers() as workers:
        workers.actors.notify(f"inbox/{RUN}/CopyComplete.txt")
        wait_for_manifests(stack, toy_expected(RUN, TOY_ROWS))
        workers.drain()
    assert_toy_run_complete(stack, RUN, TOY_ROWS)


def test_every_event_delivered_five_times_in_random_order_commits_one_generation(
    stack: Stack,  # noqa: F811
) -> None:
    keys = write_toy_run(stack.store, RUN, TOY_ROWS)
    shuffled = random.Random(7)
    with stack.workers(threads=4) as workers:
        events = keys * 5
        shuffled.shuffle(events)
        for key in events:
            workers.actors.notify(key)
        wait_for_manifests(stack, toy_expected(RUN, TOY_ROWS))
        workers.drain()

        # Replay every object the run produced (manifests, outputs, links) five times,
        # as a store whose notifications cover the work area would deliver them.
        produced = [info.key for info in stack.store.list("work/")]
        manifests = [k for k in produced if k.endswith(".manifest.json")]
        assert len(manifests) == len(toy_expected(RUN, TOY_ROWS))
        replay = (produced + keys) * 5
        shuffled.shuffle(replay)
        for key in replay:
            workers.actors.notify(key)
        workers.drain()
    assert_toy_run_complete(stack, RUN, TOY_ROWS)


def test_reconcile_finishes_a_run_whose_messages_were_all_dropped_then_marks_it_done(
    stack: Stack,  # noqa: F811
) -> None:
    write_toy_run(stack.store, RUN, TOY_ROWS)
    expected = toy_expected(RUN, TOY_ROWS)
    done_key = stack.runtime.layout.done_prefix() + RUN
    workers = stack.workers()
    # The events are sent and then lost before any worker runs.
    workers.actors.notify(f"inbox/{RUN}/CopyComplete.txt")
    workers.purge()
    assert workers.queued() == 0
    with workers.start():
        if stack.name == "memory":
            reconciler = Reconciler(stack.runtime, workers.actors.enqueue_stage)

            def reconcile_pass() -> str:
                report = reconciler.run_pass()
                return f"visited {report.runs_visited} active run(s)"
        else:
            runner = CliRunner()

            def reconcile_pass() -> str:
                result = runner.invoke(app, ["reconcile", "--pipeline", PIPELINE], env=stack.env)
                assert result.exit_code == 0, result.output
                return result.output

        # Each pass enqueues what is due now (ingest, then the samples, then the fan-ins);
        # with every stage forward-routed only by the reconciler, passes drive the run.
        def reconciled_to_done() -> bool:
            reconcile_pass()
            return stack.store.exists(done_key)

        wait_for(reconciled_to_done, timeout_s=90, interval_s=1.0, what="reconcile to finish")
        wait_for_manifests(stack, expected, timeout_s=5)
        workers.drain()
        assert "visited 0 active run(s)" in reconcile_pass()
    assert_toy_run_complete(stack, RUN, TOY_ROWS)


HOSTILE_KEYS = [
    "../x",
    "inbox/../../etc/passwd",
    "inbox/R0/../../../etc/passwd",
    "inbox/R0/CopyComplete.txt\n",
    "inbox/R\x00/CopyComplete.txt",
    "a//b",
    "inbox//CopyComplete.txt",
    "/etc/passwd",
    "inbox/" + "x" * 2000 + "/CopyComplete.txt",
    "inbox/bad run!/CopyComplete.txt",
    "inbox/\udcff/CopyComplete.txt",
    "work/process/..%2F..%2Fetc/g000001.manifest.json",
    "work/process/NOPE/g000001.manifest.json",
    "work/process/\udcff/g000001.manifest.json",
    "work/_leases/process/S1",
    "",
]


def test_hostile_event_keys_never_stop_the_worker_and_the_next_good_event_runs(
    stack: Stack,  # noqa: F811
) -> None:
    write_toy_run(stack.store, RUN, TOY_ROWS)
    with stack.workers() as workers:
        for key in HOSTILE_KEYS:
            workers.actors.notify(key)
        workers.actors.object_created.send("", None, None)
        workers.actors.notify(f"inbox/{RUN}/CopyComplete.txt")
        wait_for_manifests(stack, toy_expected(RUN, TOY_ROWS))
        workers.drain()
    assert_toy_run_complete(stack, RUN, TOY_ROWS)
    # Nothing escaped the store's root, and nothing was written for the hostile keys.
    assert {i.key.split("/")[0] for i in stack.store.list("")} <= {"inbox", "work"}
