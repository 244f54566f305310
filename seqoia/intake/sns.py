"""SNS message authenticity: signature, certificate URL, topic allow-list, replay window.

AWS signs every HTTP(S) delivery of an SNS topic ("Verifying the signatures of Amazon SNS
messages"). :class:`SnsSignatureVerifier` checks one envelope and raises
:class:`SnsSignatureError` when anything is off: a topic not on the allow-list (anyone can
sign messages from their own topic), a certificate URL that is not HTTPS on an AWS SNS
host, a ``Timestamp`` outside the replay window, ``SignatureVersion`` 1 (SHA1) unless
explicitly allowed, or a signature that does not match.
"""

from __future__ import annotations

import base64
import re
import threading
import urllib.request
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from seqoia.errors import EventError

#: AWS's SNS endpoints (``sns.eu-west-3.amazonaws.com``, China's ``.amazonaws.com.cn``):
#: the only hosts a certificate or a subscription confirmation is ever fetched from.
AWS_SNS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
DEFAULT_REPLAY_WINDOW_S = 3600.0


class SnsSignatureError(EventError):
    """An SNS message's signature, certificate URL, timestamp or topic is not trusted."""


#: The fields SNS signs, in order, per message type; Subject is signed only when present.
_SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        *("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    ),
    "UnsubscribeConfirmation": (
        *("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    ),
}


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


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect could lead a fetch off the allowed hosts: refuse them."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def fetch_url(url: str, *, timeout_s: float = 10.0, max_bytes: int = 64 << 10) -> bytes:
    """GET ``url`` without proxies or redirects (certificate fetches, confirmations)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())
    with opener.open(urllib.request.Request(url, method="GET"), timeout=timeout_s) as reply:
        return bytes(reply.read(max_bytes))


def is_aws_sns_url(url: str) -> bool:
    """Whether ``url`` is HTTPS on an AWS SNS host (default port, no user info)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    return (
        parts.scheme == "https"
        and parts.username is None
        and port in (None, 443)
        and bool(AWS_SNS_HOST.match(parts.hostname or ""))
    )


def sns_timestamp(envelope: dict[str, Any]) -> datetime:
    """The envelope's signed ``Timestamp`` (ISO 8601, UTC), or raise."""
    value = envelope.get("Timestamp")
    if not isinstance(value, str):
        raise SnsSignatureError("SNS message has no Timestamp")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as err:
        raise SnsSignatureError("SNS Timestamp is not an ISO 8601 time") from err
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class SnsSignatureVerifier:
    """Check SNS RSA signatures: ``SignatureVersion`` 2 (SHA256), 1 (SHA1) only if allowed.

    ``allowed_topic_arns`` is required and non-empty: a valid signature only proves that
    AWS delivered the message, not that it came from our topic. ``replay_window_s`` bounds
    how far the signed ``Timestamp`` may be from now, so a captured message cannot be
    replayed later. The certificate is fetched from ``SigningCertURL`` only when that URL
    is HTTPS on an AWS SNS host (``cert_url_allowed``), and cached. ``fetch_cert`` and
    ``clock`` are pluggable for tests and closed networks. Needs ``cryptography``.
    """

    def __init__(
        self,
        *,
        allowed_topic_arns: Collection[str],
        fetch_cert: Callable[[str], bytes] = fetch_url,
        cert_url_allowed: Callable[[str], bool] = is_aws_sns_url,
        allow_signature_v1: bool = False,
        replay_window_s: float = DEFAULT_REPLAY_WINDOW_S,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        max_cached_certs: int = 32,
    ) -> None:
        topics = frozenset(allowed_topic_arns)
        if not topics or "" in topics:
            raise ValueError("SNS verification needs the allowed topic ARNs")
        if replay_window_s <= 0:
            raise ValueError("replay_window_s must be positive")
        self.topics = topics
        self._fetch_cert = fetch_cert
        self._cert_url_allowed = cert_url_allowed
        self._versions = ("1", "2") if allow_signature_v1 else ("2",)
        self._window = timedelta(seconds=replay_window_s)
        self._clock = clock
        self._certs: dict[str, Any] = {}
        self._max_cached = max_cached_certs
        self._lock = threading.Lock()

    def __call__(self, envelope: dict[str, Any]) -> None:
        """Return when ``envelope`` is authentic, else raise :class:`SnsSignatureError`."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        # Cheap checks first: none of them costs a certificate fetch.
        if envelope.get("TopicArn") not in self.topics:
            raise SnsSignatureError("SNS message from a topic that is not allowed")
        version = envelope.get("SignatureVersion")
        if version not in self._versions:
            allowed = " or ".join(self._versions)
            raise SnsSignatureError(
                f"SNS SignatureVersion {str(version)[:8]!r} refused (allowed: {allowed})"
            )
        now = self._clock()
        if abs(now - sns_timestamp(envelope)) > self._window:
            raise SnsSignatureError("SNS Timestamp is outside the replay window")
        try:
            signature = base64.b64decode(str(envelope.get("Signature", "")), validate=True)
        except ValueError as err:
            raise SnsSignatureError("SNS Signature is not base64") from err
        to_sign = sns_string_to_sign(envelope)
        cert = self._certificate(envelope.get("SigningCertURL"))
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise SnsSignatureError("SNS signing certificate is expired or not yet valid")
        digest = hashes.SHA1() if version == "1" else hashes.SHA256()  # v1 is SHA1 by definition
        try:
            cert.public_key().verify(signature, to_sign, padding.PKCS1v15(), digest)
        except (InvalidSignature, TypeError, ValueError) as err:
            raise SnsSignatureError("SNS message signature does not match") from err

    def _certificate(self, url: Any) -> Any:
        from cryptography import x509

        if not isinstance(url, str):
            raise SnsSignatureError("SNS message has no SigningCertURL")
        if not self._cert_url_allowed(url):
            raise SnsSignatureError("SNS SigningCertURL host not allowed (HTTPS AWS SNS only)")
        if not urlsplit(url).path.endswith(".pem"):
            raise SnsSignatureError("SNS SigningCertURL does not name a .pem certificate")
        with self._lock:
            cert = self._certs.get(url)
        if cert is None:
            try:
                cert = x509.load_pem_x509_certificate(self._fetch_cert(url))
            except Exception as err:  # network, HTTP or PEM errors: all mean "untrusted"
                raise SnsSignatureError(
                    f"cannot load SNS signing certificate: {type(err).__name__}"
                ) from err
            with self._lock:
                if len(self._certs) >= self._max_cached:
                    self._certs.pop(next(iter(self._certs)))
                self._certs[url] = cert
        return cert
