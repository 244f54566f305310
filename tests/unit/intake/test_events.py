"""parse_notification over every real notification shape (fixtures in tests/data/events)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from seqoia.errors import EventError, InvalidKeyError
from seqoia.intake.events import ObjectCreated, parse_notification

DATA = Path(__file__).resolve().parents[2] / "data" / "events"
RUN = "inbox/240115_A01234_0042_AHKJ2LDSX7"


def load(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text())


def raw(name: str) -> bytes:
    return (DATA / name).read_bytes()


# -- AWS S3 --------------------------------------------------------------------------


def test_aws_records_decode_url_encoded_keys_and_skip_removals() -> None:
    parsed = parse_notification(raw("aws_s3_records.json"))

    assert parsed.errors == []
    assert parsed.ignored == 1  # the ObjectRemoved:Delete
    assert parsed.source == "s3"
    assert [e.key for e in parsed.events] == [
        f"{RUN}/RunInfo.xml",
        f"{RUN}/Sample Sheet + v2.csv",
        f"{RUN}/Data/Intensities/BaseCalls/L001/C1.1/L001_1.cbcl",
    ]
    first, _, multipart = parsed.events
    assert first == ObjectCreated(
        bucket="seqoia-inbox",
        key=f"{RUN}/RunInfo.xml",
        etag="0f5f8a1b5a3c4e2d9b7a6c5d4e3f2a1b",
        size=1342,
        sequencer="0065A5734F9E0D7C11",
        event_time=datetime(2024, 1, 15, 18, 42, 7, 123000, tzinfo=UTC),
        source="s3",
    )
    assert multipart.etag == "d41d8cd98f00b204e9800998ecf8427e-13"
    assert multipart.size == 104857600


def test_s3_test_event_is_ignored_not_an_error() -> None:
    parsed = parse_notification(raw("aws_s3_test_event.json"))
    assert (parsed.events, parsed.errors, parsed.ignored) == ([], [], 1)


def test_object_created_is_frozen() -> None:
    event = parse_notification(raw("aws_s3_records.json")).events[0]
    with pytest.raises(ValueError):
        event.key = "elsewhere"  # type: ignore[misc]


def test_source_hint_names_the_transport_the_caller_knows() -> None:
    parsed = parse_notification(raw("aws_s3_records.json"), source_hint="sqs")
    assert {e.source for e in parsed.events} == {"sqs"}
    assert parsed.source == "sqs"


# -- MinIO ---------------------------------------------------------------------------


def test_minio_webhook_body_with_s3_prefixed_event_name_and_omitted_size() -> None:
    parsed = parse_notification(raw("minio_webhook_put.json"))

    assert parsed.errors == []
    (event,) = parsed.events
    assert event.key == f"{RUN}/CopyComplete.txt"
    assert event.bucket == "seqoia-inbox"
    assert event.size is None  # MinIO omits size 0 (omitempty)
    assert event.etag is None
    assert event.sequencer == "17AA3C5C8E1B2F4D"


def test_minio_string_size_and_quoted_etag_are_normalised() -> None:
    (event,) = parse_notification(raw("minio_webhook_string_size_quoted_etag.json")).events
    assert event.size == 2210
    assert event.etag == "a1b2c3d4e5f60718293a4b5c6d7e8f90"


# -- Ceph RGW ------------------------------------------------------------------------


def test_ceph_keys_are_taken_raw_because_rgw_does_not_url_encode_them() -> None:
    parsed = parse_notification(raw("ceph_rgw_put.json"))

    assert parsed.errors == []
    assert parsed.ignored == 1
    put, multipart = parsed.events
    assert put.key == f"{RUN}/InterOp/Q+Metrics Out.bin"  # '+' stays a plus
    assert put.size == 1024
    assert multipart.size == 209715200  # sent as the string "209715200"
    assert multipart.etag == "e9a1f0c2b3d4e5f60718293a4b5c6d7e-40"
    assert put.event_time == datetime(2024, 1, 15, 18, 42, 7, 124724, tzinfo=UTC)


def test_legacy_ceph_record_with_lower_case_etag_and_s3_prefix() -> None:
    (event,) = parse_notification(raw("ceph_rgw_put_legacy.json")).events
    assert event.key == f"{RUN}/RTAComplete.txt"
    assert event.etag == "37b51d194a7513e45b56f6524f2d51f2"
    assert event.size == 16


def test_rgw_announcement_of_a_put_it_refused_with_412_is_ignored_not_an_event() -> None:
    parsed = parse_notification(raw("ceph_rgw_refused_put.json"))
    assert (parsed.events, parsed.errors, parsed.ignored) == ([], [], 1)


def test_an_rgw_record_with_a_real_event_time_is_still_an_event() -> None:
    doc = json.loads(raw("ceph_rgw_refused_put.json"))
    doc["Records"][0]["eventTime"] = "2026-12-02T17:12:21.604899Z"
    (event,) = parse_notification(json.dumps(doc).encode()).events
    assert (event.key, event.size) == ("in/commit.json", 2)
    # The zero time only means "refused" on Ceph: another source keeps its event (a time
    # that does not parse is dropped, never the record: nothing routes on it).
    doc["Records"][0]["eventTime"] = "0.000000"
    doc["Records"][0]["eventSource"] = "aws:s3"
    parsed = parse_notification(json.dumps(doc).encode())
    (event,) = parsed.events
    assert event.event_time is None and parsed.errors == [] and parsed.ignored == 0


# -- SNS -----------------------------------------------------------------------------


def test_sns_notification_unwraps_the_s3_message() -> None:
    parsed = parse_notification(raw("sns_notification_s3.json"))

    assert parsed.source == "sns"
    (event,) = parsed.events
    assert (event.bucket, event.key, event.source) == (
        "seqoia-inbox",
        f"{RUN}/RunParameters.xml",
        "sns",
    )
    assert parsed.subscription_confirmation is None


def test_sns_subscription_confirmation_is_returned_for_the_server_to_act_on() -> None:
    parsed = parse_notification(raw("sns_subscription_confirmation.json"))

    confirmation = parsed.subscription_confirmation
    assert confirmation is not None
    assert confirmation.topic_arn == "arn:aws:sns:eu-west-3:123456789012:seqoia-inbox-events"
    assert confirmation.subscribe_url.startswith(
        "https://sns.eu-west-3.amazonaws.com/?Action=ConfirmSubscription"
    )
    assert confirmation.token.startswith("2336412f37")
    assert parsed.events == [] and parsed.errors == []


def test_sns_unsubscribe_confirmation_is_ignored() -> None:
    parsed = parse_notification(raw("sns_unsubscribe_confirmation.json"))
    assert (parsed.events, parsed.errors, parsed.ignored) == ([], [], 1)
    assert parsed.subscription_confirmation is None


def test_what_moto_really_posts_to_an_sns_http_subscriber_parses() -> None:
    (event,) = parse_notification(raw("moto_sns_http_delivery.json")).events
    assert event.key == "runs/A B/x+y.txt"
    assert event.etag == "5d41402abc4b2a76b9719d911017c592"
    assert event.size == 5
    assert event.event_time is not None and event.event_time.tzinfo is UTC
    test_event = parse_notification(raw("moto_sns_http_test_event.json"))
    assert (test_event.events, test_event.errors, test_event.ignored) == ([], [], 1)


def test_sns_message_that_is_not_json_makes_the_payload_unusable() -> None:
    envelope = load("sns_notification_s3.json")
    envelope["Message"] = "hello operators"
    with pytest.raises(EventError, match="SNS message Message is not valid JSON"):
        parse_notification(envelope)


def test_sns_verifier_is_called_and_can_refuse_the_envelope() -> None:
    seen: list[str] = []

    def refuse(envelope: dict[str, Any]) -> None:
        seen.append(envelope["MessageId"])
        raise EventError("bad signature")

    with pytest.raises(EventError, match="bad signature"):
        parse_notification(raw("sns_notification_s3.json"), verify_sns=refuse)
    assert seen == ["22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324"]


# -- SQS -----------------------------------------------------------------------------


def test_sqs_body_holding_an_sns_envelope() -> None:
    parsed = parse_notification(raw("sqs_body_sns_envelope.json"), source_hint="sqs")
    (event,) = parsed.events
    assert event.key == f"{RUN}/RunParameters.xml"
    assert event.source == "sqs"


def test_sqs_receive_message_response_with_raw_and_enveloped_bodies() -> None:
    parsed = parse_notification(raw("sqs_receive_message.json"))

    assert parsed.errors == []
    assert parsed.source == "sqs"
    assert [e.key for e in parsed.events] == [f"{RUN}/SampleSheet.csv", f"{RUN}/RunParameters.xml"]
    assert {e.source for e in parsed.events} == {"sqs"}


def test_one_bad_sqs_message_does_not_lose_the_others() -> None:
    doc = load("sqs_receive_message.json")
    doc["Messages"].insert(0, {"MessageId": "x", "Body": "{not json"})
    doc["Messages"].insert(1, {"MessageId": "y"})

    parsed = parse_notification(doc)

    assert len(parsed.events) == 2
    assert len(parsed.errors) == 2
    assert "SQS message 0 Body is not valid JSON" in parsed.errors[0]
    assert "SQS message 1: Body must be a string, not null" in parsed.errors[1]


def test_lambda_sqs_event_records_are_unwrapped() -> None:
    (event,) = parse_notification(raw("lambda_sqs_event.json")).events
    assert event.key == f"{RUN}/SampleSheet.csv"
    assert event.source == "sqs"


# -- EventBridge ---------------------------------------------------------------------


def test_eventbridge_object_created_keys_are_not_url_decoded() -> None:
    parsed = parse_notification(raw("eventbridge_object_created.json"))

    (event,) = parsed.events
    assert event.key == f"{RUN}/Sample Sheet+v2.csv"
    assert event.etag == "a1b2c3d4e5f60718293a4b5c6d7e8f90"
    assert event.size == 2210
    assert event.sequencer == "617f08299329d189"
    assert event.event_time == datetime(2024, 1, 15, 18, 42, 7, tzinfo=UTC)
    assert event.source == "eventbridge"


def test_eventbridge_object_deleted_is_ignored() -> None:
    parsed = parse_notification(raw("eventbridge_object_deleted.json"))
    assert (parsed.events, parsed.errors, parsed.ignored) == ([], [], 1)


def test_eventbridge_event_without_object_key_is_an_error() -> None:
    doc = load("eventbridge_object_created.json")
    del doc["detail"]["object"]["key"]
    parsed = parse_notification(doc)
    assert parsed.events == []
    assert parsed.errors == ["EventBridge event: detail.object.key is missing"]


# -- hostile keys and malformed records ------------------------------------------------


def test_hostile_keys_are_per_record_errors_and_good_records_survive() -> None:
    parsed = parse_notification(raw("hostile_keys.json"))

    assert [e.key for e in parsed.events] == [f"{RUN}/RunInfo.xml", f"{RUN}/CopyComplete.txt"]
    assert len(parsed.errors) == 6
    reasons = "\n".join(parsed.errors)
    assert "record 1: unsafe object key" in reasons and "'..' path segment" in reasons
    assert "record 2: unsafe object key" in reasons and "absolute path" in reasons
    assert "empty path segment" in reasons
    assert "control characters" in reasons
    assert "longer than 1024 bytes" in reasons
    assert "record 6: s3.object.key is not a non-empty string" in reasons


def mutated(change: Any) -> dict[str, Any]:
    doc = copy.deepcopy(load("aws_s3_records.json"))
    change(doc["Records"][0])
    return doc


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.pop("eventName"), "record 0: eventName is missing or not a string"),
        (lambda r: r.pop("s3"), "record 0: s3 is missing"),
        (lambda r: r["s3"].update(bucket="inbox"), "record 0: s3.bucket is not an object"),
        (lambda r: r["s3"]["bucket"].update(name=7), "s3.bucket.name is not a non-empty string"),
        (lambda r: r["s3"]["bucket"].update(name="a/b"), "invalid bucket name 'a/b'"),
        (lambda r: r["s3"]["object"].update(key=["a"]), "s3.object.key is not a non-empty string"),
        (lambda r: r["s3"]["object"].update(size="big"), "size must be a non-negative integer"),
        (lambda r: r["s3"]["object"].update(size=-1), "size must be a non-negative integer"),
        (lambda r: r["s3"]["object"].update(size=True), "size must be an integer, not a boolean"),
        (lambda r: r["s3"]["object"].update(eTag=12), "s3.object.eTag must be a string"),
        (lambda r: r["s3"]["object"].update(key="%FF%FE"), "not URL-encoded UTF-8"),
    ],
)
def test_malformed_record_is_an_error_naming_what_is_wrong(change: Any, message: str) -> None:
    parsed = parse_notification(mutated(change))

    assert len(parsed.events) == 2  # the other two creations still count
    assert len(parsed.errors) == 1
    assert message in parsed.errors[0]


def test_record_that_is_not_an_object_is_an_error() -> None:
    parsed = parse_notification({"Records": ["ObjectCreated:Put", load("aws_s3_records.json")]})
    assert parsed.errors[0] == "record 0: must be a JSON object, not a string"
    assert "record 1: eventName is missing" in parsed.errors[1]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "payload is empty"),
        (b"{not json", "payload is not valid JSON"),
        (b"\xff\xfe{}", "payload is not UTF-8 text"),
        (b"[1, 2]", "payload must be a JSON object, not a list"),
        (b'{"hello": "world"}', "not a known notification shape"),
        (b'{"Records": {"eventName": "ObjectCreated:Put"}}', "Records must be a list"),
    ],
)
def test_wholly_unusable_payload_raises_event_error(body: bytes, message: str) -> None:
    with pytest.raises(EventError, match=message):
        parse_notification(body)


def test_text_and_dict_bodies_parse_like_bytes() -> None:
    as_bytes = parse_notification(raw("aws_s3_records.json"))
    as_text = parse_notification(raw("aws_s3_records.json").decode())
    as_dict = parse_notification(load("aws_s3_records.json"))
    assert as_bytes.events == as_text.events == as_dict.events


def test_object_created_built_by_hand_refuses_a_hostile_key() -> None:
    with pytest.raises(InvalidKeyError, match="path segment"):
        ObjectCreated(bucket="inbox", key="a/../b", source="manual")
