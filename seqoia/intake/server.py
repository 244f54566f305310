"""The event intake: an HTTP endpoint that turns S3 notifications into submitted events.

MinIO's and Ceph RGW's webhook targets and SNS HTTP(S) subscriptions POST notifications
to ``/events``; each payload is parsed by :func:`~seqoia.intake.events.parse_notification`
and every :class:`~seqoia.intake.events.ObjectCreated` is handed to ``submit`` (in
production, ``object_created.send``). The intake is a stdlib ``ThreadingHTTPServer``: no
framework, one thread per request, and nothing a sender does (garbage, a huge body, a
failing ``submit``) stops it.

Authentication is a shared token, either as ``Authorization: Bearer <token>`` (what
MinIO's ``auth_token`` sends: it prefixes ``Bearer`` to a one-word token) or as
``?token=`` in the URL (SNS subscriptions cannot carry headers). SNS message signatures
can be checked as well with :class:`SnsSignatureVerifier` (off unless passed in).

Answers: 200 with ``{accepted, ignored, errors}``; 400 for an unusable payload (a retry
would fail the same way); 401 bad token; 403 bad SNS signature; 411/413 for a missing or
oversized body; 500 when ``submit`` failed, so that the sender retries (events are hints
and duplicates are harmless).
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import re
import socket
import threading
import urllib.request
from collections import Counter
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from seqoia.errors import EventError
from seqoia.intake.events import ObjectCreated, SnsConfirmation, parse_notification

log = logging.getLogger(__name__)

Submit = Callable[[ObjectCreated], None]
OnOutcome = Callable[[str, str], None]

DEFAULT_CONFIRM_HOSTS = ("127.0.0.1", "localhost", "::1")
DEFAULT_MAX_BODY_BYTES = 1 << 20  # S3 events are <= 64 KiB, SNS messages <= 256 KiB
#: Bounded label values for the metrics hook (invariant 6).
OUTCOMES = (
    "accepted",  # an ObjectCreated handed to submit
    "ignored",  # a valid record that is not a creation (removal, test event...)
    "invalid",  # one record refused (hostile key, wrong type, missing field)
    "submit_failed",  # submit raised
    "rejected",  # the whole payload unusable (400)
    "unauthorized",  # bad or missing token (401)
    "signature_invalid",  # SNS signature refused (403)
    "too_large",  # body over max_body_bytes (413)
    "confirmed",  # SNS subscription confirmed by GET SubscribeURL
    "confirmation_logged",  # SubscribeURL not on the allowed hosts: left to an operator
    "confirmation_failed",  # the GET of SubscribeURL failed
)


# -- SNS signatures ------------------------------------------------------------------


class SnsSignatureError(EventError):
    """An SNS message's signature, certificate URL or topic is not trusted."""


