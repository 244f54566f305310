"""Fuzzing parts shared by ``bench/fuzz.py`` and the test suite: the kind interface and a
seeded mutator.

A *kind* is one input format: real seed files, a ``check`` that parses bytes (and uses the
result the way the pipeline does) and returns or raises, and the exceptions that count as
a *clean* refusal (the project's own ``InputError`` subclasses). Anything else ``check``
raises is a crash. Kinds are declared in ``bench/fuzz_*.py`` modules as
``KINDS: dict[str, FuzzKind]``; ``bench/fuzz.py`` finds them by file name.

Cases are deterministic: case ``i`` of a kind is seed ``i % len(seeds)`` mutated by a
``random.Random`` seeded from ``(base_seed, kind, i)``, so a failure found at any size is
reproduced by its number alone. The first ``len(seeds)`` cases are the seeds unchanged.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from typing import NamedTuple

__all__ = ["FuzzKind", "case_bytes", "mutate", "outcome"]


class FuzzKind(NamedTuple):
    """One input format to fuzz."""

    seeds: list[bytes]
    #: Parses the bytes and returns, or raises one of ``clean``; anything else is a crash.
    check: Callable[[bytes], None]
    clean: tuple[type[BaseException], ...]


#: Numbers that parsers get wrong: signs, Unicode digits, int()'s 4,300-digit limit,
#: integer-width edges, absurd sizes (20,000,000 lanes), floats and separators.
NUMBERS: tuple[bytes, ...] = (
    b"0", b"1", b"-1", b"2", b"3", b"8", b"9", b"255", b"256", b"1000", b"1001",
    b"65535", b"65536", b"2147483647", b"4294967295", b"4294967296", b"99999999",
    b"20000000", "²".encode(), "٣".encode(), "１".encode(), b"9" * 4400, b"1e3",
    b"0x10", b"1_0", b"+1", b" 1", b"1.5", b"", b"na", b"NaN",
)  # fmt: skip

#: Text that breaks CSV, XML and terminals, and the section and column names that steer
#: a sample-sheet parser into other paths.
TOKENS: tuple[bytes, ...] = (
    b"\x1b[2J", b"\x1b]0;x\x07", "\u202e".encode(), "\x9b".encode(), b"\xff\xfe", b"\xc3",
    b"\xe2\x82", b"\x00", b"\r", b"\n", b"\r\n", b",", b",,,,", b'"', b'"a""b"', b";",
    b"[Header]", b"[Reads]", b"[Settings]", b"[Data]", b"[BCLConvert_Settings]",
    b"[BCLConvert_Data]", b"FileFormatVersion,2", b"Sample_ID", b"Sample_Name", b"Lane",
    b"index", b"index2", b"OverrideCycles", b"Y151;I8;I8;Y151", b"U*", b"N*", b"I10",
    b"BarcodeMismatchesIndex1", b"BarcodeMismatchesIndex2,na", b"NoLaneSplitting,true",
    b"AdapterRead1,ACGT", b"#", b"<", b">", b"</Read>", b"<Read Number=\"9\" NumCycles=\"1\"/>",
    b"<!DOCTYPE a [<!ENTITY x 'y'>]>", b"&x;", b"&amp;", b"<![CDATA[x]]>",
    b"<?xml version='1.0' encoding='I0'?>", b"<?xml version='1.0' encoding='utf-16'?>",
    b"<Tile>1_1101</Tile>", b"<Tile>9_1</Tile>", b'LaneCount="', b'NumCycles="',
    b'TileNamingConvention="', b"ACGTACGT", b"NNNNNNNN", b"a" * 200_000,
)  # fmt: skip

#: Little-endian 32-bit values for binary headers and counts.
WORDS: tuple[int, ...] = (
    0, 1, 2, 3, 4, 5, 6, 7, 8, 16, 93, 94, 255, 256, 0x7FFF, 0xFFFF, 0x10000, 1 << 24,
    1 << 26, (1 << 26) + 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF,
)  # fmt: skip


_DIGIT_RUN = re.compile(rb"[0-9]+")


def _span(rng: random.Random, n: int) -> tuple[int, int]:
    a = rng.randrange(n + 1)
    return a, min(n, a + rng.choice((1, 2, 4, 8, 32, 256, n)))


def _replace_number(data: bytearray, rng: random.Random, _: Sequence[bytes]) -> None:
    runs = list(_DIGIT_RUN.finditer(data))
    if not runs:
        return
    m = rng.choice(runs)
    data[m.start() : m.end()] = rng.choice(NUMBERS)


def _insert_token(data: bytearray, rng: random.Random, _: Sequence[bytes]) -> None:
    at = rng.randrange(len(data) + 1)
    if rng.random() < 0.5:  # at a line or field start, where parsers look
        seps = [i + 1 for i in range(len(data)) if data[i] in b"\n,>"]
        at = rng.choice(seps) if seps else at
    data[at:at] = rng.choice(TOKENS)


def _flip(data: bytearray, rng: random.Random, _: Sequence[bytes]) -> None:
    for _flip_count in range(rng.choice((1, 1, 2, 8))):
        if data:
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)


def _set_byte(data: bytearray, rng: random.Random, _: Sequence[bytes]) -> None:
    if data:
        data[rng.randrange(len(data))] = rng.choice((0, 1, 2, 0x7F, 0x80, 0xFE, 0xFF))


def _set_word(data: bytearray, rng: random.Random, _: Sequence[bytes]) -> None:
    if len(data) >= 4:
        # Header fields sit at small offsets; aligned and unaligned both occur (CBCL).
        near = rng.random() < 0.7
        at = rng.randrange(min(len(data) - 3, 64) if near else len(data) - 3)
        data[at : at + 4] = rng.choice(WORDS).to_bytes(4, "little")


def _delete(data: bytearray, rng: random.Random, _: Sequence[bytes]) -> None:
    a, b = _span(rng, len(data))
    del data[a:b]


def _duplicate(data: bytearray, rng: random.Random, _: Sequence[bytes]) -> None:
    a, b = _span(rng, len(data))
    at = rng.randrange(len(data) + 1)
    data[at:at] = data[a:b] * rng.choice((1, 1, 2, 16))


def _swap_lines(data: bytearray, rng: random.Random, _: Sequence[bytes]) -> None:
    lines = bytes(data).split(b"\n")
    if len(lines) > 1:
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
        data[:] = b"\n".join(lines)


def _truncate(data: bytearray, rng: random.Random, _: Sequence[bytes]) -> None:
    del data[rng.randrange(len(data) + 1) :]


def _splice(data: bytearray, rng: random.Random, seeds: Sequence[bytes]) -> None:
    other = rng.choice(seeds)
    a, b = _span(rng, len(other))
    at = rng.randrange(len(data) + 1)
    data[at:] = other[a:b] + data[at:]


_MUTATIONS = (
    _replace_number, _replace_number, _insert_token, _insert_token, _flip, _set_byte,
    _set_word, _set_word, _delete, _duplicate, _swap_lines, _truncate, _splice,
)  # fmt: skip


def mutate(data: bytes, rng: random.Random, seeds: Sequence[bytes] = ()) -> bytes:
    """``data`` with one to four random mutations (see the module docstring)."""
    out = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 3, 4))):
        rng.choice(_MUTATIONS)(out, rng, seeds or (data,))
    return bytes(out)


def case_bytes(name: str, kind: FuzzKind, index: int, base_seed: int = 0) -> bytes:
    """Case ``index`` of a kind: a seed as is (first cases), then mutated seeds."""
    seed = kind.seeds[index % len(kind.seeds)]
    if index < len(kind.seeds):
        return seed
    return mutate(seed, random.Random(f"{base_seed}:{name}:{index}"), kind.seeds)


def outcome(kind: FuzzKind, data: bytes) -> tuple[str, str]:
    """Run one case in this process: ``("accepted" | "clean" | "crash", detail)``.

    MemoryError and RecursionError are crashes here; ``bench/fuzz.py`` tells memory
    blow-ups and hangs apart by running cases in limited worker processes.
    """
    try:
        kind.check(data)
    except kind.clean as err:
        return "clean", f"{type(err).__name__}: {err}"[:300]
    except Exception as err:  # noqa: BLE001 - the point: anything else is a crash
        return "crash", f"{type(err).__name__}: {err}"[:300]
    return "accepted", ""
