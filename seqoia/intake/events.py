"""Object-created events: every real shape of an S3 notification, parsed into one model.

An S3-compatible store announces new objects in several wrappings, all of them hints
(invariant 4: duplicated, reordered, late or lost events are fine, a reconciler catches
up). :func:`parse_notification` unwraps each of them into :class:`ObjectCreated`:

* S3 ``{"Records": [...]}`` as AWS sends it (keys URL-encoded, ``+`` for space), as MinIO
  sends it (``eventName`` ``s3:ObjectCreated:Put``, top-level ``EventName``/``Key``, keys
  URL-encoded, ``size``/``eTag`` omitted when empty) and as Ceph RGW sends it
  (``eventSource`` ``ceph:s3``, ``etag`` or ``eTag``, size as number or string, keys raw:
  RGW does not URL-encode them);
* the ``s3:TestEvent`` S3 sends when a notification is configured (ignored);
* SNS HTTP(S) deliveries (``Notification``, ``SubscriptionConfirmation``,
  ``UnsubscribeConfirmation``), with an optional signature check passed in;
* SQS message bodies and a whole ``ReceiveMessage`` response (``{"Messages": [...]}``),
  and the Lambda-style ``aws:sqs`` / ``aws:sns`` record wrappers;
* EventBridge ``Object Created`` events (keys not URL-encoded there).

One bad record never loses the good ones: it becomes a line in
:attr:`ParsedNotification.errors`; a time that does not parse is no reason to refuse a
record (nothing routes on it). Only a payload that is wholly unusable (not JSON, nested
too deeply, no known shape) raises :class:`~seqoia.errors.EventError`, and one with more
records than a notification ever holds raises :class:`PayloadLimitError`. Every key passes
:func:`~seqoia.storage.keys.validate_key`, so a hostile key never reaches a worker.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict, field_validator

from seqoia.errors import EventError, InvalidKeyError
from seqoia.storage.keys import validate_key

Source = Literal["s3", "sns", "sqs", "eventbridge", "scan", "manual"]
SOURCES: tuple[str, ...] = ("s3", "sns", "sqs", "eventbridge", "scan", "manual")

#: Verifies one SNS envelope (signature, certificate); raises EventError to refuse it.
SnsVerifier = Callable[[dict[str, Any]], None]

# Bucket names from AWS, MinIO and Ceph (whose legacy and tenant names allow upper case,
# "_" and "tenant:bucket"); never "/", spaces or control characters.
_BUCKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,254}$")
_SNS_TYPES = ("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation")
#: SQS body -> SNS envelope -> S3 records is the deepest real nesting; stop well after.
_MAX_DEPTH = 4
#: Records (and SQS messages) one payload may hold: AWS, MinIO and Ceph send one per
#: notification, SQS at most 10 messages; a flood of records is refused as a whole.
DEFAULT_MAX_RECORDS = 100


class PayloadLimitError(EventError):
    """A payload holds more records than one notification ever does (refused whole)."""


class ObjectCreated(BaseModel):
    """One new object, as announced by a notification or found by a scan."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bucket: str
    key: str
    etag: str | None = None
    size: int | None = None
    sequencer: str | None = None
    event_time: datetime | None = None
    source: Source

    @field_validator("bucket")
    @classmethod
    def _check_bucket(cls, bucket: str) -> str:
        if not _BUCKET.match(bucket):
            raise ValueError(f"invalid bucket name {bucket[:80]!r}")
        return bucket

    @field_validator("key")
    @classmethod
    def _check_key(cls, key: str) -> str:
        # InvalidKeyError is not a ValueError: it escapes pydantic as itself, so callers
        # see the same error whether they built the event here or by hand.
        return validate_key(key)

    @field_validator("etag")
    @classmethod
    def _strip_etag_quotes(cls, etag: str | None) -> str | None:
        if etag is None:
            return None
        etag = etag.strip().strip('"')
        return etag or None

    @field_validator("size")
    @classmethod
    def _check_size(cls, size: int | None) -> int | None:
        if size is not None and size < 0:
            raise ValueError(f"negative object size {size}")
        return size


class SnsConfirmation(BaseModel):
    """An SNS ``SubscriptionConfirmation``: GET ``subscribe_url`` to start deliveries."""

    model_config = ConfigDict(frozen=True)

    topic_arn: str
    subscribe_url: str
    token: str
    message_id: str | None = None


@dataclass
class ParsedNotification:
    """What one payload said: the events, what was ignored, and per-record errors."""

    events: list[ObjectCreated] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: Records that are valid but not object creations (removals, test events, ...).
    ignored: int = 0
    subscription_confirmation: SnsConfirmation | None = None
    #: The outermost transport recognised, or the caller's hint.
    source: Source | None = None
    #: Records and SQS messages seen so far, against ``max_records``.
    records_seen: int = 0
    max_records: int | None = None

    def count_record(self) -> None:
        """Count one more record; refuse the payload once it holds too many."""
        self.records_seen += 1
        if self.max_records is not None and self.records_seen > self.max_records:
            raise PayloadLimitError(f"payload holds more than {self.max_records} records")


