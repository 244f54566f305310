"""Fair share between centres: one centre's burst must not starve the others' samples.

Redis lists are FIFO and have no priorities, and a dramatiq consumer takes the head of its
queue. A NovaSeq X run of 24 genomes from one centre, queued seconds before another
centre's two, would otherwise run entirely before them. Per-centre sub-queues would multiply
the queues (and the KEDA triggers counting them) by the centres; instead fairness is decided
when a worker takes a message, from what the broker itself holds:

- a routine stage message of a sample, family or pair carries its centre (a configured
  centre id, never a patient's) in its options, and :class:`CentreTaggedRedisBroker` puts
  the centre in front of its Redis id (``APHP|<uuid>``), so a Lua script can count centres
  from ids alone, without decoding message bodies;
- :class:`FairShare` runs that script when a worker takes such a message: it counts the
  messages each centre has *taken* on this queue (the live workers' ack sets: running or
  about to run) and the centres *waiting* in the first ``window`` ids of the queue. When
  another centre is waiting and this centre holds more than its share (taken / centres with
  work), a copy of the message goes back into the queue behind as many waiting messages
  of centres under their share as would bring this centre back to its share (or the last
  of them in the window), and behind the messages of its own centre that follow them, and
  the message is skipped; the free thread takes the next one. The burst keeps its order;
  the other centres' waiting work comes up after one pass over the burst ahead of it (one
  Lua call, an insert and an acknowledgement per message passed over: milliseconds).

  Three placements were tried. The tail punishes: with two threads and two centres, the
  other centre's second sample (above its share while its first runs) went behind the
  whole burst; so does "behind the last under-share message". Just behind the *first* one
  is quadratic: each burst message passed the other centres' messages one at a time, and
  in the load simulation single messages were skipped ~50 times.

Nothing is counted separately, so nothing can drift: a dead worker's ack set drops out with
its heartbeat. The copy is inserted before the skip's acknowledgement, so a worker dying
between the two duplicates the message; stages are idempotent, so that costs one planning
pass.
Urgent queues, runs and parts (shared by every centre of a run) are not deferred. On the
in-memory and RabbitMQ brokers messages are not tagged and nothing is deferred.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from uuid import uuid4

import dramatiq
from dramatiq.broker import Broker, MessageProxy
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis, dq_name, q_name
from dramatiq.middleware import SkipMessage

from seqoia.engine.priority import URGENT_SUFFIX
from seqoia.metrics import metrics

log = logging.getLogger(__name__)

#: Message option naming the subject's centre (only on routine sample/family/pair stages).
CENTRE_OPTION = "seqoia_centre"
#: Between the centre and the uuid in a Redis message id; never in a centre id.
ID_SEPARATOR = "|"
#: Queue ids looked at for waiting centres: a centre further back than this waits its turn.
DEFAULT_WINDOW = 2000
#: Set on a deferred message, so that dramatiq's "was skipped" warning is not logged for it.
_DEFERRED_ATTR = "_seqoia_deferred"


class _QuietDeferrals(logging.Filter):
    """Drops dramatiq's WARNING for skips that are deferrals (counted in a metric instead)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        return not (args and getattr(args[0], _DEFERRED_ATTR, False))


_quiet = _QuietDeferrals()

# KEYS: namespace. ARGV: queue, centre, window, live-since (ms), separator, copy id, copy.
# Counts each centre's taken messages (live workers' ack sets) and the centres waiting in
# the window; when this centre holds more than its share, inserts the copy behind enough
# waiting messages of centres under their share (and behind this centre's messages
# already there, to keep its order). Returns {deferred (0/1), this centre's taken, all taken,
# centres with work}.
_FAIR_SHARE_LUA = """
local ns, queue, centre = KEYS[1], ARGV[1], ARGV[2]
local window, since, sep = tonumber(ARGV[3]), ARGV[4], ARGV[5]
local copy_id, copy = ARGV[6], ARGV[7]
local function centre_of(id)
    local at = string.find(id, sep, 1, true)
    if at then return string.sub(id, 1, at - 1) end
    return nil
end
local taken, total, active = {}, 0, {}
local workers = redis.call("zrangebyscore", ns .. ":__heartbeats__", since, "+inf")
for _, worker in ipairs(workers) do
    local ids = redis.call("smembers", ns .. ":__acks__." .. worker .. "." .. queue)
    for _, id in ipairs(ids) do
        local c = centre_of(id)
        if c then
            taken[c] = (taken[c] or 0) + 1
            total = total + 1
            active[c] = true
        end
    end
end
local key = ns .. ":" .. queue
local ids = redis.call("lrange", key, 0, window - 1)
local others = false
for _, id in ipairs(ids) do
    local c = centre_of(id)
    if c and c ~= centre then
        others = true
        active[c] = true
    end
end
active[centre] = true
local centres = 0
for _ in pairs(active) do centres = centres + 1 end
local mine = taken[centre] or 0
if not others or mine * centres <= total then
    return {0, mine, total, centres}
end
-- Behind as many messages of centres within their share as it takes for this centre to
-- be within its own had they all been taken (mine <= (total + k) / centres),
-- or the last of them in the window; then behind its own centre's messages that follow.
local needed = mine * centres - total
local pivot, passed = nil, 0
for i, id in ipairs(ids) do
    local c = centre_of(id)
    if c and c ~= centre and ((taken[c] or 0) + 1) * centres <= total then
        pivot, passed = i, passed + 1
        if passed >= needed then break end
    end
end
if pivot == nil then
    return {0, mine, total, centres}
end
while pivot < #ids and centre_of(ids[pivot + 1]) == centre do
    pivot = pivot + 1
end
redis.call("hset", key .. ".msgs", copy_id, copy)
redis.call("linsert", key, "AFTER", ids[pivot], copy_id)
return {1, mine, total, centres}
"""


