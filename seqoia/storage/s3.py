"""The S3 object store: AWS S3 and S3-compatible servers (MinIO, Ceph RGW, Scality).

Conditional writes use S3's own ``If-None-Match: *`` and ``If-Match: <etag>`` on
PutObject, which AWS and recent MinIO / Ceph enforce atomically; the manifest commit
protocol rests on them. Files above ``multipart_threshold_bytes`` move as multipart
transfers through ``boto3.s3.transfer``. Server-side encryption, when configured, is
requested on every write. botocore retries throttling and transient faults itself
(``standard`` or ``adaptive`` mode); whatever still fails is translated here, at the
boundary, into :mod:`seqoia.errors`.
"""

from __future__ import annotations

import builtins
import functools
import glob
import hashlib
import inspect
import io
import ipaddress
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, TypeVar
from urllib.parse import urlsplit

import boto3
import boto3.exceptions
import botocore.exceptions
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from seqoia.errors import (
    ConfigurationError,
    InvalidKeyError,
    ObjectNotFoundError,
    PreconditionFailedError,
    StorageError,
)
from seqoia.storage.base import SHA256_METADATA, ObjectInfo, ObjectStore
from seqoia.storage.keys import validate_key, validate_prefix
from seqoia.storage.permissions import make_folders
from seqoia.vocabulary import sha256_file

MIB = 1024 * 1024
#: S3 refuses parts smaller than this (except the last).
MIN_PART_BYTES = 5 * MIB
_DELETE_BATCH = 1000
_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}
_PRECONDITION = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}
_SSE_MODES = {"AES256", "aws:kms"}
_RETRY_MODES = {"standard", "adaptive"}
#: The two ways of sending an ETag in If-Match (see ``S3Store._replace``).
_QUOTED = "quoted"
_BARE = "bare"

log = logging.getLogger(__name__)


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _encodable(operation: str) -> Callable[[_Method], _Method]:
    """Translate UnicodeEncodeError from botocore into InvalidKeyError, at the boundary.

    Keys are checked for UTF-8 before any request, but a header value (an ``If-Match``
    ETag read back from elsewhere, a bucket name) that HTTP cannot encode would surface
    as a bare UnicodeEncodeError from deep inside botocore.
    """

    def decorate(method: _Method) -> _Method:
        def translated(key: Any, err: UnicodeEncodeError) -> InvalidKeyError:
            shown = repr((key[0] if key else "") if isinstance(key, list) else key)[:120]
            return InvalidKeyError(
                f"cannot {operation}: a key, name or header is not encodable ({err.reason})",
                file=shown,
            )

        if inspect.isgeneratorfunction(method):

            @functools.wraps(method)
            def generator(self: Any, key: Any, *args: Any, **kwargs: Any) -> Any:
                try:
                    yield from method(self, key, *args, **kwargs)
                except UnicodeEncodeError as err:
                    raise translated(key, err) from err

            return generator  # type: ignore[return-value]

        @functools.wraps(method)
        def wrapper(self: Any, key: Any = "", *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, key, *args, **kwargs)
            except UnicodeEncodeError as err:
                raise translated(key, err) from err

        return wrapper  # type: ignore[return-value]

    return decorate


def check_endpoint(endpoint_url: str | None, *, allow_http: bool = False) -> None:
    """Refuse a plain-HTTP endpoint beyond loopback: credentials and patient data in clear."""
    if not endpoint_url:
        return
    parts = urlsplit(endpoint_url)
    if parts.scheme == "https":
        return
    if parts.scheme != "http":
        raise ConfigurationError(f"S3 endpoint {parts.scheme}:// is not http(s)://")
    host = (parts.hostname or "").lower()
    loopback = host == "localhost"
    with suppress(ValueError):
        loopback = loopback or ipaddress.ip_address(host).is_loopback
    if not loopback and not allow_http:
        raise ConfigurationError(
            f"S3 endpoint http://{host} is not encrypted: use https://, or accept the risk "
            "explicitly with the store URL option allow_http=1 (S3Store(allow_http=True))"
        )