class _RecordError(Exception):
    """One record is unusable; the others of the payload still count."""


def parse_notification(
    body: bytes | str | dict[str, Any],
    *,
    source_hint: Source | None = None,
    verify_sns: SnsVerifier | None = None,
    sns_only: bool = False,
    max_records: int | None = DEFAULT_MAX_RECORDS,
) -> ParsedNotification:
    """Parse one notification payload of any supported shape.

    ``source_hint`` names the transport the caller knows the payload came through (an SQS
    consumer passes ``"sqs"``); without it the outermost recognised shape decides.
    ``verify_sns`` is called on every SNS envelope before it is trusted; ``sns_only``
    (for a caller that trusts nothing but a verified SNS signature) refuses any payload
    that is not an SNS envelope at its top. Raises :class:`EventError` when the payload
    as a whole is unusable, :class:`PayloadLimitError` when it holds more than
    ``max_records`` records.
    """
    doc = _load(body, "payload")
    if sns_only:
        if verify_sns is None:
            raise ValueError("sns_only needs verify_sns")
        if not (isinstance(doc, dict) and doc.get("Type") in _SNS_TYPES):
            raise EventError("payload is not an SNS message, and carries no token")
    result = ParsedNotification(source=source_hint, max_records=max_records)
    _dispatch(doc, result, source_hint, "", 0, verify_sns)
    return result


# -- shapes --------------------------------------------------------------------------


def _load(body: bytes | str | dict[str, Any], what: str) -> Any:
    if isinstance(body, dict):
        return body
    if isinstance(body, bytes | bytearray):
        try:
            body = bytes(body).decode("utf-8-sig")
        except UnicodeDecodeError as err:
            reason = f"{err.reason} at byte {err.start}"
            raise EventError(f"{what} is not UTF-8 text ({reason})") from err
    if not isinstance(body, str):
        raise EventError(f"{what} must be bytes, text or a dict, not {type(body).__name__}")
    if not body.strip():
        raise EventError(f"{what} is empty")
    try:
        return json.loads(body)
    except json.JSONDecodeError as err:
        raise EventError(f"{what} is not valid JSON: {err.msg}", line=err.lineno) from err
    except RecursionError as err:  # "[[[[...": the sender's fault, not a retryable fault
        raise EventError(f"{what} nests JSON too deeply") from err
    except ValueError as err:  # an integer of more than sys.get_int_max_str_digits() digits
        raise EventError(f"{what} is not usable JSON: {str(err)[:80]}") from err


def _dispatch(
    doc: Any,
    result: ParsedNotification,
    source: Source | None,
    where: str,
    depth: int,
    verify_sns: SnsVerifier | None,
) -> None:
    """Recognise the shape of ``doc`` and add what it says to ``result``."""
    if depth > _MAX_DEPTH:
        raise EventError(f"{where or 'payload'} nests notifications too deeply")
    if not isinstance(doc, dict):
        raise EventError(f"{where or 'payload'} must be a JSON object, not {_kind(doc)}")

    def outer(detected: Source) -> Source:
        if result.source is None:
            result.source = detected
        return source or detected

    if doc.get("Type") in _SNS_TYPES and ("TopicArn" in doc or "Message" in doc):
        _sns(doc, result, outer("sns"), where, depth, verify_sns)
    elif "Messages" in doc and isinstance(doc["Messages"], list):
        _sqs_receive(doc["Messages"], result, outer("sqs"), where, depth, verify_sns)
    elif "detail-type" in doc and "detail" in doc:
        _eventbridge(doc, result, outer("eventbridge"), where)
    elif "Records" in doc:
        _records(doc["Records"], result, source, where, depth, verify_sns, outer)
    elif doc.get("Event") == "s3:TestEvent":
        outer("s3")
        result.ignored += 1
    else:
        found = ", ".join(sorted(map(str, doc))[:8]) or "nothing"
        raise EventError(
            f"{where or 'payload'} is not a known notification shape "
            f"(no Records, SNS Type, SQS Messages or EventBridge detail; found {found})"
        )


