"""One tree of errors for the whole of seqoia.

Third-party exceptions (botocore, redis, OSError, pysam) are translated into these at
the module boundary with ``raise ... from err``, so the rest of the code speaks one
vocabulary. Whether a fault is *permanent* (goes to the dead letters at once) or
*transient* (retried) is a property of the class, read by the retry middleware.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class SeqoiaError(Exception):
    """Base class of every error seqoia raises on purpose."""

    #: Permanent errors are not retried: the same input would fail the same way.
    permanent: bool = False


# -- configuration -------------------------------------------------------------------


class ConfigurationError(SeqoiaError):
    """A setting, URL or declaration is wrong; fix the configuration, not the data."""

    permanent = True


class DeclarationError(ConfigurationError):
    """A stage declaration is inconsistent (unknown upstream, duplicate name, bad queue)."""


class UnsafeStoreError(ConfigurationError):
    """The store failed its self-check: the manifest commit protocol is not guaranteed."""


# -- input ---------------------------------------------------------------------------


class InputError(SeqoiaError):
    """Bad input data: names the run, the file and, where it helps, the 1-based line."""

    permanent = True

    def __init__(
        self,
        message: str,
        *,
        run: str | None = None,
        file: str | None = None,
        line: int | None = None,
    ) -> None:
        self.message = message
        self.run = run
        self.file = file
        self.line = line
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = []
        if self.run:
            where.append(f"run {self.run}")
        if self.file:
            where.append(self.file + (f":{self.line}" if self.line else ""))
        elif self.line:
            where.append(f"line {self.line}")
        return f"{', '.join(where)}: {self.message}" if where else self.message

    def __reduce__(self):  # keep the keyword fields across process boundaries
        return (_rebuild_input_error, (type(self), self.message, self.run, self.file, self.line))


def _rebuild_input_error(cls, message, run, file, line):  # type: ignore[no-untyped-def]
    return cls(message, run=run, file=file, line=line)


class InvalidKeyError(InputError):
    """An object key is unsafe (``..``, absolute, control characters, too long)."""


class SampleSheetError(InputError):
    """A sample sheet cannot be parsed or fails validation."""


class RunFolderError(InputError):
    """A run folder is incomplete, inconsistent or failed on the instrument."""


class FormatError(InputError):
    """A data file (BCL, CBCL, FASTQ, gzip, ...) is truncated or corrupt."""


class IdentityMismatchError(InputError):
    """Two samples said to come from one patient (a tumour and its normal) do not."""


class EventError(InputError):
    """An event notification payload is malformed."""


# -- storage -------------------------------------------------------------------------


class StorageError(SeqoiaError):
    """The object store failed; transient unless a subclass says otherwise."""


class ObjectNotFoundError(StorageError):
    """The object does not exist."""

    permanent = True

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"no object at {key!r}")

    def __reduce__(self):
        return (type(self), (self.key,))


class PreconditionFailedError(StorageError):
    """A conditional write lost: the object exists, or changed since it was read."""

    permanent = True

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"conditional write refused for {key!r}")

    def __reduce__(self):
        return (type(self), (self.key,))


class CommitConflictError(StorageError):
    """Another attempt committed this (stage, subject) generation first, with other inputs.

    Transient: the next attempt re-reads the store and decides again.
    """


# -- stages --------------------------------------------------------------------------


class StageError(SeqoiaError):
    """A stage failed while running."""


class StageNotReadyError(StageError):
    """A stage was asked to run before all of its inputs were committed."""

    permanent = True


class StageBusyError(StageError):
    """Another worker holds a live lease on this (stage, subject); look again later."""

    def __init__(self, message: str, *, retry_after_s: float = 0.0) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message)

    def __reduce__(self):
        return (_rebuild_busy, (str(self), self.retry_after_s))


def _rebuild_busy(message, retry_after_s):  # type: ignore[no-untyped-def]
    return StageBusyError(message, retry_after_s=retry_after_s)


class StageTimeoutError(StageError):
    """A stage ran past its time limit and was killed with its tools."""


class StageCrashedError(StageError):
    """The child process running a stage died (signal, native crash, out of memory)."""


class ToolError(StageError):
    """An external tool failed: carries its command, exit code and the tail of stderr."""

    def __init__(self, command: list[str] | str, exit_code: int, stderr: str = "") -> None:
        self.command = command if isinstance(command, str) else " ".join(command)
        self.exit_code = exit_code
        self.stderr_tail = "\n".join(stderr.strip().splitlines()[-20:])
        super().__init__(
            f"{self.command!r} exited with {exit_code}"
            + (f":\n{self.stderr_tail}" if self.stderr_tail else "")
        )

    def __reduce__(self):
        return (type(self), (self.command, self.exit_code, self.stderr_tail))


class QCFailedError(StageError):
    """A sample missed a QC threshold; it is reported but not delivered as passing."""

    permanent = True


class StageFailedError(StageError):
    """A stage function raised; carries the original error's type and permanence."""

    def __init__(
        self, message: str, *, error_type: str = "", permanent: bool = False, traceback: str = ""
    ) -> None:
        self.error_type = error_type
        self.permanent = permanent  # instance value: decided by the original error
        self.traceback = traceback  # the stage process's, for `seqoia dlq show`
        super().__init__(f"{error_type}: {message}" if error_type else message)

    def __reduce__(self):
        return (_rebuild_stage_failed, (str(self), self.permanent))


def _rebuild_stage_failed(message, permanent):  # type: ignore[no-untyped-def]
    return StageFailedError(message, permanent=permanent)


def first_error(err: ValidationError) -> str:
    """A pydantic error's first complaint, ``field.path: message`` (never the value given)."""
    first = err.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    return f"{where}: {first['msg']}" if where else str(first["msg"])
