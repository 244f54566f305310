"""Fair share between centres, then smaller runs first within one: a burst starves no one.

Redis lists are FIFO and have no priorities, and a dramatiq consumer takes the head of its
queue. A NovaSeq X run of 24 genomes from one centre, queued seconds before another
centre's two, would otherwise run entirely before them; and so would it before its own
centre's next run. Per-centre sub-queues would multiply the queues (and the KEDA triggers
counting them) by the centres; instead fairness is decided when a worker takes a message,
from what the broker itself holds:

- a routine stage message of a sample, family or pair carries its centre (a configured
  centre id, never a patient's), the run that brought it (an instrument run id) and how
  many of that centre's samples the run brought, in its options, and
  :class:`CentreTaggedRedisBroker` puts all three in front of its Redis id
  (``APHP|<run>|<samples>|<uuid>``), so a Lua script can read them from ids alone,
  without decoding message bodies;
- :class:`FairShare` runs that script when a worker takes such a message. It counts the
  messages each centre has *taken* on this queue (the live workers' ack sets: running or
  about to run) and the centres *waiting* in the first ``window`` ids of the queue. When
  another centre is waiting and this centre holds more than its share (taken / centres with
  work, or ``floor`` of all taken if that is more: ``SEQOIA_FAIR_SHARE_FLOOR``, a half by
  default, so that under it centres go first come, first served and over it a burst is
  held to half; 0 gives equal shares, where a quiet centre's cases pass a busy one's), a copy
  of the message goes back into the queue behind as many waiting messages of centres
  under their share as would bring this centre back to its share (or the last
  of them in the window), and behind the messages of its own centre that follow them, and
  the message is skipped; the free thread takes the next one. Otherwise, a level down,
  between the runs of the message's centre: a run yields to the centre's smaller runs
  (fewer of its samples) while they wait, its copy going behind the last of their
  waiting messages; of two runs of one size, the one with less left on this queue goes
  first, so that one of a burst's runs finishes early. Smaller runs first, as a
  shortest-job scheduler does, so that a centre's next run is not held behind its own
  burst; the burst has its centre's share again once they are taken, and the other
  centres' shares are not touched. The size is the run's, not what is left of it on one
  queue: a burst trickling into a later stage's queue looked smaller there than the run
  behind it and went first again. An equal share between the centre's runs (session 6)
  gave the later runs half of it; smaller-first by what was left gave the bursting
  centre's cases 3-9 simulated hours less, and by the run's size its later cases took
  21-23 h instead of 33 h in the load simulation (``docs/decisions.md``). A message
  without a size (queued by an older worker) counts what its run has left on this queue
  (taken and waiting in the window). The burst keeps its order; the other work comes up
  after one pass over the burst ahead of it (one Lua call, an insert and an
  acknowledgement per message passed over: milliseconds).

  Three placements were tried. The tail punishes: with two threads and two centres, the
  other centre's second sample (above its share while its first runs) went behind the
  whole burst; so does "behind the last under-share message". Just behind the *first* one
  is quadratic: each burst message passed the other centres' messages one at a time, and
  in the load simulation single messages were skipped ~50 times.
- ``SEQOIA_FAIR_SHARE_BETWEEN=runs`` shares the first level between the sequencing runs
  instead (the run in the message's id, whatever its centres), with the same rule and
  placement, and no second level: a run is held back above its equal share of the taken
  work while another run waits, and within one run the queue's order stands (first come,
  first served), so a hospital's patients no longer wait longer because it sent more of
  them. A single-centre burst is one run among those in flight, and a centre's next run has
  its own share (``docs/decisions.md``, "Sharing between runs").

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
from seqoia.settings import ShareBetween

log = logging.getLogger(__name__)

#: Message option naming the subject's centre (only on routine sample/family/pair stages).
CENTRE_OPTION = "seqoia_centre"
#: Message option naming the run that brought the subject (with ``CENTRE_OPTION``).
RUN_OPTION = "seqoia_run"
#: Message option: how many of the centre's samples that run brought (with ``RUN_OPTION``).
RUN_SAMPLES_OPTION = "seqoia_run_samples"
#: More samples than any run holds: a larger number is not a run's and is left out.
MAX_RUN_SAMPLES = 100_000
#: Between the centre, the run, its size and the uuid in a Redis message id; in no name.
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

# KEYS: namespace. ARGV: queue, centre, window, live-since (ms), separator, copy id, copy,
# group (centre|run|samples), floor (a centre's least share, a fraction of all taken),
# between ("centres", or "runs": the first level's shares are the runs', and no second).
# Counts the taken messages (live workers' ack sets) and the centres waiting in the
# window; where this message's centre holds more than its share,
# inserts the copy behind enough waiting messages of centres under their share (and behind
# its own centre's messages already there, to keep their order). Otherwise, where a
# smaller run of this centre waits, inserts the copy behind the last of their waiting
# messages. Returns {level deferred at (0: none), then at 1: the centre's taken, all
# taken, centres with work; at 2: the run's size, the centre's messages, its runs}.
_FAIR_SHARE_LUA = """
local ns, queue, centre = KEYS[1], ARGV[1], ARGV[2]
local window, since, sep = tonumber(ARGV[3]), ARGV[4], ARGV[5]
local copy_id, copy, group = ARGV[6], ARGV[7], ARGV[8]
local floor = tonumber(ARGV[9]) or 0
local between_runs = ARGV[10] == "runs"
local function centre_of(id)
    local at = string.find(id, sep, 1, true)
    if at then return string.sub(id, 1, at - 1) end
    return nil
