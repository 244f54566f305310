"""Manifests and the commit protocol: a stage is done when, and only when, its manifest exists.

An attempt uploads its outputs under an attempt-unique prefix, then writes
``gNNNNNN.manifest.json`` with a create-only conditional put. Of several attempts racing
for the same generation exactly one wins; the losers' files are referenced by nothing
and are collected later. Manifests are immutable, so reads are cached in-process.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from seqoia.errors import (
    FormatError,
    InvalidKeyError,
    ObjectNotFoundError,
    PreconditionFailedError,
    first_error,
)
from seqoia.storage.base import ObjectStore
from seqoia.storage.keys import validate_key
from seqoia.storage.layout import Layout
from seqoia.storage.parallel import in_parallel
from seqoia.vocabulary import (
    Relation,
    SubjectKind,
    is_source_alias,
    source_alias,
    validate_name,
    validate_relative_path,
)

log = logging.getLogger(__name__)


class FileRef(BaseModel):
    """One output (or source) file: where it is and what it holds."""

    model_config = ConfigDict(frozen=True)

    name: str  # path relative to the stage's output folder, e.g. "S01.md.cram"
    key: str
    size: int
    sha256: str | None = None  # None for source objects known only by ETag
    etag: str | None = None
    #: The subject a file belongs to when one stage writes files for several subjects
    #: (a run's demultiplexing writes per-sample FASTQ); consumers of another subject
    #: do not download it.
    subject: str | None = None
    #: Source objects only: when the store says the object was written (dates a run's
    #: completion from its marker without another request).
    modified: datetime | None = None

    # Manifests are read back from the store, which anyone with write access could
    # forge: names become local paths on workers, so they are checked like keys.
    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        return validate_relative_path(value, "file name")

    @field_validator("key")
    @classmethod
    def _safe_key(cls, value: str) -> str:
        return validate_key(value)

    @field_validator("subject")
    @classmethod
    def _safe_subject(cls, value: str | None) -> str | None:
        return None if value is None else validate_name(value, "subject")


def public_source(ref: FileRef) -> FileRef:
    """``ref`` as a manifest records it: a FASTQ under its alias (see ``source_alias``).

    The key keeps the run folder's prefix with the alias in place of the file name, so
    records name the run and lane but never a file named after a patient.
    """
    alias = source_alias(ref.name)
    if alias is None or alias == ref.name or not ref.key.endswith(ref.name):
        return ref
    key = ref.key[: len(ref.key) - len(ref.name)] + alias
    return ref.model_copy(update={"name": alias, "key": key})


def is_alias(ref: FileRef) -> bool:
    """Whether a recorded source stands for a file it does not name (a FASTQ alias)."""
    return is_source_alias(ref.name)


class InputRef(BaseModel):
    """A committed upstream manifest this generation was computed from."""

    model_config = ConfigDict(frozen=True)

    stage: str
    subject: str
    generation: int
    attempt: str
    fingerprint: str

    @field_validator("stage", "subject", "attempt")
    @classmethod
    def _safe_names(cls, value: str) -> str:
        return validate_name(value, "stage, subject or attempt")


class Manifest(BaseModel):
    """The record that commits one generation of ``(stage, subject)``."""

    model_config = ConfigDict(frozen=True)

    schema_version: int = 1
    stage: str
    stage_version: str
    subject: str
    subject_kind: SubjectKind
    fingerprint: str
    generation: int
    attempt: str
    inputs: list[InputRef] = Field(default_factory=list)
    sources: list[FileRef] = Field(default_factory=list)
    reference: FileRef | None = None
    #: Files of the reference area besides the genome (``refs/<name>/genes.gff3``, ...).
    resources: list[FileRef] = Field(default_factory=list)
    parameters: dict[str, Any] = Field(default_factory=dict)
    tools: dict[str, str] = Field(default_factory=dict)
    outputs: list[FileRef] = Field(default_factory=list)
    relations: list[Relation] = Field(default_factory=list)
    #: Small, stage-defined results (QC metrics, counts, verdicts) for status and reports.
    summary: dict[str, Any] = Field(default_factory=dict)
    reason: str = "event"
    started_at: datetime
    finished_at: datetime
    worker: str
    #: A publishing stage's review-area or outbox folder, written after the commit.
    published_to: str | None = None
    #: The publication is complete only once ``g<N>.published.json`` is listed beside
    #: the manifest (written after the last copy). Older publishing manifests (False)
    #: count as published once committed, as they always did.
    marks_publication: bool = False

    def publication_complete(self, marked: bool) -> bool:
        """Whether this generation's files are all where it publishes them, given whether
        its publication mark was listed (``marked``)."""
        return self.published_to is None or not self.marks_publication or marked

    @field_validator("stage", "subject", "attempt")
    @classmethod
    def _safe_names(cls, value: str) -> str:
        return validate_name(value, "stage, subject or attempt")

    # A forged manifest must not steer the committer's writes: the runner also checks
    # that the folder is in the stage's own area (``Layout.is_publish_prefix``).
    @field_validator("published_to")
    @classmethod
    def _safe_prefix(cls, value: str | None) -> str | None:
        if value is not None and not value.endswith("/"):
            raise InvalidKeyError("a publication folder must end with /", file=repr(value[:120]))
        return None if value is None else validate_key(value)

    @property
    def duration_s(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    def output(self, name: str) -> FileRef:
        """The output called ``name``."""
        for ref in self.outputs:
            if ref.name == name:
                return ref
        raise KeyError(f"{self.stage}/{self.subject} has no output {name!r}")

    def to_json(self) -> bytes:
        return self.model_dump_json(indent=1).encode()


def fingerprint_of(payload: dict[str, Any]) -> str:
    """A stable sha256 of a JSON-able payload (sorted keys, no whitespace)."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def utcnow() -> datetime:
    return datetime.now(UTC)


