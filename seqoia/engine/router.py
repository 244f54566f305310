"""The router: turns "this object appeared" into "these stages may now be ready".

Two kinds of objects matter:
- a run folder's completion marker in the inbox -> the pipeline's root stages that declare
  it (``markers``) for that run (other inbox objects, the thousands of base calls, cost
  nothing: no listing);
- a committed manifest in the work area -> the downstream stages of that commit
  (fan-out from a run to its samples, fan-in from samples to their family).

Everything else is ignored. Routing only enqueues ``run_stage`` messages, which plan
again before running, so duplicated, reordered or late events are harmless.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from seqoia.engine.planner import Planner
from seqoia.engine.runtime import Runtime
from seqoia.errors import InvalidKeyError, ObjectNotFoundError
from seqoia.storage.keys import validate_key
from seqoia.storage.manifest import Manifest, ManifestSnapshot
from seqoia.storage.parallel import in_parallel
from seqoia.tasks.stage import Stage
from seqoia.vocabulary import validate_name

log = logging.getLogger(__name__)

#: Pending grace messages remembered per process (expired ones are dropped past this).
_MAX_PENDING_GRACE = 10_000

#: enqueue(stage, subject, reason, delay_s)
Enqueue = Callable[[str, str, str, float], None]


class Router:
    """Maps objects and commits to ``run_stage`` messages."""

    def __init__(self, runtime: Runtime, enqueue: Enqueue) -> None:
        self.rt = runtime
        self.enqueue = enqueue
        #: (stage, run) -> when its pending grace message is due (time.monotonic()).
        self._grace_due: dict[tuple[str, str], float] = {}
        self._grace_lock = threading.Lock()

    def object_created(self, key: str) -> list[tuple[str, str]]:
        """React to a new object; returns the (stage, subject) pairs enqueued."""
        validate_key(key)
        layout = self.rt.layout
        inbox = layout.split_inbox_key(key)
        if inbox is not None:
            run, path = inbox
            woken = [
                (root.name, root.markers)
                for root in self.rt.pipeline.roots()
                if root.markers is not None and path in root.markers.names
            ]
            if not woken:
                return []
            validate_name(run, "run id")
            pairs = []
            for name, markers in woken:
                pairs.append((name, run))
                self.enqueue(name, run, f"run folder marker {path}", 0.0)
                # A marker written before the copy ends: look again once the grace has
                # passed, with one pending message per run however often the event comes.
                delay_s = self.rt.settings.rtacomplete_grace_s
                if (
                    path in markers.after_grace
                    and delay_s
                    and self._first_grace(name, run, delay_s)
                ):
                    self.enqueue(name, run, f"grace after {path}", delay_s)
            return pairs
        manifest_ref = layout.split_manifest_key(key)
        if manifest_ref is not None:
            stage, subject, _ = manifest_ref
            if stage not in self.rt.pipeline.stages:
                return []
            # An event's key is untrusted: a subject that is not a valid name (a lone
            # surrogate, spaces) must not reach the store client, which cannot encode it.
            validate_name(subject, "subject")
            try:
                manifest = self.rt.manifests.get(key)
            except ObjectNotFoundError:
                # A late event for a collected generation, or a forged one: nothing to route.
                log.warning("ignored event for absent manifest %r", key)
                return []
            return self.committed(manifest)
        return []

    def _first_grace(self, stage: str, run: str, delay_s: float) -> bool:
        """Whether no grace message for ``(stage, run)`` is pending in this process yet.

        A repeated RTAComplete event (a flood, a replay) would otherwise schedule one
        delayed message each; one pending message per run looks again just as well.
        """
        now = time.monotonic()
        with self._grace_lock:
            if self._grace_due.get((stage, run), 0.0) > now:
                return False
            if len(self._grace_due) >= _MAX_PENDING_GRACE:
                self._grace_due = {k: due for k, due in self._grace_due.items() if due > now}
            self._grace_due[(stage, run)] = now + delay_s
            return True

    def committed(self, manifest: Manifest, *, fresh: bool = False) -> list[tuple[str, str]]:
        """Enqueue the downstream stages of a commit that are now ready.

        ``fresh``: this process has just committed ``manifest``. A downstream stage whose
        only need is that stage, for the same subject or for subjects linked to this one
        subject alone (a run's samples after its fan-out), is then ready and cannot be up
        to date (its fingerprint would name this brand-new attempt), so it is enqueued
        without planning: the runner plans it anyway. Replayed events still plan.

        Each pair's look (its readiness, then its priority) is a few store requests: a
        run's fan-out looks at its samples several at a time on a remote store, so that an
        urgent sample's message does not wait for every other sample's look. The looks
        share one snapshot of the listings (each sample's plan lists the run's and the
        part's commits, and a trio's members list each other's runs). The messages are
        then sent in the run's order.
        """
        snapshot = ManifestSnapshot(self.rt.manifests)
        planner = self.rt.planner.over(snapshot)
        priorities = self.rt.priorities.over(snapshot)
        candidates = planner.downstream_of(manifest)  # stages it is a last need of

        def look(pair: tuple[Stage, str]) -> bool:
            stage, subject = pair
            if not self._made_ready(planner, manifest, stage, subject, fresh=fresh):
                return False
            # Sending looks up the subject's standing (Actors.enqueue_stage): looked up
            # here, concurrently, it is then read from the priorities' shared cache.
            priorities.standing(stage.kind, subject)
            return True

        ready = in_parallel(look, candidates, self.rt.store_concurrency)
        pairs = [
            (s.name, subject) for (s, subject), ok in zip(candidates, ready, strict=True) if ok
        ]
        for stage_name, subject in pairs:
            self.enqueue(stage_name, subject, f"after {manifest.stage}/{manifest.subject}", 0.0)
        return pairs

    def _made_ready(
        self, planner: Planner, manifest: Manifest, stage: Stage, subject: str, *, fresh: bool
    ) -> bool:
        """Whether the commit of ``manifest`` made ``stage/subject`` ready to run."""
        upstream = self.rt.pipeline[manifest.stage]
        single_need = (
            fresh and stage.needs == (manifest.stage,) and not stage.reference and not stage.source
        )
        if (
            stage.kind != manifest.subject_kind
            and not stage.tolerate_failures
            and planner.fan_in_blocker(stage, subject, upstream) is not None
        ):
            return False  # a member known to be uncommitted still keeps it waiting
        known: dict[str, list[str]] | None = None
        if single_need and stage.kind != manifest.subject_kind:
            # Read once, here or in the plan below (a fan-in lists all its members).
            known = {upstream.name: planner.upstream_subjects(stage, subject, upstream)}
        chained = single_need and (
            stage.kind == manifest.subject_kind
            or (known is not None and known[upstream.name] == [manifest.subject])
        )
        return chained or planner.plan(stage.name, subject, quick=True, upstream_subjects=known).due

    def failed(self, stage_name: str, subject: str) -> list[tuple[str, str]]:
        """Enqueue the fan-ins that go on without a member once it failed permanently.

        A failure commits nothing, so no manifest event would wake a run's report that
        waits for its last sample: the failure itself settles that member.
        """
        kind = self.rt.pipeline[stage_name].kind
        pairs = []
        for stage in self.rt.pipeline.descendants(stage_name):
            if not stage.tolerate_failures:
                continue
            for other in self.rt.manifests.linked(kind, subject, stage.kind):
                if self.rt.planner.plan(stage.name, other).due:
                    pairs.append((stage.name, other))
                    self.enqueue(stage.name, other, f"after {stage_name}/{subject} failed", 0.0)
        return pairs


def safe_route(router: Router, key: str) -> list[tuple[str, str]]:
    """Route one event key; a hostile key is logged and dropped, never raised to the caller."""
    try:
        return router.object_created(key)
    except InvalidKeyError as err:
        log.warning("ignored event: %s", err)
        return []
