"""Fuzz targets of the event intake, discovered by ``bench/fuzz.py`` (``bench/fuzz_*.py``).

``KINDS`` maps a target name to a :data:`FuzzKind` ``(seeds, check, clean)``: the driver
mutates the seeds and calls ``check`` on each mutant; ``check`` parses the bytes the way
the intake does and either returns or raises one of ``clean`` (a refusal the intake
answers 400 or records as a per-record error). Any other exception is a finding.

* ``event payload``: a whole POST body through
  :func:`~seqoia.intake.events.parse_notification` with the intake's record limit;
* ``object key``: one key, as an AWS record (URL-encoded, ``+`` for space) and as a Ceph
  RGW record (raw), through the same parser; every key that comes out must pass
  :func:`~seqoia.storage.keys.validate_key` and carry no ``..`` segment.

Seeds are the project's real and documented notification bodies (``tests/data/events``,
``tests/data/rgw-events``) and keys drawn from them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from seqoia.errors import EventError, InvalidKeyError
from seqoia.intake.events import DEFAULT_MAX_RECORDS, parse_notification
from seqoia.storage.keys import validate_key

FuzzKind = tuple[list[bytes], Callable[[bytes], None], tuple[type[BaseException], ...]]

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


def payload_seeds() -> list[bytes]:
    """Every notification body the tests know: documented shapes and RGW captures."""
    seeds = [path.read_bytes() for path in sorted((DATA / "events").glob("*.json"))]
    for path in sorted((DATA / "rgw-events").glob("*.json")):
        seeds.append(json.loads(path.read_text(encoding="utf-8"))["raw_body"].encode("utf-8"))
    return seeds


def key_seeds() -> list[bytes]:
    """Keys real stores sent (raw and URL-encoded) plus hostile classics."""
    keys = [
        "inbox/240115_A01234_0042_AHKJ2LDSX7/RTAComplete.txt",
        "inbox/RUN/Sample+Sheet%2Bv2.csv",
        "in/dir/café %25 &=?.txt",
        "in/plus+sign.txt",
        "work/align/S01/g1/a1/align.manifest.json",
        "inbox/../../etc/passwd",
        "%2E%2E/%2e%2e/x",
    ]
    return [key.encode("utf-8") for key in keys]


def check_payload(data: bytes) -> None:
    """Parse ``data`` as the intake does; only :class:`EventError` may escape."""
    parse_notification(data, max_records=DEFAULT_MAX_RECORDS)


def check_key(data: bytes) -> None:
    """Carry ``data`` as a key through an AWS record and a Ceph record; check what comes out."""
    key = data.decode("utf-8", errors="surrogateescape")  # JSON may carry lone surrogates
    records = [
        {
            "eventName": "ObjectCreated:Put",
            "eventSource": source,
            "s3": {"bucket": {"name": "inbox"}, "object": {"key": key}},
        }
        for source in ("aws:s3", "ceph:s3")
    ]
    body = json.dumps({"Records": records})  # ensure_ascii: surrogates become \udcxx
    parsed = parse_notification(body, max_records=DEFAULT_MAX_RECORDS)
    if len(parsed.events) + len(parsed.errors) != 2:
        raise AssertionError(f"2 records gave {parsed.events!r} and {parsed.errors!r}")
    for event in parsed.events:
        if validate_key(event.key) != event.key or ".." in event.key.split("/"):
            raise AssertionError(f"unsafe key {event.key!r} came out of the parser")
    if parsed.errors and not parsed.events:
        raise InvalidKeyError(parsed.errors[0])


KINDS: dict[str, FuzzKind] = {
    "event payload": (payload_seeds(), check_payload, (EventError,)),
    "object key": (key_seeds(), check_key, (EventError, InvalidKeyError)),
}
