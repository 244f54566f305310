"""Real Ceph RGW notification bodies (tests/data/rgw-events, see ORIGIN.md) parse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seqoia.intake.events import parse_notification

DATA = Path(__file__).resolve().parents[2] / "data" / "rgw-events"
CAPTURES = sorted(DATA.glob("*.json"))


def raw_body(path: Path) -> bytes:
    return json.loads(path.read_text(encoding="utf-8"))["raw_body"].encode("utf-8")


def test_all_eight_captures_are_here() -> None:
    assert len(CAPTURES) == 8


WRITTEN = [path for path in CAPTURES if "REJECTED" not in path.name]


@pytest.mark.parametrize("path", WRITTEN, ids=lambda p: p.stem)
def test_every_rgw_capture_of_a_stored_object_gives_its_one_event(path: Path) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    obj = doc["body"]["Records"][0]["s3"]["object"]

    parsed = parse_notification(raw_body(path))

    assert parsed.errors == []
    (event,) = parsed.events
    assert event.key == obj["key"]  # raw, never URL-decoded
    assert (event.size, event.etag, event.source) == (obj["size"], obj["eTag"], "s3")


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("02-put-key-with-space.json", "in/with space.txt"),
        ("03-put-key-with-plus.json", "in/plus+sign.txt"),
        ("04-put-key-utf8-percent.json", "in/dir/café %25 &=?.txt"),
    ],
)
def test_rgw_keys_are_raw_utf8_not_url_encoded(name: str, key: str) -> None:
    (event,) = parse_notification(raw_body(DATA / name)).events
    assert event.key == key


@pytest.mark.parametrize(
    "name", ["05-put-REJECTED-412-create-only.json", "08-put-REJECTED-412-different-body.json"]
)
def test_rgw_records_of_refused_writes_are_ignored_not_errors(name: str) -> None:
    # RGW announces a conditional PUT it refused with 412: eventTime 0.000000, nothing stored.
    assert b'"eventTime":"0.000000"' in raw_body(DATA / name)
    parsed = parse_notification(raw_body(DATA / name))
    assert parsed.events == [] and parsed.errors == [] and parsed.ignored == 1
