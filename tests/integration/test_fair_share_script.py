"""The fair share's decision, made by its Lua script on a real redis-server.

The broker's own structures are written as a worker would leave them (a heartbeat, an
ack set of taken ids, a queue of waiting ids) and one message is offered to the script:
whether it is deferred, at which level, and where its copy goes back in the queue.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import dramatiq
import pytest
from dramatiq.brokers.redis import RedisBroker

from seqoia.settings import ShareBetween
from seqoia.workers.fairness import (
    CENTRE_OPTION,
    RUN_OPTION,
    RUN_SAMPLES_OPTION,
    CentreTaggedRedisBroker,
    FairShare,
    tagged_id,
)

QUEUE = "align"


@pytest.fixture
def broker(redis_server: str) -> Iterator[RedisBroker]:
    broker = RedisBroker(url=redis_server, namespace=f"fairtest{time.monotonic_ns()}")
    yield broker
    broker.close()


def offer(
    broker: RedisBroker,
    taken: list[str],
    waiting: list[str],
    group: str,
    *,
    floor: float = 0.0,
    between: ShareBetween = "centres",
) -> tuple[int, list[str]]:
    """Level deferred at (0: none) for a message of ``group``, and the queue's groups after."""
    ns, client = broker.namespace, broker.client
    client.zadd(f"{ns}:__heartbeats__", {"worker-1": int(time.time() * 1000)})
    if taken:
        client.sadd(f"{ns}:__acks__.worker-1.{QUEUE}", *[tagged_id(g) for g in taken])
    if waiting:
        client.rpush(f"{ns}:{QUEUE}", *[tagged_id(g) for g in waiting])
    copy_id = tagged_id(group)
    copy = dramatiq.Message(
        queue_name=QUEUE, actor_name="run_stage", args=(), kwargs={},
        options={"redis_message_id": copy_id},
    )  # fmt: skip
    share = FairShare(floor=floor, between=between)
    level = share._defer(broker, QUEUE, group.split("|")[0], group, copy)[0]
    queue = [raw.decode() for raw in client.lrange(f"{ns}:{QUEUE}", 0, -1)]
    client.delete(*client.keys(f"{ns}:*"))  # the next offer starts from an empty broker
    groups = ["COPY" if ident == copy_id else ident.rsplit("|", 1)[0] for ident in queue]
    return level, groups


def test_a_centre_over_its_equal_share_goes_behind_the_waiting_centre(
    broker: RedisBroker,
) -> None:
    level, queue = offer(broker, ["A|R1", "A|R1"], ["A|R1", "B|R2", "A|R1"], "A|R1")
    assert level == 1  # behind B's message, and behind A's own that follow it (their order)
    assert queue == ["A|R1", "B|R2", "A|R1", "COPY"]


def test_with_a_floor_centres_under_it_go_first_come_first_served(
    broker: RedisBroker,
) -> None:
    """Three centres with work: A holds 2 of 4 taken threads, above its equal third.

    Equal shares put A behind C's waiting message: the centre with little work overtakes.
    With a floor of one half A is within its share, and the queue's order stands.
    """
    taken, waiting = ["A|R1", "A|R1", "B|R2", "B|R2"], ["C|R3"]
    assert offer(broker, taken, waiting, "A|R1") == (1, ["C|R3", "COPY"])
    assert offer(broker, taken, waiting, "A|R1", floor=0.5) == (0, ["C|R3"])


def test_a_floor_still_holds_a_burst_to_it(broker: RedisBroker) -> None:
    """A's burst holds 3 of 4 threads: over a floor of one half, so its copy goes behind
    as many of B's waiting messages as bring A back to half had they been taken (two: 3 of
    6); A's own message between them keeps its place."""
    taken, waiting = ["A|R1", "A|R1", "A|R1", "B|R2"], ["B|R2", "A|R1", "B|R2", "B|R2"]
    level, queue = offer(broker, taken, waiting, "A|R1", floor=0.5)
    assert (level, queue) == (1, ["B|R2", "A|R1", "B|R2", "COPY", "B|R2"])
    # A within half, B's work waiting: A's message runs.
    assert offer(broker, ["A|R1", "B|R2"], ["B|R2"], "A|R1", floor=0.5) == (0, ["B|R2"])


def test_between_runs_a_run_over_its_share_goes_behind_the_other_runs(
    broker: RedisBroker,
) -> None:
    """A's burst R1 holds 3 of 4 threads. Between runs, R2 is another run whatever its
    centres: R1's copy goes behind R2's messages, A's among them, until R1 would be back
    to its half. Between centres, A's own R2 message is not passed: B's two are."""
    taken, waiting = ["A|R1"] * 3 + ["B|R2"], ["A|R2", "A|R1", "B|R2", "B|R2"]
    assert offer(broker, taken, waiting, "A|R1", between="runs") == (
        1, ["A|R2", "A|R1", "B|R2", "COPY", "B|R2"]
    )  # fmt: skip
    assert offer(broker, taken, waiting, "A|R1") == (1, ["A|R2", "A|R1", "B|R2", "B|R2", "COPY"])


