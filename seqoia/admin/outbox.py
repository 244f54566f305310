"""Writing a release into the outbox: create-only, each file once, checked by SHA-256.

Shared by the sample release (:mod:`seqoia.admin.release`) and the family release
(:mod:`seqoia.admin.family_release`). A release claims its outbox folder by writing the
final report first, create-only (:func:`claim_report`): of two biologists releasing at
once one wins; the other is refused unless they are the one who started it, in which case
the interrupted release is finished with the report already written. The other files
follow with :func:`put_once`: a create-only upload that records the SHA-256, where a file
already there is kept only if it holds the same bytes.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

from seqoia.errors import PreconditionFailedError, SeqoiaError
from seqoia.genomics.clinical_report import Release
from seqoia.storage.base import ObjectStore
from seqoia.vocabulary import sha256_file

_CHUNK_BYTES = 1 << 20


class ReleaseRefusedError(SeqoiaError):
    """A release that must not happen (QC failed, already released, nothing to release)."""


class Releasable(Protocol):
    """A report that a biologist's release makes final."""

    @property
    def release(self) -> Release | None: ...


ReportT = TypeVar("ReportT", bound=Releasable)


def claim_report(
    store: ObjectStore,
    prefix: str,
    final: ReportT,
    out: Path,
    *,
    name: str,
    what: str,
    write: Callable[[ReportT, Path], object],
    parse: Callable[[bytes], ReportT],
) -> ReportT:
    """Write ``final``'s files into ``out`` and its ``name`` create-only under ``prefix``.

    Returns the report the release goes on with: ``final``, or the report an interrupted
    release by the same person already wrote (its files rewritten into ``out``, so the
    bytes do not change). ``what`` names the subject in refusals (``sample S1``).
    """
    out.mkdir()
    write(final, out)
    try:
        store.put_bytes(prefix + name, (out / name).read_bytes(), if_none_match=True)
        return final
    except PreconditionFailedError:
        pass
    body, _ = store.get_bytes(prefix + name)
    earlier = parse(body)
    mine = final.release
    if earlier.release is None or mine is None or earlier.release.by != mine.by:
        who = earlier.release.by if earlier.release else "someone"
        raise ReleaseRefusedError(
            f"{what}: {who} is releasing report {prefix} (no release record yet); only they "
            "can finish it"
        ) from None
    shutil.rmtree(out)
    out.mkdir()
    write(earlier, out)
    return earlier


def put_once(store: ObjectStore, key: str, path: Path) -> bool:
    """Create ``key`` with the file's bytes; True if this call wrote it.

    Create-only, with the SHA-256 recorded: a file already there (an interrupted release's,
    or this upload whose answer was lost) is kept when its SHA-256 is the file's, and
    refused otherwise, whatever its size. One written without a recorded checksum is
    hashed from its bytes, streamed.
    """
    try:
        store.upload_file(key, path, if_none_match=True)  # the store records its SHA-256
        return True
    except PreconditionFailedError:
        pass
    digest = sha256_file(path)  # only to compare with what is there
    info = store.head(key)
    found = info.sha256 if info is not None else None
    if info is not None and found is None:
        found = _sha256_of_object(store, key)
    if found != digest:
        raise ReleaseRefusedError(f"{key} exists with other content: refusing to overwrite it")
    return False


def _sha256_of_object(store: ObjectStore, key: str) -> str:
    digest = hashlib.sha256()
    with store.open_read(key) as body:
        while chunk := body.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()
