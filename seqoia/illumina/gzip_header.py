"""Gzip headers without the original file name: adopted FASTQ must not carry one.

``gzip sample.fastq`` (and Python's ``gzip.open(path)``) records the file name in the
header's FNAME field. On-board FASTQ are named after the Sample_Name, which may be a
patient's name, so a FASTQ copied byte for byte into the store would carry that name
inside the file. :func:`copy_without_name` copies a gzip file with FNAME, FCOMMENT and the
header CRC (which covers them) taken out of its first member; the compressed data and
the trailer are unchanged, so every reader gets the same bytes back.
"""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

from seqoia.errors import FormatError

_FHCRC, _FEXTRA, _FNAME, _FCOMMENT = 0x02, 0x04, 0x08, 0x10


def _read_zero_terminated(handle, path: Path) -> bytes:  # type: ignore[no-untyped-def]
    field = bytearray()
    while (byte := handle.read(1)) != b"\x00":
        if not byte:
            raise FormatError("gzip header ends inside a name or comment", file=path.name)
        field += byte
    return bytes(field)


def copy_without_name(source: Path, target: Path) -> None:
    """Copy the gzip file ``source`` to ``target`` without a stored name or comment."""
    with source.open("rb") as src, target.open("wb") as dst:
        fixed = src.read(10)
        if len(fixed) < 10 or fixed[:2] != b"\x1f\x8b":
            raise FormatError("not a gzip file", file=source.name)
        flags = fixed[3]
        extra = b""
        if flags & _FEXTRA:
            size = src.read(2)
            extra = size + src.read(struct.unpack("<H", size)[0])
        if flags & _FNAME:
            _read_zero_terminated(src, source)
        if flags & _FCOMMENT:
            _read_zero_terminated(src, source)
        if flags & _FHCRC:
            src.read(2)
        kept = flags & ~(_FNAME | _FCOMMENT | _FHCRC)
        dst.write(fixed[:3] + bytes([kept]) + fixed[4:] + extra)
        shutil.copyfileobj(src, dst, 1 << 20)
