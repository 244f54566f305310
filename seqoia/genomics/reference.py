"""Reference genomes: a FASTA with every index the aligners and callers need.

:func:`prepare_reference` turns one FASTA (plain or gzipped) into a folder holding the
plain FASTA, its ``.fai`` and ``.dict``, a minimap2 index built by mappy with the ``sr``
preset and, when ``bwa`` is installed, a BWA index. :class:`ReferenceCache` does that
once per checksum on a worker, safely under concurrent processes, so every stage and
run that names the same reference reuses one prepared folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import hashlib
import json
import logging
import os
import shutil
import uuid
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pysam
import pysam.samtools
from pydantic import BaseModel, ConfigDict

from seqoia.errors import FormatError, InputError
from seqoia.genomics.tools import find_binary, run_command, run_pysam

log = logging.getLogger(__name__)

#: The file in a prepared folder that describes it; written last, so it means "ready".
DESCRIPTOR = "reference.json"
_CHUNK = 1 << 20


class Contig(BaseModel):
    """One reference sequence."""

    model_config = ConfigDict(frozen=True)

    name: str
    length: int


class PreparedReference(BaseModel):
    """A FASTA with its indexes, all in one folder."""

    model_config = ConfigDict(frozen=True)

    fasta: Path
    fai: Path
    seq_dict: Path
    mmi: Path
    #: Prefix of the BWA index files (``<prefix>.bwt`` ...), when bwa was installed.
    bwa_index: Path | None = None
    #: SHA-256 of the FASTA file as it was given (gzipped or not).
    sha256: str
    contigs: tuple[Contig, ...]

    @property
    def length(self) -> int:
        """Total length of all contigs in bases."""
        return sum(c.length for c in self.contigs)

    def save(self, folder: Path) -> None:
        """Write the descriptor into ``folder``, with paths relative to it."""
        data = self.model_dump(mode="json")
        for key in ("fasta", "fai", "seq_dict", "mmi", "bwa_index"):
            if data[key] is not None:
                data[key] = os.path.relpath(data[key], folder)
        tmp = folder / (DESCRIPTOR + ".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        os.replace(tmp, folder / DESCRIPTOR)

    @classmethod
    def load(cls, folder: Path) -> PreparedReference:
        """Read the descriptor of a prepared folder, wherever the folder now lives."""
        data = json.loads((folder / DESCRIPTOR).read_text())
        for key in ("fasta", "fai", "seq_dict", "mmi", "bwa_index"):
            if data.get(key) is not None:
                data[key] = str(folder / data[key])
        return cls.model_validate(data)


def prepare_reference(
    fasta: Path, out_dir: Path, *, bwa: bool | None = None, name: str = "genome"
) -> PreparedReference:
    """Decompress ``fasta`` into ``out_dir`` and build its indexes.

    ``bwa=None`` builds the BWA index when ``bwa`` is on PATH; True requires it.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    plain = out_dir / f"{name}.fa"
    sha256 = _copy_plain(fasta, plain)
    fai = Path(str(plain) + ".fai")
    run_pysam(pysam.samtools.faidx, plain)
    dict_path = out_dir / f"{name}.dict"
    run_pysam(pysam.samtools.dict, "-o", dict_path, plain)
    contigs = tuple(_read_fai(fai))
    if not contigs:
        raise FormatError("FASTA holds no sequence", file=str(fasta))
    mmi = out_dir / f"{name}.mmi"
    _build_mmi(plain, mmi)
    bwa_index: Path | None = None
    bwa_path = find_binary("bwa")
    if bwa or (bwa is None and bwa_path):
        prefix = out_dir / name
        run_command([bwa_path or "bwa", "index", "-p", prefix, plain])
        bwa_index = prefix
    prepared = PreparedReference(
        fasta=plain,
        fai=fai,
        seq_dict=dict_path,
        mmi=mmi,
        bwa_index=bwa_index,
        sha256=sha256,
        contigs=contigs,
    )
    prepared.save(out_dir)  # last: a folder with a descriptor is a complete one
    return prepared


def _copy_plain(source: Path, target: Path) -> str:
    """Copy ``source`` to ``target`` uncompressed; return the SHA-256 of ``source``."""
    digest = hashlib.sha256()
    try:
        with source.open("rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            stream = _HashingReader(raw, digest)
            reader = gzip.GzipFile(fileobj=stream) if gzipped else stream  # type: ignore[call-overload]
            with target.open("wb") as out:
                first = reader.read(1)
                if first != b">":
                    raise FormatError("not a FASTA file (no '>' header first)", file=str(source))
                out.write(first)
                shutil.copyfileobj(reader, out, _CHUNK)
            # Hash any trailing bytes the decompressor did not need to read.
            while stream.read(_CHUNK):
                pass
    except (OSError, EOFError, zlib.error) as err:
        raise FormatError(f"cannot read FASTA: {err}", file=str(source)) from err
    return digest.hexdigest()


class _HashingReader:
    """A read-only file wrapper that hashes every byte read through it."""

    def __init__(self, raw: object, digest: hashlib._Hash) -> None:
        self._raw = raw
        self._digest = digest

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)  # type: ignore[attr-defined]
        self._digest.update(data)
        return data

    def readable(self) -> bool:
        return True


def _read_fai(fai: Path) -> Iterator[Contig]:
    with fai.open() as handle:
        for line in handle:
            fields = line.split("\t")
            yield Contig(name=fields[0], length=int(fields[1]))


def _build_mmi(fasta: Path, mmi: Path) -> None:
    import mappy

    tmp = mmi.with_name(mmi.name + ".tmp")
    aligner = mappy.Aligner(str(fasta), preset="sr", fn_idx_out=str(tmp))
    if not aligner:
        raise InputError("mappy could not index the reference", file=str(fasta))
    del aligner
    os.replace(tmp, mmi)


class ReferenceCache:
    """Prepared references on local disk, one folder per FASTA checksum."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = cache_dir

    def get(self, sha256: str, fetch: Callable[[Path], None]) -> PreparedReference:
        """Return the prepared reference whose FASTA has checksum ``sha256``.

        ``fetch(path)`` must write the FASTA (plain or gzipped) to ``path``; it is only
        called when no process has prepared this checksum yet. Concurrent callers, in
        threads or processes, wait on a lock file, and the prepared folder appears by
        atomic rename, so a crash half-way leaves only a temporary folder behind.
        """
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise InputError(f"not a lower-case SHA-256 checksum: {sha256!r}")
        final = self.cache_dir / sha256
        if (final / DESCRIPTOR).exists():
            return PreparedReference.load(final)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with _locked(self.cache_dir / f"{sha256}.lock"):
            if (final / DESCRIPTOR).exists():  # another process won the race
                return PreparedReference.load(final)
            work = self.cache_dir / f".tmp-{sha256[:16]}-{uuid.uuid4().hex}"
            work.mkdir()
            try:
                source = work / "download.fa"
                fetch(source)
                prepared = prepare_reference(source, work)
                source.unlink()
                if prepared.sha256 != sha256:
                    raise InputError(
                        f"fetched reference has checksum {prepared.sha256}, expected {sha256}",
                        file=str(source),
                    )
                if final.exists():  # a crashed attempt without descriptor
                    shutil.rmtree(final)
                os.rename(work, final)
            except BaseException:
                shutil.rmtree(work, ignore_errors=True)
                raise
        log.info("prepared reference %s", sha256[:12])
        return PreparedReference.load(final)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
