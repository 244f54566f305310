"""The local-folder object store: seqoia's embedded default.

Each key is a file under ``root``. Writes go to a temporary file in the target's own
folder and are renamed into place, so a reader never sees half an object. Conditional
writes are atomic across processes: ``if_none_match`` links the finished temporary file
to the key (``link`` fails if the name exists), and ``if_match`` compares and replaces
under an ``flock`` on one of a fixed set of lock files kept in ``<root>/.seqoia-locks``.
Unconditional puts and deletes take the same lock, so a compare-and-swap is never
interleaved with another writer of the same key.

The ETag is the MD5 of the content, as S3 gives for single-part uploads. It is cached in
an extended attribute with the size and mtime it was computed for, so listing does not
re-read files; a compare-and-swap always hashes the current bytes instead of trusting it.
``put_bytes`` adds the content's SHA-256 to that attribute, which ``head`` returns while
size and mtime still match (unknown, never recomputed, otherwise).

Names starting with ``.seqoia-`` are reserved for temporary and lock files: they are
never listed and no key may use them. A key cannot be both an object and a "folder"
(``a`` and ``a/b``) in a file system; writing the second raises StorageError.

Files are created 0600 and folders 0700 (patient data is nobody else's business), or
the group mode given as ``file_mode`` (see :mod:`seqoia.storage.permissions`).
"""

from __future__ import annotations

import builtins
import errno
import fcntl
import hashlib
import os
import random
import stat
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Literal

from seqoia.errors import (
    InvalidKeyError,
    ObjectNotFoundError,
    PreconditionFailedError,
    StorageError,
)
from seqoia.storage.base import ObjectInfo, ObjectStore
from seqoia.storage.keys import validate_key, validate_prefix
from seqoia.storage.permissions import DEFAULT_FILE_MODE, folder_mode_for, make_folders

RESERVED = ".seqoia-"
_LOCK_DIR = ".seqoia-locks"
#: Lock striping bounds the number of lock files whatever the number of keys.
_LOCK_STRIPES = 1024
_ETAG_XATTR = "user.seqoia.etag"
_CHUNK_BYTES = 1024 * 1024
#: A writer whose folder is removed by a concurrent delete retries this many times.
_MKDIR_ATTEMPTS = 20
#: Reading an object: no descriptor for a child process, no wait on a planted FIFO.
_READ_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK
#: What the last component of a checked path is to the caller (see _check_inside).
Leaf = Literal["look", "folder", "skip"]

#: How long a folder seen as a real folder (not a symlink) is trusted, and how many.
_TRUSTED_FOLDER_S = 1.0
_TRUSTED_FOLDERS = 4096


