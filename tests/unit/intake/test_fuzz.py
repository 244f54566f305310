"""A small seeded fuzz of the intake's parser over bench/fuzz_intake.py's targets."""

from __future__ import annotations

import random

import pytest

from bench.fuzz_intake import KINDS

ITERATIONS = 400
NASTY = [b"\n", b"..", b"%", b"%2F", b"\\u0000", b"\\ud800", b"[", b"{", b'"', b"9" * 50, b"+"]


def mutate(data: bytes, rng: random.Random) -> bytes:
    """Flip, drop, insert or splice bytes: cheap mutations that reach the parser's edges."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(5)
        at = rng.randrange(len(buf) + 1)
        if op == 0 and buf:
            buf[min(at, len(buf) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            del buf[at : at + rng.randint(1, 16)]
        elif op == 2:
            buf[at:at] = rng.choice(NASTY)
        elif op == 3:
            buf[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        else:
            buf = buf[:at]
    return bytes(buf)


def test_every_payload_seed_parses_and_hostile_key_seeds_are_refused_cleanly() -> None:
    assert set(KINDS) == {"event payload", "object key"}
    seeds, check, _ = KINDS["event payload"]
    assert len(seeds) >= 20
    for seed in seeds:
        check(seed)  # real and documented bodies: never refused whole
    seeds, check, clean = KINDS["object key"]
    refused = []
    for seed in seeds:
        try:
            check(seed)
        except clean:
            refused.append(seed)
    assert refused == [b"inbox/../../etc/passwd"]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_mutants_are_parsed_or_refused_cleanly(kind: str) -> None:
    seeds, check, clean = KINDS[kind]
    rng = random.Random(f"seqoia-intake-{kind}")
    refused = 0
    for _ in range(ITERATIONS):
        mutant = mutate(rng.choice(seeds), rng)
        try:
            check(mutant)
        except clean:
            refused += 1
        except Exception as err:  # a finding: report the input that broke it
            finding = f"{kind}: {type(err).__name__}: {err} on {mutant[:300]!r}"
            raise AssertionError(finding) from err
    assert 0 < refused < ITERATIONS  # the mutations reach both outcomes
