"""The object-store interface that every backend implements.

Keys are ``/``-separated strings checked by :func:`seqoia.storage.keys.validate_key`.
Conditional writes are the only concurrency primitive seqoia relies on: ``create``
(fails if the key exists) and ``replace`` (fails unless the ETag still matches).
"""

from __future__ import annotations

import abc
import builtins
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from seqoia.vocabulary import ObjectInfo

#: The metadata name under which ``put_bytes`` records the content's SHA-256
#: (``x-amz-meta-sha256`` on S3, an extended attribute in the local store).
SHA256_METADATA = "sha256"


class ObjectStore(abc.ABC):
    """A flat namespace of immutable-by-convention objects."""

    #: The URL the store was opened from, without credentials.
    url: str

    # -- writes --------------------------------------------------------------------
    @abc.abstractmethod
    def put_bytes(
        self,
        key: str,
        data: bytes,
        *,
        if_none_match: bool = False,
        if_match: str | None = None,
        durable: bool = True,
    ) -> str:
        """Write ``data`` at ``key`` and return the new ETag.

        ``if_none_match=True`` creates only when the key is absent; ``if_match=etag``
        replaces only when the current ETag is ``etag``. Either failing raises
        :class:`~seqoia.errors.PreconditionFailedError`. The content's SHA-256 is
        recorded with the object, for :meth:`head` to return (``ObjectInfo.sha256``).

        ``durable=False`` says the object is a hint (a lease) that may be lost, or read
        back empty, after a power failure: a backend may skip what makes the write
        survive one (the local store's ``fsync``s). Conditions and atomicity for readers
        are unchanged: a create is still create-only and never seen half written.
        """

    @abc.abstractmethod
    def upload_file(
        self, key: str, path: Path, *, if_none_match: bool = False, sha256: str | None = None
    ) -> ObjectInfo:
        """Stream a local file to ``key`` (multipart where the backend has it).

        ``if_none_match=True`` creates only when the key is absent, or raises
        :class:`~seqoia.errors.PreconditionFailedError`. The content's SHA-256 is recorded
        with the object, as ``put_bytes`` records its own, and returned: ``sha256`` (the
        caller hashed the file already) spares a backend that cannot hash on the way a
        second read.
        """

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; removing an absent key is not an error."""

    def delete_many(self, keys: builtins.list[str]) -> None:
        """Remove several keys."""
        for key in keys:
            self.delete(key)

    # -- reads ---------------------------------------------------------------------
    @abc.abstractmethod
    def get_bytes(self, key: str) -> tuple[bytes, str]:
        """Return the whole (small) object and its ETag."""

    @abc.abstractmethod
    def open_read(self, key: str) -> BinaryIO:
        """Open ``key`` for streaming reads; the caller closes the stream."""

    @abc.abstractmethod
    def download_file(self, key: str, path: Path) -> None:
        """Stream ``key`` into a local file, atomically (no partial file on failure)."""

    @abc.abstractmethod
    def head(self, key: str) -> ObjectInfo | None:
        """Describe ``key``, or ``None`` when it does not exist.

        ``sha256`` is what ``put_bytes`` or ``upload_file`` recorded, or None when unknown
        (a writer other than seqoia, a local file changed in place since).
        """

    @abc.abstractmethod
    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object whose key starts with ``prefix``, in key order."""

    @abc.abstractmethod
    def list_children(self, prefix: str) -> builtins.list[str]:
        """The next path segments under ``prefix`` (which ends with ``/``), sorted.

        Objects directly under the prefix and "folders" below it are both returned,
        by name only: ``list_children("a/")`` of ``a/x`` and ``a/y/z`` is ``["x", "y"]``.
        """

    def exists(self, key: str) -> bool:
        """Whether ``key`` exists."""
        return self.head(key) is not None

    def get_text(self, key: str) -> str:
        """Return the object decoded as UTF-8."""
        return self.get_bytes(key)[0].decode()

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
