"""Key and name validation: the gate every untrusted key passes before a backend sees it."""

from __future__ import annotations

import pytest

from seqoia.errors import InputError, InvalidKeyError
from seqoia.storage.keys import MAX_KEY_BYTES, join, validate_key, validate_name, validate_prefix


@pytest.mark.parametrize(
    "key",
    [
        "runs/240101_A00123_0001_AHXXXX/RunInfo.xml",
        "a",
        "folder/marker/",
        "samples/S01/S01.md.cram",
        "Data/Intensities/BaseCalls/L001/C1.1/s_1_1101.bcl.gz",
        "with space/and-dash_underscore+plus.txt",
        "unicodé/ключ",
        "..hidden/x",
        "a/.../b",
        "x" * MAX_KEY_BYTES,
    ],
)
def test_safe_keys_are_returned_unchanged(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("", "empty"),
        ("../etc/passwd", "'..'"),
        ("a/../../x", "'..'"),
        ("a/./b", "'.'"),
        (".", "'.'"),
        ("/abs/path", "absolute"),
        ("\\\\server\\share", "absolute"),
        ("C:/windows/x", "absolute"),
        ("a\\b", "backslash"),
        ("a//b", "empty path segment"),
        ("//", "absolute"),
        ("a\nb", "control"),
        ("a\rb", "control"),
        ("a\x00b", "control"),
        ("a\x7fb", "control"),
        ("x" * (MAX_KEY_BYTES + 1), "longer than"),
        ("é" * (MAX_KEY_BYTES // 2 + 1), "longer than"),
    ],
)
def test_hostile_keys_are_refused_with_the_reason(key: str, reason: str) -> None:
    with pytest.raises(InvalidKeyError, match=reason):
        validate_key(key)


def test_a_key_error_is_a_permanent_input_error_that_shows_a_short_key() -> None:
    with pytest.raises(InvalidKeyError) as caught:
        validate_key("../" + "x" * 5000)
    assert isinstance(caught.value, InputError) and caught.value.permanent
    assert len(str(caught.value)) < 300


def test_a_non_string_key_is_refused() -> None:
    with pytest.raises(InvalidKeyError):
        validate_key(None)  # type: ignore[arg-type]


def test_the_empty_prefix_means_everything_but_other_prefixes_are_keys() -> None:
    assert validate_prefix("") == ""
    assert validate_prefix("runs/") == "runs/"
    with pytest.raises(InvalidKeyError):
        validate_prefix("../")


@pytest.mark.parametrize("name", ["S01", "align", "qc_fastq", "HG002.bwa", "a+b-c", "9" * 128])
def test_safe_stage_and_subject_names_pass(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "-leading", ".hidden", "a/b", "a b", "a\nb", "x" * 129, "é", "..", "S01/../x"]
)
def test_unsafe_names_are_refused_naming_what_they_are(name: str) -> None:
    with pytest.raises(InvalidKeyError, match="invalid sample"):
        validate_name(name, "sample")


def test_join_skips_empty_parts_and_stray_slashes() -> None:
    assert join("runs/", "", "/R1/", "RunInfo.xml") == "runs/R1/RunInfo.xml"