class ManifestStore:
    """Reads and commits manifests in one store, with an in-process cache of immutable ones."""

    def __init__(
        self, store: ObjectStore, layout: Layout, *, cache_size: int = 4096, concurrency: int = 1
    ) -> None:
        self.store = store
        self.layout = layout
        #: Link writes sent at once by a commit (a run's sheet links it to a hundred
        #: subjects and back: one after the other they cost a second on a remote store).
        self.concurrency = concurrency
        self._cache: OrderedDict[str, Manifest] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        #: (stage, subject) pairs seen with a committed generation: a hint that orders the
        #: planner's fan-in checks, never trusted as proof (generations may be collected).
        self._seen: set[tuple[str, str]] = set()

    # -- reads ---------------------------------------------------------------------------
    def listing(self, stage: str, subject: str) -> list[str]:
        """The names under the pair's prefix: manifests, publication marks, ``attempts``."""
        return self.store.list_children(self.layout.stage_prefix(stage, subject))

    def generations(self, stage: str, subject: str) -> list[int]:
        """Committed generation numbers of ``(stage, subject)``, oldest first."""
        return self._generations_in(self.listing(stage, subject))

    def _generations_in(self, names: list[str]) -> list[int]:
        found = (self.layout.generation_of(name) for name in names)
        return sorted(g for g in found if g is not None)

    def get(self, key: str) -> Manifest:
        """The manifest at ``key`` (cached: manifests never change once written)."""
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        data, _ = self.store.get_bytes(key)
        try:
            manifest = parse_record(Manifest, data, key=key, what="manifest")
        except InvalidKeyError as err:  # a forged or corrupt manifest: name where it is
            raise InvalidKeyError(f"manifest {key}: {err.message}", file=err.file) from err
        self._remember(key, manifest)
        return manifest

    def latest(self, stage: str, subject: str) -> Manifest | None:
        """The newest committed generation, or ``None`` when the stage never committed."""
        return self.latest_marked(stage, subject)[0]

    def latest_marked(self, stage: str, subject: str) -> tuple[Manifest | None, bool]:
        """The newest committed generation, and whether its publication mark is listed.

        One listing tells both: the mark sits beside the manifests.
        """
        names = self.listing(stage, subject)
        generations = self._generations_in(names)
        if not generations:
            return None, False
        self._seen.add((stage, subject))
        manifest = self.get(self.layout.manifest_key(stage, subject, generations[-1]))
        return manifest, self.layout.publication_name(generations[-1]) in names

    def latest_published(self, stage: str, subject: str) -> Manifest | None:
        """The newest committed generation, or ``None`` while it is none or its
        publication is still pending (committed, files not all copied yet)."""
        manifest, marked = self.latest_marked(stage, subject)
        return manifest if manifest is not None and manifest.publication_complete(marked) else None

    def mark_published(self, manifest: Manifest) -> None:
        """Record that every file of ``manifest`` is where it publishes them (create-only)."""
        key = self.layout.publication_key(manifest.stage, manifest.subject, manifest.generation)
        body = {"attempt": manifest.attempt, "files": len(manifest.outputs), "at": utcnow()}
        with suppress(PreconditionFailedError):  # marked already (a duplicate's completion)
            self.store.put_bytes(key, json.dumps(body, default=str).encode(), if_none_match=True)

    def seen_committed(self, stage: str, subject: str) -> bool:
        """Whether this process has seen ``(stage, subject)`` committed (a hint only)."""
        return (stage, subject) in self._seen

    def history(self, stage: str, subject: str) -> list[Manifest]:
        """Every committed generation, oldest first."""
        return [
            self.get(self.layout.manifest_key(stage, subject, g))
            for g in self.generations(stage, subject)
        ]

    # -- commit --------------------------------------------------------------------------
    def commit(self, manifest: Manifest, *, replaces: Manifest | None = None) -> Manifest:
        """Write ``manifest`` create-only; raise PreconditionFailedError if the slot is taken.

        Relations are written first: a manifest that exists always has its links, and a
        link whose manifest never committed is harmless (readers check the manifest).
        Links that ``replaces`` (the previous generation) declared and ``manifest`` does
        not are removed after the commit: a corrected sample sheet or a run shared into
        other parts no longer links the run to what it dropped.
        """
        # Every link has been written before the manifest is (in_parallel waits for all).
        in_parallel(self._link, _both_ways(manifest.relations), self.concurrency)
        key = self.layout.manifest_key(manifest.stage, manifest.subject, manifest.generation)
        self.store.put_bytes(key, manifest.to_json(), if_none_match=True)
        self._remember(key, manifest)
        self._seen.add((manifest.stage, manifest.subject))
        if replaces is not None:
            dropped = set(replaces.relations) - set(manifest.relations)
            if dropped:  # one request per thousand keys on S3 (DeleteObjects)
                keys = [self.layout.link_key(*link) for link in _both_ways(dropped)]
                self.store.delete_many(keys)
        log.debug(  # the stage actor logs the outcome at INFO: one line per transition
            "committed %s/%s generation %d (attempt %s)",
            manifest.stage,
            manifest.subject,
            manifest.generation,
            manifest.attempt,
        )
        return manifest

    def related(self, kind: str, subject: str, other_kind: str) -> list[str]:
        """Subjects of ``other_kind`` linked to ``kind/subject``."""
        return self.store.list_children(self.layout.links_prefix(kind, subject, other_kind))

    def linked(self, kind: str, subject: str, other_kind: str) -> list[str]:
        """What ``kind/subject`` stands for among ``other_kind``: itself, or its links."""
        return [subject] if other_kind == kind else self.related(kind, subject, other_kind)

    def subjects_of(self, kind: str, subject: str) -> dict[str, list[str]]:
        """Per subject kind, what ``kind/subject`` stands for: itself and its linked subjects."""
        return {other: self.linked(kind, subject, other) for other in get_args(SubjectKind)}

    def _link(self, rel: tuple[str, str, str, str]) -> None:
        with suppress(PreconditionFailedError):  # already linked
            self.store.put_bytes(self.layout.link_key(*rel), b"", if_none_match=True)

    def _remember(self, key: str, manifest: Manifest) -> None:
        with self._lock:
            self._cache[key] = manifest
            self._cache.move_to_end(key)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)


