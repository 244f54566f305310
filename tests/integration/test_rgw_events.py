"""What Ceph RGW really pushes to the intake, and that a refused write's record is harmless.

RGW announces ``ObjectCreated:Put`` even for a create-only PUT it refused with 412 (the
loser of a manifest commit race), with the refused body's ETag and ``eventTime``
``0.000000``. The intake must pass on the winner's record and ignore the loser's, never
route a key with the loser's ETag. A non-persistent topic delivers inside the PUT, so
every record has arrived when the PUT returns.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from seqoia.cli import app
from seqoia.engine.notifications import KeyFilter, check_notifications, routed_key_filters
from seqoia.engine.runtime import DEFAULT_PIPELINE, load_pipeline
from seqoia.errors import PreconditionFailedError
from seqoia.intake.events import ObjectCreated
from seqoia.intake.server import IntakeServer
from seqoia.storage.layout import Layout
from tests.fixtures.ceph import CephRGW
from tests.fixtures.servers import rgw_store

TOKEN = "rgw-events-token"  # noqa: S105 - a test value


def test_the_refused_write_of_a_commit_race_reaches_the_intake_as_ignored(
    rgw_server: CephRGW,
) -> None:
    store = rgw_store(rgw_server)
    received: list[ObjectCreated] = []
    lock = threading.Lock()

    def submit(event: ObjectCreated) -> None:
        with lock:
            received.append(event)

    with IntakeServer("127.0.0.1", 0, TOKEN, submit).start() as intake:
        port = intake.address[1]
        rgw_server.push_events(
            store.bucket,
            f"http://seqoia:{TOKEN}@127.0.0.1:{port}/events?token={TOKEN}",
            persistent=False,
        )
        key = "work/align/S1/manifest.json"
        winner = store.put_bytes(key, b'{"attempt": "a1"}', if_none_match=True)
        with pytest.raises(PreconditionFailedError):
            store.put_bytes(key, b'{"attempt": "a2"}', if_none_match=True)
        counts = intake.counts()
    assert [(e.key, e.etag) for e in received] == [(key, winner)]
    assert received[0].source == "s3" and received[0].event_time is not None
    # The loser's record did arrive (RGW sends it) and was counted as ignored, not invalid.
    assert counts["s3"] == {"accepted": 1, "ignored": 1}
    assert hashlib.md5(b'{"attempt": "a2"}').hexdigest() not in {e.etag for e in received}


def test_rgw_announces_only_the_keys_the_router_acts_on(rgw_server: CephRGW) -> None:
    """The filters a deployment sets, on a real RGW: markers and manifests, nothing else."""
    store = rgw_store(rgw_server)
    layout = Layout()
    received: list[str] = []
    lock = threading.Lock()

    def submit(event: ObjectCreated) -> None:
        with lock:
            received.append(event.key)

    routed = [
        "inbox/R1/CopyComplete.txt",
        layout.manifest_key("validate_run", "R1", 1),
        layout.manifest_key("align", "S1", 12),
    ]
    ignored = [
        "inbox/R1/SampleSheet.csv",
        "inbox/R1/Data/Intensities/BaseCalls/L001/C1.1/L001_1.cbcl",
        "inbox/R1/NotCopyComplete.txt",
        layout.lease_key("align", "S1"),
        layout.link_key("run", "R1", "sample", "S1"),
        layout.failure_key("align", "S1"),
        layout.attempt_prefix("align", "S1", "a1") + "S1.cram",
        layout.publication_key("report", "S1", 1),
        "outbox/APHP/S1/S1.fhir.json",
    ]
    with IntakeServer("127.0.0.1", 0, TOKEN, submit).start() as intake:
        port = intake.address[1]
        rgw_server.push_events(
            store.bucket,
            f"http://seqoia:{TOKEN}@127.0.0.1:{port}/events?token={TOKEN}",
            persistent=False,  # delivered inside each PUT: all have arrived at the end
            filters=routed_key_filters(load_pipeline(DEFAULT_PIPELINE), layout),
        )
        for key in ignored + routed:
            store.put_bytes(key, b"x")
    assert sorted(received) == sorted(routed)


def test_doctor_reads_what_the_bucket_announces(rgw_server: CephRGW) -> None:
    """None, every object, one filter short and the filters: only the last is ok."""
    layout = Layout()
    filters = routed_key_filters(load_pipeline(DEFAULT_PIPELINE), layout)
    endpoint = f"http://seqoia:{TOKEN}@127.0.0.1:9/events"  # never called: nothing is written
    cases: dict[str, list[KeyFilter] | None] = {
        "everything": None,
        "one short": filters[1:],
        "filters": filters,
    }
    verdicts = {}
    for case in ("none", *cases):
        store = rgw_store(rgw_server)
        if case != "none":
            rgw_server.push_events(store.bucket, endpoint, persistent=False, filters=cases[case])
        check = check_notifications(store, layout, filters)
        verdicts[case] = (check.verdict, check.detail)
    assert verdicts["none"][0] == "warn" and "reconciler" in verdicts["none"][1]
    assert verdicts["everything"][0] == "warn" and "every new object" in verdicts["everything"][1]
    assert verdicts["one short"][0] == "warn"
    assert filters[0].suffix in verdicts["one short"][1]
    assert verdicts["filters"] == ("ok", f"markers and manifests announced ({len(filters)} rules)")


def test_seqoia_notifications_apply_keeps_the_bucket_s_other_notifications(
    rgw_server: CephRGW, tmp_path: Path
) -> None:
    store = rgw_store(rgw_server)
    endpoint = f"http://seqoia:{TOKEN}@127.0.0.1:9/events"  # never called: nothing is written
    # The topic, then the bucket's only notification: another team's, on audit/.
    topic = rgw_server.push_events(
        store.bucket, endpoint, persistent=False, filters=[KeyFilter("audit/", ".csv")]
    )
    other = {
        "Id": "lab-audit",
        "TopicArn": topic,
        "Events": ["s3:ObjectCreated:*"],
        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "audit/"}]}},
    }
    store.client.put_bucket_notification_configuration(
        Bucket=store.bucket, NotificationConfiguration={"TopicConfigurations": [other]}
    )
    env = {
        "SEQOIA_STORE_URL": f"s3://{store.bucket}?endpoint_url={rgw_server.endpoint}&sse=none",
        "SEQOIA_SCRATCH_DIR": str(tmp_path / "scratch"),
        "AWS_ACCESS_KEY_ID": rgw_server.access_key,
        "AWS_SECRET_ACCESS_KEY": rgw_server.secret_key,
    }
    for _ in range(2):  # applying again changes nothing
        result = CliRunner().invoke(
            app, ["notifications", "--topic-arn", topic, "--apply"], env=env
        )
        assert result.exit_code == 0, result.output
        assert "1 other(s) kept" in result.output
        assert "ok    store  bucket notifications     markers and manifests" in result.output
    configured = store.client.get_bucket_notification_configuration(Bucket=store.bucket)
    filters = routed_key_filters(load_pipeline(DEFAULT_PIPELINE), Layout())
    ids = sorted(entry["Id"] for entry in configured["TopicConfigurations"])
    assert ids == ["lab-audit", *(f"seqoia-{i}" for i in range(1, len(filters) + 1))]
