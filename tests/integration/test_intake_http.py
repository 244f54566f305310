"""The event intake over real HTTP, and a real S3 -> SNS -> HTTP push through moto's server.

moto 5's server delivers S3 notifications to SNS topics and SNS to HTTP subscribers for
real (``moto/s3/notifications.py`` -> ``SNSBackend.publish`` -> ``requests.post``), inside
the S3 request, with ``PendingConfirmation`` false (no SubscriptionConfirmation is sent)
and an ``s3:TestEvent`` first. It signs each message (SignatureVersion 2) with a
certificate it serves itself, so the signature check runs against moto too.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import json
import logging
import os
import signal
import socket
import ssl
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

from seqoia.engine.notifications import any_matches, routed_key_filters
from seqoia.engine.runtime import DEFAULT_PIPELINE, load_pipeline
from seqoia.errors import ConfigurationError
from seqoia.intake.events import ObjectCreated
from seqoia.intake.server import IntakeLimits, IntakeServer, SnsSignatureVerifier
from seqoia.storage.layout import Layout
from tests.fixtures.sns import TOPIC as SNS_TOPIC
from tests.fixtures.sns import signed_envelope

DATA = Path(__file__).resolve().parents[1] / "data" / "events"
TOKEN = "s3cr3t-t0ken-of-the-tests"
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
        limits=IntakeLimits(max_body_bytes=64 * 1024, request_timeout_s=1.0),
        on_outcome=lambda source, outcome: outcomes.append((source, outcome)),
    )
    with server:
        yield server


def post(
    url: str,
    body: bytes,
    *,
    token: str | None = TOKEN,
    how: str = "bearer",
    method: str = "POST",
    context: ssl.SSLContext | None = None,
) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token is not None and how == "query":
        url += f"?token={quote(token)}"
    elif token is not None and how == "basic":
        # What http://seqoia:TOKEN@host/events becomes in MinIO, Ceph RGW and SNS.
        headers["Authorization"] = "Basic " + base64.b64encode(f"seqoia:{token}".encode()).decode()
    elif token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as reply:
            status, data = reply.status, reply.read()
    except urllib.error.HTTPError as err:
        status, data = err.code, err.read()
    return status, (json.loads(data) if data else None)


def fixture_bytes(name: str) -> bytes:
    return (DATA / name).read_bytes()


def records(*keys: str, bucket: str = "seqoia-inbox") -> bytes:
    return json.dumps(
        {
            "Records": [
                {
                    "eventName": "ObjectCreated:Put",
                    "eventSource": "aws:s3",
                    "s3": {"bucket": {"name": bucket}, "object": {"key": key}},
                }
                for key in keys
            ]
        }
    ).encode()


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


def test_token_as_the_basic_auth_password_is_accepted_as_rgw_and_minio_send_it(
    intake: IntakeServer, submitted: Collector
) -> None:
    status, answer = post(
        f"{intake.url}/events", fixture_bytes("minio_webhook_put.json"), how="basic"
    )
    assert status == 200 and answer["accepted"] == 1
    assert submitted.events[0].key.endswith("/CopyComplete.txt")


def test_token_in_the_query_string_is_refused(intake: IntakeServer, submitted: Collector) -> None:
    status, _ = post(f"{intake.url}/events", fixture_bytes("minio_webhook_put.json"), how="query")
    assert status == 401
    assert post(f"{intake.url}/events", b"", method="HEAD", how="query")[0] == 401
    assert submitted.events == []


@pytest.mark.parametrize("token", [None, "wrong", TOKEN + "x", ""])
def test_missing_or_wrong_token_is_refused_with_401(
    intake: IntakeServer, submitted: Collector, token: str | None
) -> None:
    status, answer = post(f"{intake.url}/events", fixture_bytes("aws_s3_records.json"), token=token)
    assert status == 401
    assert answer == {"error": "missing or wrong token"}
    assert submitted.events == []
    assert intake.counts()["unknown"] == {"unauthorized": 1}


def test_an_intake_without_authentication_refuses_to_exist_unless_told_loudly(
    submitted: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(ConfigurationError, match="--insecure-no-auth"):
        IntakeServer("127.0.0.1", 0, None, submitted)
    with pytest.raises(ConfigurationError, match="at least 16 characters"):
        IntakeServer("127.0.0.1", 0, "s3cret", submitted)
    with caplog.at_level("WARNING", logger="seqoia.intake.server"):
        server = IntakeServer("127.0.0.1", 0, None, submitted, insecure_no_auth=True)
        with server:
            status, answer = post(f"{server.url}/events", records("a/b"), token=None)
    assert status == 200 and answer["accepted"] == 1
    assert "INSECURE" in caplog.text


def test_head_on_events_answers_minio_liveness_check(intake: IntakeServer) -> None:
    assert post(f"{intake.url}/events", b"", method="HEAD")[0] == 200
    assert post(f"{intake.url}/events", b"", method="HEAD", token="wrong")[0] == 401


def test_hostile_keys_are_answered_per_record_in_one_log_line(
    intake: IntakeServer, submitted: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="seqoia.intake"):
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
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    summary = "refused 6 of 8 record(s) of a s3 notification, 0 for other buckets; first:"
    assert summary in warnings[0].getMessage()


def test_many_bad_records_are_one_warning_not_one_each(
    intake: IntakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    # 250 kB of bad records used to write 50,000 log lines.
    body = records(*[f"../bad/{i}" for i in range(100)])
    with caplog.at_level("INFO", logger="seqoia.intake"):
        status, answer = post(f"{intake.url}/events", body)
    assert status == 200 and len(answer["errors"]) == 100
    assert len(caplog.records) == 1


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
        head = f"POST /events HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 500\r\n"
        sock.sendall(head.encode() + b"\r\n{")

    status, answer = post(url, fixture_bytes("aws_s3_records.json"))

    assert status == 200 and answer["accepted"] == 3
    assert intake.counts()["unknown"] == {"rejected": 3, "too_large": 1}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"[" * 200_000 + b"]" * 200_000, "nests JSON too deeply"),
        (b'{"Records": [{"size": ' + b"7" * 5000 + b"}]}", "not usable JSON"),
    ],
    ids=["deep-nesting", "5000-digit-number"],
)
def test_undeliverable_payloads_answer_400_not_500(
    submitted: Collector, body: bytes, error: str
) -> None:
    limits = IntakeLimits(max_body_bytes=1 << 20)
    with IntakeServer("127.0.0.1", 0, TOKEN, submitted, limits=limits) as server:
        status, answer = post(f"{server.url}/events", body)
    assert status == 400 and error in answer["error"]


def test_a_flood_of_records_is_refused_and_duplicates_collapse(
    submitted: Collector,
) -> None:
    limits = IntakeLimits(max_body_bytes=1 << 20)
    with IntakeServer("127.0.0.1", 0, TOKEN, submitted, limits=limits) as server:
        # 1 MB of RTAComplete records used to become 7,000 broker messages.
        flood = records(*[f"inbox/RUN{i % 9}/RTAComplete.txt" for i in range(6000)])
        assert len(flood) < 1 << 20
        status, answer = post(f"{server.url}/events", flood)
        assert status == 413 and "more than 100 records" in answer["error"]
        assert submitted.events == []

        status, answer = post(f"{server.url}/events", records(*["inbox/RUN/RTAComplete.txt"] * 50))
        assert status == 200 and answer == {"accepted": 1, "ignored": 49, "errors": []}
        assert server.counts()["s3"] == {"accepted": 1, "duplicate": 49}
    assert [e.key for e in submitted.events] == ["inbox/RUN/RTAComplete.txt"]


def test_events_for_a_foreign_bucket_are_not_submitted(submitted: Collector) -> None:
    allowed = ["seqoia-inbox"]
    with IntakeServer("127.0.0.1", 0, TOKEN, submitted, allowed_buckets=allowed) as server:
        status, answer = post(f"{server.url}/events", records("inbox/R/CopyComplete.txt"))
        assert status == 200 and answer["accepted"] == 1
        body = records("inbox/R/CopyComplete.txt", bucket="someone-elses")
        status, answer = post(f"{server.url}/events", body)
        assert status == 200 and answer["accepted"] == 0 and answer["ignored"] == 1
        assert server.counts()["s3"] == {"accepted": 1, "foreign_bucket": 1}
    assert [e.bucket for e in submitted.events] == ["seqoia-inbox"]


def test_keys_no_stage_starts_from_are_counted_and_not_submitted(submitted: Collector) -> None:
    """A bucket announcing every object: leases and outputs stop at the intake."""
    filters = routed_key_filters(load_pipeline(DEFAULT_PIPELINE), Layout())
    routed = functools.partial(any_matches, filters)  # as the command does
    with IntakeServer("127.0.0.1", 0, TOKEN, submitted, routed=routed) as server:
        body = records(
            "inbox/R/SampleSheet.csv",
            "inbox/R/CopyComplete.txt",
            "work/_leases/align/S1",
            "work/align/S1/g000001.manifest.json",
        )
        status, answer = post(f"{server.url}/events", body)
        assert status == 200 and answer["accepted"] == 2 and answer["ignored"] == 2
        assert server.counts()["s3"] == {"accepted": 2, "unrouted": 2}
    assert [e.key for e in submitted.events] == [
        "inbox/R/CopyComplete.txt",
        "work/align/S1/g000001.manifest.json",
    ]


def test_failing_submit_answers_500_once_for_that_request_only(
    intake: IntakeServer, submitted: Collector, outcomes: list[tuple[str, str]]
) -> None:
    submitted.fail = True
    status, answer = post(f"{intake.url}/events", fixture_bytes("ceph_rgw_put.json"))
    assert status == 500
    assert answer["accepted"] == 0
    assert answer["errors"] == ["submit failed: RuntimeError"]  # stops at the first failure
    assert outcomes.count(("s3", "submit_failed")) == 1

    submitted.fail = False
    status, answer = post(f"{intake.url}/events", fixture_bytes("ceph_rgw_put.json"))
    assert status == 200 and answer["accepted"] == 2


def test_half_open_requests_use_a_bounded_pool_and_end_in_408_without_a_traceback(
    submitted: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    limits = IntakeLimits(threads=4, backlog=8, request_timeout_s=1.0)
    server = IntakeServer("127.0.0.1", 0, TOKEN, submitted, limits=limits)
    with caplog.at_level("DEBUG", logger="seqoia.intake"), server:
        threads_before = threading.active_count()
        sockets = []
        for _ in range(24):  # used to be one thread each, until a 500 after 30 s
            sock = socket.create_connection(server.address, timeout=5)
            sock.sendall(b"POST /events HTTP/1.1\r\nContent-Length: 10\r\n")
            sockets.append(sock)
        time.sleep(0.3)
        threads_during = threading.active_count()
        answers = []
        for sock in sockets:
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
            answers.append(data.split(b" ", 2)[1])  # the status code
            sock.close()
        status, _ = post(f"{server.url}/events", records("inbox/R/CopyComplete.txt"))
    assert threads_during <= threads_before
    # Each ends in 408 once its time is up, or 503 at once when the backlog is full:
    # never a thread of its own, never a 500.
    assert len(answers) == 24 and set(answers) <= {b"408", b"503"}
    assert answers.count(b"408") >= 4 + 8  # the threads, then the backlog
    assert status == 200
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_a_dripping_sender_is_cut_off_at_the_request_deadline(submitted: Collector) -> None:
    limits = IntakeLimits(request_timeout_s=1.0)
    with IntakeServer("127.0.0.1", 0, TOKEN, submitted, limits=limits) as server:
        with socket.create_connection(server.address, timeout=5) as sock:
            started = time.monotonic()
            head = f"POST /events HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\n"
            sock.sendall(head.encode() + b"Content-Length: 1000\r\n\r\n")
            answer = b""
            while time.monotonic() - started < 5:  # one byte every 0.2 s: never idle 1 s
                try:
                    sock.sendall(b" ")
                except OSError:
                    break
                sock.settimeout(0.2)
                try:
                    answer += sock.recv(4096)
                except TimeoutError:
                    continue
                break
            elapsed = time.monotonic() - started
        assert answer.split(b" ", 2)[1] == b"408", answer
        assert elapsed < 2.5
        assert server.counts()["unknown"] == {"timeout": 1}


def test_tls_is_served_with_a_certificate_and_key(submitted: Collector, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with IntakeServer("127.0.0.1", 0, TOKEN, submitted, tls=context) as server:
        assert server.url.startswith("https://127.0.0.1:")
        # A plain-HTTP client and a silent one do not stop the TLS server.
        with socket.create_connection(server.address, timeout=5) as sock:
            sock.sendall(b"POST /events HTTP/1.1\r\n\r\n")
        silent = socket.create_connection(server.address, timeout=5)
        client = ssl.create_default_context(cafile=str(cert))
        status, answer = post(f"{server.url}/events", records("inbox/R/x"), context=client)
        silent.close()
    assert status == 200 and answer["accepted"] == 1


def self_signed(folder: Path) -> tuple[Path, Path]:
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "intake.crt", folder / "intake.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


# -- SNS: forged messages, confirmations -------------------------------------------------


def sns_intake(submitted: Collector, pem: bytes, **options: Any) -> IntakeServer:
    """An intake trusting SNS signatures only (no token), serving ``pem`` as AWS's cert."""
    verifier = SnsSignatureVerifier(allowed_topic_arns=[SNS_TOPIC], fetch_cert=lambda url: pem)
    return IntakeServer("127.0.0.1", 0, None, submitted, verify_sns=verifier, **options)