def _sns(
    doc: dict[str, Any],
    result: ParsedNotification,
    source: Source,
    where: str,
    depth: int,
    verify_sns: SnsVerifier | None,
) -> None:
    if verify_sns is not None:
        verify_sns(doc)
    kind = doc["Type"]
    here = _join(where, "SNS message")
    if kind == "UnsubscribeConfirmation":
        result.ignored += 1
    elif kind == "SubscriptionConfirmation":
        url, token, arn = doc.get("SubscribeURL"), doc.get("Token"), doc.get("TopicArn")
        if not (isinstance(url, str) and isinstance(token, str) and isinstance(arn, str)):
            raise EventError(
                f"{here}: SubscriptionConfirmation needs SubscribeURL, Token and TopicArn strings"
            )
        message_id = doc.get("MessageId")
        result.subscription_confirmation = SnsConfirmation(
            topic_arn=arn,
            subscribe_url=url,
            token=token,
            message_id=message_id if isinstance(message_id, str) else None,
        )
    else:
        message = doc.get("Message")
        if not isinstance(message, str):
            raise EventError(f"{here}: Message must be a JSON string, not {_kind(message)}")
        _dispatch(_load(message, f"{here} Message"), result, source, here, depth + 1, verify_sns)


def _sqs_receive(
    messages: list[Any],
    result: ParsedNotification,
    source: Source,
    where: str,
    depth: int,
    verify_sns: SnsVerifier | None,
) -> None:
    for index, message in enumerate(messages):
        here = _join(where, f"SQS message {index}")
        result.count_record()
        try:
            body = message.get("Body") if isinstance(message, dict) else None
            if not isinstance(body, str):
                raise EventError(f"{here}: Body must be a string, not {_kind(body)}")
            _dispatch(_load(body, f"{here} Body"), result, source, here, depth + 1, verify_sns)
        except PayloadLimitError:
            raise
        except EventError as err:
            result.errors.append(str(err))


def _records(
    records: Any,
    result: ParsedNotification,
    source: Source | None,
    where: str,
    depth: int,
    verify_sns: SnsVerifier | None,
    outer: Callable[[Source], Source],
) -> None:
    if not isinstance(records, list):
        raise EventError(f"{_join(where, 'Records')} must be a list, not {_kind(records)}")
    for index, record in enumerate(records):
        here = _join(where, f"record {index}")
        result.count_record()
        try:
            wrapped = _lambda_wrapped(record, here)
            if wrapped is not None:
                detected, payload = wrapped
                inner = outer(detected)
                _dispatch(_load(payload, here), result, inner, here, depth + 1, verify_sns)
                continue
            event = _s3_record(record, outer("s3"), here)
        except PayloadLimitError:
            raise
        except (EventError, _RecordError) as err:
            result.errors.append(str(err))
            continue
        if event is None:
            result.ignored += 1
        else:
            result.events.append(event)


def _lambda_wrapped(record: Any, where: str) -> tuple[Source, str] | None:
    """The payload inside a Lambda-style SQS or SNS record, or None for an S3 record."""
    if not isinstance(record, dict):
        return None
    origin = record.get("eventSource", record.get("EventSource"))
    if origin == "aws:sqs":
        body = record.get("body")
        if not isinstance(body, str):
            raise _RecordError(f"{where}: aws:sqs record has no string body")
        return "sqs", body
    if origin == "aws:sns":
        envelope = record.get("Sns")
        message = envelope.get("Message") if isinstance(envelope, dict) else None
        if not isinstance(message, str):
            raise _RecordError(f"{where}: aws:sns record has no Sns.Message string")
        # Lambda already checked this envelope (and spells SigningCertUrl differently),
        # so only the S3 message inside it matters here.
        return "sns", message
    return None


def _s3_record(record: Any, source: Source, where: str) -> ObjectCreated | None:
    """One S3/MinIO/Ceph record: an event, None when it is not a creation, or raise."""
    if not isinstance(record, dict):
        raise _RecordError(f"{where}: must be a JSON object, not {_kind(record)}")
    name = record.get("eventName")
    if not isinstance(name, str) or not name:
        raise _RecordError(f"{where}: eventName is missing or not a string")
    name = name.removeprefix("s3:")
    if not name.startswith("ObjectCreated:"):
        return None  # ObjectRemoved, ObjectRestore, s3:TestEvent...: valid, not ours
    if _refused_write(record):
        return None
    s3 = _object(record, "s3", where)
    bucket = _string(_object(s3, "bucket", f"{where}: s3"), "name", f"{where}: s3.bucket")
    obj = _object(s3, "object", f"{where}: s3")
    raw_key = _string(obj, "key", f"{where}: s3.object")
    # AWS and MinIO URL-encode keys (form encoding, "+" for space); Ceph RGW sends them
    # raw, and decoding a raw "a+b" would name another object.
    if str(record.get("eventSource", "")).startswith("ceph:"):
        key = raw_key
    else:
        try:
            key = unquote_plus(raw_key, errors="strict")
        except UnicodeDecodeError as err:
            raise _RecordError(f"{where}: s3.object.key is not URL-encoded UTF-8") from err
    return _event(
        where,
        bucket=bucket,
        key=key,
        etag=_etag(obj, f"{where}: s3.object"),
        size=_size(obj.get("size"), f"{where}: s3.object.size"),
        sequencer=_optional_string(obj, "sequencer", f"{where}: s3.object"),
        event_time=_time(record.get("eventTime")),
        source=source,
    )


