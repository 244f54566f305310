"""Store URLs: one string in the configuration chooses and configures the backend.

- ``file://seqoia-data`` (relative to ``base_dir`` or the current folder),
  ``file:///srv/seqoia`` (absolute); option ``?fsync=0`` trades durability of plain
  puts for speed (conditional puts are always synced).
- ``s3://BUCKET[/prefix]?endpoint_url=https://minio:9000&region=eu-west-3``
  with ``sse`` (``AES256`` by default, ``aws:kms``, or ``none`` to turn it off),
  ``kms_key_id``, ``path_style``, ``max_attempts``, ``retry_mode``,
  ``multipart_threshold_bytes``, ``create_bucket=1`` and ``allow_http=1`` (a plain-HTTP
  endpoint beyond loopback is refused without it). Credentials come from the
  standard AWS chain (environment, shared files, instance roles), never from the URL.

Unknown schemes and unknown options are configuration errors, so a typo fails at
start-up rather than silently falling back to a default.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from seqoia.errors import ConfigurationError
from seqoia.redact import redact_url
from seqoia.storage.base import ObjectStore
from seqoia.storage.local import LocalStore
from seqoia.storage.permissions import DEFAULT_FILE_MODE

__all__ = ["open_store", "redact_url"]

if TYPE_CHECKING:  # boto3 costs about a second to import: only S3 stores pay for it
    from seqoia.storage.s3 import S3Store

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_S3_OPTIONS = {
    "endpoint_url",
    "region",
    "sse",
    "kms_key_id",
    "path_style",
    "max_attempts",
    "retry_mode",
    "multipart_threshold_bytes",
    "create_bucket",
    "allow_http",
}
_FILE_OPTIONS = {"fsync"}


def open_store(
    url: str, *, base_dir: Path | None = None, file_mode: int = DEFAULT_FILE_MODE
) -> ObjectStore:
    """Open the object store that ``url`` names (``file_mode``: a local store's files)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ConfigurationError(
            f"store URL {redact_url(url)!r} has no scheme: use file://PATH or s3://BUCKET"
        )
    scheme = scheme.lower()
    if scheme == "file":
        return _open_file(rest, base_dir, file_mode)
    if scheme == "s3":
        return _open_s3(url)
    raise ConfigurationError(
        f"unknown store URL scheme {scheme!r} in {redact_url(url)!r}: use file:// or s3://"
    )


def _open_file(rest: str, base_dir: Path | None, file_mode: int) -> LocalStore:
    path_text, _, query = rest.partition("?")
    options = _options(query, _FILE_OPTIONS, "file://")
    if not path_text:
        raise ConfigurationError("file:// store URL has no path (file://seqoia-data)")
    path = Path(path_text).expanduser()
    if not path.is_absolute():
        path = (base_dir or Path.cwd()) / path
    return LocalStore(path, fsync=_flag(options.get("fsync", "1"), "fsync"), file_mode=file_mode)


def _open_s3(url: str) -> S3Store:
    from seqoia.storage.s3 import S3Store

    parts = urlsplit(url)
    if parts.username or parts.password:
        raise ConfigurationError(
            "s3:// store URL must not carry credentials: use AWS_ACCESS_KEY_ID / "
            "AWS_SECRET_ACCESS_KEY or the AWS credential files"
        )
    bucket = parts.hostname or ""
    if not bucket:
        raise ConfigurationError(f"s3:// store URL {redact_url(url)!r} has no bucket")
    options = _options(parts.query, _S3_OPTIONS, "s3://")
    kwargs: dict[str, object] = {"prefix": parts.path.strip("/")}
    for name in ("endpoint_url", "region", "sse", "kms_key_id", "retry_mode"):
        if name in options:
            kwargs[name] = options[name]
    if str(kwargs.get("sse", "")).lower() in ("none", "off", "0", "false"):
        kwargs["sse"] = None  # turned off explicitly: the only way to store in clear
    if "allow_http" in options:
        kwargs["allow_http"] = _flag(options["allow_http"], "allow_http")
    if "path_style" in options:
        kwargs["path_style"] = _flag(options["path_style"], "path_style")
    for name in ("max_attempts", "multipart_threshold_bytes"):
        if name in options:
            kwargs[name] = _integer(options[name], name)
    store = S3Store(bucket, **kwargs)  # type: ignore[arg-type]
    if _flag(options.get("create_bucket", "0"), "create_bucket"):
        store.create_bucket()
    return store


def _options(query: str, known: set[str], scheme: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True, strict_parsing=False):
        if name not in known:
            raise ConfigurationError(
                f"unknown {scheme} store option {name!r}; known: {', '.join(sorted(known))}"
            )
        options[name] = value
    return options


def _flag(value: str, name: str) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ConfigurationError(f"store option {name}={value!r} is not a yes/no value")


def _integer(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError as err:
        raise ConfigurationError(f"store option {name}={value!r} is not an integer") from err
