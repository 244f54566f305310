"""The event intake over real HTTP, and a real S3 -> SNS -> HTTP push through moto's server.

moto 5's server delivers S3 notifications to SNS topics and SNS to HTTP subscribers for
real (``moto/s3/notifications.py`` -> ``SNSBackend.publish`` -> ``requests.post``), inside
the S3 request, with ``PendingConfirmation`` false (no SubscriptionConfirmation is sent)
and an ``s3:TestEvent`` first. It signs each message (SignatureVersion 2) with a
certificate it serves itself, so the signature check runs against moto too.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from seqoia.intake.events import ObjectCreated
from seqoia.intake.server import IntakeServer, SnsSignatureVerifier

DATA = Path(__file__).resolve().parents[1] / "data" / "events"
TOKEN = "s3cr3t-t0ken"
REGION = "us-east-1"
KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


# -- servers ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A ``python -m moto.server`` process (all services) on a free loopback port."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2).read()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    log.seek(0)
                    tail = log.read()[-2000:].decode(errors="replace")
                    pytest.fail(f"moto server did not start on {endpoint}:\n{tail}")
                time.sleep(0.1)
        yield endpoint
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


class Collector:
    """A ``submit`` that records events, and can be told to fail."""

    def __init__(self) -> None:
        self.events: list[ObjectCreated] = []
        self.fail = False
        self.lock = threading.Lock()

    def __call__(self, event: ObjectCreated) -> None:
        if self.fail:
            raise RuntimeError("broker down")
        with self.lock:
            self.events.append(event)


@pytest.fixture
def submitted() -> Collector:
    return Collector()


@pytest.fixture
def outcomes() -> list[tuple[str, str]]:
    return []


@pytest.fixture
def intake(submitted: Collector, outcomes: list[tuple[str, str]]) -> Iterator[IntakeServer]:
    server = IntakeServer(
        "127.0.0.1",
        0,
        TOKEN,
        submitted,
        max_body_bytes=64 * 1024,
        on_outcome=lambda source, outcome: outcomes.append((source, outcome)),
    )
    with server:
        yield server


def post(
    url: str,
    body: bytes,
    *,
    token: str | None = TOKEN,
    in_query: bool = False,
    method: str = "POST",
) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token is not None and in_query:
        url += f"?token={quote(token)}"
    elif token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            status, data = reply.status, reply.read()
    except urllib.error.HTTPError as err:
        status, data = err.code, err.read()
    return status, (json.loads(data) if data else None)


def fixture_bytes(name: str) -> bytes:
    return (DATA / name).read_bytes()


# -- HTTP behaviour --------------------------------------------------------------------


def test_healthz_answers_without_a_token(intake: IntakeServer) -> None:
    with urllib.request.urlopen(f"{intake.url}/healthz", timeout=5) as reply:
        assert reply.status == 200
        assert json.loads(reply.read())["status"] == "ok"


def test_bearer_token_events_are_submitted_and_summarised(
    intake: IntakeServer, submitted: Collector, outcomes: list[tuple[str, str]]
) -> None:
    status, answer = post(f"{intake.url}/events", fixture_bytes("aws_s3_records.json"))

    assert status == 200
    assert answer == {"accepted": 3, "ignored": 1, "errors": []}
    assert [e.key.rsplit("/", 1)[-1] for e in submitted.events] == [
        "RunInfo.xml",
        "Sample Sheet + v2.csv",
        "L001_1.cbcl",
    ]
    assert outcomes.count(("s3", "accepted")) == 3
    assert ("s3", "ignored") in outcomes
    assert intake.counts()["s3"] == {"accepted": 3, "ignored": 1}


def test_token_in_the_query_string_is_accepted_as_sns_sends_it(
    intake: IntakeServer, submitted: Collector
) -> None:
    status, answer = post(
        f"{intake.url}/events", fixture_bytes("minio_webhook_put.json"), in_query=True
    )
    assert status == 200 and answer["accepted"] == 1
    assert submitted.events[0].key.endswith("/CopyComplete.txt")


@pytest.mark.parametrize("token", [None, "wrong", TOKEN + "x", ""])
def test_missing_or_wrong_token_is_refused_with_401(
    intake: IntakeServer, submitted: Collector, token: str | None
) -> None:
    status, answer = post(f"{intake.url}/events", fixture_bytes("aws_s3_records.json"), token=token)
    assert status == 401
    assert answer == {"error": "missing or wrong token"}
    assert submitted.events == []
    assert intake.counts()["unknown"] == {"unauthorized": 1}


def test_head_on_events_answers_minio_liveness_check(intake: IntakeServer) -> None:
    assert post(f"{intake.url}/events", b"", method="HEAD")[0] == 200
    assert post(f"{intake.url}/events", b"", method="HEAD", token="wrong")[0] == 401


def test_hostile_keys_are_answered_per_record_while_good_records_are_submitted(
    intake: IntakeServer, submitted: Collector
) -> None:
    status, answer = post(f"{intake.url}/events", fixture_bytes("hostile_keys.json"))

    assert status == 200
    assert answer["accepted"] == 2
    assert len(answer["errors"]) == 6
    assert any("'..' path segment" in e for e in answer["errors"])
    assert [e.key.rsplit("/", 1)[-1] for e in submitted.events] == [
        "RunInfo.xml",
        "CopyComplete.txt",
    ]
    assert intake.counts()["s3"] == {"accepted": 2, "invalid": 6}


def test_server_keeps_serving_after_garbage(intake: IntakeServer, submitted: Collector) -> None:
    url = f"{intake.url}/events"
    assert post(url, b"{not json")[0] == 400
    assert post(url, b'{"hello": "world"}')[0] == 400
    assert post(url, b"\xff" * 100)[0] == 400
    status, answer = post(url, b"x" * (65 * 1024))
    assert status == 413 and "exceeds" in answer["error"]
    assert post(f"{intake.url}/nowhere", b"{}")[0] == 404
    # Not even HTTP, then a connection closed halfway through a body.
    with socket.create_connection(intake.address, timeout=5) as sock:
        sock.sendall(b"\x16\x03\x01\x02\x00garbage\r\n\r\n")
        sock.recv(1024)
    with socket.create_connection(intake.address, timeout=5) as sock:
        head = f"POST /events?token={TOKEN} HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n"
        sock.sendall(head.encode() + b"\r\n{")

    status, answer = post(url, fixture_bytes("aws_s3_records.json"))

    assert status == 200 and answer["accepted"] == 3
    assert intake.counts()["unknown"] == {"rejected": 3, "too_large": 1}


def test_failing_submit_answers_500_for_that_request_only(
    intake: IntakeServer, submitted: Collector, outcomes: list[tuple[str, str]]
) -> None:
    submitted.fail = True
    status, answer = post(f"{intake.url}/events", fixture_bytes("ceph_rgw_put.json"))
    assert status == 500
    assert answer["accepted"] == 0
    assert answer["errors"] == ["submit failed: RuntimeError", "submit failed: RuntimeError"]
    assert outcomes.count(("s3", "submit_failed")) == 2

    submitted.fail = False
    status, answer = post(f"{intake.url}/events", fixture_bytes("ceph_rgw_put.json"))
    assert status == 200 and answer["accepted"] == 2


def test_subscription_confirmation_on_a_loopback_host_is_confirmed(
    intake: IntakeServer,
) -> None:
    got: list[str] = []

    class Confirm(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            got.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"<ConfirmSubscriptionResponse/>")

        def log_message(self, *args: Any) -> None:
            pass

    sns = ThreadingHTTPServer(("127.0.0.1", 0), Confirm)
    threading.Thread(target=sns.serve_forever, daemon=True).start()
    try:
        doc = json.loads(fixture_bytes("sns_subscription_confirmation.json"))
        doc["SubscribeURL"] = (
            f"http://127.0.0.1:{sns.server_address[1]}/?Action=ConfirmSubscription"
            f"&TopicArn={doc['TopicArn']}&Token={doc['Token']}"
        )
        status, answer = post(f"{intake.url}/events", json.dumps(doc).encode(), in_query=True)
    finally:
        sns.shutdown()
        sns.server_close()

    assert status == 200
    assert answer["subscription"] == "confirmed"
    assert len(got) == 1 and f"Token={doc['Token']}" in got[0]
    assert intake.counts()["sns"] == {"confirmed": 1}


def test_subscription_confirmation_on_another_host_is_only_logged(
    intake: IntakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    body = fixture_bytes("sns_subscription_confirmation.json")
    with caplog.at_level("WARNING", logger="seqoia.intake.server"):
        status, answer = post(f"{intake.url}/events", body, in_query=True)

    assert status == 200
    assert answer["subscription"] == "confirmation_logged"
    assert "awaits confirmation by an operator" in caplog.text
    assert "https://sns.eu-west-3.amazonaws.com/?Action=ConfirmSubscription" in caplog.text


def test_unsigned_sns_message_is_refused_when_signatures_are_checked(
    submitted: Collector,
) -> None:
    verifier = SnsSignatureVerifier(fetch_cert=lambda url: b"not a certificate")
    with IntakeServer("127.0.0.1", 0, TOKEN, submitted, verify_sns=verifier) as server:
        status, answer = post(f"{server.url}/events", fixture_bytes("sns_notification_s3.json"))
        assert status == 403
        assert "cannot load SNS signing certificate" in answer["error"]
        assert server.counts()["sns"] == {"signature_invalid": 1}
    assert submitted.events == []


# -- moto: S3 -> SNS -> HTTP -----------------------------------------------------------


def moto_cert_fetcher(endpoint: str) -> Callable[[str], bytes]:
    """Fetch ``https://sns.<region>.amazonaws.com/<cert>.pem`` from the moto server.

    moto serves the certificates it signs with, but routes an unsigned request by its
    path only; a SigV4-signed GET names the service (sns) and region it is meant for.
    """

    def fetch(url: str) -> bytes:
        parts = urlsplit(url)
        region = (parts.hostname or "").split(".")[1]
        request = AWSRequest(method="GET", url=f"{endpoint}{parts.path}")
        SigV4Auth(Credentials("testing", "testing"), "sns", region).add_auth(request)
        opened = urllib.request.Request(request.url, headers=dict(request.headers.items()))
        with urllib.request.urlopen(opened, timeout=10) as reply:
            return bytes(reply.read())

    return fetch


def test_object_put_in_moto_reaches_the_intake_through_sns(
    moto_endpoint: str, submitted: Collector
) -> None:
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name=REGION, **KEYS)
    sns = boto3.client("sns", endpoint_url=moto_endpoint, region_name=REGION, **KEYS)
    verifier = SnsSignatureVerifier(fetch_cert=moto_cert_fetcher(moto_endpoint))
    with IntakeServer("127.0.0.1", 0, TOKEN, submitted, verify_sns=verifier) as intake:
        s3.create_bucket(Bucket="seqoia-inbox")
        topic = sns.create_topic(Name="seqoia-inbox-events")["TopicArn"]
        subscription = sns.subscribe(
            TopicArn=topic, Protocol="http", Endpoint=f"{intake.url}/events?token={TOKEN}"
        )["SubscriptionArn"]
        attributes = sns.get_subscription_attributes(SubscriptionArn=subscription)["Attributes"]
        # moto confirms HTTP subscriptions itself and never posts a SubscriptionConfirmation.
        assert attributes["PendingConfirmation"] == "false"
        s3.put_bucket_notification_configuration(
            Bucket="seqoia-inbox",
            NotificationConfiguration={
                "TopicConfigurations": [{"TopicArn": topic, "Events": ["s3:ObjectCreated:*"]}]
            },
        )
        key = "inbox/240115_A01234_0042_AHKJ2LDSX7/Sample Sheet+v2.csv"
        etag = s3.put_object(Bucket="seqoia-inbox", Key=key, Body=b"[Header]\n")["ETag"]
        deadline = time.monotonic() + 10  # moto posts inside put_object; allow slack
        while not submitted.events and time.monotonic() < deadline:
            time.sleep(0.05)
        counts = intake.counts()

    assert submitted.events, f"nothing reached the intake; counts {counts}"
    (event,) = submitted.events
    assert (event.bucket, event.key, event.etag) == ("seqoia-inbox", key, etag.strip('"'))
    assert event.size == len(b"[Header]\n")
    assert event.source == "sns"
    # The s3:TestEvent sent on configuration was signed, verified and ignored.
    assert counts["sns"] == {"accepted": 1, "ignored": 1}


def test_tampered_moto_sns_message_fails_the_signature_check(moto_endpoint: str) -> None:
    sns = boto3.client("sns", endpoint_url=moto_endpoint, region_name=REGION, **KEYS)
    captured: list[bytes] = []

    class Capture(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            captured.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    sink = ThreadingHTTPServer(("127.0.0.1", 0), Capture)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    try:
        topic = sns.create_topic(Name="seqoia-tamper")["TopicArn"]
        sns.subscribe(
            TopicArn=topic, Protocol="http", Endpoint=f"http://127.0.0.1:{sink.server_address[1]}/"
        )
        message = json.loads(fixture_bytes("aws_s3_records.json"))
        sns.publish(TopicArn=topic, Message=json.dumps(message))
    finally:
        sink.shutdown()
        sink.server_close()
    (delivered,) = captured
    envelope = json.loads(delivered)
    verifier = SnsSignatureVerifier(fetch_cert=moto_cert_fetcher(moto_endpoint))

    verifier(envelope)  # the genuine message verifies
    envelope["Message"] = envelope["Message"].replace("RunInfo.xml", "RunInfo.xml.evil")
    with pytest.raises(Exception, match="signature does not match"):
        verifier(envelope)
    foreign = SnsSignatureVerifier(
        fetch_cert=moto_cert_fetcher(moto_endpoint), allowed_topic_arns=["arn:aws:sns:x"]
    )
    with pytest.raises(Exception, match="topic that is not allowed"):
        foreign(json.loads(delivered))


def test_s3_notification_to_sqs_in_moto_parses_as_an_sqs_body(moto_endpoint: str) -> None:
    from seqoia.intake.events import parse_notification

    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name=REGION, **KEYS)
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint, region_name=REGION, **KEYS)
    s3.create_bucket(Bucket="seqoia-sqs-inbox")
    queue = sqs.create_queue(QueueName="seqoia-inbox-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    s3.put_bucket_notification_configuration(
        Bucket="seqoia-sqs-inbox",
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    etag = s3.put_object(Bucket="seqoia-sqs-inbox", Key="run 1/RTAComplete.txt", Body=b"x")["ETag"]
    bodies = [
        m["Body"]
        for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    ]

    parsed = [parse_notification(body, source_hint="sqs") for body in bodies]

    events = [e for p in parsed for e in p.events]
    assert [(e.key, e.etag, e.source) for e in events] == [
        ("run 1/RTAComplete.txt", etag.strip('"'), "sqs")
    ]
    assert sum(p.ignored for p in parsed) == 1  # the s3:TestEvent


# -- SNS signatures without moto (version 1, certificate URL rules) ---------------------


def signed_envelope(version: str, digest_name: str) -> tuple[dict[str, Any], bytes]:
    """A Notification with a Subject, signed by a fresh key; returns it and the cert PEM."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.x509.oid import NameOID

    from seqoia.intake.server import sns_string_to_sign

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    envelope = json.loads(fixture_bytes("sns_notification_s3.json"))
    envelope["SignatureVersion"] = version
    digest = hashes.SHA1() if digest_name == "sha1" else hashes.SHA256()
    signature = key.sign(sns_string_to_sign(envelope), padding.PKCS1v15(), digest)
    envelope["Signature"] = base64.b64encode(signature).decode()
    return envelope, cert.public_bytes(serialization.Encoding.PEM)


