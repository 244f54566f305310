"""Message-level metrics: how long messages wait in their queue, and which are dead-lettered.

Stage-level metrics (outcomes, durations, bytes) are recorded by the stage runner, which
knows what a message meant; this middleware sees only queues. Both go through
:func:`seqoia.metrics.metrics`, so they share the process's multiprocess files.
"""

from __future__ import annotations

import logging
import time

import dramatiq
from dramatiq.broker import Broker, MessageProxy
from dramatiq.common import q_name

from seqoia.metrics import metrics

log = logging.getLogger(__name__)


class MessageMetrics(dramatiq.Middleware):
    """Observe queue wait before each message; count dead letters after each nack."""

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        # A delayed message (retry back-off, grace period) waits from its due time.
        due_ms = max(message.message_timestamp, int(message.options.get("eta", 0)))
        wait_s = max(0.0, time.time() - due_ms / 1000)
        metrics().message_wait.labels(q_name(message.queue_name)).observe(wait_s)

    def after_nack(self, broker: Broker, message: MessageProxy) -> None:
        metrics().dead_lettered.labels(q_name(message.queue_name)).inc()
