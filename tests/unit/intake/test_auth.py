"""Intake token: Bearer or Basic password, never the query string, constant-time compare."""

from __future__ import annotations

import base64

import pytest

from seqoia.intake.auth import TokenCheck, new_token, offered_tokens

TOKEN = "an-intake-token-of-32-characters"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_bearer_and_basic_password_carry_the_token() -> None:
    check = TokenCheck(TOKEN)
    assert check(f"Bearer {TOKEN}")
    assert check(f"bearer   {TOKEN}  ")
    assert check(basic("seqoia", TOKEN))  # http://seqoia:TOKEN@host/ as RGW and SNS send it
    assert check(basic("", TOKEN))


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
        f"Token {TOKEN}",
        basic(TOKEN, "wrong"),  # the token as the user name is not the password
        basic("seqoia", ""),
        "Basic !!not-base64!!",
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
    ],
)
def test_anything_else_is_refused(header: str | None) -> None:
    assert not TokenCheck(TOKEN)(header)


def test_short_tokens_are_refused_at_start() -> None:
    with pytest.raises(ValueError, match="at least 16 characters"):
        TokenCheck("s3cret")


def test_new_tokens_are_random_and_long_enough() -> None:
    first, second = new_token(), new_token()
    assert first != second and len(first) >= 40
    TokenCheck(first)
    assert offered_tokens(basic("u", first)) == [first]
