"""Dead letters: messages the broker gave up on, read and requeued the way each broker keeps them.

- In-process (StubBroker): ``broker.dead_letters_by_queue[queue]``, proxies of the failed
  messages (only inside the process that runs the workers).
- Redis (dramatiq's ``dispatch.lua``): a sorted set ``<ns>:<queue>.XQ`` of message ids scored
  by the time they died, and a hash ``<ns>:<queue>.XQ.msgs`` id -> encoded message. The
  encoding is the one the message was *enqueued* with: a message that failed permanently
  on its first attempt carries no traceback there (Retries adds it to the options of the
  next retry), which is why letters are joined with seqoia's own failure records.
- RabbitMQ: a durable queue ``<queue>.XQ`` (dead-letter routing of the queue and of its
  ``.DQ``); messages are fetched without acknowledgement and returned afterwards, except
  those requeued or purged.

Letters are identified by dramatiq's ``message_id``; a unique prefix is enough.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker

from seqoia.errors import InputError
from seqoia.workers.broker import broker_kind

#: Options that describe a past failure, dropped when a letter is sent again.
_FAILURE_OPTIONS = ("retries", "traceback", "requeue_timestamp", "eta", "redis_message_id")


@dataclass
class DeadLetter:
    """One dead message."""

    id: str
    queue: str
    actor: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    options: dict[str, Any]
    dead_at: datetime | None
    #: The broker's own handle (Redis message id, RabbitMQ delivery tag, stub proxy).
    handle: Any = None
    #: seqoia's failure record for ``(stage, subject)``, joined by the caller.
    failure: dict[str, Any] | None = None

    @property
    def pair(self) -> tuple[str, str] | None:
        """``(stage, subject)`` of a ``run_stage`` message."""
        if self.actor in ("run_stage", "run_stage_urgent") and len(self.args) >= 2:
            return str(self.args[0]), str(self.args[1])
        return None

    @property
    def traceback(self) -> str | None:
        if self.failure and self.failure.get("traceback"):
            return str(self.failure["traceback"])
        return self.options.get("traceback")

    @property
    def error(self) -> str:
        if self.failure:
            return str(self.failure.get("message", ""))
        tb = self.options.get("traceback") or ""
        lines = [line for line in tb.strip().splitlines() if line.strip()]
        return lines[-1] if lines else "(no failure recorded)"

    def fresh_message(self) -> dramatiq.Message[Any]:
        """The message to send again: same actor and arguments, no failure history."""
        options = {k: v for k, v in self.options.items() if k not in _FAILURE_OPTIONS}
        return dramatiq.Message(
            queue_name=self.queue,
            actor_name=self.actor,
            args=tuple(self.args),
            kwargs=dict(self.kwargs),
            options=options,
            message_id=self.id,
        )

    def to_json(self, *, full: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "queue": self.queue,
            "actor": self.actor,
            "args": list(self.args),
            "dead_at": self.dead_at.isoformat() if self.dead_at else None,
            "retries": self.options.get("retries", 0),
            "error": self.error,
        }
        if full:
            data["kwargs"] = self.kwargs
            data["failure"] = self.failure
            data["traceback"] = self.traceback
        return data


def _letter(message: dramatiq.Message[Any], dead_at: datetime | None, handle: Any) -> DeadLetter:
    return DeadLetter(
        id=message.message_id,
        queue=message.queue_name,
        actor=message.actor_name,
        args=tuple(message.args),
        kwargs=dict(message.kwargs),
        options=dict(message.options),
        dead_at=dead_at,
        handle=handle,
    )


class DeadLetterQueues(abc.ABC):
    """The dead letters of every queue of one broker."""

    def __init__(self, broker: dramatiq.Broker, queues: list[str]) -> None:
        self.broker = broker
        self.queues = queues

    @abc.abstractmethod
    def letters(self) -> list[DeadLetter]:
        """Every dead letter, oldest first where the broker knows when they died."""

    @abc.abstractmethod
    def remove(self, letters: list[DeadLetter]) -> list[DeadLetter]:
        """Delete ``letters``; returns those actually removed (not taken by someone else)."""

    def requeue(self, letters: list[DeadLetter]) -> list[DeadLetter]:
        """Send ``letters`` again (fresh, without failure history), then remove them.

        Sent before removed: a crash in between leaves a duplicate nudge (harmless, stages
        are idempotent) rather than a lost one.
        """
        for letter in letters:
            self.broker.enqueue(letter.fresh_message())
        return self.remove(letters)

    def find(self, ident: str) -> DeadLetter:
        """The letter whose id is (or starts with) ``ident``."""
        letters = self.letters()
        matches = [d for d in letters if d.id == ident] or [
            d for d in letters if d.id.startswith(ident)
        ]
        if not matches:
            raise InputError(f"no dead letter with id {ident!r} ({len(letters)} dead letter(s))")
        if len(matches) > 1:
            raise InputError(
                f"dead letter id {ident!r} is ambiguous: {len(matches)} match; give more of it"
            )
        return matches[0]


class StubDeadLetters(DeadLetterQueues):
    """The in-process broker's dead letters (lists of message proxies)."""

    broker: StubBroker

    def letters(self) -> list[DeadLetter]:
        return [
            _letter(proxy._message, None, proxy)
            for queue in sorted(self.broker.dead_letters_by_queue)
            for proxy in list(self.broker.dead_letters_by_queue[queue])
        ]

    def remove(self, letters: list[DeadLetter]) -> list[DeadLetter]:
        removed = []
        for letter in letters:
            for messages in self.broker.dead_letters_by_queue.values():
                if letter.handle in messages:
                    messages.remove(letter.handle)
                    removed.append(letter)
                    break
        return removed


