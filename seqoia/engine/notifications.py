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
"""

from __future__ import annotations

from typing import Any, NamedTuple

from seqoia.storage.layout import MANIFEST_SUFFIX, Layout
from seqoia.tasks.stage import Pipeline

#: The events seqoia routes: a new object, whatever API wrote it (PUT, copy, multipart).
CREATED_EVENTS = ("s3:ObjectCreated:*",)


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


def bucket_notification(topic_arn: str, filters: list[KeyFilter]) -> dict[str, Any]:
    """An S3 ``NotificationConfiguration`` sending ``filters``' new objects to ``topic_arn``.

    One topic configuration per filter (S3 allows one prefix and one suffix rule each;
    these never overlap, as S3 requires for one event type).
    """
    return {
        "TopicConfigurations": [
            {
                "Id": f"seqoia-{index}",
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
