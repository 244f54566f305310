"""Broker self-check: is the configured broker reachable, and does it keep messages?

Messages are nudges, never state (invariant 1): a broker that forgets them costs a
reconciler pass, not a result. So a broker without persistence is a warning, and only an
unreachable one fails. Redis keeps queued messages across a restart only with an append
-only file (``appendonly yes``) or, up to the last snapshot, RDB ``save`` points.
RabbitMQ keeps them when the queue is durable and messages persistent; Dramatiq declares
its queues durable and publishes persistently, but a queue declared earlier by someone
else keeps its own flags, so existing queues are checked.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from seqoia.redact import redact_url
from seqoia.storage.selfcheck import Check


def check_broker(url: str, queues: Iterable[str] = ()) -> list[Check]:
    """Check the broker at ``url`` (and, on RabbitMQ, the durability of ``queues``)."""
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        return [
            Check(
                "broker",
                "reachable",
                "warn",
                "memory:// is in-process: fine on one machine, but workers elsewhere never "
                "see its messages",
            )
        ]
    if scheme in ("redis", "rediss"):
        return _check_redis(url)
    if scheme in ("amqp", "amqps"):
        return _check_rabbitmq(url, list(queues))
    return [Check("broker", "reachable", "fail", f"unsupported broker URL scheme {scheme!r}")]


def _check_redis(url: str) -> list[Check]:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    try:
        try:
            client.ping()
        except redis.RedisError as err:
            return [Check("broker", "reachable", "fail", f"{redact_url(url)}: {err}")]
        checks = [Check("broker", "reachable", "ok", f"{redact_url(url)} answers PING")]
        try:
            appendonly = str(client.config_get("appendonly").get("appendonly", ""))
            save = str(client.config_get("save").get("save", ""))
        except redis.RedisError as err:  # managed Redis often disables CONFIG
            checks.append(
                Check("broker", "durable", "warn", f"cannot read the persistence settings: {err}")
            )
            return checks
        if appendonly == "yes":
            checks.append(Check("broker", "durable", "ok", "append-only file on"))
        elif save.strip():
            checks.append(
                Check(
                    "broker",
                    "durable",
                    "warn",
                    f"RDB snapshots only (save {save!r}): messages queued since the last "
                    "snapshot are lost on a restart; the reconciler re-derives them",
                )
            )
        else:
            checks.append(
                Check(
                    "broker",
                    "durable",
                    "warn",
                    "no persistence (appendonly no, save ''): a restart loses every queued "
                    "message; the reconciler re-derives them",
                )
            )
        return checks
    finally:
        client.close()


def _check_rabbitmq(url: str, queues: list[str]) -> list[Check]:
    import pika
    import pika.exceptions

    try:
        connection = pika.BlockingConnection(pika.URLParameters(url))
    except pika.exceptions.AMQPError as err:
        return [Check("broker", "reachable", "fail", f"{redact_url(url)}: {err!r}")]
    checks = [Check("broker", "reachable", "ok", f"{redact_url(url)} accepts connections")]
    try:
        volatile = []
        for queue in queues:
            if _existing_queue_is_durable(connection, queue) is False:
                volatile.append(queue)
        if volatile:
            checks.append(
                Check(
                    "broker",
                    "durable",
                    "warn",
                    f"queue(s) {', '.join(volatile)} are not durable: a broker restart drops "
                    "them with their messages",
                )
            )
        else:
            checks.append(
                Check(
                    "broker",
                    "durable",
                    "ok",
                    "queues are durable (Dramatiq declares them so) and messages persistent",
                )
            )
    finally:
        connection.close()
    return checks


def _existing_queue_is_durable(connection: object, queue: str) -> bool | None:
    """True/False for an existing queue, None when it does not exist yet.

    AMQP has no "describe queue": a passive declare says whether it exists, and a declare
    with ``durable=False`` of an existing durable queue is refused with 406 naming the
    ``durable`` argument (RabbitMQ compares it before any other), without changing it.
    """
    import pika.exceptions

    channel = connection.channel()  # type: ignore[attr-defined]
    try:
        channel.queue_declare(queue=queue, passive=True)
    except pika.exceptions.ChannelClosedByBroker:
        return None  # 404: Dramatiq will declare it, durable
    try:
        channel.queue_declare(queue=queue, durable=False)
    except pika.exceptions.ChannelClosedByBroker as err:
        return "durable" in str(err.reply_text)
    finally:
        if channel.is_open:
            channel.close()
    return False