class S3Store(ObjectStore):
    """A bucket, or a key prefix inside one, seen as an :class:`ObjectStore`."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        prefix: str = "",
        sse: str | None = "AES256",
        kms_key_id: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        path_style: bool = True,
        multipart_threshold_bytes: int = 64 * MIB,
        max_attempts: int = 10,
        retry_mode: str = "standard",
        max_pool_connections: int = 32,
        allow_http: bool = False,
    ) -> None:
        """``sse=None`` turns server-side encryption off (it is AES256 by default);
        ``allow_http`` accepts a plain-HTTP endpoint that is not on this machine."""
        if not bucket:
            raise ConfigurationError("an S3 store needs a bucket name")
        check_endpoint(endpoint_url, allow_http=allow_http)
        if sse is not None and sse not in _SSE_MODES:
            raise ConfigurationError(
                f"unknown server-side encryption {sse!r}: use AES256 or aws:kms"
            )
        if kms_key_id and sse != "aws:kms":
            raise ConfigurationError("kms_key_id needs sse='aws:kms'")
        if retry_mode not in _RETRY_MODES:
            raise ConfigurationError(f"unknown retry mode {retry_mode!r}: use standard or adaptive")
        if multipart_threshold_bytes < MIN_PART_BYTES:
            raise ConfigurationError(
                f"multipart_threshold_bytes must be at least {MIN_PART_BYTES} (S3's part minimum)"
            )
        if (access_key is None) != (secret_key is None):
            raise ConfigurationError("give both access_key and secret_key, or neither")
        prefix = prefix.strip("/")
        self.prefix = validate_prefix(prefix + "/" if prefix else "")
        self.bucket = bucket
        self.region = region
        self.endpoint_url = endpoint_url
        #: The server-side encryption requested on every write (None: none asked).
        self.sse = sse
        self._sse_args: dict[str, str] = {}
        if sse:
            self._sse_args["ServerSideEncryption"] = sse
        if kms_key_id:
            self._sse_args["SSEKMSKeyId"] = kms_key_id
        config = Config(
            region_name=region,
            retries={"mode": retry_mode, "max_attempts": max_attempts},  # type: ignore[typeddict-item]
            s3={"addressing_style": "path" if path_style else "auto"},
            max_pool_connections=max_pool_connections,
            # botocore >= 1.36 adds CRC checksums to every request by default, which
            # several S3-compatible servers refuse; send them only where S3 requires.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self._client = _new_client(endpoint_url, config, access_key, secret_key, region)
        self._transfer = TransferConfig(
            multipart_threshold=multipart_threshold_bytes,
            multipart_chunksize=max(MIN_PART_BYTES, min(multipart_threshold_bytes, 64 * MIB)),
            max_concurrency=4,
        )
        self._multipart_threshold = multipart_threshold_bytes
        self._if_match_form: str | None = None
        query = f"?endpoint_url={endpoint_url}" if endpoint_url else ""
        self.url = f"s3://{bucket}/{self.prefix}{query}"

    def __repr__(self) -> str:
        return f"S3Store({self.url!r})"

    @property
    def client(self) -> Any:
        """The boto3 client, for callers that need an S3 feature this class lacks."""
        return self._client

    def _key(self, key: str) -> str:
        return self.prefix + validate_key(key)

    def _strip(self, full_key: str) -> str:
        return full_key[len(self.prefix) :]

    # -- bucket ----------------------------------------------------------------------
    def create_bucket(self) -> None:
        """Create the bucket if it does not exist yet (for tests and first set-up)."""
        args: dict[str, Any] = {"Bucket": self.bucket}
        if self.region and self.region != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self._client.create_bucket(**args)
        except botocore.exceptions.ClientError as err:
            if _code(err) not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                raise self._error("create bucket", "", err) from err
        except botocore.exceptions.BotoCoreError as err:
            raise self._error("create bucket", "", err) from err

    # -- writes ----------------------------------------------------------------------
    @_encodable("put")
    def put_bytes(
        self,
        key: str,
        data: bytes,
        *,
        if_none_match: bool = False,
        if_match: str | None = None,
        durable: bool = True,
    ) -> str:
        """PutObject, conditional on absence (``If-None-Match: *``) or on the ETag.

        Every S3 write is durable once answered: ``durable`` changes nothing here.
        """
        if if_none_match and if_match is not None:
            raise ValueError("if_none_match and if_match cannot be combined")
        args: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self._key(key),
            "Body": data,
            # Returned by HEAD: whether a file is in place is told without reading it.
            "Metadata": {SHA256_METADATA: hashlib.sha256(data).hexdigest()},
        }
        args.update(self._sse_args)
        if if_none_match:
            args["IfNoneMatch"] = "*"
        if if_match is not None:
            return self._replace(key, args, if_match)
        try:
            response = self._client.put_object(**args)
        except botocore.exceptions.ClientError as err:
            if if_none_match and _code(err) in _PRECONDITION:
                raise PreconditionFailedError(key) from err
            raise self._error("put", key, err) from err
        except botocore.exceptions.BotoCoreError as err:
            raise self._error("put", key, err) from err
        return _unquoted(response["ETag"])

    def _replace(self, key: str, args: dict[str, Any], etag: str) -> str:
        """PutObject with ``If-Match``, in the ETag form this server accepts.

        HTTP and AWS want the ETag quoted, as S3 returns it. Ceph RGW (16.x) refuses a
        quoted ETag with 412 even when it matches and accepts only the bare one (it checks
        that the header starts with the ETag, so a full ETag is an exact match; measured
        ``<etag>zz`` -> 200, ``<etag minus 1>`` -> 412, ``*`` -> 200). Until a form has once
        succeeded, a 412 on the quoted form is checked with a HEAD: when the object still
        has the expected ETag the refusal was the server's parsing, not a conflict, and
        the bare form is tried. The form that succeeds is kept for this store.
        """
        if not _unquoted(etag):
            # No object has an empty ETag; servers differ on what an empty If-Match means.
            raise PreconditionFailedError(key)
        forms = [self._if_match_form] if self._if_match_form else [_QUOTED, _BARE]
        for form in forms:
            args["IfMatch"] = _quoted(etag) if form == _QUOTED else _unquoted(etag)
            try:
                response = self._client.put_object(**args)
            except botocore.exceptions.ClientError as err:
                code = _code(err)
                # If-Match on a missing key answers 404: not the object expected.
                if code not in _PRECONDITION and code not in _NOT_FOUND:
                    raise self._error("put", key, err) from err
                if form == _QUOTED and self._if_match_form is None:
                    current = self.head(key)
                    if current is not None and current.etag == _unquoted(etag):
                        continue  # a matching ETag refused: try the bare form
                raise PreconditionFailedError(key) from err
            except botocore.exceptions.BotoCoreError as err:
                raise self._error("put", key, err) from err
            if self._if_match_form != form:
                self._if_match_form = form
                if form == _BARE:
                    log.info(
                        "s3://%s refuses quoted If-Match ETags (Ceph RGW does); "
                        "sending them bare from now on",
                        self.bucket,
                    )
            return _unquoted(response["ETag"])
        raise PreconditionFailedError(key)  # only reached when no form was left to try

    @property
    def if_match_form(self) -> str | None:
        """``"quoted"`` or ``"bare"`` once a conditional replace has succeeded, else None."""
        return self._if_match_form

    @_encodable("upload")
    def upload_file(
        self, key: str, path: Path, *, if_none_match: bool = False, sha256: str | None = None
    ) -> ObjectInfo:
        """Upload a local file, in parts when it passes the threshold.

        ``if_none_match``: PutObject, or for a multipart upload CompleteMultipartUpload,
        with ``If-None-Match: *`` (the parts then go one at a time, not through
        ``boto3.s3.transfer``, which cannot send the header). The SHA-256 (``sha256``, or
        read here first) is recorded as the object's metadata, as ``put_bytes`` records it.
        """
        full = self._key(key)
        try:
            size = os.stat(path).st_size
            # Recorded like put_bytes's, for HEAD and for the caller's manifest.
            sha256 = sha256 or sha256_file(path)
        except OSError as err:
            raise StorageError(f"cannot read {path} to upload to {key!r}: {err}") from err
        extra: dict[str, Any] = {**self._sse_args, "Metadata": {SHA256_METADATA: sha256}}
        try:
            if size < self._multipart_threshold:
                if if_none_match:
                    extra["IfNoneMatch"] = "*"
                with open(path, "rb") as body:
                    response = self._client.put_object(
                        Bucket=self.bucket, Key=full, Body=body, **extra
                    )
                return ObjectInfo(key, size, _unquoted(response["ETag"]), datetime.now(UTC), sha256)
            if if_none_match:
                self._create_in_parts(full, path, extra)
            else:
                self._client.upload_file(
                    str(path), self.bucket, full, ExtraArgs=extra, Config=self._transfer
                )
        except OSError as err:
            raise StorageError(f"cannot read {path} to upload to {key!r}: {err}") from err
        except botocore.exceptions.ClientError as err:
            if if_none_match and _code(err) in _PRECONDITION:
                raise PreconditionFailedError(key) from err
            raise self._error("upload", key, err) from err
        except (botocore.exceptions.BotoCoreError, boto3.exceptions.S3UploadFailedError) as err:
            raise self._error("upload", key, err) from err
        info = self.head(key)
        if info is None:
            raise StorageError(f"upload of {key!r} to s3://{self.bucket} left no object")
        return info

    def _create_in_parts(self, full: str, path: Path, extra: dict[str, Any]) -> None:
        """A multipart upload completed only if the key is still absent (else aborted).

        AWS and moto enforce ``If-None-Match`` on CompleteMultipartUpload; Ceph RGW 16
        ignores it there (measured: the second upload replaced the first), so the key is
        also looked up just before completing. On such a server the create is exclusive
        only against writers that ran before that look: callers that need more claim a
        small key first (a release's final report, ``seqoia.admin.outbox``).
        """
        key = self._strip(full)
        if self.head(key) is not None:
            raise PreconditionFailedError(key)
        upload_id = self._client.create_multipart_upload(Bucket=self.bucket, Key=full, **extra)[
            "UploadId"
        ]
        part_bytes = self._transfer.multipart_chunksize
        parts: list[dict[str, Any]] = []
        try:
            with open(path, "rb") as body:
                while chunk := body.read(part_bytes):
                    number = len(parts) + 1
                    response = self._client.upload_part(
                        Bucket=self.bucket,
                        Key=full,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=chunk,
                    )
                    parts.append({"PartNumber": number, "ETag": response["ETag"]})
            if self.head(key) is not None:  # created meanwhile (see above)
                raise PreconditionFailedError(key)
            self._client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=full,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
                IfNoneMatch="*",
            )
        except BaseException:
            with suppress(botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError):
                self._client.abort_multipart_upload(
                    Bucket=self.bucket, Key=full, UploadId=upload_id
                )
            raise

    @_encodable("delete")
    def delete(self, key: str) -> None:
        """DeleteObject; S3 answers success for absent keys too."""
        try:
            self._client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as err:
            if isinstance(err, botocore.exceptions.ClientError) and _code(err) in _NOT_FOUND:
                return
            raise self._error("delete", key, err) from err

    @_encodable("delete")
    def delete_many(self, keys: list[str]) -> None:
        """DeleteObjects in batches of 1000, failing if any key could not be removed."""
        full_keys = [self._key(k) for k in keys]  # validate every key before deleting any
        for start in range(0, len(full_keys), _DELETE_BATCH):
            batch = full_keys[start : start + _DELETE_BATCH]
            try:
                response = self._client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
                )
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as err:
                raise self._error("delete", self._strip(batch[0]), err) from err
            errors = response.get("Errors") or []
            if errors:
                first = errors[0]
                raise StorageError(
                    f"cannot delete {len(errors)} object(s) from s3://{self.bucket}, first "
                    f"{self._strip(first.get('Key', ''))!r}: {first.get('Code')} "
                    f"{first.get('Message', '')}".rstrip()
                )

    # -- reads -----------------------------------------------------------------------
    @_encodable("get")
    def get_bytes(self, key: str) -> tuple[bytes, str]:
        """GetObject, read whole."""
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=self._key(key))
            with response["Body"] as body:
                data = body.read()
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as err:
            raise self._error("get", key, err) from err
        return data, _unquoted(response["ETag"])

    @_encodable("get")
    def open_read(self, key: str) -> BinaryIO:
        """GetObject, returned as a buffered binary stream over the HTTP body."""
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=self._key(key))
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as err:
            raise self._error("get", key, err) from err
        return io.BufferedReader(_BodyReader(response["Body"], key, self), buffer_size=MIB)

    @_encodable("download")
    def download_file(self, key: str, path: Path) -> None:
        """Download (multipart for big objects) to a temporary file, then rename it."""
        full = self._key(key)
        tmp = path.with_name(f".seqoia-tmp.{uuid.uuid4().hex}.{path.name}"[:255])
        try:
            make_folders(path.parent, 0o700)
            self._client.download_file(self.bucket, full, str(tmp), Config=self._transfer)
            os.chmod(tmp, 0o600)  # s3transfer creates it with the umask's mode
            os.replace(tmp, path)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as err:
            raise self._error("download", key, err) from err
        except OSError as err:
            raise StorageError(f"cannot download {key!r} to {path}: {err}") from err
        finally:
            # s3transfer writes to its own temporary name and renames it to ``tmp``;
            # either may be left behind by a failure.
            for leftover in path.parent.glob(glob.escape(tmp.name) + "*"):
                leftover.unlink(missing_ok=True)

    @_encodable("head")
    def head(self, key: str) -> ObjectInfo | None:
        """HeadObject; ``None`` on 404."""
        try:
            response = self._client.head_object(Bucket=self.bucket, Key=self._key(key))
        except botocore.exceptions.ClientError as err:
            if _code(err) in _NOT_FOUND:
                return None
            raise self._error("head", key, err) from err
        except botocore.exceptions.BotoCoreError as err:
            raise self._error("head", key, err) from err
        return ObjectInfo(
            key,
            response["ContentLength"],
            _unquoted(response["ETag"]),
            response["LastModified"],
            response.get("Metadata", {}).get(SHA256_METADATA),
        )

    @_encodable("list")
    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """ListObjectsV2, page after page (S3 returns keys in UTF-8 byte order)."""
        validate_prefix(prefix)
        paginator = self._client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                for item in page.get("Contents", ()):
                    yield ObjectInfo(
                        self._strip(item["Key"]),
                        item["Size"],
                        _unquoted(item["ETag"]),
                        item["LastModified"],
                    )
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as err:
            raise self._error("list", prefix, err) from err

    @_encodable("list")
    def list_children(self, prefix: str) -> builtins.list[str]:
        """ListObjectsV2 with ``Delimiter='/'``: objects and common prefixes, by name."""
        validate_prefix(prefix)
        if prefix and not prefix.endswith("/"):
            raise InvalidKeyError("a children prefix must end with '/'", file=repr(prefix[:120]))
        full = self.prefix + prefix
        names: set[str] = set()
        paginator = self._client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full, Delimiter="/"):
                for item in page.get("Contents", ()):
                    names.add(item["Key"][len(full) :])
                for common in page.get("CommonPrefixes", ()):
                    names.add(common["Prefix"][len(full) :].rstrip("/"))
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as err:
            raise self._error("list", prefix, err) from err
        names.discard("")  # the folder marker of the prefix itself
        return sorted(names)

    def close(self) -> None:
        """Close the client's connection pool."""
        self._client.close()

    # -- errors ----------------------------------------------------------------------
    def _error(self, operation: str, key: str, err: Exception) -> StorageError:
        if isinstance(err, botocore.exceptions.ClientError) and _code(err) in _NOT_FOUND:
            return ObjectNotFoundError(key)
        if isinstance(err, boto3.exceptions.S3UploadFailedError) and "NoSuchBucket" in str(err):
            return StorageError(f"cannot {operation} {key!r}: bucket {self.bucket!r} not found")
        return StorageError(f"cannot {operation} {key!r} in s3://{self.bucket}: {err}")


_session: boto3.session.Session | None = None
_session_lock = threading.Lock()


def _new_client(
    endpoint_url: str | None,
    config: Config,
    access_key: str | None,
    secret_key: str | None,
    region: str | None,
) -> Any:
    """A client from one shared session: loading S3's service model once, not per store.

    boto3 sessions are not safe to create clients from concurrently, hence the lock; the
    clients themselves are thread-safe.
    """
    global _session
    with _session_lock:
        if _session is None:
            _session = boto3.session.Session()
        return _session.client(
            "s3",
            endpoint_url=endpoint_url,
            config=config,
            region_name=region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
        )


class _BodyReader(io.RawIOBase):
    """A raw stream over botocore's StreamingBody that speaks seqoia's errors."""

    def __init__(self, body: Any, key: str, store: S3Store) -> None:
        self._body = body
        self._key = key
        self._store = store

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            data = self._body.read(len(buffer))
        except (botocore.exceptions.BotoCoreError, OSError) as err:
            raise self._store._error("read", self._key, err) from err
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


def _code(err: botocore.exceptions.ClientError) -> str:
    error = err.response.get("Error", {})
    code = str(error.get("Code") or "")
    status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    # Some servers answer HEAD and conditional failures with a bare status code.
    return code or str(status or "")


def _quoted(etag: str) -> str:
    return etag if etag.startswith('"') else f'"{etag}"'


def _unquoted(etag: str) -> str:
    return etag.strip('"')
