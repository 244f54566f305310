"""SNS signature checks: topics, versions, replay window and certificate URLs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from seqoia.intake.sns import SnsSignatureError, SnsSignatureVerifier, is_aws_sns_url
from tests.fixtures.sns import TOPIC, signed_envelope


def verifier(pem: bytes, fetched: list[str] | None = None, **options: Any) -> SnsSignatureVerifier:
    def fetch(url: str) -> bytes:
        if fetched is not None:
            fetched.append(url)
        return pem

    return SnsSignatureVerifier(allowed_topic_arns=[TOPIC], fetch_cert=fetch, **options)


def test_version_2_signature_verifies_and_the_certificate_is_fetched_once() -> None:
    envelope, pem = signed_envelope()
    fetched: list[str] = []
    check = verifier(pem, fetched)
    check(envelope)
    check(envelope)
    assert fetched == [envelope["SigningCertURL"]]
    envelope["Message"] = envelope["Message"].replace("RunParameters", "RunInfo")
    with pytest.raises(SnsSignatureError, match="signature does not match"):
        check(envelope)


def test_version_1_sha1_is_refused_unless_explicitly_allowed() -> None:
    envelope, pem = signed_envelope(version="1", digest_name="sha1")
    with pytest.raises(SnsSignatureError, match=r"SignatureVersion '1' refused \(allowed: 2\)"):
        verifier(pem)(envelope)
    verifier(pem, allow_signature_v1=True)(envelope)


def test_signature_with_the_wrong_digest_for_its_version_is_refused() -> None:
    envelope, pem = signed_envelope(version="2", digest_name="sha1")
    with pytest.raises(SnsSignatureError, match="signature does not match"):
        verifier(pem)(envelope)


@pytest.mark.parametrize("age", [timedelta(hours=2), -timedelta(hours=2)])
def test_a_validly_signed_message_outside_the_replay_window_is_refused(age: timedelta) -> None:
    envelope, pem = signed_envelope(timestamp=datetime.now(UTC) - age)
    fetched: list[str] = []
    with pytest.raises(SnsSignatureError, match="outside the replay window"):
        verifier(pem, fetched)(envelope)
    assert fetched == []  # refused before any certificate fetch
    verifier(pem, replay_window_s=3 * 3600)(envelope)  # the same message, a wider window


def test_foreign_topic_is_refused_before_any_fetch() -> None:
    envelope, pem = signed_envelope(changes={"TopicArn": "arn:aws:sns:eu-west-3:666:evil"})
    fetched: list[str] = []
    with pytest.raises(SnsSignatureError, match="topic that is not allowed"):
        verifier(pem, fetched)(envelope)
    assert fetched == []


def test_a_verifier_without_topics_cannot_be_built() -> None:
    with pytest.raises(ValueError, match="allowed topic ARNs"):
        SnsSignatureVerifier(allowed_topic_arns=[])


@pytest.mark.parametrize(
    ("cert_url", "message"),
    [
        ("http://sns.eu-west-3.amazonaws.com/SimpleNotificationService-x.pem", "host not allowed"),
        ("https://sns.eu-west-3.amazonaws.com.evil.example/x.pem", "host not allowed"),
        ("https://evil.example/SimpleNotificationService-x.pem", "host not allowed"),
        ("https://127.0.0.1:8443/SimpleNotificationService-x.pem", "host not allowed"),
        ("https://u@sns.eu-west-3.amazonaws.com/x.pem", "host not allowed"),
        ("https://sns.eu-west-3.amazonaws.com:8443/x.pem", "host not allowed"),
        ("https://sns.eu-west-3.amazonaws.com/redirect?to=evil", "does not name a .pem"),
    ],
)
def test_attacker_certificate_urls_are_never_fetched(cert_url: str, message: str) -> None:
    envelope, pem = signed_envelope(changes={"SigningCertURL": cert_url})
    fetched: list[str] = []
    with pytest.raises(SnsSignatureError, match=message):
        verifier(pem, fetched)(envelope)
    assert fetched == []


def test_aws_sns_urls_are_https_on_sns_hosts_only() -> None:
    assert is_aws_sns_url("https://sns.eu-west-3.amazonaws.com/?Action=ConfirmSubscription")
    assert is_aws_sns_url("https://sns.cn-north-1.amazonaws.com.cn/x.pem")
    assert not is_aws_sns_url("http://sns.eu-west-3.amazonaws.com/")
    assert not is_aws_sns_url("https://[::1]:99999/")
    assert not is_aws_sns_url("https://sqs.eu-west-3.amazonaws.com/")
