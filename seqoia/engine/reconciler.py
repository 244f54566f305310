"""The reconciler: re-derives pending work from the store, so lost messages lose nothing.

A pass lists the run folders in the inbox (one request per thousand runs) minus the runs
already marked done, and plans every stage of every subject of each remaining run. What
is due gets a ``run_stage`` message. Its cost therefore follows the active runs, not the
history: a finished run is marked ``work/_done/<run>`` and never visited again (``seqoia
retry``/``reprocess`` remove the mark).

A publishing stage that committed but whose committer died before the copies (and whose
message was lost) is due too: "publication pending", told by the absence of its
generation's publication mark from the listing that found the manifest (no request more,
no HEAD per file). The run is not marked done while one is pending.

On a remote store the subjects of one stage are planned concurrently (as ``seqoia status``
derives them): a pass over two active runs of ~20 samples made ~1,100 requests, which one
at a time took a minute on a loaded Ceph RGW. The decisions stay sequential, in pipeline
order, since each stage's depends on its upstream's.

A due stage that waits in a queue is neither committed nor leased, so every pass would
send it again: during a burst's backlog of hours, a reconciler every five minutes added
the backlog's size to the queues at each pass (in the load simulation the align queue
held 117 messages for 64 samples, and KEDA would scale on them). A reconciler that lives
on (``seqoia up``, ``reconcile --every``) remembers what it sent and sends a stage again
only ``reconcile_resend_s`` later, then twice that, up to 16 times (an hour, two, four...
sixteen): a lost message is still found, within an hour when it is lost early, and a
day-long backlog gets a handful of duplicates, not one per pass. A new reconciler sends
everything due once.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from seqoia.engine.leases import live_lease
from seqoia.engine.runtime import Runtime

log = logging.getLogger(__name__)

Enqueue = Callable[[str, str, str, float], None]
#: A stage still due is sent again after resend_after_s, then twice that... up to this.
MAX_RESEND_FACTOR = 16


@dataclass
class ReconcileReport:
    """What one pass found."""

    runs_visited: int = 0
    runs_done: list[str] = field(default_factory=list)
    enqueued: list[tuple[str, str]] = field(default_factory=list)
    running: list[tuple[str, str]] = field(default_factory=list)
    #: Due, and sent by this reconciler less than ``resend_after_s`` ago: left queued.
    queued: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    #: Committed and up to date, but not (yet) marked published: sent like due stages.
    publication_pending: list[tuple[str, str]] = field(default_factory=list)
    incomplete_runs: list[str] = field(default_factory=list)
    stuck_runs: list[str] = field(default_factory=list)


class Reconciler:
    def __init__(
        self, runtime: Runtime, enqueue: Enqueue, *, concurrency: int | None = None
    ) -> None:
        self.rt = runtime
        self.enqueue = enqueue
        self.concurrency = concurrency or runtime.store_concurrency
        self.resend_after_s = runtime.settings.reconcile_resend_s
        #: (stage, subject) -> (when this reconciler last sent it, wait before the next).
        self._sent: dict[tuple[str, str], tuple[float, float]] = {}

    def active_runs(self) -> list[str]:
        store, layout = self.rt.store, self.rt.layout
        runs = store.list_children(layout.inbox_prefix())
        done = set(store.list_children(layout.done_prefix()))
        return [run for run in runs if run not in done]

    def run_pass(self) -> ReconcileReport:
        report = ReconcileReport()
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="reconcile") as pool:
            for run in self.active_runs():
                report.runs_visited += 1
                self._reconcile_run(run, report, pool)
        # Only what is still due is remembered: the memory follows the active work.
        still_due = {*report.enqueued, *report.queued}
        self._sent = {key: at for key, at in self._sent.items() if key in still_due}
        if report.enqueued:
            log.info("reconciler enqueued %d stage(s)", len(report.enqueued))
        return report

    def subjects_of(self, run: str) -> dict[str, list[str]]:
        return self.rt.manifests.subjects_of("run", run)

    def _reconcile_run(self, run: str, report: ReconcileReport, pool: ThreadPoolExecutor) -> None:
        rt = self.rt
        subjects = self.subjects_of(run)
        pending = False
        unsettled: set[tuple[str, str]] = set()  # due, running or waiting in this pass
        blocked: set[tuple[str, str]] = set()  # failed, or waiting on a failure: settled
        for stage in rt.pipeline:  # declaration order: upstream before downstream
            names = subjects[stage.kind]
            plans = pool.map(rt.planner.plan, [stage.name] * len(names), names)
            for subject, plan in zip(names, plans, strict=True):
                if plan.up_to_date:
                    if plan.publication_pending:  # committed, its copies never finished
                        if rt.planner.failed_for_good(plan) is not None:
                            report.failed.append((stage.name, subject))
                        else:
                            pending = True
                            report.publication_pending.append((stage.name, subject))
                            self._send(stage.name, subject, report)
                    continue
                upstream = {
                    (name, other)
                    for name in stage.needs
                    for other in rt.planner.upstream_subjects(stage, subject, rt.pipeline[name])
                }
                if upstream & unsettled:
                    # Its inputs are about to change: running it now would be wasted work.
                    unsettled.add((stage.name, subject))
                    pending = True
                    continue
                if not plan.ready:
                    if upstream & blocked:  # nothing will change until an admin acts
                        blocked.add((stage.name, subject))
                        continue
                    unsettled.add((stage.name, subject))
                    if stage.source and not stage.needs:  # the run folder is still arriving
                        pending = True
                        report.incomplete_runs.append(run)
                        if self._older_than(run, rt.settings.incomplete_run_age_s):
                            report.stuck_runs.append(run)
                    continue
                if rt.planner.failed_for_good(plan) is not None:
                    report.failed.append((stage.name, subject))
                    blocked.add((stage.name, subject))
                    continue
                pending = True
                unsettled.add((stage.name, subject))
                self._send(stage.name, subject, report)
        if not pending:
            rt.store.put_bytes(
                rt.layout.done_key(run),
                json.dumps({"at": datetime.now(UTC).isoformat()}).encode(),
            )
            report.runs_done.append(run)

    def _send(self, stage: str, subject: str, report: ReconcileReport) -> None:
        """Send a due pair, unless an attempt holds it or this reconciler sent it lately."""
        key = (stage, subject)
        if self._leased(stage, subject):
            report.running.append(key)
            return
        now = time.monotonic()
        sent_at, wait_s = self._sent.get(key, (None, self.resend_after_s / 2))
        if sent_at is not None and now - sent_at < wait_s:
            report.queued.append(key)
            return
        self.enqueue(stage, subject, "reconcile", 0.0)
        self._sent[key] = (now, min(2 * wait_s, MAX_RESEND_FACTOR * self.resend_after_s))
        report.enqueued.append(key)

    def _leased(self, stage: str, subject: str) -> bool:
        return live_lease(self.rt.store, self.rt.layout.lease_key(stage, subject)) is not None

    def _older_than(self, run: str, age_s: float) -> bool:
        first = next(iter(self.rt.store.list(self.rt.layout.run_prefix(run))), None)
        return first is not None and (datetime.now(UTC) - first.modified).total_seconds() > age_s
