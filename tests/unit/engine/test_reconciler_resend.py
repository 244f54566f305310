"""A long-lived reconciler does not send a queued stage again at every pass."""

from __future__ import annotations

from pathlib import Path

from seqoia.engine.reconciler import Reconciler
from seqoia.engine.runtime import build_runtime
from tests.integration.engine_helpers import TOY_ROWS, make_settings, write_toy_run


def test_a_due_stage_is_sent_once_until_the_resend_interval_has_passed(tmp_path: Path) -> None:
    settings = make_settings(f"file://{tmp_path / 'store'}", "memory://", tmp_path / "scratch")
    runtime = build_runtime(settings, "tests.pipelines.toy:pipeline")
    write_toy_run(runtime.store, "R1", TOY_ROWS)
    sent: list[tuple[str, str]] = []
    reconciler = Reconciler(runtime, lambda stage, subject, *_: sent.append((stage, subject)))

    first = reconciler.run_pass()
    assert first.enqueued == [("ingest", "R1")] and sent == [("ingest", "R1")]
    # No worker ran it: still due, still queued; sending it again would grow the queue.
    second = reconciler.run_pass()
    assert second.enqueued == [] and second.queued == [("ingest", "R1")]
    assert sent == [("ingest", "R1")]
    # A lost message is found again once the interval has passed, then after twice that.
    sent_at, wait_s = reconciler._sent[("ingest", "R1")]
    assert wait_s == runtime.settings.reconcile_resend_s
    reconciler._sent[("ingest", "R1")] = (sent_at - wait_s, wait_s)
    assert reconciler.run_pass().enqueued == [("ingest", "R1")]
    assert reconciler._sent[("ingest", "R1")][1] == 2 * wait_s
    # A new reconciler (a restart) sends everything due once.
    assert Reconciler(runtime, lambda *_: None).run_pass().enqueued == [("ingest", "R1")]
