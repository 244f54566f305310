"""Which bucket notifications the router needs, as S3 key filters.

The router acts on two kinds of keys (:mod:`seqoia.engine.router`): a run folder's
completion markers and committed manifests. Everything else seqoia writes (leases, links,
attempts' outputs, failure records, deliveries) and every other file of a run folder is
ignored, yet a store notifying on every object sends each of them to the intake and
through the broker's events queue, where real events wait behind them. RGW's persistent
topics deliver one notification at a time, so the lag grows with their number.

:func:`routed_key_filters` lists the prefix/suffix pairs that let exactly those keys
through (a superset: the router still checks each key), from the pipeline's markers and
the store's layout; :func:`bucket_notification` is the S3
``PutBucketNotificationConfiguration`` body that sends only them to one topic (AWS SNS,
Ceph RGW); MinIO takes the same pairs as ``mc event add --prefix P --suffix S``. The
reconciler still finds whatever a lost or filtered notification did not announce.
:func:`check_notifications` (``seqoia doctor``) reads what a bucket is configured to send.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from seqoia.engine.runtime import Runtime
from seqoia.errors import ConfigurationError, StorageError
from seqoia.storage.base import ObjectStore
from seqoia.storage.layout import MANIFEST_SUFFIX, Layout
from seqoia.storage.selfcheck import Check, s3_client_and_bucket
from seqoia.tasks.stage import Pipeline

#: The events seqoia routes: a new object, whatever API wrote it (PUT, copy, multipart).
CREATED_EVENTS = ("s3:ObjectCreated:*",)
#: How seqoia's own configurations are told from the bucket's others (their ``Id``).
ID_PREFIX = "seqoia-"
#: The kinds of S3 notification targets, each a list of configurations.
_TARGETS = ("TopicConfigurations", "QueueConfigurations", "LambdaFunctionConfigurations")
_HOW = "`seqoia notifications` prints the filters"


class KeyFilter(NamedTuple):
    """Objects whose key starts with ``prefix`` and ends with ``suffix``."""

    prefix: str
    suffix: str

    def matches(self, key: str) -> bool:
        return key.startswith(self.prefix) and key.endswith(self.suffix)


def routed_key_filters(pipeline: Pipeline, layout: Layout, key_prefix: str = "") -> list[KeyFilter]:
    """The filters letting through every key the router acts on, and little else.

    ``key_prefix`` is the store's own prefix in its bucket (``s3://bucket/prefix``): the
    notifications name full keys. A marker's filter ends with ``/<name>``, so that
    ``inbox/<run>/CopyComplete.txt`` passes and ``inbox/<run>/NotCopyComplete.txt`` does not.
    """
    inbox = key_prefix + layout.inbox_prefix()
    markers = [KeyFilter(inbox, "/" + name) for name in pipeline.completion_markers()]
    return [*markers, KeyFilter(key_prefix + layout.work_prefix(), MANIFEST_SUFFIX)]


def store_key_filters(runtime: Runtime) -> list[KeyFilter]:
    """:func:`routed_key_filters` of ``runtime``, under its store's prefix in the bucket."""
    key_prefix = str(getattr(runtime.store, "prefix", ""))  # s3://bucket/prefix
    return routed_key_filters(runtime.pipeline, runtime.layout, key_prefix)


def any_matches(filters: Iterable[KeyFilter], key: str) -> bool:
    """Whether one of ``filters`` lets ``key`` through."""
    return any(key_filter.matches(key) for key_filter in filters)


def bucket_notification(topic_arn: str, filters: list[KeyFilter]) -> dict[str, Any]:
    """An S3 ``NotificationConfiguration`` sending ``filters``' new objects to ``topic_arn``.

    One topic configuration per filter (S3 allows one prefix and one suffix rule each;
    these never overlap, as S3 requires for one event type).
    """
    return {
        "TopicConfigurations": [
            {
                "Id": f"{ID_PREFIX}{index}",
                "TopicArn": topic_arn,
                "Events": list(CREATED_EVENTS),
                "Filter": {
                    "Key": {
                        "FilterRules": [
                            {"Name": "prefix", "Value": key_filter.prefix},
                            {"Name": "suffix", "Value": key_filter.suffix},
                        ]
                    }
                },
            }
            for index, key_filter in enumerate(filters, start=1)
        ]
    }