def test_sns_only_intake_accepts_a_signed_notification_and_refuses_everything_forged(
    submitted: Collector,
) -> None:
    envelope, pem = signed_envelope()
    with sns_intake(submitted, pem) as server:
        url = f"{server.url}/events"
        assert post(url, json.dumps(envelope).encode(), token=None)[0] == 200
        # Plain S3 records, without the token: no way to prove where they come from.
        assert post(url, fixture_bytes("aws_s3_records.json"), token=None)[0] == 401
        forged_signature = dict(envelope, Message=envelope["Message"].replace("Run", "Rum"))
        forged_cert = dict(envelope, SigningCertURL="https://evil.example/cert.pem")
        foreign_topic = dict(envelope, TopicArn="arn:aws:sns:eu-west-3:666:evil")
        for forged in (forged_signature, forged_cert, foreign_topic):
            status, answer = post(url, json.dumps(forged).encode(), token=None)
            assert status == 403, answer
        assert server.counts()["sns"] == {"accepted": 1, "signature_invalid": 3}
    assert [e.key.rsplit("/", 1)[-1] for e in submitted.events] == ["RunParameters.xml"]


def test_replayed_sns_message_is_refused(submitted: Collector) -> None:
    from datetime import UTC, datetime, timedelta

    envelope, pem = signed_envelope(timestamp=datetime.now(UTC) - timedelta(hours=2))
    with sns_intake(submitted, pem) as server:
        status, answer = post(f"{server.url}/events", json.dumps(envelope).encode(), token=None)
    assert status == 403 and "replay window" in answer["error"]
    assert submitted.events == []


