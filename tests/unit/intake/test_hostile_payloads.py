"""Payloads that used to break the intake's parser: each is now a clean refusal or an event."""

from __future__ import annotations

import json

import pytest

from seqoia.errors import EventError
from seqoia.intake.events import PayloadLimitError, parse_notification
from seqoia.intake.server import loggable

RECORD = {
    "eventName": "ObjectCreated:Put",
    "eventSource": "aws:s3",
    "s3": {"bucket": {"name": "inbox"}, "object": {"key": "inbox/RUN/RTAComplete.txt"}},
}


def test_deeply_nested_json_is_an_event_error_not_a_recursion_error() -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(EventError, match="nests JSON too deeply"):
        parse_notification(body)


def test_a_five_thousand_digit_number_is_an_event_error_not_a_value_error() -> None:
    body = b'{"Records": [{"eventName": "ObjectCreated:Put", "size": ' + b"9" * 5000 + b"}]}"
    with pytest.raises(EventError, match="not usable JSON"):
        parse_notification(body)


@pytest.mark.parametrize("event_time", ["0.000000", "yesterday", 12, None, ""])
def test_an_unparseable_event_time_keeps_the_record(event_time: object) -> None:
    parsed = parse_notification({"Records": [dict(RECORD, eventTime=event_time)]})
    assert [e.key for e in parsed.events] == ["inbox/RUN/RTAComplete.txt"]
    assert parsed.events[0].event_time is None and parsed.errors == []


def test_a_flood_of_records_is_refused_whole() -> None:
    # 1 MB of RTAComplete records used to become 7,000 broker messages.
    body = json.dumps({"Records": [RECORD] * 7000}).encode()
    with pytest.raises(PayloadLimitError, match="more than 100 records"):
        parse_notification(body)
    assert len(parse_notification(json.dumps({"Records": [RECORD] * 100})).events) == 100


def test_the_record_limit_counts_sqs_messages_and_cannot_be_swallowed_per_message() -> None:
    inner = json.dumps({"Records": [RECORD] * 6})
    doc = {"Messages": [{"Body": inner}] * 20}  # 20 messages, 120 records
    with pytest.raises(PayloadLimitError):
        parse_notification(doc, max_records=100)


def test_sns_only_refuses_a_payload_that_is_not_an_sns_message() -> None:
    def verify(envelope: dict[str, object]) -> None:
        raise AssertionError("not an SNS envelope: never verified")

    with pytest.raises(EventError, match="not an SNS message"):
        parse_notification({"Records": [RECORD]}, verify_sns=verify, sns_only=True)


def test_loggable_escapes_newlines_and_bounds_length() -> None:
    forged = "https://x/?a=1\n2026-12-02 INFO seqoia: confirmed subscription"
    line = loggable(forged)
    assert "\n" not in line and "\\n2026" in line
    assert loggable("é\x1b[31m") == "\\xe9\\x1b[31m"
    assert loggable("a" * 1000, 10) == "a" * 10 + "..."
