"""Building an :class:`~seqoia.intake.server.IntakeServer` from :class:`Settings`.

Where the token comes from (setting, mounted file, or a fresh one ``seqoia up`` writes),
which SNS topics are trusted, which buckets are served, and the TLS context. The
commands call :func:`build_intake`; nothing here starts a broker or an engine.
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Callable
from pathlib import Path

from seqoia.errors import ConfigurationError
from seqoia.intake.auth import new_token
from seqoia.intake.events import ObjectCreated
from seqoia.intake.server import IntakeLimits, IntakeServer, OnOutcome
from seqoia.intake.sns import SnsSignatureVerifier
from seqoia.settings import Settings
from seqoia.storage.permissions import make_folders

log = logging.getLogger(__name__)

TOKEN_FILE_NAME = "intake-token"


def comma_list(value: str) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``."""
    return [item.strip() for item in value.split(",") if item.strip()]


def read_token(settings: Settings) -> str | None:
    """The configured token: ``intake_token``, else the content of ``intake_token_file``.

    A token file that is configured but missing or empty is an error, not "no token".
    """
    if settings.intake_token:
        return settings.intake_token
    if settings.intake_token_file is None:
        return None
    token = _read_token_file(settings.intake_token_file)
    if token is None:
        raise ConfigurationError(
            f"the intake token file {settings.intake_token_file} is missing or empty"
        )
    return token


def ensure_token(settings: Settings) -> tuple[str, Path | None]:
    """The configured token, else the one in the token file, else a new random one.

    A new token is written (mode 0600) to ``intake_token_file``, by default
    ``<scratch>/intake-token``, and kept there: the next ``seqoia up`` reuses it, so a
    store's notification configuration keeps working. Returns the token and the file
    holding it (None when it came from ``intake_token``).
    """
    if settings.intake_token:
        return settings.intake_token, None
    path = settings.intake_token_file or settings.scratch_dir / TOKEN_FILE_NAME
    token = _read_token_file(path)
    if token is not None:
        return token, path
    token = new_token()
    try:
        # The token file usually lives in the scratch folder, which must stay private:
        # create missing folders 0700, as the stage runner would.
        make_folders(path.parent, 0o700)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(token + "\n")
        os.replace(tmp, path)
    except OSError as err:
        raise ConfigurationError(f"cannot write the intake token file {path}: {err}") from err
    return token, path


def _read_token_file(path: Path) -> str | None:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise ConfigurationError(f"cannot read the intake token file {path}: {err}") from err
    return token or None


def sns_verifier(settings: Settings) -> SnsSignatureVerifier | None:
    """The SNS signature check, when topics are configured."""
    topics = comma_list(settings.intake_sns_topic_arns)
    if not topics:
        return None
    return SnsSignatureVerifier(
        allowed_topic_arns=topics,
        allow_signature_v1=settings.intake_sns_allow_signature_v1,
        replay_window_s=settings.intake_sns_replay_window_s,
    )


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """A server TLS context from the certificate and key files, when both are set."""
    cert, key = settings.intake_tls_cert_file, settings.intake_tls_key_file
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise ConfigurationError("TLS needs both SEQOIA_INTAKE_TLS_CERT_FILE and _KEY_FILE")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as err:
        raise ConfigurationError(f"cannot load the intake TLS certificate {cert}: {err}") from err
    return context


def served_buckets(settings: Settings, store: object) -> list[str] | None:
    """Buckets whose events are accepted: configured, else the store's own.

    An S3 store has its bucket; a local-folder store is named after its folder (what a
    MinIO serving that folder's parent would call it). None: accept any bucket.
    """
    configured = comma_list(settings.intake_buckets)
    if configured:
        return configured
    bucket = getattr(store, "bucket", None)
    if isinstance(bucket, str) and bucket:
        return [bucket]
    root = getattr(store, "root", None)
    if isinstance(root, Path):
        return [root.name]
    return None


def require_auth(settings: Settings, token: str | None, *, insecure_no_auth: bool) -> None:
    """Refuse to go on without a token or SNS topics, unless explicitly insecure."""
    if token is None and not comma_list(settings.intake_sns_topic_arns) and not insecure_no_auth:
        raise ConfigurationError(
            "the event intake refuses to start without authentication: set "
            "SEQOIA_INTAKE_TOKEN (or SEQOIA_INTAKE_TOKEN_FILE) and/or "
            "SEQOIA_INTAKE_SNS_TOPIC_ARNS; --insecure-no-auth accepts events from anyone"
        )


def build_intake(
    settings: Settings,
    submit: Callable[[ObjectCreated], None],
    *,
    store: object,
    token: str | None,
    insecure_no_auth: bool = False,
    on_outcome: OnOutcome | None = None,
    routed: Callable[[str], bool] | None = None,
) -> IntakeServer:
    """The intake as the settings describe it (not started); ``routed``: see IntakeServer."""
    require_auth(settings, token, insecure_no_auth=insecure_no_auth)
    verifier = sns_verifier(settings)
    limits = IntakeLimits(
        max_body_bytes=settings.intake_max_body_bytes,
        max_records=settings.intake_max_records,
        threads=settings.intake_threads,
        backlog=settings.intake_threads * 4,
        request_timeout_s=settings.intake_request_timeout_s,
    )
    return IntakeServer(
        settings.intake_host,
        settings.intake_port,
        token,
        submit,
        verify_sns=verifier,
        insecure_no_auth=insecure_no_auth and token is None and verifier is None,
        tls=tls_context(settings),
        allowed_buckets=served_buckets(settings, store),
        limits=limits,
        on_outcome=on_outcome,
        routed=routed,
    )