def _refused_write(record: dict[str, Any]) -> bool:
    """Whether a Ceph record announces a PUT that RGW refused (and stored nothing for).

    RGW (16.x) sends ``ObjectCreated:Put`` even for a conditional PUT it answered 412,
    with the refused body's ETag and size and ``eventTime`` ``"0.000000"``: the event
    time is the new object's mtime, which a refused write never gets. Every real write
    has a real time. Counting such a record as ignored keeps it out of the error count;
    routing it would be harmless too, since the router re-reads the store.
    """
    if not str(record.get("eventSource", "")).startswith("ceph:"):
        return False
    moment = record.get("eventTime")
    if not isinstance(moment, str):
        return False
    try:
        return float(moment) == 0.0
    except ValueError:
        return False  # an ISO time: a real write


def _eventbridge(
    doc: dict[str, Any], result: ParsedNotification, source: Source, where: str
) -> None:
    here = _join(where, "EventBridge event")
    if doc.get("source") != "aws.s3" or doc["detail-type"] != "Object Created":
        result.ignored += 1  # other services, Object Deleted, Object Restore...
        return
    try:
        detail = _object(doc, "detail", here)
        bucket = _string(_object(detail, "bucket", f"{here}: detail"), "name", f"{here}: bucket")
        obj = _object(detail, "object", f"{here}: detail")
        event = _event(
            here,
            bucket=bucket,
            key=_string(obj, "key", f"{here}: detail.object"),  # not URL-encoded here
            etag=_etag(obj, f"{here}: detail.object"),
            size=_size(obj.get("size"), f"{here}: detail.object.size"),
            sequencer=_optional_string(obj, "sequencer", f"{here}: detail.object"),
            event_time=_time(doc.get("time")),
            source=source,
        )
    except _RecordError as err:
        result.errors.append(str(err))
        return
    result.events.append(event)


# -- fields --------------------------------------------------------------------------


def _event(where: str, **fields: Any) -> ObjectCreated:
    try:
        validate_key(fields["key"])
    except InvalidKeyError as err:
        raise _RecordError(f"{where}: unsafe object key {err}") from err
    try:
        return ObjectCreated(**fields)
    except ValueError as err:  # pydantic's ValidationError is a ValueError
        reasons = "; ".join(e["msg"] for e in getattr(err, "errors", lambda: [])()) or str(err)
        raise _RecordError(f"{where}: {reasons}") from err


def _object(parent: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    value = parent.get(name)
    if not isinstance(value, dict):
        raise _RecordError(f"{_field(where, name)} is {_missing_or(value, 'an object')}")
    return value


def _string(parent: dict[str, Any], name: str, where: str) -> str:
    value = parent.get(name)
    if not isinstance(value, str) or not value:
        wanted = "a non-empty string"
        raise _RecordError(f"{_field(where, name)} is {_missing_or(value, wanted)}")
    return value


def _optional_string(parent: dict[str, Any], name: str, where: str) -> str | None:
    value = parent.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _RecordError(f"{_field(where, name)} must be a string, not {_kind(value)}")
    return value


def _etag(obj: dict[str, Any], where: str) -> str | None:
    # AWS and MinIO write "eTag", EventBridge and some Ceph versions "etag".
    for name in ("eTag", "etag", "ETag"):
        if name in obj:
            return _optional_string(obj, name, where)
    return None


def _size(value: Any, where: str) -> int | None:
    if value is None:
        return None  # MinIO omits the size of an empty object
    if isinstance(value, bool):
        raise _RecordError(f"{where} must be an integer, not a boolean")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str) and value.strip().isdigit():
        size = int(value)  # Ceph RGW and some MinIO versions send sizes as strings
    elif isinstance(value, float) and value.is_integer():
        size = int(value)
    else:
        raise _RecordError(f"{where} must be a non-negative integer, got {value!r:.40}")
    if size < 0:
        raise _RecordError(f"{where} must be a non-negative integer, got {size}")
    return size


def _time(value: Any) -> datetime | None:
    """The event's time when it parses, else None: nothing routes on it, so a record is
    never refused for it (Ceph RGW sends ``0.000000`` for a put it refused)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    # moto writes local-looking times without a zone; every real store writes UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _field(where: str, name: str) -> str:
    """Name a field: ``record 0`` + ``s3`` is ``record 0: s3``, then ``record 0: s3.bucket``."""
    return f"{where}.{name}" if ": " in where else f"{where}: {name}"


def _missing_or(value: Any, wanted: str) -> str:
    return "missing" if value is None else f"not {wanted} ({_kind(value)})"


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def _join(where: str, what: str) -> str:
    return f"{where} / {what}" if where else what