def test_subscription_confirmation_never_fetches_a_loopback_url(
    intake: IntakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    got: list[str] = []

    class Confirm(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            got.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    internal = ThreadingHTTPServer(("127.0.0.1", 0), Confirm)
    threading.Thread(target=internal.serve_forever, daemon=True).start()
    try:
        doc = json.loads(fixture_bytes("sns_subscription_confirmation.json"))
        doc["SubscribeURL"] = f"http://127.0.0.1:{internal.server_address[1]}/admin/delete-all"
        with caplog.at_level("WARNING", logger="seqoia.intake.server"):
            status, answer = post(f"{intake.url}/events", json.dumps(doc).encode())
    finally:
        internal.shutdown()
        internal.server_close()

    assert status == 200 and answer["subscription"] == "confirmation_logged"
    assert got == []  # used to GET any http://127.0.0.1:PORT/... a caller named
    assert "awaits confirmation by an operator" in caplog.text


def test_untrusted_strings_cannot_forge_log_lines(
    intake: IntakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    doc = json.loads(fixture_bytes("sns_subscription_confirmation.json"))
    doc["SubscribeURL"] += "\n2026-12-02 19:00:00 INFO seqoia.intake.server: confirmed"
    doc["TopicArn"] += "\rFORGED"
    with caplog.at_level("INFO", logger="seqoia.intake"):
        status, _ = post(f"{intake.url}/events", json.dumps(doc).encode())
    assert status == 200
    messages = [record.getMessage() for record in caplog.records]
    assert messages and not any("\n" in m or "\r" in m for m in messages)
    # The forged text is still there, inside the one line that quotes the URL (escaped, or
    # partly masked once the redacting log filter has rewritten the URL's Token).
    assert any("seqoia.intake.server: confirmed" in m for m in messages)


def test_signed_confirmation_from_aws_sns_is_confirmed_and_unsigned_one_is_not(
    submitted: Collector,
) -> None:
    envelope, pem = signed_envelope("sns_subscription_confirmation.json")
    fetched: list[str] = []
    with sns_intake(submitted, pem, confirm_fetch=lambda url: fetched.append(url) or b"") as server:
        status, answer = post(f"{server.url}/events", json.dumps(envelope).encode(), token=None)
    assert status == 200 and answer["subscription"] == "confirmed"
    assert fetched == [envelope["SubscribeURL"]]

    # The same confirmation to a token-only intake (no signature check): never fetched.
    fetched.clear()
    with IntakeServer(
        "127.0.0.1", 0, TOKEN, submitted, confirm_fetch=lambda url: fetched.append(url) or b""
    ) as server:
        status, answer = post(f"{server.url}/events", json.dumps(envelope).encode())
    assert status == 200 and answer["subscription"] == "confirmation_logged"
    assert fetched == []


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
    topic = sns.create_topic(Name="seqoia-inbox-events")["TopicArn"]
    verifier = SnsSignatureVerifier(
        allowed_topic_arns=[topic], fetch_cert=moto_cert_fetcher(moto_endpoint)
    )
    # No token: only moto's signature proves where the notifications come from.
    with IntakeServer("127.0.0.1", 0, None, submitted, verify_sns=verifier) as intake:
        s3.create_bucket(Bucket="seqoia-inbox")
        subscription = sns.subscribe(
            TopicArn=topic, Protocol="http", Endpoint=f"{intake.url}/events"
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
    verifier = SnsSignatureVerifier(
        allowed_topic_arns=[topic], fetch_cert=moto_cert_fetcher(moto_endpoint)
    )

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