def test_signature_version_1_with_subject_verifies_and_fetches_the_cert_once() -> None:
    envelope, pem = signed_envelope("1", "sha1")
    fetched: list[str] = []
    verifier = SnsSignatureVerifier(fetch_cert=lambda url: fetched.append(url) or pem)

    verifier(envelope)
    verifier(envelope)

    assert fetched == [envelope["SigningCertURL"]]  # cached
    envelope["Subject"] = "Amazon S3 Notification (edited)"
    with pytest.raises(Exception, match="signature does not match"):
        verifier(envelope)


def test_signature_with_the_wrong_digest_for_its_version_is_refused() -> None:
    envelope, pem = signed_envelope("2", "sha1")
    with pytest.raises(Exception, match="signature does not match"):
        SnsSignatureVerifier(fetch_cert=lambda url: pem)(envelope)


@pytest.mark.parametrize(
    ("cert_url", "message"),
    [
        ("http://sns.eu-west-3.amazonaws.com/SimpleNotificationService-x.pem", "host not allowed"),
        ("https://sns.eu-west-3.amazonaws.com.evil.example/x.pem", "host not allowed"),
        ("https://evil.example/SimpleNotificationService-x.pem", "host not allowed"),
        ("https://sns.eu-west-3.amazonaws.com/redirect?to=evil", "does not name a .pem"),
    ],
)
def test_certificate_urls_off_the_sns_hosts_are_never_fetched(cert_url: str, message: str) -> None:
    envelope, pem = signed_envelope("1", "sha1")
    envelope["SigningCertURL"] = cert_url
    fetched: list[str] = []
    verifier = SnsSignatureVerifier(fetch_cert=lambda url: fetched.append(url) or pem)
    with pytest.raises(Exception, match=message):
        verifier(envelope)
    assert fetched == []
