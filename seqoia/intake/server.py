"""The event intake: an HTTP endpoint that turns S3 notifications into submitted events.

MinIO's and Ceph RGW's webhook targets and SNS HTTP(S) subscriptions POST notifications
to ``/events``; each payload is parsed by :func:`~seqoia.intake.events.parse_notification`
and every :class:`~seqoia.intake.events.ObjectCreated` is handed to ``submit`` (in
production, ``object_created.send``).

Authenticated by default: a shared token in the ``Authorization`` header (Bearer, or the
password of HTTP Basic; never in the URL, see :mod:`seqoia.intake.auth`) and/or SNS
signatures checked by :class:`~seqoia.intake.sns.SnsSignatureVerifier`. Without either,
the server refuses to exist unless ``insecure_no_auth`` says so out loud. TLS is served
when an ``ssl.SSLContext`` is given; otherwise a TLS proxy belongs in front.

Bounded: :class:`IntakeLimits` caps the body, the records per payload, the connection
threads and the time a request may take to arrive. Duplicate keys in one payload become
one event, rejected records one log line per request, and untrusted text is escaped
before it reaches a log.

Answers: 200 with ``{accepted, ignored, errors}``; 400 for an unusable payload (a retry
would fail the same way); 401 missing or wrong token; 403 bad SNS signature; 408 request
too slow; 411/413 missing or oversized body or too many records; 503 all threads busy;
500 only when ``submit`` failed, so that the sender retries (duplicates are harmless).
"""

from __future__ import annotations

import io
import json
import logging
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from seqoia.errors import ConfigurationError, EventError
from seqoia.intake.auth import TokenCheck
from seqoia.intake.events import (
    DEFAULT_MAX_RECORDS,
    ObjectCreated,
    ParsedNotification,
    PayloadLimitError,
    SnsConfirmation,
    parse_notification,
)
from seqoia.intake.http import DeadlineReader, PooledHTTPServer
from seqoia.intake.sns import (
    SnsSignatureError,
    SnsSignatureVerifier,
    fetch_url,
    is_aws_sns_url,
    sns_string_to_sign,
)

__all__ = [
    "OUTCOMES",
    "IntakeLimits",
    "IntakeServer",
    "SnsSignatureError",
    "SnsSignatureVerifier",
    "fetch_url",
    "loggable",
    "sns_string_to_sign",
]

log = logging.getLogger(__name__)

Submit = Callable[[ObjectCreated], None]
OnOutcome = Callable[[str, str], None]
SnsVerifier = Callable[[dict[str, Any]], None]

#: Bounded label values for the metrics hook (invariant 6).
OUTCOMES = (
    "accepted",  # an ObjectCreated handed to submit
    "ignored",  # a valid record that is not a creation (removal, test event...)
    "duplicate",  # the same bucket and key again in one payload: collapsed
    "foreign_bucket",  # an event for a bucket this intake does not serve
    "unrouted",  # a key no stage starts from (a lease, an output): not sent on
    "invalid",  # one record refused (hostile key, wrong type, missing field)
    "submit_failed",  # submit raised
    "rejected",  # the whole payload unusable (400)
    "unauthorized",  # bad or missing token (401)
    "signature_invalid",  # SNS signature refused (403)
    "too_large",  # body over max_body_bytes or records over max_records (413)
    "timeout",  # the request did not arrive within request_timeout_s (408)
    "busy",  # every connection thread busy and the backlog full (503)
    "confirmed",  # SNS subscription confirmed by GET SubscribeURL
    "confirmation_logged",  # SubscribeURL not trusted: left to an operator
    "confirmation_failed",  # the GET of SubscribeURL failed
)


@dataclass(frozen=True)
class IntakeLimits:
    """What one sender may cost the intake."""

    #: S3 events are <= 64 KiB, SNS messages <= 256 KiB.
    max_body_bytes: int = 1 << 20
    max_records: int = DEFAULT_MAX_RECORDS
    #: Connection threads; more connections wait in the backlog, then get 503.
    threads: int = 8
    backlog: int = 32
    #: Request line, headers and body must all arrive within this time.
    request_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if min(self.max_body_bytes, self.max_records, self.threads) < 1:
            raise ValueError("intake limits must be positive")
        if self.request_timeout_s <= 0:
            raise ValueError("request_timeout_s must be positive")


