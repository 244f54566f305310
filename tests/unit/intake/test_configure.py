"""Building the intake from settings: token sources, SNS checks, served buckets, TLS."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from seqoia.errors import ConfigurationError
from seqoia.intake.configure import (
    build_intake,
    ensure_token,
    read_token,
    served_buckets,
    sns_verifier,
    tls_context,
)
from seqoia.settings import Settings
from seqoia.storage.local import LocalStore

TOPIC = "arn:aws:sns:eu-west-3:123456789012:seqoia-inbox-events"


def settings(tmp_path: Path, **fields: object) -> Settings:
    return Settings(
        store_url=f"file://{tmp_path}/store",
        scratch_dir=tmp_path / "scratch",
        intake_port=0,
        **fields,  # type: ignore[arg-type]
    )


def test_seqoia_up_writes_a_private_token_once_and_reuses_it(tmp_path: Path) -> None:
    config = settings(tmp_path)
    token, path = ensure_token(config)
    assert path == tmp_path / "scratch" / "intake-token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(token) >= 40 and path.read_text().strip() == token
    assert ensure_token(config) == (token, path)  # a restart keeps the store's config valid


def test_a_configured_token_wins_and_a_missing_token_file_is_an_error(tmp_path: Path) -> None:
    assert ensure_token(settings(tmp_path, intake_token="x" * 20)) == ("x" * 20, None)
    missing = settings(tmp_path, intake_token_file=tmp_path / "nope")
    with pytest.raises(ConfigurationError, match="nope is missing or empty"):
        read_token(missing)
    (tmp_path / "secret").write_text("  a-mounted-secret-token\n")
    assert read_token(settings(tmp_path, intake_token_file=tmp_path / "secret")) == (
        "a-mounted-secret-token"
    )


def test_sns_checks_are_enabled_by_topics_with_v2_and_the_window_by_default(
    tmp_path: Path,
) -> None:
    assert sns_verifier(settings(tmp_path)) is None
    verifier = sns_verifier(settings(tmp_path, intake_sns_topic_arns=f" {TOPIC} ,"))
    assert verifier is not None and verifier.topics == {TOPIC}


def test_served_buckets_default_to_the_stores_own(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "seqoia-data")
    assert served_buckets(settings(tmp_path), store) == ["seqoia-data"]
    assert served_buckets(settings(tmp_path, intake_buckets="a, b"), store) == ["a", "b"]

    class S3Like:
        bucket = "seqoia-inbox"

    assert served_buckets(settings(tmp_path), S3Like()) == ["seqoia-inbox"]


def test_tls_needs_both_files_and_a_readable_certificate(tmp_path: Path) -> None:
    assert tls_context(settings(tmp_path)) is None
    with pytest.raises(ConfigurationError, match="needs both"):
        tls_context(settings(tmp_path, intake_tls_cert_file=tmp_path / "c.pem"))
    (tmp_path / "c.pem").write_text("not a certificate")
    with pytest.raises(ConfigurationError, match="cannot load the intake TLS certificate"):
        tls_context(
            settings(
                tmp_path,
                intake_tls_cert_file=tmp_path / "c.pem",
                intake_tls_key_file=tmp_path / "c.pem",
            )
        )


def test_no_token_and_no_topics_refuses_unless_insecure(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    with pytest.raises(ConfigurationError, match="refuses to start without authentication"):
        build_intake(settings(tmp_path), lambda e: None, store=store, token=None)
    server = build_intake(
        settings(tmp_path), lambda e: None, store=store, token=None, insecure_no_auth=True
    )
    try:
        assert server.insecure and server.allowed_buckets == {"store"}
    finally:
        server.stop()
    server = build_intake(
        settings(tmp_path, intake_sns_topic_arns=TOPIC), lambda e: None, store=store, token=None
    )
    try:
        assert not server.insecure and server.verify_sns is not None
    finally:
        server.stop()
