"""Keys must be valid UTF-8: lone surrogates are refused before any backend sees them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from seqoia.errors import InvalidKeyError
from seqoia.storage.keys import validate_key
from seqoia.storage.local import LocalStore


@pytest.mark.parametrize("key", ["runs/\ud800/x", "a\udc80", "\udfff", "inbox/R1/\ud83d.txt"])
def test_keys_with_a_lone_surrogate_are_refused_as_not_utf8(key: str) -> None:
    with pytest.raises(InvalidKeyError, match="not valid UTF-8"):
        validate_key(key)


def test_keys_outside_the_basic_plane_are_valid_utf8() -> None:
    assert validate_key("reports/\U0001f9ec/S01.json") == "reports/\U0001f9ec/S01.json"


def test_the_local_store_refuses_a_lone_surrogate_for_reads_and_writes(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    with pytest.raises(InvalidKeyError):
        store.put_bytes("a/\ud800", b"x")
    with pytest.raises(InvalidKeyError):
        store.get_bytes("a/\ud800")
    with pytest.raises(InvalidKeyError):
        store.list_children("a\udc80/")
    assert list(store.list("")) == []


def test_s3_store_translates_an_unencodable_request_into_invalid_key_error() -> None:
    from seqoia.storage.s3 import S3Store

    store = S3Store(
        "bucket", endpoint_url="http://127.0.0.1:9", access_key="a", secret_key="b",
        region="us-east-1", max_attempts=1,
    )  # fmt: skip

    def unencodable(**kwargs: Any) -> Any:
        raise UnicodeEncodeError("latin-1", "\u2603", 0, 1, "ordinal not in range(256)")

    store._client.get_object = unencodable
    store._client.head_object = unencodable
    with pytest.raises(InvalidKeyError, match="not encodable"):
        store.get_bytes("k")
    with pytest.raises(InvalidKeyError, match="not encodable"):
        store.head("k")
    store._client.get_paginator = lambda name: type(
        "P", (), {"paginate": staticmethod(unencodable)}
    )()
    with pytest.raises(InvalidKeyError, match="not encodable"):
        list(store.list("p/"))
    store.close()
