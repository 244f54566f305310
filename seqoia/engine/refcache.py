"""The worker's reference cache: a downloaded reference FASTA, verified at every use.

A reference is downloaded once per store ETag into the private scratch cache. Its
SHA-256 is recorded beside it (``genome.fa.sha256``, which the stages' reference
preparation keys its indexes by) and, where the ETag is a plain MD5 (single-part
objects), the MD5 is compared with the store's. Each later use hashes the cached file
again and compares: a file changed on disk (planted, truncated, bit-rotted) is thrown
away and downloaded afresh, and if the fresh copy does not match either, the stage fails.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from pathlib import Path

from seqoia.engine.scratch import path_inside
from seqoia.errors import StorageError
from seqoia.storage.base import ObjectStore
from seqoia.storage.manifest import FileRef
from seqoia.storage.permissions import make_folders
from seqoia.vocabulary import validate_name

log = logging.getLogger(__name__)

_PLAIN_MD5 = re.compile(r"\A[0-9a-f]{32}\Z")
_CHUNK_BYTES = 4 << 20


def digests_of(path: Path) -> tuple[str, str]:
    """``(sha256, md5)`` of a file, in one read."""
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK_BYTES):
            sha.update(block)
            md5.update(block)
    return sha.hexdigest(), md5.hexdigest()


def cached_reference(store: ObjectStore, ref: FileRef, cache_dir: Path) -> Path:
    """The reference FASTA ``ref`` in ``cache_dir``, verified against its checksum now."""
    etag = validate_name(ref.etag or "unknown", "reference ETag")
    local = path_inside(cache_dir, "refs", etag, "genome.fa", what="reference")
    checksum_file = local.with_name("genome.fa.sha256")
    if local.exists() and _matches(local, checksum_file, ref):
        return local
    if local.exists():
        log.warning("cached reference %s does not match its checksum: downloading again", etag)
    make_folders(local.parent, 0o700)
    store.download_file(ref.key, local)  # atomic: no partial file
    sha256, md5 = digests_of(local)
    if _PLAIN_MD5.match(etag) and md5 != etag:
        local.unlink(missing_ok=True)
        raise StorageError(f"reference {ref.key} downloaded with MD5 {md5}, store says {etag}")
    tmp = checksum_file.with_name(f"genome.fa.sha256.{os.getpid()}.tmp")
    tmp.write_text(sha256)
    tmp.replace(checksum_file)
    return local


def _matches(local: Path, checksum_file: Path, ref: FileRef) -> bool:
    try:
        recorded = checksum_file.read_text().strip()
    except OSError:
        return False
    sha256, md5 = digests_of(local)
    if sha256 != recorded or (ref.sha256 is not None and sha256 != ref.sha256):
        return False
    return not (ref.etag and _PLAIN_MD5.match(ref.etag) and md5 != ref.etag)
