"""External tools: find them, run them, record their versions.

Every genomics stage can run either the external programs (``samtools``, ``bcftools``,
``bwa``, ``minimap2``) when they are on ``PATH``, or the same tools compiled into pysam
(``pysam.samtools.*``, ``pysam.bcftools.*``) and mappy. Failures of either kind come out
as :class:`~seqoia.errors.ToolError` with the command, its exit code and the tail of
its standard error, so callers see one vocabulary.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import shutil
import subprocess
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from seqoia.errors import ToolError

log = logging.getLogger(__name__)

#: Programs this layer knows how to use when they are installed.
KNOWN_BINARIES = ("samtools", "bcftools", "bwa", "minimap2", "tabix", "bgzip")


def find_binary(name: str) -> str | None:
    """Return the absolute path of program ``name`` on ``PATH``, or None."""
    return shutil.which(name)


def want_binary(name: str, use_binaries: bool | None) -> str | None:
    """Decide whether to use program ``name``.

    ``use_binaries=None`` means "when installed", True means "required" (a missing
    program raises ToolError) and False means "always use the in-process pysam path".
    """
    if use_binaries is False:
        return None
    path = find_binary(name)
    if path is None and use_binaries:
        raise ToolError([name], 127, f"{name} is not on PATH")
    return path


def run_command(
    command: Sequence[str | Path],
    *,
    stdout: IO[bytes] | int | None = subprocess.DEVNULL,
    stdin: IO[bytes] | int | None = subprocess.DEVNULL,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``command`` to completion; raise ToolError if it fails or cannot start."""
    argv = [str(part) for part in command]
    log.debug("running %s", " ".join(argv))
    try:
        done = subprocess.run(
            argv, stdout=stdout, stdin=stdin, stderr=subprocess.PIPE, cwd=cwd, check=False
        )
    except OSError as err:
        raise ToolError(argv, 127, str(err)) from err
    if done.returncode != 0:
        raise ToolError(argv, done.returncode, done.stderr.decode(errors="replace"))
    return done


def run_pysam(tool: Callable[..., Any], *args: str | Path, catch_stdout: bool = False) -> Any:
    """Call a ``pysam.samtools``/``pysam.bcftools`` function; translate its failures.

    pysam's dispatch returns the tool's standard output (as text) unless
    ``catch_stdout=False``, in which case the tool must be given ``-o FILE``.
    """
    import pysam

    argv = [str(a) for a in args]
    name = getattr(tool, "__name__", "pysam")
    log.debug("pysam %s %s", name, " ".join(argv))
    try:
        return tool(*argv, catch_stdout=catch_stdout)
    except pysam.utils.SamtoolsError as err:
        raise ToolError(["pysam", name, *argv], 1, str(err)) from err


@contextlib.contextmanager
def htslib_errors_only() -> Iterator[None]:
    """Silence htslib's warnings (not its errors) for in-process tools.

    pysam's tools print htslib's messages straight to the terminal; a warning about an
    intermediate file (bcftools 1.16's ``INFO/MQ`` declared Integer, fixed in the
    delivered header) would land in the middle of a command's output.
    """
    import pysam

    previous = pysam.set_verbosity(1)
    try:
        yield
    finally:
        pysam.set_verbosity(previous)


def wait_all(processes: Sequence[tuple[list[str], subprocess.Popen[bytes]]]) -> None:
    """Wait for a pipeline of processes; raise ToolError for the first that failed.

    Each process's stderr must have been redirected to a file-like object we can read
    (``stderr=subprocess.PIPE`` would deadlock a long pipeline), so the caller passes
    processes whose ``stderr`` is a temporary file.
    """
    failures: list[ToolError] = []
    for argv, proc in processes:
        code = proc.wait()
        if code != 0:
            tail = ""
            if proc.stderr is not None:
                proc.stderr.seek(0)
                tail = proc.stderr.read().decode(errors="replace")
            failures.append(ToolError(argv, code, tail))
    # The most upstream failure is the cause; downstream ones are usually broken pipes.
    if failures:
        raise failures[0]


@functools.cache
def tool_versions() -> dict[str, str]:
    """Versions of every tool this layer may use, for stage manifests."""
    import mappy
    import pysam

    # pysam's stubs mistake the version module for a dispatcher: import it by name.
    pysam_version: Any = importlib.import_module("pysam.version")

    versions: dict[str, str] = {
        "pysam": pysam.__version__,
        "pysam.htslib": pysam_version.__htslib_version__,
        "pysam.samtools": pysam_version.__samtools_version__,
        "pysam.bcftools": pysam_version.__bcftools_version__,
        "mappy": getattr(mappy, "__version__", "unknown"),
    }
    for name, argv in (
        ("samtools", ["samtools", "--version"]),
        ("bcftools", ["bcftools", "--version"]),
        ("minimap2", ["minimap2", "--version"]),
        ("bwa", ["bwa"]),
    ):
        if find_binary(argv[0]) is None:
            continue
        done = subprocess.run(argv, capture_output=True, check=False)
        text = (done.stdout or done.stderr).decode(errors="replace")
        versions[name] = _first_version(name, text)
    return versions


def _first_version(name: str, text: str) -> str:
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("Version:"):  # bwa prints its usage with a Version: line
            return line.split(":", 1)[1].strip()
        if line.startswith(name + " "):  # "samtools 1.16.1"
            return line.split()[1]
        if line and name == "minimap2":
            return line
    return "unknown"