def loggable(text: object, limit: int = 200) -> str:
    """``text`` safe for one log line: control characters escaped, length bounded.

    Untrusted strings (a SubscribeURL, a TopicArn, a key in an error) could otherwise
    forge log lines with a newline, or flood them.
    """
    value = str(text)
    escaped = value[:limit].encode("unicode_escape").decode("ascii")
    return escaped + ("..." if len(value) > limit else "")


class IntakeServer:
    """HTTP intake of S3 notifications: ``POST /events``, ``GET /healthz``."""

    def __init__(
        self,
        host: str,
        port: int,
        token: str | None,
        submit: Submit,
        *,
        verify_sns: SnsVerifier | None = None,
        insecure_no_auth: bool = False,
        tls: ssl.SSLContext | None = None,
        allowed_buckets: Collection[str] | None = None,
        limits: IntakeLimits = IntakeLimits(),
        on_outcome: OnOutcome | None = None,
        confirm_fetch: Callable[[str], bytes] | None = None,
        confirm_timeout_s: float = 10.0,
        routed: Callable[[str], bool] | None = None,
    ) -> None:
        if token is None and verify_sns is None and not insecure_no_auth:
            raise ConfigurationError(
                "the event intake needs a token (SEQOIA_INTAKE_TOKEN) or SNS signature "
                "checks (SEQOIA_INTAKE_SNS_TOPIC_ARNS); --insecure-no-auth accepts events "
                "from anyone"
            )
        try:
            self._token = TokenCheck(token) if token is not None else None
        except ValueError as err:
            raise ConfigurationError(str(err)) from err
        self.insecure = self._token is None and verify_sns is None
        self.submit = submit
        self.verify_sns = verify_sns
        self.allowed_buckets = frozenset(allowed_buckets) if allowed_buckets is not None else None
        #: Whether the engine acts on a key: others are counted, not sent on, so that a
        #: bucket announcing every object does not fill the events queue.
        self.routed = routed
        self.limits = limits
        self.on_outcome = on_outcome
        self._confirm_fetch = confirm_fetch or (
            lambda url: fetch_url(url, timeout_s=confirm_timeout_s)
        )
        self._counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        handler = type(
            "IntakeHandler",
            (_Handler,),
            {"intake": self, "timeout": limits.request_timeout_s},  # also bounds the handshake
        )
        server_class = type(
            "IntakeHTTPServer",
            (PooledHTTPServer,),
            {"address_family": socket.AF_INET6 if ":" in host else socket.AF_INET},
        )
        self._httpd = server_class(
            (host.strip("[]"), port),
            handler,
            threads=limits.threads,
            backlog=limits.backlog,
            tls=tls,
            on_busy=lambda: self.record("unknown", "busy"),
        )

    # -- lifecycle

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) actually bound; port 0 asks the system for a free one."""
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        """Base URL of the intake, e.g. ``https://127.0.0.1:8470``."""
        host, port = self.address
        scheme = "https" if self._httpd.tls else "http"
        return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"

    def start(self) -> IntakeServer:
        """Serve in a background thread."""
        if self._thread is None:
            if self.insecure:
                log.warning(
                    "INSECURE: event intake on %s accepts events from anyone "
                    "(--insecure-no-auth); never expose it beyond this machine",
                    self.url,
                )
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

    # -- request handling (called from pool threads)

    def token_ok(self, authorization: str | None) -> bool:
        """Whether the ``Authorization`` header carries the token."""
        return self._token is not None and self._token(authorization)

    def may_post(self, authorization: str | None) -> bool:
        """Whether a POST may be read at all: a token, or a chance to prove an SNS origin."""
        return self.insecure or self.verify_sns is not None or self.token_ok(authorization)

    def handle_payload(self, body: bytes, *, token_ok: bool) -> tuple[int, dict[str, Any]]:
        """Parse and submit one payload; return the HTTP status and JSON answer.

        Without the token (``token_ok`` false) only an SNS message whose signature
        verifies is trusted, unless the intake runs with ``insecure_no_auth``.
        """
        sns_only = not token_ok and not self.insecure
        try:
            parsed = parse_notification(
                body,
                verify_sns=self.verify_sns,
                sns_only=sns_only,
                max_records=self.limits.max_records,
            )
        except SnsSignatureError as err:
            self.record("sns", "signature_invalid")
            log.warning("refused an SNS message: %s", loggable(err))
            return 403, {"error": str(err)}
        except PayloadLimitError as err:
            self.record("unknown", "too_large")
            log.warning("refused a notification payload: %s", err)
            return 413, {"error": str(err)}
        except EventError as err:
            if sns_only:  # neither the token nor an SNS message: the caller answers 401
                return 401, {"error": "missing or wrong token"}
            self.record("unknown", "rejected")
            log.info("refused an unusable notification payload: %s", loggable(err))
            return 400, {"error": str(err)}
        return self._submit_all(parsed)

    def _submit_all(self, parsed: ParsedNotification) -> tuple[int, dict[str, Any]]:
        source = parsed.source or "unknown"
        answer: dict[str, Any] = {"accepted": 0, "ignored": parsed.ignored, "errors": []}
        if parsed.subscription_confirmation is not None:
            outcome = self.confirm(parsed.subscription_confirmation)
            self.record("sns", outcome)
            answer["subscription"] = outcome
        seen: set[tuple[str, str]] = set()
        fresh: list[ObjectCreated] = []
        duplicates = foreign = unrouted = 0
        for event in parsed.events:
            if (event.bucket, event.key) in seen:
                duplicates += 1
            elif self.allowed_buckets is not None and event.bucket not in self.allowed_buckets:
                foreign += 1
            elif self.routed is not None and not self.routed(event.key):
                unrouted += 1
            else:
                seen.add((event.bucket, event.key))
                fresh.append(event)
        failure: Exception | None = None
        for event in fresh:
            try:
                self.submit(event)
            except Exception as err:
                # The broker is down: stop here, answer 500, and let the sender retry the
                # whole payload (duplicates are harmless) instead of failing N times.
                failure = err
                self.record(event.source, "submit_failed")
                break
            answer["accepted"] += 1
            self.record(event.source, "accepted")
        if failure is not None:
            log.error(
                "submit failed after %d of %d events: %s",
                answer["accepted"],
                len(fresh),
                loggable(f"{type(failure).__name__}: {failure}"),
            )
            answer["errors"].append(f"submit failed: {type(failure).__name__}")
        self.record(source, "ignored", parsed.ignored)
        self.record(source, "duplicate", duplicates)
        self.record(source, "foreign_bucket", foreign)
        self.record(source, "unrouted", unrouted)
        self.record(source, "invalid", len(parsed.errors))
        answer["ignored"] += duplicates + foreign + unrouted
        if parsed.errors or foreign:
            # One line per request, however many records were bad.
            first = f"; first: {loggable(parsed.errors[0])}" if parsed.errors else ""
            log.warning(
                "refused %d of %d record(s) of a %s notification, %d for other buckets%s",
                len(parsed.errors),
                parsed.records_seen,
                source,
                foreign,
                first,
            )
        answer["errors"] = [*parsed.errors, *answer["errors"]]
        return (500 if failure is not None else 200), answer

    def confirm(self, confirmation: SnsConfirmation) -> str:
        """Confirm an SNS subscription, only to AWS SNS after a verified signature.

        Anything else (no verifier, another host, plain HTTP) is left to an operator:
        fetching a URL a message names is a request forgery waiting to happen.
        """
        url = confirmation.subscribe_url
        if self.verify_sns is None or not is_aws_sns_url(url):
            log.warning(
                "SNS subscription to %s awaits confirmation by an operator "
                "(only signed confirmations from AWS SNS hosts are fetched): GET %s",
                loggable(confirmation.topic_arn),
                loggable(url, 600),
            )
            return "confirmation_logged"
        try:
            self._confirm_fetch(url)
        except Exception as err:
            log.warning(
                "confirming SNS subscription to %s failed: %s",
                loggable(confirmation.topic_arn),
                loggable(err),
            )
            return "confirmation_failed"
        log.info("confirmed SNS subscription to %s", loggable(confirmation.topic_arn))
        return "confirmed"