#: The fields SNS signs, in order, per message type (AWS "Verifying the signatures of
#: Amazon SNS messages"); Subject is signed only when present.
_SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        *("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    ),
    "UnsubscribeConfirmation": (
        *("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    ),
}
_AWS_CERT_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")


def sns_string_to_sign(envelope: dict[str, Any]) -> bytes:
    """The canonical text SNS signs for ``envelope``."""
    kind = envelope.get("Type")
    if kind not in _SIGNED_FIELDS:
        raise SnsSignatureError(f"unknown SNS message Type {str(kind)[:40]!r}")
    lines = []
    for name in _SIGNED_FIELDS[kind]:
        value = envelope.get(name)
        if value is None and name == "Subject":
            continue
        if not isinstance(value, str):
            raise SnsSignatureError(f"SNS {kind} has no string {name} to verify")
        lines.append(f"{name}\n{value}\n")
    return "".join(lines).encode("utf-8")


def fetch_url(url: str, *, timeout_s: float = 10.0, max_bytes: int = 64 << 10) -> bytes:
    """GET ``url`` without proxies or redirects (certificate fetches, confirmations)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())
    with opener.open(urllib.request.Request(url, method="GET"), timeout=timeout_s) as reply:
        return reply.read(max_bytes)


class SnsSignatureVerifier:
    """Check SNS ``SignatureVersion`` 1 (SHA1) and 2 (SHA256) RSA signatures.

    The signing certificate is fetched from ``SigningCertURL`` only when that URL is
    HTTPS on a host matching ``cert_host_pattern`` (AWS's ``sns.<region>.amazonaws.com``
    by default), and cached. ``fetch_cert`` is pluggable so that tests (and closed
    networks) can serve the certificate another way. ``allowed_topic_arns`` closes the
    gap a valid signature leaves: anyone can sign messages from their own topic.
    Needs the ``cryptography`` package.
    """

    def __init__(
        self,
        *,
        fetch_cert: Callable[[str], bytes] = fetch_url,
        cert_host_pattern: re.Pattern[str] = _AWS_CERT_HOST,
        allowed_topic_arns: Collection[str] | None = None,
        max_cached_certs: int = 32,
    ) -> None:
        self._fetch_cert = fetch_cert
        self._cert_host = cert_host_pattern
        self._topics = frozenset(allowed_topic_arns) if allowed_topic_arns else None
        self._certs: dict[str, Any] = {}
        self._max_cached = max_cached_certs
        self._lock = threading.Lock()

    def __call__(self, envelope: dict[str, Any]) -> None:
        """Return when ``envelope`` is authentic, else raise :class:`SnsSignatureError`."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        if self._topics is not None and envelope.get("TopicArn") not in self._topics:
            raise SnsSignatureError("SNS message from a topic that is not allowed")
        version = envelope.get("SignatureVersion")
        if version not in ("1", "2"):
            raise SnsSignatureError(f"unsupported SNS SignatureVersion {str(version)[:8]!r}")
        try:
            signature = base64.b64decode(str(envelope.get("Signature", "")), validate=True)
        except ValueError as err:
            raise SnsSignatureError("SNS Signature is not base64") from err
        cert = self._certificate(envelope.get("SigningCertURL"))
        now = datetime.now(UTC)
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise SnsSignatureError("SNS signing certificate is expired or not yet valid")
        digest = hashes.SHA1() if version == "1" else hashes.SHA256()  # v1 is SHA1 by definition
        try:
            cert.public_key().verify(
                signature, sns_string_to_sign(envelope), padding.PKCS1v15(), digest
            )
        except InvalidSignature as err:
            raise SnsSignatureError("SNS message signature does not match") from err

    def _certificate(self, url: Any) -> Any:
        from cryptography import x509

        if not isinstance(url, str):
            raise SnsSignatureError("SNS message has no SigningCertURL")
        parts = urlsplit(url)
        if parts.scheme != "https" or not self._cert_host.match(parts.hostname or ""):
            raise SnsSignatureError(f"SNS SigningCertURL host not allowed: {parts.hostname!r}")
        if not parts.path.endswith(".pem"):
            raise SnsSignatureError("SNS SigningCertURL does not name a .pem certificate")
        with self._lock:
            cert = self._certs.get(url)
        if cert is None:
            try:
                cert = x509.load_pem_x509_certificate(self._fetch_cert(url))
            except Exception as err:  # network, HTTP or PEM errors: all mean "untrusted"
                raise SnsSignatureError(f"cannot load SNS signing certificate: {err}") from err
            with self._lock:
                if len(self._certs) >= self._max_cached:
                    self._certs.pop(next(iter(self._certs)))
                self._certs[url] = cert
        return cert


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect could lead a confirmation GET off the allowed hosts: refuse them."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# -- the server ----------------------------------------------------------------------


class IntakeServer:
    """HTTP intake of S3 notifications: ``POST /events``, ``GET /healthz``."""

    def __init__(
        self,
        host: str,
        port: int,
        token: str | None,
        submit: Submit,
        *,
        allowed_confirm_hosts: Collection[str] = DEFAULT_CONFIRM_HOSTS,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        on_outcome: OnOutcome | None = None,
        verify_sns: Callable[[dict[str, Any]], None] | None = None,
        confirm_timeout_s: float = 10.0,
        request_timeout_s: float = 30.0,
    ) -> None:
        if token == "":
            raise ValueError("token must be None (no authentication) or non-empty")
        self._token = token.encode("utf-8") if token is not None else None
        self.submit = submit
        self.allowed_confirm_hosts = frozenset(h.lower().strip("[]") for h in allowed_confirm_hosts)
        self.max_body_bytes = max_body_bytes
        self.on_outcome = on_outcome
        self.verify_sns = verify_sns
        self.confirm_timeout_s = confirm_timeout_s
        self._counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._httpd = _make_httpd(host, port, self, request_timeout_s)

    # -- lifecycle

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) actually bound; port 0 asks the system for a free one."""
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        """Base URL of the intake, e.g. ``http://127.0.0.1:8080``."""
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> IntakeServer:
        """Serve in a background thread."""
        if self._thread is None:
            if self._token is None:
                log.warning("event intake on %s accepts events without authentication", self.url)
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.1},  # how long stop() may wait
                name="seqoia-intake",
                daemon=True,
            )
            self._thread.start()
            log.info("event intake listening on %s/events", self.url)
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> IntakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- counters

    def counts(self) -> dict[str, dict[str, int]]:
        """Outcomes so far, as ``{source: {outcome: n}}``."""
        with self._lock:
            snapshot = dict(self._counts)
        nested: dict[str, dict[str, int]] = {}
        for (source, outcome), n in sorted(snapshot.items()):
            nested.setdefault(source, {})[outcome] = n
        return nested

    def record(self, source: str, outcome: str, n: int = 1) -> None:
        """Count ``n`` outcomes and tell the ``on_outcome`` hook (which must not break us)."""
        if n <= 0:
            return
        with self._lock:
            self._counts[(source, outcome)] += n
        if self.on_outcome is not None:
            for _ in range(n):
                try:
                    self.on_outcome(source, outcome)
                except Exception:
                    log.exception("on_outcome hook failed for %s/%s", source, outcome)

    # -- request handling (called from handler threads)

    def authorized(self, authorization: str | None, query: str) -> bool:
        """Whether the request carries the token (header or ``?token=``)."""
        if self._token is None:
            return True
        offered: list[str] = []
        if authorization:
            scheme, _, value = authorization.strip().partition(" ")
            if scheme.lower() == "bearer":
                offered.append(value.strip())
        offered.extend(parse_qs(query).get("token", []))
        # Compare every candidate, in constant time each, so timing says nothing.
        ok = False
        for candidate in offered:
            ok |= hmac.compare_digest(candidate.encode("utf-8", "replace"), self._token)
        return ok

    def handle_payload(self, body: bytes) -> tuple[int, dict[str, Any]]:
        """Parse and submit one payload; return the HTTP status and JSON answer."""
        try:
            parsed = parse_notification(body, verify_sns=self.verify_sns)
        except SnsSignatureError as err:
            self.record("sns", "signature_invalid")
            log.warning("refused an SNS message: %s", err)
            return 403, {"error": str(err)}
        except EventError as err:
            self.record("unknown", "rejected")
            log.info("refused an unusable notification payload: %s", err)
            return 400, {"error": str(err)}
        source = parsed.source or "unknown"
        answer: dict[str, Any] = {"accepted": 0, "ignored": parsed.ignored, "errors": []}
        if parsed.subscription_confirmation is not None:
            outcome = self.confirm(parsed.subscription_confirmation)
            self.record("sns", outcome)
            answer["subscription"] = outcome
        failed = 0
        for event in parsed.events:
            try:
                self.submit(event)
            except Exception as err:
                failed += 1
                log.exception("submit failed for an event from %s", event.source)
                answer["errors"].append(f"submit failed: {type(err).__name__}")
                self.record(event.source, "submit_failed")
            else:
                answer["accepted"] += 1
                self.record(event.source, "accepted")
        self.record(source, "ignored", parsed.ignored)
        self.record(source, "invalid", len(parsed.errors))
        for error in parsed.errors:
            log.warning("refused a notification record: %s", error)
        answer["errors"] = [*parsed.errors, *answer["errors"]]
        return (500 if failed else 200), answer

    def confirm(self, confirmation: SnsConfirmation) -> str:
        """Confirm an SNS subscription if its SubscribeURL is on an allowed host."""
        parts = urlsplit(confirmation.subscribe_url)
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or host not in self.allowed_confirm_hosts:
            log.warning(
                "SNS subscription to %s awaits confirmation by an operator "
                "(host %r is not allowed to be fetched): GET %s",
                confirmation.topic_arn,
                host,
                confirmation.subscribe_url,
            )
            return "confirmation_logged"
        try:
            fetch_url(confirmation.subscribe_url, timeout_s=self.confirm_timeout_s)
        except Exception as err:
            log.warning("confirming SNS subscription to %s failed: %s", confirmation.topic_arn, err)
            return "confirmation_failed"
        log.info("confirmed SNS subscription to %s", confirmation.topic_arn)
        return "confirmed"


