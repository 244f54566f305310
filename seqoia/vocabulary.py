"""The ground floor's vocabulary: the few types and checks every layer shares.

Stage declarations (``tasks/``), the pure libraries (``illumina/``) and the store
(``storage/``) all speak of subjects, relations between them, safe names and listed
objects. They live here, below all three, so that a declaration or a parser never has to
import the store (or the engine) to name them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from seqoia.errors import InvalidKeyError

#: What a stage works on. A ``part`` is a share of a run's base calls demultiplexed on its
#: own (a lane, or a tile range of a lane), so that several workers share one run. A
#: ``pair`` is a tumour and its matched normal (sample sheet column ``Pair_ID``).
SubjectKind = Literal["run", "part", "sample", "family", "pair"]

#: A subject or stage name: one path segment, safe in keys, file names and logs. ``\Z``
#: (not ``$``, which also matches before a trailing newline) ends the match.
NAME_PATTERN = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._+-]{0,127}\Z")


def validate_name(name: str, what: str = "name") -> str:
    """Check a stage name or subject identifier: one safe path segment."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise InvalidKeyError(
            f"invalid {what} {name!r}: use letters, digits, '.', '_', '+', '-' "
            "(at most 128, starting with a letter or digit)"
        )
    return name


class Relation(BaseModel):
    """``kind/subject`` is related to ``other_kind/other`` (a run to its samples, ...)."""

    model_config = ConfigDict(frozen=True)

    kind: SubjectKind
    subject: str
    other_kind: SubjectKind
    other: str


@dataclass(frozen=True)
class ObjectInfo:
    """What a listing or a HEAD request tells about one object."""

    key: str
    size: int
    etag: str
    modified: datetime


def sha256_file(path: Path, *, chunk_bytes: int = 1 << 20) -> str:
    """The hex SHA-256 of a local file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()