class _Handler(BaseHTTPRequestHandler):
    intake: IntakeServer
    server_version = "seqoia-intake"
    sys_version = ""  # no Python version in the Server header
    error_content_type = "application/json"
    error_message_format = '{"error": "%(code)d %(message)s"}'

    def setup(self) -> None:
        super().setup()
        deadline = time.monotonic() + self.intake.limits.request_timeout_s
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()  # under the socket timeout set by setup
        self.rfile.close()
        self.rfile = io.BufferedReader(DeadlineReader(self.connection, deadline))

    def handle_one_request(self) -> None:
        # http.server's own version, with a timeout answered 408 instead of dropped.
        self.command, self.request_version, self.requestline = "", "HTTP/1.1", ""
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if len(self.raw_requestline) > 65536:
                self.send_error(414)
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return
            method = getattr(self, f"do_{self.command}", None)
            if method is None:
                self.send_error(501, "Unsupported method")
                return
            method()
            self.wfile.flush()
        except TimeoutError:
            self.intake.record("unknown", "timeout")
            self._reply(408, {"error": "request not received in time"})

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
        path = urlsplit(self.path).path
        if path == "/healthz":
            self._reply(200, None)
        elif path == "/events":
            authorization = self.headers.get("Authorization")
            ok = self.intake.insecure or self.intake.token_ok(authorization)
            self._reply(200 if ok else 401, None)
        else:
            self._reply(404, None)

    def do_POST(self) -> None:
        try:
            self._post()
        except TimeoutError:
            raise  # answered 408 by handle_one_request
        except Exception:
            log.exception("event intake failed on a request")
            self._reply(500, {"error": "internal error"})

    def _post(self) -> None:
        if urlsplit(self.path).path != "/events":
            self._reply(404, {"error": "not found"})
            return
        authorization = self.headers.get("Authorization")
        token_ok = self.intake.token_ok(authorization)
        if not (token_ok or self.intake.may_post(authorization)):
            self._unauthorized()
            return
        length_header = self.headers.get("Content-Length")
        if length_header is None or self.headers.get("Transfer-Encoding"):
            self._reply(411, {"error": "a Content-Length is required"})
            return
        length = int(length_header) if length_header.strip().isdigit() else -1
        if length < 0:
            self._reply(400, {"error": "bad Content-Length"})
            return
        limit = self.intake.limits.max_body_bytes
        if length > limit:
            self.intake.record("unknown", "too_large")
            self._reply(413, {"error": f"body of {length} bytes exceeds {limit}"})
            return
        body = self.rfile.read(length)
        if len(body) < length:
            self._reply(400, {"error": "body shorter than its Content-Length"})
            return
        status, answer = self.intake.handle_payload(body, token_ok=token_ok)
        if status == 401:
            self._unauthorized()
            return
        self._reply(status, answer)

    def _unauthorized(self) -> None:
        self.intake.record("unknown", "unauthorized")
        # Both schemes are offered: SNS and RGW send Basic credentials from the endpoint URL.
        challenge = 'Basic realm="seqoia-intake", Bearer realm="seqoia-intake"'
        self._reply(401, {"error": "missing or wrong token"}, www_authenticate=challenge)

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
            self.connection.settimeout(5.0)  # the read deadline may have used up the time
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
            self.wfile.flush()
        except OSError:
            log.debug("client went away before the answer %d", status)
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        # Access lines at debug level, path only, escaped: nothing a sender wrote is trusted.
        path = urlsplit(self.path).path if hasattr(self, "path") else "-"
        log.debug("%s %s %s", self.address_string(), loggable(self.command), loggable(path))
