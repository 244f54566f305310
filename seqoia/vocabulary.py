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

from pydantic import BaseModel, ConfigDict, field_validator

from seqoia.errors import InvalidKeyError

#: What a stage works on. A ``part`` is a share of a run's base calls demultiplexed on its
#: own (a lane, or a tile range of a lane), so that several workers share one run. A
#: ``pair`` is a tumour and its matched normal (sample sheet column ``Pair_ID``).
SubjectKind = Literal["run", "part", "sample", "family", "pair"]

#: A subject or stage name: one path segment, safe in keys, file names and logs. ``\Z``
#: (not ``$``, which also matches before a trailing newline) ends the match.
#: The prescribing centres the embedded defaults accept (those of ``seqoia demo``); a
#: site lists its own in ``SEQOIA_ALLOWED_CENTRES``. ``default`` is a row without Centre.
DEFAULT_CENTRES = ("APHP", "CURIE", "GUSTAVE-ROUSSY", "default")

NAME_PATTERN = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._+-]{0,127}\Z")


def validate_name(name: str, what: str = "name") -> str:
    """Check a stage name or subject identifier: one safe path segment."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise InvalidKeyError(
            f"invalid {what} {name!r}: use letters, digits, '.', '_', '+', '-' "
            "(at most 128, starting with a letter or digit)"
        )
    return name


_UNSAFE_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")


def validate_relative_path(path: str, what: str = "file name") -> str:
    """Check a relative POSIX path read from untrusted data (a manifest, a listing).

    Each segment is non-empty and neither ``.`` nor ``..``; no leading ``/``, no
    backslash, no control character, at most 1024 characters. Joined under a local
    folder it therefore names something inside that folder.
    """
    shown = repr(path[:120]) if isinstance(path, str) else repr(path)
    if not isinstance(path, str) or not path or len(path) > 1024:
        raise InvalidKeyError(f"invalid {what} {shown}: empty or too long")
    if path.startswith("/") or _UNSAFE_CHARS.search(path):
        raise InvalidKeyError(
            f"invalid {what} {shown}: absolute, or holds a backslash or control character"
        )
    if any(segment in ("", ".", "..") for segment in path.split("/")):
        raise InvalidKeyError(f"invalid {what} {shown}: has an empty, '.' or '..' segment")
    return path


#: The end of an Illumina FASTQ name after the sample part: ``_S1[_L001]_R1_001.fastq.gz``.
FASTQ_TAIL = re.compile(r"_S\d+(?:_L\d{3})?_[RI][12]_001\.f(?:ast)?q\.gz\Z")


#: What :func:`source_alias` makes of a file name.
ALIAS_NAME = re.compile(
    r"\Afastq-[0-9a-f]{16}(?:_S\d+(?:_L\d{3})?_[RI][12]_001)?\.f(?:ast)?q\.gz\Z"
)


def is_source_alias(name: str) -> bool:
    """Whether ``name`` is an alias :func:`source_alias` made (it names no real file)."""
    return ALIAS_NAME.match(name.rpartition("/")[2]) is not None


def source_alias(name: str) -> str | None:
    """The name a run-folder FASTQ is recorded under, or ``None`` for other files.

    bcl2fastq names on-board FASTQ after ``Sample_Name`` (``<Sample_Name>_S1_L001_R1_001
    .fastq.gz``), which may be a patient's name. Records (manifests, lineage) carry this
    alias instead: the folder and the Illumina tail kept, the sample part replaced by a
    digest of the whole name (``fastq-<16 hex>_S1_L001_R1_001.fastq.gz``). Only the
    worker that lists the run folder sees the real name, to download it.
    """
    folder, _, base = name.rpartition("/")
    if ALIAS_NAME.match(base):
        return name  # already an alias
    match = FASTQ_TAIL.search(base)
    if match is None and not base.endswith((".fastq.gz", ".fq.gz")):
        return None
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    tail = match.group(0) if match else ".fastq.gz"
    return f"{folder}/fastq-{digest}{tail}" if folder else f"fastq-{digest}{tail}"


class Relation(BaseModel):
    """``kind/subject`` is related to ``other_kind/other`` (a run to its samples, ...)."""

    model_config = ConfigDict(frozen=True)

    kind: SubjectKind
    subject: str
    other_kind: SubjectKind
    other: str

    @field_validator("subject", "other")
    @classmethod
    def _safe_subject(cls, value: str) -> str:
        return validate_name(value, "subject")


@dataclass(frozen=True)
class ObjectInfo:
    """What a listing or a HEAD request tells about one object."""

    key: str
    size: int
    etag: str
    modified: datetime
    #: The content's hex SHA-256 as recorded at ``put_bytes`` or ``upload_file``; HEAD
    #: gives it, listings do not, and None where the writer did not record it (other tools).
    sha256: str | None = None


def sha256_file(path: Path, *, chunk_bytes: int = 1 << 20) -> str:
    """The hex SHA-256 of a local file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()