def test_between_runs_one_run_s_centres_go_first_come_first_served(
    broker: RedisBroker,
) -> None:
    """A mixed run R2: its centre A holds 2 of 3 threads, above a third between centres,
    but between runs R2 is within its half, so A's message keeps its place before C's."""
    taken, waiting = ["A|R2", "A|R2", "B|R1"], ["C|R2", "B|R1"]
    assert offer(broker, taken, waiting, "A|R2") == (1, ["C|R2", "COPY", "B|R1"])
    assert offer(broker, taken, waiting, "A|R2", between="runs") == (0, ["C|R2", "B|R1"])


def test_between_runs_there_is_no_second_level(broker: RedisBroker) -> None:
    """Between centres a centre's larger run yields to its smaller one (level 2); between
    runs the two are shared equally, and R1 within its half keeps its place."""
    taken, waiting = ["A|R1|24", "A|R2|8"], ["A|R1|24", "A|R2|8"]
    assert offer(broker, taken, waiting, "A|R1|24")[0] == 2
    assert offer(broker, taken, waiting, "A|R1|24", between="runs")[0] == 0


def test_a_centre_alone_its_larger_run_goes_behind_its_next_run(
    broker: RedisBroker,
) -> None:
    """One centre alone: nothing between centres, but its burst run yields to its next run."""
    level, queue = offer(broker, ["A|R1", "A|R1"], ["A|R1", "A|R1", "A|R2", "A|R1"], "A|R1")
    assert level == 2
    assert queue == ["A|R1", "A|R1", "A|R2", "A|R1", "COPY"]


def test_within_a_centre_the_smaller_run_goes_first(broker: RedisBroker) -> None:
    """R1 brought 24 samples and R2 10: R2's come first, even with fewer of R1's left here.

    A burst trickles into a later stage's queue: there it has less left than the run
    behind it, but it is still the larger run.
    """
    taken, waiting = ["A|R1|24", "A|R2|10"], ["A|R1|24", "A|R2|10", "A|R2|10", "A|R2|10"]
    level, queue = offer(broker, taken, waiting, "A|R1|24")
    assert (level, queue) == (2, ["A|R1|24", "A|R2|10", "A|R2|10", "A|R2|10", "COPY"])
    assert offer(broker, taken, waiting, "A|R2|10") == (0, ["A|R1|24", *["A|R2|10"] * 3])
    # Of two runs of one size, the one with less left here goes first (one of a burst's
    # runs finishes early); with as much left they keep their order.
    taken, waiting = ["A|R1|24", "A|R1|24"], ["A|R2|24", "A|R1|24", "A|R2|24"]
    level, queue = offer(broker, taken, waiting, "A|R1|24")
    assert (level, queue) == (2, ["A|R2|24", "A|R1|24", "A|R2|24", "COPY"])
    assert offer(broker, ["A|R1|10"], ["A|R2|10"], "A|R1|10") == (0, ["A|R2|10"])


def test_without_a_size_the_run_with_less_left_goes_first(broker: RedisBroker) -> None:
    """Ids queued by an older worker (``A|R1|<uuid>``): R1 has three left and R2 two."""
    taken, waiting = ["A|R1", "A|R2"], ["A|R1", "A|R1", "A|R2"]
    assert offer(broker, taken, waiting, "A|R1") == (2, ["A|R1", "A|R1", "A|R2", "COPY"])
    assert offer(broker, taken, waiting, "A|R2") == (0, ["A|R1", "A|R1", "A|R2"])


def test_an_older_id_without_a_run_is_one_group_of_its_centre(broker: RedisBroker) -> None:
    """Messages queued before runs were tagged (``A|<uuid>``) still count, as centre A's."""
    level, queue = offer(broker, ["A", "A"], ["A|R2"], "A")
    assert level == 2
    assert queue == ["A|R2", "COPY"]


def test_the_broker_puts_centre_run_and_size_in_front_of_the_id(redis_server: str) -> None:
    broker = CentreTaggedRedisBroker(url=redis_server, namespace=f"fairid{time.monotonic_ns()}")
    try:
        options = {CENTRE_OPTION: "APHP", RUN_OPTION: "R1", RUN_SAMPLES_OPTION: 24}
        message = dramatiq.Message(
            queue_name=QUEUE, actor_name="run_stage", args=(), kwargs={}, options=options
        )
        sent = broker.enqueue(message)
        (queued,) = broker.client.lrange(f"{broker.namespace}:{QUEUE}", 0, -1)
        assert queued.decode() == sent.options["redis_message_id"]
        assert queued.decode().startswith("APHP|R1|24|")
    finally:
        broker.client.delete(*broker.client.keys(f"{broker.namespace}:*"))
        broker.close()