class LocalStore(ObjectStore):
    """Objects as files under ``root``; ``fsync`` makes plain puts durable too."""

    def __init__(
        self, root: Path, *, fsync: bool = True, file_mode: int = DEFAULT_FILE_MODE
    ) -> None:
        self._file_mode = file_mode
        self._folder_mode = folder_mode_for(file_mode)
        try:
            make_folders(root, self._folder_mode)
            self.root = Path(os.path.realpath(root))
            make_folders(self.root / _LOCK_DIR, 0o700)
        except OSError as err:
            raise StorageError(f"cannot open local store at {root}: {err}") from err
        self._root_str = str(self.root)
        self._root_sep = self._root_str.rstrip(os.sep) + os.sep
        self._fsync = fsync
        #: Folder path -> until when it is trusted to be a real folder (see _check_inside).
        self._trusted: dict[str, float] = {}
        #: Folder path -> until when it counts as in use (written to), see _prune.
        self._written: dict[str, float] = {}
        self.url = "file://" + self._root_str

    def __repr__(self) -> str:
        return f"LocalStore({self._root_str!r})"

    # -- paths ---------------------------------------------------------------------
    def _path(self, key: str, leaf: Leaf = "look") -> str:
        """The file of ``key``, refused if it would leave the root or use a reserved name."""
        return self._locate(key, leaf)[0]

    def _locate(self, key: str, leaf: Leaf = "look") -> tuple[str, bool]:
        """The file of ``key``, and False when the check found it absent (no need to open)."""
        validate_key(key)
        if key.endswith("/"):
            raise InvalidKeyError(
                "the local store cannot hold folder-marker keys ending with '/'",
                file=repr(key[:120]),
            )
        if RESERVED in key and any(s.startswith(RESERVED) for s in key.split("/")):
            raise InvalidKeyError(
                f"object key uses the reserved name prefix {RESERVED!r}", file=repr(key[:120])
            )
        path = self._root_sep + key
        return path, self._check_inside(path, key, leaf=leaf)

    def _check_inside(
        self, path: str, key: str, what: str = "object key", *, leaf: Leaf = "look"
    ) -> bool:
        """Refuse a path below the root that a planted symlink would lead outside it.

        Returns False when a component is missing (nothing to open), else True.

        Keys are already free of '..' and absolute parts, and the root is resolved once,
        so a symlink inside the root is the one remaining way out (defence in depth).
        ``realpath`` costs a Python-level walk over every component from ``/``; instead
        ``lstat`` the components below the root and resolve only when one is a symlink.
        A missing component ends the walk: nothing below it exists to follow.

        Folders seen as real folders in the last ``_TRUSTED_FOLDER_S`` are not looked at
        again: every look is a system call that releases the GIL, and a worker's threads
        pay a GIL hand-over for each. ``leaf`` says what the last component is to the
        caller: ``look``, a file it will follow (always looked at); ``folder``, a folder
        it will list (trusted like the others); ``skip``, a name it acts on without
        following it (``link``, ``rename``, an ``O_NOFOLLOW`` open), so only its folders
        are checked. Like any check before use, this cannot stop a folder swapped for a
        symlink in between.
        """
        trusted = self._trusted
        now = time.monotonic()
        end = len(self._root_sep) - 1
        last = path.rfind("/") if leaf == "skip" else len(path)
        trust_last = leaf != "look"
        while end != last:
            end = path.find("/", end + 1)
            if end == -1:
                end = last
            component = path[:end]
            folder = end != last or trust_last
            if folder and trusted.get(component, 0.0) > now:
                continue
            try:
                mode = os.lstat(component).st_mode
            except (FileNotFoundError, NotADirectoryError):
                return False
            except OSError:
                break  # cannot tell (permissions): let realpath decide
            if stat.S_ISLNK(mode):
                break
            if folder and stat.S_ISDIR(mode):
                if len(trusted) >= _TRUSTED_FOLDERS:
                    trusted.clear()
                trusted[component] = now + _TRUSTED_FOLDER_S
        else:
            return True
        if not os.path.realpath(path).startswith(self._root_sep):
            raise InvalidKeyError(f"{what} resolves outside the store", file=repr(key[:120]))
        return True

    def _key_of(self, path: str) -> str:
        return path[len(self._root_sep) :]

    @contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        stripe = zlib.crc32(key.encode("utf-8", "surrogatepass")) % _LOCK_STRIPES
        lock_path = os.path.join(self._root_str, _LOCK_DIR, f"{stripe:04d}")
        # One open file description per call: flock then excludes other threads too.
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    # -- writes --------------------------------------------------------------------
    def put_bytes(
        self,
        key: str,
        data: bytes,
        *,
        if_none_match: bool = False,
        if_match: str | None = None,
        durable: bool = True,
    ) -> str:
        """Write ``data`` at ``key`` atomically, optionally only if absent or unchanged.

        Conditional writes are durable even with ``fsync=False`` (a commit must not be
        lost once answered), unless the caller says the object is a hint
        (``durable=False``: a lease, whose loss costs at most a duplicate attempt).
        """
        if if_none_match and if_match is not None:
            raise ValueError("if_none_match and if_match cannot be combined")
        # link() and rename() act on the name, never through a symlink there; a
        # compare-and-swap reads the current object first, so it looks at it.
        path = self._path(key, "skip" if if_match is None else "look")
        etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
        sha256 = hashlib.sha256(data).hexdigest()
        conditional = if_none_match or if_match is not None
        sync = (conditional or self._fsync) and durable
        try:
            tmp = self._write_temp(path, data, etag, sha256, fsync=sync)
            try:
                if if_none_match:
                    self._link_new(key, tmp, path)
                else:
                    with self._locked(key):
                        if if_match is not None and self._current_etag(path) != if_match:
                            raise PreconditionFailedError(key)
                        os.replace(tmp, path)
                if sync:
                    _fsync_dir(os.path.dirname(path))
            finally:
                _unlink_quietly(tmp)
        except OSError as err:
            raise _storage_error("put", key, err) from err
        return etag

    def _link_new(self, key: str, tmp: str, path: str) -> None:
        try:
            os.link(tmp, path)
        except FileExistsError as err:
            raise PreconditionFailedError(key) from err
        except IsADirectoryError as err:  # pragma: no cover - link reports EEXIST
            raise PreconditionFailedError(key) from err

    def _current_etag(self, path: str) -> str | None:
        try:
            with open(path, "rb") as f:
                return _md5_stream(f)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def _write_temp(self, path: str, data: bytes, etag: str, sha256: str, *, fsync: bool) -> str:
        fd, tmp = self._open_temp(path)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            _tag(fd, etag, sha256)
            if fsync:
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            _unlink_quietly(tmp)
            raise
        os.close(fd)
        return tmp

    def _open_temp(self, path: str) -> tuple[int, str]:
        """Create an exclusive temporary file beside ``path``, making folders as needed."""
        folder = os.path.dirname(path)
        written = self._written
        if len(written) >= _TRUSTED_FOLDERS:
            written.clear()
        written[folder] = time.monotonic() + _TRUSTED_FOLDER_S
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        for attempt in range(_MKDIR_ATTEMPTS):
            tmp = f"{folder}/{_temp_name()}"
            try:
                fd = os.open(tmp, flags, self._file_mode)
                if self._file_mode != 0o600:  # exact group bits, whatever the umask
                    os.fchmod(fd, self._file_mode)
                return fd, tmp
            except FileExistsError:
                continue  # a name drawn twice: draw again
            except FileNotFoundError:
                # The folder is missing, or a concurrent delete just pruned it.
                if attempt == _MKDIR_ATTEMPTS - 1:
                    raise
                try:
                    _make_folder(folder, self._folder_mode)
                except FileExistsError as err:  # a file sits where a folder must be
                    raise NotADirectoryError(errno.ENOTDIR, "not a folder", folder) from err
        raise FileExistsError(errno.EEXIST, "no free temporary name", folder)

    def upload_file(
        self, key: str, path: Path, *, if_none_match: bool = False, sha256: str | None = None
    ) -> ObjectInfo:
        """Copy a local file to ``key`` through a temporary file and a rename.

        ``if_none_match``: a hard link instead of the rename, which fails if ``key``
        exists. The content's SHA-256 is computed on the way (a caller's ``sha256`` is not
        needed here) and recorded beside the ETag, as ``put_bytes`` records it.
        """
        target = self._path(key, "skip")  # written by link() or rename(), as put_bytes
        try:
            src = open(path, "rb")  # noqa: SIM115 - closed below
        except OSError as err:
            raise StorageError(f"cannot read {path} to upload to {key!r}: {err}") from err
        try:
            with src:
                fd, tmp = self._open_temp(target)
                try:
                    with os.fdopen(fd, "wb", closefd=True) as dst:
                        # Both digests on the way: the manifest's SHA-256 needs no second read.
                        digest = hashlib.md5(usedforsecurity=False)
                        content = hashlib.sha256()
                        while chunk := src.read(_CHUNK_BYTES):
                            digest.update(chunk)
                            content.update(chunk)
                            dst.write(chunk)
                        dst.flush()
                        etag, sha256 = digest.hexdigest(), content.hexdigest()
                        _tag(dst.fileno(), etag, sha256)
                        if self._fsync or if_none_match:
                            os.fsync(dst.fileno())
                    if if_none_match:
                        self._link_new(key, tmp, target)
                    else:
                        with self._locked(key):
                            os.replace(tmp, target)
                    if self._fsync or if_none_match:
                        _fsync_dir(os.path.dirname(target))
                finally:
                    _unlink_quietly(tmp)
            st = os.stat(target)
        except OSError as err:
            raise _storage_error("upload", key, err) from err
        return ObjectInfo(key, st.st_size, etag, _mtime(st), sha256)

    def delete(self, key: str) -> None:
        """Remove ``key`` and the folders it leaves empty; absent keys are fine."""
        path, present = self._locate(key)
        if not present:
            return  # as an unlink would have found; no lock taken for nothing
        try:
            with self._locked(key):
                os.unlink(path)
        except (FileNotFoundError, NotADirectoryError):
            return
        except IsADirectoryError:
            return  # a "folder", not an object: nothing is stored at this key
        except OSError as err:
            raise _storage_error("delete", key, err) from err
        self._prune(os.path.dirname(path))

    def delete_many(self, keys: list[str]) -> None:
        """Remove several keys, refusing all of them if any one is invalid."""
        for key in keys:
            self._path(key)
        for key in keys:
            self.delete(key)

    def _prune(self, folder: str) -> None:
        # A folder in use in the last second (the leases of a busy stage) is kept: pruned,
        # it would be made again by the next write, three system calls per transition.
        # An empty folder is invisible to listings (S3 has none); a later delete prunes it.
        if self._written.get(folder, 0.0) > time.monotonic():
            return
        while folder.startswith(self._root_sep):
            try:
                os.rmdir(folder)
            except OSError:
                return  # not empty (or already gone): stop climbing
            self._trusted.pop(folder, None)
            folder = os.path.dirname(folder)

    # -- reads ---------------------------------------------------------------------
    def get_bytes(self, key: str) -> tuple[bytes, str]:
        """Read the whole object and hash it: the ETag always matches the bytes."""
        fd, st = self._open_object(key, "get")
        try:
            data = _read_all(fd, st.st_size)
        except OSError as err:
            raise _storage_error("get", key, err) from err
        finally:
            os.close(fd)
        return data, hashlib.md5(data, usedforsecurity=False).hexdigest()

    def open_read(self, key: str) -> BinaryIO:
        """Open the file for buffered streaming reads."""
        fd, _ = self._open_object(key, "open")
        return open(fd, "rb")  # noqa: SIM115 - the caller closes it (and so the descriptor)

    def download_file(self, key: str, path: Path) -> None:
        """Copy ``key`` to ``path`` through a temporary file beside it."""
        src, _ = self._open_object(key, "download")
        tmp = path.with_name(f"{_temp_name()}.{path.name}"[:255])
        try:
            make_folders(path.parent, self._folder_mode)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            with open(fd, "wb") as dst:
                # sendfile/copy_file_range under the hood: no bytes through Python.
                _copy_fd(src, dst.fileno())
            os.replace(tmp, path)
        except OSError as err:
            _unlink_quietly(str(tmp))
            raise StorageError(f"cannot download {key!r} to {path}: {err}") from err
        except BaseException:
            _unlink_quietly(str(tmp))
            raise
        finally:
            os.close(src)

    def _open_object(self, key: str, operation: str) -> tuple[int, os.stat_result]:
        """A read-only descriptor on ``key``'s file and its stat; ObjectNotFoundError unless
        a regular file is there.

        Opened with ``O_NOFOLLOW``, so the file needs no look of its own beforehand (its
        folders are checked); a symlink in its place is followed only once the full check
        has found that it stays inside the store. ``O_NONBLOCK``: a FIFO planted at the key
        is reported absent instead of blocking the worker (no effect on regular files).
        """
        path, present = self._locate(key, "skip")
        if not present:
            raise ObjectNotFoundError(key)
        try:
            try:
                fd = os.open(path, _READ_FLAGS | os.O_NOFOLLOW)
            except OSError as err:
                if err.errno != errno.ELOOP:
                    raise
                self._check_inside(path, key)  # a symlink: refused if it leads outside
                fd = os.open(path, _READ_FLAGS)
        except (FileNotFoundError, NotADirectoryError) as err:
            raise ObjectNotFoundError(key) from err
        except OSError as err:
            raise _storage_error(operation, key, err) from err
        try:
            st = os.fstat(fd)
        except OSError as err:
            os.close(fd)
            raise _storage_error(operation, key, err) from err
        if not stat.S_ISREG(st.st_mode):  # a "folder": nothing is stored at this key
            os.close(fd)
            raise ObjectNotFoundError(key)
        return fd, st

    def head(self, key: str) -> ObjectInfo | None:
        """Stat the file; ``None`` when it is absent."""
        path, present = self._locate(key, "skip")
        if not present:
            return None
        try:
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):  # followed only if it stays inside the store
                self._check_inside(path, key)
                st = os.stat(path)
            if not stat.S_ISREG(st.st_mode):
                return None
            etag, sha256 = _tags_of(path, st)
            return ObjectInfo(key, st.st_size, etag, _mtime(st), sha256)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as err:
            raise _storage_error("head", key, err) from err

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Walk the folders below ``prefix`` in key (code point = UTF-8 byte) order."""
        validate_prefix(prefix)
        folder_key, _, start = prefix.rpartition("/")
        folder = os.path.join(self._root_str, folder_key) if folder_key else self._root_str
        if folder_key and not self._check_inside(folder, prefix, "prefix", leaf="folder"):
            return
        try:
            yield from self._walk(folder, start)
        except OSError as err:
            raise _storage_error("list", prefix, err) from err

    def _walk(self, folder: str, start: str = "") -> Iterator[ObjectInfo]:
        try:
            with os.scandir(folder) as it:
                entries = [e for e in it if e.name.startswith(start) and not _hidden(e.name)]
        except (FileNotFoundError, NotADirectoryError):
            return
        # A folder sorts as "name/" so that "a-b" comes before "a/x", as in S3.
        dirs = {e.name for e in entries if e.is_dir(follow_symlinks=False)}
        for entry in sorted(entries, key=lambda e: e.name + "/" if e.name in dirs else e.name):
            if entry.name in dirs:
                yield from self._walk(entry.path)
            elif entry.is_file(follow_symlinks=False):
                try:
                    st = entry.stat(follow_symlinks=False)
                    etag = _etag_of(entry.path, st)
                except FileNotFoundError:
                    continue  # deleted while we listed
                yield ObjectInfo(self._key_of(entry.path), st.st_size, etag, _mtime(st))

    def list_children(self, prefix: str) -> builtins.list[str]:
        """Names of the objects and non-empty folders directly under ``prefix``."""
        validate_prefix(prefix)
        if prefix and not prefix.endswith("/"):
            raise InvalidKeyError("a children prefix must end with '/'", file=repr(prefix[:120]))
        folder = os.path.join(self._root_str, prefix) if prefix else self._root_str
        if prefix and not self._check_inside(folder.rstrip("/"), prefix, "prefix", leaf="folder"):
            return []
        try:
            with os.scandir(folder) as it:
                names = [
                    e.name
                    for e in it
                    if not e.name.startswith(RESERVED)
                    and (
                        e.is_file(follow_symlinks=False)
                        or (e.is_dir(follow_symlinks=False) and self._holds_objects(e.path))
                    )
                ]
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as err:
            raise _storage_error("list", prefix, err) from err
        return sorted(names)

    def _holds_objects(self, folder: str) -> bool:
        """Whether a folder holds any object (S3 has no empty folders)."""
        return next(iter(self._walk(folder)), None) is not None


# -- helpers ---------------------------------------------------------------------------


#: Temporary names come from a private generator rather than ``uuid4``: no system call
#: (which would release the GIL) per name, no seed shared with code that seeds ``random``,
#: and a new seed in a forked child. O_EXCL still catches any clash.
_TEMP_NAMES = random.Random()
os.register_at_fork(after_in_child=_TEMP_NAMES.seed)


def _temp_name() -> str:
    return f"{RESERVED}tmp.{_TEMP_NAMES.getrandbits(128):032x}"


def _make_folder(folder: str, mode: int) -> None:
    """``makedirs`` for the common case of one missing level, in one system call."""
    try:
        os.mkdir(folder, mode)
        if mode != 0o700:
            os.chmod(folder, mode)
    except FileNotFoundError:
        make_folders(folder, mode)
    except FileExistsError:
        # Not a folder now: a file in the way, or a folder pruned since (then retried).
        if not os.path.isdir(folder) and os.path.lexists(folder):
            raise


def _hidden(name: str) -> bool:
    return name.startswith(RESERVED)


def _mtime(st: os.stat_result) -> datetime:
    return datetime.fromtimestamp(st.st_mtime_ns / 1e9, tz=UTC)


def _md5_stream(f: BinaryIO) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    while chunk := f.read(_CHUNK_BYTES):
        digest.update(chunk)
    return digest.hexdigest()


def _tag(fd: int, etag: str, sha256: str | None = None) -> None:
    """Remember the ETag (and SHA-256) beside the bytes; mtime and size are checked on read."""
    st = os.fstat(fd)
    value = f"{etag}:{st.st_size}:{st.st_mtime_ns}" + (f":{sha256}" if sha256 else "")
    # Without user xattrs on this file system the ETag is recomputed when asked.
    with suppress(OSError):
        os.setxattr(fd, _ETAG_XATTR, value.encode())


def _etag_of(path: str, st: os.stat_result) -> str:
    return _tags_of(path, st)[0]


def _tags_of(path: str, st: os.stat_result) -> tuple[str, str | None]:
    """The ETag and the recorded SHA-256 (None when unknown) of the file at ``path``."""
    try:
        etag, size, mtime_ns, *sha256 = os.getxattr(path, _ETAG_XATTR).decode().split(":")
        if int(size) == st.st_size and int(mtime_ns) == st.st_mtime_ns and len(sha256) <= 1:
            return etag, (sha256[0] if sha256 else None)
    except (OSError, ValueError):
        pass  # written by something else, or changed in place since: hash it
    with open(path, "rb") as f:
        return _md5_stream(f), None


def _read_all(fd: int, size: int) -> bytes:
    """All of ``fd``, a file that held ``size`` bytes, read to its end.

    Each read asks for the bytes still expected plus one, so the read that finds the end
    is small; a file that grew since is read on in chunks.
    """
    chunks: list[bytes] = []
    expected = size
    while chunk := os.read(fd, expected + 1 if expected >= 0 else _CHUNK_BYTES):
        chunks.append(chunk)
        expected -= len(chunk)
    return b"".join(chunks)


def _copy_fd(src: int, dst: int) -> None:
    """Copy in the kernel where it can; fall back to reads where it cannot (EXDEV...)."""
    try:
        while os.copy_file_range(src, dst, _CHUNK_BYTES * 64):
            pass
        return
    except OSError as err:
        if err.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise
    # The offsets moved with what was copied; carry on from there.
    while chunk := os.read(src, _CHUNK_BYTES):
        view = memoryview(chunk)
        while view:
            view = view[os.write(dst, view) :]


def _fsync_dir(folder: str) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink_quietly(path: str) -> None:
    with suppress(OSError):
        os.unlink(path)


def _storage_error(operation: str, key: str, err: OSError) -> StorageError:
    if isinstance(err, NotADirectoryError | FileExistsError | IsADirectoryError):
        return StorageError(
            f"cannot {operation} {key!r}: a key cannot be both an object and a folder ({err})"
        )
    return StorageError(f"cannot {operation} {key!r}: {err.strerror or err}")