end
-- The run of a tagged id (centre|run|...|uuid); an older id's centre where it names none.
local function run_of(id)
    local first = string.find(id, sep, 1, true)
    local second = first and string.find(id, sep, first + 1, true)
    if second then return "r" .. sep .. string.sub(id, first + 1, second - 1) end
    if first then return "c" .. sep .. string.sub(id, 1, first - 1) end
    return nil
end
local function group_of(id)  -- up to the last separator: centre|run, or an older id's centre
    local last, at = nil, string.find(id, sep, 1, true)
    while at do
        last, at = at, string.find(id, sep, at + 1, true)
    end
    if last then return string.sub(id, 1, last - 1) end
    return nil
end
local taken_ids = {}
local workers = redis.call("zrangebyscore", ns .. ":__heartbeats__", since, "+inf")
for _, worker in ipairs(workers) do
    for _, id in ipairs(redis.call("smembers", ns .. ":__acks__." .. worker .. "." .. queue)) do
        if centre_of(id) then taken_ids[#taken_ids + 1] = id end
    end
end
local key = ns .. ":" .. queue
local ids = redis.call("lrange", key, 0, window - 1)

-- From the index to insert a copy after, on past the messages of its own key that follow
-- (their order is kept).
local function past_own(pivot, key_of, mine_key)
    if pivot ~= nil then
        while pivot < #ids and key_of(ids[pivot + 1]) == mine_key do pivot = pivot + 1 end
    end
    return pivot
end

-- Among the ids in scope, keyed by key_of: nil if `mine` may run (within its share, taken
-- / keys with work or `floor` of all taken if more, or no other key waiting), else the
-- index to insert the copy after: behind as many waiting messages of keys within their
-- share as it takes for `mine` to be within its own had they all been taken, or the last
-- of them in the window; then behind the messages of `mine` that follow.
local function place(key_of, mine_key, in_scope)
    local taken, total, active = {}, 0, {}
    for _, id in ipairs(taken_ids) do
        if in_scope(id) then
            local k = key_of(id)
            taken[k] = (taken[k] or 0) + 1
            total = total + 1
            active[k] = true
        end
    end
    local others = false
    for _, id in ipairs(ids) do
        if in_scope(id) then
            local k = key_of(id)
            if k ~= mine_key then
                others = true
                active[k] = true
            end
        end
    end
    active[mine_key] = true
    local keys = 0
    for _ in pairs(active) do keys = keys + 1 end
    local mine = taken[mine_key] or 0
    local function within(held, all) return held * keys <= all or held <= floor * all end
    if not others or within(mine, total) then return nil, mine, total, keys end
    local pivot, passed = nil, 0
    for i, id in ipairs(ids) do
        if in_scope(id) then
            local k = key_of(id)
            if k ~= mine_key and within((taken[k] or 0) + 1, total) then
                pivot, passed = i, passed + 1
                if within(mine, total + passed) then break end
            end
        end
    end
    return past_own(pivot, key_of, mine_key), mine, total, keys
end

-- A group's run size: its third field (centre|run|samples); nil for an older id's group.
local function samples_of(k)
    local first = string.find(k, sep, 1, true)
    local second = first and string.find(k, sep, first + 1, true)
    if second then return tonumber(string.sub(k, second + 1)) end
    return nil
end

-- Among this centre's runs: nil if no smaller run waits in the window, else the index to
-- insert the copy after: behind the last waiting message of such runs, then behind this
-- run's messages that follow. A run's size is its samples, or for an older id's group
-- what it has left on this queue (taken and waiting in the window); between runs of one
-- size, the one with less left is the smaller (one of a burst's runs finishes first).
local function smaller_first(mine_key)
    local left, last = {}, {}
    for _, id in ipairs(taken_ids) do
        if centre_of(id) == centre then
            local k = group_of(id)
            left[k] = (left[k] or 0) + 1
        end
    end
    for i, id in ipairs(ids) do
        if centre_of(id) == centre then
            local k = group_of(id)
            left[k], last[k] = (left[k] or 0) + 1, i
        end
    end
    local function size(k) return samples_of(k) or left[k] or 0 end
    local mine, mine_left, all, keys, pivot = size(mine_key), left[mine_key] or 0, 0, 0, nil
    local function smaller(k)
        local n = size(k)
        return n < mine or (n == mine and left[k] < mine_left)
    end
    for _, n in pairs(left) do all, keys = all + n, keys + 1 end
    for k, i in pairs(last) do
        if k ~= mine_key and smaller(k) and (pivot == nil or i > pivot) then pivot = i end
    end
    return past_own(pivot, group_of, mine_key), mine, all, keys
end

local function tagged(id) return centre_of(id) ~= nil end
local level = 1
local key_of, mine_key = centre_of, centre
if between_runs then key_of, mine_key = run_of, run_of(copy_id) end
local pivot, mine, total, keys = place(key_of, mine_key, tagged)
if pivot == nil and not between_runs then
    level = 2
    pivot, mine, total, keys = smaller_first(group)
end
if pivot == nil then
    return {0, mine, total, keys}
end
redis.call("hset", key .. ".msgs", copy_id, copy)
redis.call("linsert", key, "AFTER", ids[pivot], copy_id)
return {level, mine, total, keys}
"""


def share_group(options: dict[str, Any]) -> str | None:
    """``centre|run|samples`` of a tagged message's options (less when a part is missing).

    The names and the count come from records read back from the store; a name holding the
    separator would be miscounted, so it is left out (an untagged message is not deferred),
    and so is a count that is not a run's.
    """
    centre, run = options.get(CENTRE_OPTION), options.get(RUN_OPTION)
    samples = options.get(RUN_SAMPLES_OPTION)
    if not isinstance(centre, str) or not centre or ID_SEPARATOR in centre:
        return None
    if not isinstance(run, str) or not run or ID_SEPARATOR in run:
        return centre
    if type(samples) is not int or not 0 < samples <= MAX_RUN_SAMPLES:
        return f"{centre}{ID_SEPARATOR}{run}"
    return f"{centre}{ID_SEPARATOR}{run}{ID_SEPARATOR}{samples}"


def tagged_id(group: str) -> str:
    """A fresh Redis message id that starts with its fair-share group."""
    return f"{group}{ID_SEPARATOR}{uuid4()}"


class CentreTaggedRedisBroker(RedisBroker):
    """dramatiq's Redis broker, with the message's centre in front of its Redis id."""

    def enqueue(self, message: dramatiq.Message, *, delay: int | None = None) -> dramatiq.Message:
        group = share_group(message.options)
        if group is None:
            return super().enqueue(message, delay=delay)
        # As RedisBroker.enqueue, with the id chosen here (it would overwrite ours).
        queue_name = message.queue_name
        message = message.copy(options={"redis_message_id": tagged_id(group)})
        if delay is not None:
            queue_name = dq_name(queue_name)
            message = message.copy(queue_name=queue_name, options={"eta": current_millis() + delay})
        self.emit_before("enqueue", message, delay)
        self.do_enqueue(queue_name, message.options["redis_message_id"], message.encode())
        self.emit_after("enqueue", message, delay)
        return message


class FairShare(dramatiq.Middleware):
    """Defers a routine message whose centre is above its share, or whose run is not smallest."""

    def __init__(
        self, *, floor: float, between: ShareBetween, window: int = DEFAULT_WINDOW
    ) -> None:
        self.window = window
        self.floor = floor
        self.between = between
        self._script: Any = None
        logger = logging.getLogger("dramatiq.worker.WorkerThread")
        if _quiet not in logger.filters:
            logger.addFilter(_quiet)

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        group = share_group(message.options)
        queue = message.queue_name
        if group is None or queue.endswith(URGENT_SUFFIX) or not isinstance(broker, RedisBroker):
            return
        if queue.endswith(".DQ"):  # a delayed message is taken from its queue's DQ
            queue = q_name(queue)
        centre = str(message.options[CENTRE_OPTION])
        copy = message.copy(queue_name=queue, options={"redis_message_id": tagged_id(group)})
        level, mine, total, keys = self._defer(broker, queue, centre, group, copy)
        if not level:
            return
        if level == 1:
            why = f"its {self.between[:-1]} holds %d of %d taken, %d with work"
        else:
            why = "its run is %d samples (the centre has %d here), a smaller of its %d runs waits"
        log.debug(
            "deferred %s of %s on %s: " + why, message.message_id, group, queue, mine, total, keys
        )
        metrics().fair_share_deferrals.labels(queue, str(centre)).inc()
        setattr(message, _DEFERRED_ATTR, True)
        raise SkipMessage(f"centre {centre} above its share of {queue}, or a smaller run waits")

    def _defer(
        self, broker: RedisBroker, queue: str, centre: str, group: str, copy: dramatiq.Message
    ) -> list[int]:
        if self._script is None:
            self._script = broker.client.register_script(_FAIR_SHARE_LUA)
        since = int(time.time() * 1000) - broker.heartbeat_timeout
        copy_id = copy.options["redis_message_id"]
        result = self._script(
            keys=[broker.namespace],
            args=[
                queue,
                centre,
                self.window,
                since,
                ID_SEPARATOR,
                copy_id,
                copy.encode(),
                group,
                repr(float(self.floor)),
                self.between,
            ],
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
