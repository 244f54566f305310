"""The worker's reference cache: a downloaded reference FASTA, verified at every use.

A reference is downloaded once per store ETag into the private scratch cache. At
download its MD5 is compared with the store's ETag where that is a plain MD5
(single-part objects), and its SHA-256 is recorded beside it (``genome.fa.sha256``,
which the stages' reference preparation keys its indexes by) and in this process's
memory. Each later use hashes the cached file again (SHA-256 only, about 1 GB/s) and
compares with both: a file changed on disk (planted, truncated, bit-rotted), even with
its checksum file, is thrown away and downloaded afresh.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from pathlib import Path

from seqoia.engine.scratch import path_inside
from seqoia.errors import StorageError
from seqoia.storage.base import ObjectStore
from seqoia.storage.manifest import FileRef
from seqoia.storage.permissions import make_folders
from seqoia.vocabulary import sha256_file, validate_name

log = logging.getLogger(__name__)

_PLAIN_MD5 = re.compile(r"\A[0-9a-f]{32}\Z")
#: Cached file -> the SHA-256 this process verified when it downloaded it.
_DOWNLOADED: dict[str, str] = {}
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
    # Unique per process and thread: two stages of one worker may cache one reference at once.
    tmp = checksum_file.with_name(f"genome.fa.sha256.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(sha256)
    tmp.replace(checksum_file)
    _DOWNLOADED[str(local)] = sha256
    return local


def _matches(local: Path, checksum_file: Path, ref: FileRef) -> bool:
    try:
        recorded = checksum_file.read_text().strip()
    except OSError:
        return False
    expected = {recorded, _DOWNLOADED.get(str(local), recorded)}
    if ref.sha256 is not None:
        expected.add(ref.sha256)
    return len(expected) == 1 and sha256_file(local, chunk_bytes=_CHUNK_BYTES) == recorded