def _make_httpd(
    host: str, port: int, intake: IntakeServer, request_timeout_s: float
) -> ThreadingHTTPServer:
    handler = type("IntakeHandler", (_Handler,), {"intake": intake, "timeout": request_timeout_s})
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server_class = type("IntakeHTTPServer", (ThreadingHTTPServer,), {"address_family": family})
    httpd: ThreadingHTTPServer = server_class((host.strip("[]"), port), handler)
    httpd.daemon_threads = True
    return httpd


class _Handler(BaseHTTPRequestHandler):
    intake: IntakeServer
    server_version = "seqoia-intake"
    error_content_type = "application/json"
    error_message_format = '{"error": "%(code)d %(message)s"}'

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/healthz":
            self._reply(200, {"status": "ok", "counts": self.intake.counts()})
        elif path == "/events":
            self._reply(405, {"error": "POST notifications to /events"}, allow="POST, HEAD")
        else:
            self._reply(404, {"error": "not found"})

    def do_HEAD(self) -> None:
        # MinIO checks that its webhook target is up with a HEAD before sending.
        parts = urlsplit(self.path)
        if parts.path == "/healthz":
            self._reply(200, None)
        elif parts.path == "/events":
            ok = self.intake.authorized(self.headers.get("Authorization"), parts.query)
            self._reply(200 if ok else 401, None)
        else:
            self._reply(404, None)

    def do_POST(self) -> None:
        try:
            self._post()
        except Exception:
            log.exception("event intake failed on a request")
            self._reply(500, {"error": "internal error"})

    def _post(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != "/events":
            self._reply(404, {"error": "not found"})
            return
        if not self.intake.authorized(self.headers.get("Authorization"), parts.query):
            self.intake.record("unknown", "unauthorized")
            self._reply(401, {"error": "missing or wrong token"}, www_authenticate="Bearer")
            return
        length_header = self.headers.get("Content-Length")
        if length_header is None or self.headers.get("Transfer-Encoding"):
            self._reply(411, {"error": "a Content-Length is required"})
            return
        try:
            length = int(length_header)
        except ValueError:
            length = -1
        if length < 0:
            self._reply(400, {"error": "bad Content-Length"})
            return
        if length > self.intake.max_body_bytes:
            self.intake.record("unknown", "too_large")
            limit = self.intake.max_body_bytes
            self._reply(413, {"error": f"body of {length} bytes exceeds {limit}"})
            return
        body = self.rfile.read(length)
        if len(body) < length:
            self._reply(400, {"error": "body shorter than its Content-Length"})
            return
        status, answer = self.intake.handle_payload(body)
        self._reply(status, answer)

    def _reply(
        self,
        status: int,
        payload: dict[str, Any] | None,
        *,
        allow: str | None = None,
        www_authenticate: str | None = None,
    ) -> None:
        data = json.dumps(payload).encode("utf-8") if payload is not None else b""
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if allow:
                self.send_header("Allow", allow)
            if www_authenticate:
                self.send_header("WWW-Authenticate", www_authenticate)
            # A refused request may leave an unread body: never reuse the connection.
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        except OSError:
            log.debug("client went away before the answer %d", status)
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        # The query string may carry the token: log the path only.
        path = urlsplit(self.path).path if hasattr(self, "path") else "-"
        log.debug("%s %s %s", self.address_string(), getattr(self, "command", "-"), path)
