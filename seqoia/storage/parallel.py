"""Independent store requests sent several at a time: a remote store's latency is per request."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def in_parallel(
    call: Callable[[Item], Result], items: Iterable[Item], concurrency: int
) -> list[Result]:
    """``call(item)`` for every item, ``concurrency`` at a time, results in the items' order.

    Every call has ended when this returns or raises its first error (calls not started by
    then are dropped), so nothing sent here lands after what the caller does next: a
    manifest written after its links, say. With ``concurrency`` 1 (a local folder, which
    answers in microseconds) the calls run one after the other in the caller's thread.
    """
    items = list(items)
    if concurrency <= 1 or len(items) <= 1:
        return [call(item) for item in items]
    context = contextvars.copy_context()  # the caller's log context, in every thread

    def call_in_context(item: Item) -> Result:
        return context.copy().run(call, item)

    with ThreadPoolExecutor(min(concurrency, len(items)), thread_name_prefix="store") as pool:
        return list(pool.map(call_in_context, items))
