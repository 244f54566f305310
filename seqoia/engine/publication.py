"""Publication: a committed generation's files copied into the review area or the outbox.

A publishing stage (``publish=True``) uploads under its attempt prefix like every stage;
only once its manifest has committed does the committer, still holding the lease, copy
the files to ``published_to`` (recorded in the manifest). Each copy is a create-only write,
or, for a file an earlier generation published under the same name, a compare-and-swap on
that file's ETag. So a losing or duplicate attempt never writes there, and the hospital or
the biologist never sees a file written twice for one generation.

If the committer dies between the commit and the copies, the next attempt that finds the
stage up to date (under the lease) completes the publication from the attempt's files.
The last copy is followed by the generation's publication mark (``gN.published.json``
beside the manifest, ``ManifestStore.mark_published``): until it is listed, the planner
calls the stage "publication pending" and the reconciler sends it again, so a lost
message cannot leave a committed generation unpublished.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from seqoia.engine.scratch import path_inside
from seqoia.errors import PreconditionFailedError
from seqoia.storage.base import ObjectStore
from seqoia.storage.manifest import FileRef, Manifest
from seqoia.storage.permissions import make_folders

log = logging.getLogger(__name__)


def published_key(manifest: Manifest, ref: FileRef) -> str:
    """Where ``ref`` of a publishing manifest is published."""
    if manifest.published_to is None:
        raise ValueError(f"{manifest.stage}/{manifest.subject} publishes nothing")
    return manifest.published_to + ref.name


def unpublished(store: ObjectStore, manifest: Manifest) -> list[FileRef]:
    """The manifest's files not (or not yet as this generation's bytes) at their place.

    One HEAD per file: the SHA-256 the store recorded at the put is compared with the
    manifest's, since a same-size file of other bytes (rewritten, tampered with) is not
    this generation's. A file whose checksum the store does not know (written by another
    tool, or before checksums were recorded) counts as unpublished: publishing it again
    reads it and writes only if its bytes differ.
    """
    if manifest.published_to is None:
        return []
    missing = []
    for ref in manifest.outputs:
        info = store.head(published_key(manifest, ref))
        if info is None or info.size != ref.size or ref.sha256 is None or info.sha256 != ref.sha256:
            missing.append(ref)
    return missing


def publish(store: ObjectStore, manifest: Manifest, local_dir: Path) -> int:
    """Write the manifest's files (local copies under ``local_dir``); the number written."""
    written = 0
    for ref in manifest.outputs:
        if _publish_one(store, published_key(manifest, ref), ref, local_dir / ref.name):
            written += 1
    return written


def complete_publication(store: ObjectStore, manifest: Manifest, scratch: Path) -> int:
    """Publish what a dead committer left unpublished, from the attempt's files."""
    missing = unpublished(store, manifest)
    if not missing:
        return 0
    log.info(
        "%s/%s g%d: completing publication of %d file(s)",
        manifest.stage,
        manifest.subject,
        manifest.generation,
        len(missing),
    )
    written = 0
    for ref in missing:
        local = path_inside(scratch, "publish", ref.name, what="published file")
        make_folders(local.parent, 0o700)
        store.download_file(ref.key, local)
        if _publish_one(store, published_key(manifest, ref), ref, local):
            written += 1
    return written


def _publish_one(store: ObjectStore, key: str, ref: FileRef, local: Path) -> bool:
    """Create ``key`` with ``local``'s bytes; True if this call wrote it."""
    data = local.read_bytes()
    try:
        store.put_bytes(key, data, if_none_match=True)
        return True
    except PreconditionFailedError:
        pass
    existing, etag = store.get_bytes(key)
    if hashlib.sha256(existing).hexdigest() == ref.sha256:
        return False  # published already: our own write whose answer was lost
    # An earlier generation's file of the same name: replace exactly that version.
    store.put_bytes(key, data, if_match=etag)
    return True