class ManifestSnapshot(ManifestStore):
    """``manifests`` with its listings read once, for one derivation or one routing pass.

    What it lists may be as old as the pass; its readers (``seqoia status``, a reprocess
    plan, the router's look after a commit) read many subjects of one run, whose listings
    repeat. Threads of one pass asking for the same listing at once wait for one request.
    Manifests, being immutable, and the hints are shared with ``manifests``.
    """

    def __init__(self, manifests: ManifestStore) -> None:
        super().__init__(
            manifests.store,
            manifests.layout,
            cache_size=manifests._cache_size,
            concurrency=manifests.concurrency,
        )
        self._cache, self._lock, self._seen = manifests._cache, manifests._lock, manifests._seen
        self._listed: dict[tuple[str, ...], Future[list[str]]] = {}
        self._listed_lock = threading.Lock()

    def listing(self, stage: str, subject: str) -> list[str]:
        return self._once(
            ("listing", stage, subject),
            lambda: ManifestStore.listing(self, stage, subject),
        )

    def related(self, kind: str, subject: str, other_kind: str) -> list[str]:
        return self._once(
            ("related", kind, subject, other_kind),
            lambda: ManifestStore.related(self, kind, subject, other_kind),
        )

    def _once(self, key: tuple[str, ...], read: Callable[[], list[str]]) -> list[str]:
        with self._listed_lock:
            answer = self._listed.get(key)
            mine = answer is None
            if answer is None:
                answer = self._listed[key] = Future()
        if mine:
            try:
                answer.set_result(read())
            except BaseException as err:  # every reader of this pass sees the same error
                answer.set_exception(err)
        return answer.result()


def _both_ways(relations: Iterable[Relation]) -> list[tuple[str, str, str, str]]:
    """Each relation as its two links: ``kind/subject -> other`` and back."""
    links: list[tuple[str, str, str, str]] = []
    for rel in relations:
        links.append((rel.kind, rel.subject, rel.other_kind, rel.other))
        links.append((rel.other_kind, rel.other, rel.kind, rel.subject))
    return links


Record = TypeVar("Record", bound=BaseModel)


def parse_record(model: type[Record], data: bytes, *, key: str, what: str) -> Record:
    """``data``, read back from the store at ``key``, as a ``model``.

    Anyone with write access to the bucket could have written it: a truncated, mistyped
    or incomplete record is a :class:`FormatError` naming the key and the first field
    at fault (never the values: a record may hold a sample's data).
    """
    try:
        return model.model_validate_json(data)
    except ValidationError as err:
        more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
        raise FormatError(f"not a valid {what}: {first_error(err)}{more}", file=key) from err


def read_json(store: ObjectStore, key: str) -> dict[str, Any] | None:
    """A small JSON object, or ``None`` when absent; a :class:`FormatError` naming the key
    when the object holds anything else (read back from the store, like a manifest)."""
    try:
        data, _ = store.get_bytes(key)
    except ObjectNotFoundError:
        return None
    try:
        result = json.loads(data)
    except (ValueError, RecursionError) as err:  # UnicodeDecodeError is a ValueError
        raise FormatError(f"not JSON ({str(err)[:120]})", file=key) from None
    if not isinstance(result, dict):
        raise FormatError("not a JSON object", file=key)
    return result