class RedisDeadLetters(DeadLetterQueues):
    """dramatiq's RedisBroker keeps ``<ns>:<queue>.XQ`` (ids by time) and ``.XQ.msgs``."""

    def _keys(self) -> list[tuple[str, str]]:
        namespace = self.broker.namespace  # type: ignore[attr-defined]
        found = {q for q in self.queues}
        for key in self.broker.client.scan_iter(match=f"{namespace}:*.XQ"):  # type: ignore[attr-defined]
            name = key.decode() if isinstance(key, bytes) else key
            found.add(name[len(namespace) + 1 : -len(".XQ")])
        return [(queue, f"{namespace}:{queue}.XQ") for queue in sorted(found)]

    def letters(self) -> list[DeadLetter]:
        client = self.broker.client  # type: ignore[attr-defined]
        letters = []
        for _queue, key in self._keys():
            entries = client.zrange(key, 0, -1, withscores=True)
            if not entries:
                continue
            ids = [member for member, _ in entries]
            bodies = client.hmget(f"{key}.msgs", ids)
            for (member, score), body in zip(entries, bodies, strict=True):
                if body is None:
                    continue  # expired between the two reads
                message = dramatiq.Message.decode(body)
                dead_at = datetime.fromtimestamp(score / 1000, UTC)
                letters.append(_letter(message, dead_at, (key, member)))
        return sorted(letters, key=lambda d: d.dead_at or datetime.min.replace(tzinfo=UTC))

    def remove(self, letters: list[DeadLetter]) -> list[DeadLetter]:
        client = self.broker.client  # type: ignore[attr-defined]
        removed = []
        for letter in letters:
            key, member = letter.handle
            # HDEL says whether we took it: of two admins requeueing at once, one sends it.
            if client.hdel(f"{key}.msgs", member):
                client.zrem(key, member)
                removed.append(letter)
        return removed


class RabbitDeadLetters(DeadLetterQueues):
    """RabbitMQ ``<queue>.XQ`` queues, read with basic.get and returned with basic.nack."""

    def _xq_names(self) -> list[str]:
        for queue in self.queues:  # declare (idempotently) so basic.get never hits a 404
            self.broker.declare_queue(queue, ensure=True)  # type: ignore[call-arg]
        return [f"{queue}.XQ" for queue in self.queues]

    def _session(self, take: set[str] | None) -> tuple[list[DeadLetter], list[DeadLetter]]:
        """Fetch every letter; acknowledge (take) those whose id is in ``take``, return the rest."""
        channel = self.broker.channel  # type: ignore[attr-defined]
        seen, taken = [], []
        try:
            for xq in self._xq_names():
                while True:
                    method, properties, body = channel.basic_get(queue=xq, auto_ack=False)
                    if method is None:
                        break
                    message = dramatiq.Message.decode(body)
                    letter = _letter(message, _death_time(properties), method.delivery_tag)
                    seen.append(letter)
                    if take is not None and letter.id in take:
                        channel.basic_ack(method.delivery_tag)
                        taken.append(letter)
        finally:
            channel.basic_nack(delivery_tag=0, multiple=True, requeue=True)
        return seen, taken

    def letters(self) -> list[DeadLetter]:
        seen, _ = self._session(None)
        return sorted(seen, key=lambda d: d.dead_at or datetime.min.replace(tzinfo=UTC))

    def remove(self, letters: list[DeadLetter]) -> list[DeadLetter]:
        _, taken = self._session({letter.id for letter in letters})
        return taken


def _death_time(properties: Any) -> datetime | None:
    deaths = (getattr(properties, "headers", None) or {}).get("x-death") or []
    when = deaths[0].get("time") if deaths else None
    if isinstance(when, datetime):
        return when if when.tzinfo else when.replace(tzinfo=UTC)
    return None


def dead_letter_queues(broker: dramatiq.Broker, queues: list[str]) -> DeadLetterQueues:
    """The dead-letter reader for ``broker``'s kind."""
    if isinstance(broker, StubBroker):
        return StubDeadLetters(broker, queues)
    kind = broker_kind(broker)
    if kind == "RedisBroker":
        return RedisDeadLetters(broker, queues)
    if kind == "RabbitmqBroker":
        return RabbitDeadLetters(broker, queues)
    raise InputError(f"cannot read dead letters of a {kind}")
