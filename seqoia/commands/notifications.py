"""``seqoia notifications``: which new objects the store should announce to the intake.

Only run folder markers and manifests move a run along (:mod:`seqoia.engine.notifications`);
a bucket announcing every object sends thousands of leases, links and outputs through the
intake and the events queue for nothing. Prints the filters for the configured store and
pipeline, as an S3 ``NotificationConfiguration`` for a topic (AWS SNS, Ceph RGW: apply it
with ``aws s3api put-bucket-notification-configuration``, or ``--apply`` to the configured
bucket directly) or as MinIO ``mc event add`` commands.
"""

from __future__ import annotations

import json
import shlex
from typing import Annotated

import typer

from seqoia.commands.admin_common import DEFAULT, PipelineOption
from seqoia.commands.doctor import echo_check
from seqoia.engine.notifications import (
    apply_bucket_notification,
    bucket_notification,
    check_notifications,
    store_key_filters,
)
from seqoia.engine.runtime import build_runtime
from seqoia.settings import Settings


def notifications(
    ctx: typer.Context,
    topic_arn: Annotated[
        str | None,
        typer.Option(
            "--topic-arn", help="Print the S3 NotificationConfiguration sending to this topic."
        ),
    ] = None,
    minio_target: Annotated[
        str | None,
        typer.Option(
            "--minio",
            metavar="ALIAS/BUCKET=ARN",
            help="Print `mc event add` commands for this MinIO bucket and target ARN.",
        ),
    ] = None,
    apply: Annotated[
        bool,
        typer.Option(
            "--apply",
            metavar="",
            help="With --topic-arn: set the configured bucket's notifications to these "
            "(seqoia's previous ones replaced, the bucket's others kept), then check them.",
        ),
    ] = False,
    pipeline: PipelineOption = DEFAULT,
) -> None:
    """Show the bucket-notification filters the intake needs (markers and manifests)."""
    settings: Settings = ctx.obj
    runtime = build_runtime(settings, pipeline)
    filters = store_key_filters(runtime)
    if apply:
        if topic_arn is None:
            raise typer.BadParameter("--apply needs --topic-arn", param_hint="--apply")
        kept = apply_bucket_notification(runtime.store, topic_arn, filters)
        typer.echo(f"{len(filters)} filters sent to {topic_arn}; {kept} other(s) kept")
        echo_check(check_notifications(runtime.store, runtime.layout, filters))
    elif topic_arn is not None:
        typer.echo(json.dumps(bucket_notification(topic_arn, filters), indent=2))
    elif minio_target is not None:
        bucket, separator, arn = minio_target.partition("=")
        if not separator or not bucket or not arn:
            raise typer.BadParameter("expected ALIAS/BUCKET=ARN", param_hint="--minio")
        for key_filter in filters:
            words = ["mc", "event", "add", bucket, arn, "--event", "put"]
            words += ["--prefix", key_filter.prefix, "--suffix", key_filter.suffix]
            typer.echo(shlex.join(words))
    else:
        for key_filter in filters:
            typer.echo(f"prefix {key_filter.prefix!r} suffix {key_filter.suffix!r}")
