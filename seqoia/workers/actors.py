"""The two actors: ``object_created`` (the router) and ``run_stage`` (the stage runner).

Messages carry identifiers only. ``run_stage`` messages go to the queue of their stage,
so that workers can be specialised (``seqoia worker --queues align``) and scaled on the
depth of one queue.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import dramatiq

from seqoia.engine.observe import StageMetrics
from seqoia.engine.priority import urgent_queue
from seqoia.engine.router import Router, safe_route
from seqoia.engine.runner import StageRunner
from seqoia.engine.runtime import Runtime
from seqoia.errors import SeqoiaError, StageBusyError
from seqoia.vocabulary import validate_name
from seqoia.workers.broker import EVENT_TIME_LIMIT_MS
from seqoia.workers.fairness import CENTRE_OPTION, RUN_OPTION, RUN_SAMPLES_OPTION
from seqoia.workers.handover import StageHandover

log = logging.getLogger(__name__)

EVENTS_QUEUE = "events"
#: dramatiq's worker takes the lowest actor priority first from what it has fetched.
URGENT_ACTOR_PRIORITY = -10
#: Stage attempts are bounded by the runner (it kills the child); this only backstops it.
STAGE_ACTOR_TIME_LIMIT_MS = 7 * 24 * 3600 * 1000


@dataclass
class Actors:
    broker: dramatiq.Broker
    runtime: Runtime
    object_created: dramatiq.Actor
    run_stage: dramatiq.Actor
    router: Router
    runner: StageRunner
    #: The same function as ``run_stage``, for the urgent queues (served first).
    run_stage_urgent: dramatiq.Actor

    def enqueue_stage(self, stage: str, subject: str, reason: str, delay_s: float = 0.0) -> None:
        """Send ``run_stage(stage, subject)`` to the stage's queue, or its urgent queue.

        Urgent subjects (see :mod:`seqoia.engine.priority`) go to ``<queue>.urgent``: a
        queue of their own, so that no backlog of routine messages stands before them in
        the broker, and an actor of higher priority, so that a worker runs them before the
        routine messages it has already fetched. A routine message names its subject's
        centre and run, for the fair share between centres and between one centre's runs
        (:mod:`seqoia.workers.fairness`).
        """
        declared = self.runtime.pipeline[stage]
        priorities = self.runtime.priorities
        priority, centre, run, run_samples = priorities.standing(declared.kind, subject)
        # The stage that records priorities is served first too: it takes seconds, and
        # until it has run an urgent sample's run cannot be told from a routine one.
        options: dict[str, str | int] = {}
        if stage == priorities.records_stage or priority == "urgent":
            actor, queue = self.run_stage_urgent, urgent_queue(declared.queue)
        else:
            actor, queue = self.run_stage, declared.queue
            if centre is not None:  # routine work is shared out fairly between centres
                options[CENTRE_OPTION] = centre
                if run is not None:  # and between one centre's runs, smaller first
                    options[RUN_OPTION] = run
                    if run_samples is not None:
                        options[RUN_SAMPLES_OPTION] = run_samples
        message = actor.message(stage, subject, reason).copy(queue_name=queue, options=options)
        self.broker.enqueue(message, delay=int(delay_s * 1000) or None)

    def notify(self, key: str, *, bucket: str = "", etag: str | None = None) -> None:
        """Send ``object_created`` for ``key`` (what the event intake does per record)."""
        self.object_created.send(bucket, key, etag)

    def short_queues(self) -> list[str]:
        """Queues whose messages take milliseconds: events and queues of inline stages only."""
        pipeline = self.runtime.pipeline
        short = [EVENTS_QUEUE, *(set(pipeline.queues()) - pipeline.process_queues())]
        return sorted({*short, *map(urgent_queue, short)})

    def queues(self) -> list[str]:
        stage_queues = self.runtime.pipeline.queues()
        return sorted({EVENTS_QUEUE, *stage_queues, *map(urgent_queue, stage_queues)})


def declare_actors(broker: dramatiq.Broker, runtime: Runtime) -> Actors:
    """Declare seqoia's actors on ``broker`` for ``runtime``'s store and pipeline."""
    runner = StageRunner(
        runtime, lease_ttl_s=runtime.settings.lease_ttl_s, observer=StageMetrics(runtime)
    )
    holder: dict[str, Actors] = {}
    router = Router(runtime, lambda *a: holder["actors"].enqueue_stage(*a))
    bucket_name = getattr(runtime.store, "bucket", None)
    store_prefix = getattr(runtime.store, "prefix", "")

    def object_created(bucket: str, key: str, etag: str | None = None) -> None:
        if bucket_name and bucket and bucket != bucket_name:
            log.warning("ignored event for bucket %r (store bucket is %r)", bucket, bucket_name)
            return
        if store_prefix:
            if not key.startswith(store_prefix):
                return
            key = key[len(store_prefix) :]
        safe_route(router, key)

    def run_stage(stage: str, subject: str, reason: str = "event") -> None:
        validate_name(subject, "subject")
        try:
            # The router hears of a commit while the lease is still held (see execute).
            outcome = runner.execute(
                stage, subject, reason=reason, on_commit=lambda m: router.committed(m, fresh=True)
            )
        except StageBusyError as busy:
            # A duplicate of running work (RabbitMQ's consumer timeout, a worker presumed
            # dead): look again when the lease would expire. By then the stage has
            # committed (nothing to do) or its worker is gone (take over).
            log.info("%s/%s is running elsewhere: %s", stage, subject, busy)
            holder["actors"].enqueue_stage(stage, subject, reason, busy.retry_after_s + 1.0)
            return
        except StageHandover:
            # This worker is stopping: the runner killed the stage process and released
            # the lease; send the stage again so that another worker takes it over now.
            log.warning("%s/%s handed over: this worker is stopping", stage, subject)
            holder["actors"].enqueue_stage(stage, subject, reason)
            return
        except SeqoiaError as err:
            if getattr(err, "permanent", False):
                router.failed(stage, subject)
            raise
        if outcome.kind == "committed" and outcome.manifest is not None:
            manifest = outcome.manifest
            log.info(
                "%s/%s: committed generation %d (attempt %s)",
                stage,
                subject,
                manifest.generation,
                manifest.attempt,
            )
        else:
            log.info("%s/%s: %s", stage, subject, outcome.kind)

    events_actor = dramatiq.actor(
        broker=broker,
        actor_name="object_created",
        queue_name=EVENTS_QUEUE,
        time_limit=EVENT_TIME_LIMIT_MS,
        # Routing takes milliseconds and is how an urgent run is found: before stages.
        priority=URGENT_ACTOR_PRIORITY,
    )(object_created)
    stage_actor = dramatiq.actor(
        broker=broker,
        actor_name="run_stage",
        queue_name="default",
        time_limit=STAGE_ACTOR_TIME_LIMIT_MS,
    )(run_stage)
    urgent_actor = dramatiq.actor(
        broker=broker,
        actor_name="run_stage_urgent",
        queue_name=urgent_queue("default"),
        time_limit=STAGE_ACTOR_TIME_LIMIT_MS,
        priority=URGENT_ACTOR_PRIORITY,
    )(run_stage)
    for queue in runtime.pipeline.queues():
        broker.declare_queue(queue)
        broker.declare_queue(urgent_queue(queue))
    actors = Actors(broker, runtime, events_actor, stage_actor, router, runner, urgent_actor)
    holder["actors"] = actors
    return actors