def apply_bucket_notification(store: ObjectStore, topic_arn: str, filters: list[KeyFilter]) -> int:
    """Make ``store``'s bucket announce ``filters`` to ``topic_arn``; how many of the
    bucket's other configurations were kept.

    seqoia's previous configurations (``Id`` starting with ``seqoia-``) are replaced, so
    that applying twice changes nothing; anything else the bucket announces, to whatever
    target, is kept as it was (S3 refuses the whole if one of them overlaps ours).
    """
    client, bucket = s3_client_and_bucket(store)
    if client is None:
        raise ConfigurationError(f"{store.url} is not an S3 bucket: it has no notifications")
    try:
        current = client.get_bucket_notification_configuration(Bucket=bucket)
        configuration: dict[str, Any] = {}
        kept = 0
        for target in _TARGETS:
            others = [
                entry
                for entry in current.get(target) or []
                if not str(entry.get("Id", "")).startswith(ID_PREFIX)
            ]
            kept += len(others)
            if others:
                configuration[target] = others
        if current.get("EventBridgeConfiguration") is not None:
            configuration["EventBridgeConfiguration"] = current["EventBridgeConfiguration"]
        mine = bucket_notification(topic_arn, filters)["TopicConfigurations"]
        configuration["TopicConfigurations"] = configuration.get("TopicConfigurations", []) + mine
        client.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration=configuration
        )
    except Exception as err:  # botocore's errors, translated here at the boundary
        raise StorageError(f"cannot configure the notifications of {bucket!r}: {err}") from err
    return kept


def check_notifications(store: ObjectStore, layout: Layout, filters: list[KeyFilter]) -> Check:
    """Whether ``store``'s bucket announces the keys of ``filters``, and not every object.

    Never raises: a store that cannot say (no permission to read its configuration, not
    an S3 bucket) is a warning or a note, since the reconciler still finds every run.
    """
    name = "bucket notifications"
    client, bucket = s3_client_and_bucket(store)
    if client is None:
        return Check("store", name, "ok", "not an S3 bucket (nothing announces new objects)")
    try:
        configuration = client.get_bucket_notification_configuration(Bucket=bucket)
    except Exception as err:  # botocore's errors, translated here at the boundary
        return Check("store", name, "warn", f"cannot read the configuration: {err}")
    rules = list(_created_rules(configuration))
    if not rules:
        if configuration.get("EventBridgeConfiguration") is not None:
            return Check("store", name, "ok", f"sent to EventBridge: filter there ({_HOW})")
        return Check(
            "store",
            name,
            "warn",
            f"none announces new objects: runs start at the reconciler's next pass ({_HOW})",
        )
    missing = [f for f in filters if not any(_covers(rule, f) for rule in rules)]
    if missing:
        shown = ", ".join(f"{f.prefix}*{f.suffix}" for f in missing)
        return Check(
            "store", name, "warn", f"not announced: {shown}; they wait for the reconciler ({_HOW})"
        )
    # Keys the router ignores, which a rule should not let through.
    bookkeeping = (layout.lease_key("stage", "s"), layout.link_key("run", "r", "sample", "s"))
    if any(any_matches(rules, key) for key in bookkeeping):
        return Check(
            "store",
            name,
            "warn",
            "every new object is announced (leases, links, outputs): the events that "
            f"matter wait behind them in the notification queue and the broker ({_HOW})",
        )
    return Check("store", name, "ok", f"markers and manifests announced ({len(rules)} rules)")


def _created_rules(configuration: dict[str, Any]) -> Iterator[KeyFilter]:
    """The prefix/suffix of each configuration that announces new objects."""
    for target in _TARGETS:
        for entry in configuration.get(target) or []:
            if not any(str(e).startswith("s3:ObjectCreated:") for e in entry.get("Events", [])):
                continue
            rules = entry.get("Filter", {}).get("Key", {}).get("FilterRules", [])
            values = {str(r.get("Name", "")).lower(): str(r.get("Value", "")) for r in rules}
            yield KeyFilter(values.get("prefix", ""), values.get("suffix", ""))


def _covers(rule: KeyFilter, wanted: KeyFilter) -> bool:
    """Whether every key ``wanted`` lets through is also let through by ``rule``."""
    return wanted.prefix.startswith(rule.prefix) and wanted.suffix.endswith(rule.suffix)