class CentreTaggedRedisBroker(RedisBroker):
    """dramatiq's Redis broker, with the message's centre in front of its Redis id."""

    def enqueue(self, message: dramatiq.Message, *, delay: int | None = None) -> dramatiq.Message:
        centre = message.options.get(CENTRE_OPTION)
        if not centre:
            return super().enqueue(message, delay=delay)
        # As RedisBroker.enqueue, with the id chosen here (it would overwrite ours).
        queue_name = message.queue_name
        message = message.copy(options={"redis_message_id": f"{centre}{ID_SEPARATOR}{uuid4()}"})
        if delay is not None:
            queue_name = dq_name(queue_name)
            message = message.copy(queue_name=queue_name, options={"eta": current_millis() + delay})
        self.emit_before("enqueue", message, delay)
        self.do_enqueue(queue_name, message.options["redis_message_id"], message.encode())
        self.emit_after("enqueue", message, delay)
        return message


class FairShare(dramatiq.Middleware):
    """Defers a routine message whose centre holds more than its share while others wait."""

    def __init__(self, *, window: int = DEFAULT_WINDOW) -> None:
        self.window = window
        self._script: Any = None
        logger = logging.getLogger("dramatiq.worker.WorkerThread")
        if _quiet not in logger.filters:
            logger.addFilter(_quiet)

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        centre = message.options.get(CENTRE_OPTION)
        queue = message.queue_name
        if not centre or queue.endswith(URGENT_SUFFIX) or not isinstance(broker, RedisBroker):
            return
        if queue.endswith(".DQ"):  # a delayed message is taken from its queue's DQ
            queue = q_name(queue)
        copy = message.copy(
            queue_name=queue,
            options={"redis_message_id": f"{centre}{ID_SEPARATOR}{uuid4()}"},
        )
        deferred, mine, total, centres = self._defer(broker, queue, str(centre), copy)
        if not deferred:
            return
        log.debug(
            "deferred %s of centre %s on %s: it holds %d of %d taken, %d centres with work",
            message.message_id,
            centre,
            queue,
            mine,
            total,
            centres,
        )
        metrics().fair_share_deferrals.labels(queue, str(centre)).inc()
        setattr(message, _DEFERRED_ATTR, True)
        raise SkipMessage(f"centre {centre} above its share of {queue}")

    def _defer(
        self, broker: RedisBroker, queue: str, centre: str, copy: dramatiq.Message
    ) -> list[int]:
        if self._script is None:
            self._script = broker.client.register_script(_FAIR_SHARE_LUA)
        since = int(time.time() * 1000) - broker.heartbeat_timeout
        copy_id = copy.options["redis_message_id"]
        result = self._script(
            keys=[broker.namespace],
            args=[queue, centre, self.window, since, ID_SEPARATOR, copy_id, copy.encode()],
        )
        return [int(value) for value in result]


def waiting_by_centre(broker: RedisBroker, queue: str, *, window: int = 100_000) -> dict[str, int]:
    """Messages waiting in ``queue`` per centre (untagged ones under ``""``), from their ids."""
    counts: dict[str, int] = {}
    for raw in broker.client.lrange(f"{broker.namespace}:{queue}", 0, window - 1):
        ident = raw.decode() if isinstance(raw, bytes) else str(raw)
        centre = ident.split(ID_SEPARATOR, 1)[0] if ID_SEPARATOR in ident else ""
        counts[centre] = counts.get(centre, 0) + 1
    return counts
