"""Stage declarations: a stage is declared by what it consumes and what it produces.

    pipeline = Pipeline("germline")

    @pipeline.stage("align", kind="sample", needs=["demultiplex"], version="1",
                    params=AlignParams)
    def align(ctx: StageContext) -> StageResult: ...

The function is pure: it reads ``ctx.inputs`` (local files of committed upstream
manifests) and ``ctx.params`` and writes its outputs into ``ctx.out_dir``. The framework
downloads, uploads, fingerprints, commits and retries. Mistakes in a declaration raise
:class:`~seqoia.errors.DeclarationError` at import time: a stage's own options when it is
declared, the graph (unknown upstream stages, cycles) when the pipeline module calls
:meth:`Pipeline.check` after declaring every stage, in any order.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict

from seqoia.errors import DeclarationError
from seqoia.tasks.graph import dependency_order
from seqoia.vocabulary import ObjectInfo, Relation, SubjectKind, validate_name

Isolation = Literal["process", "inline"]
_QUEUE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


class NoParams(BaseModel):
    """Parameters of a stage that has none."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True)
class InputSet:
    """The local files of one committed upstream manifest."""

    stage: str
    subject: str
    files: dict[str, Path]
    summary: dict[str, Any]
    #: Tool versions the upstream manifest recorded (for reports and provenance).
    tools: dict[str, str] = field(default_factory=dict)

    def file(self, suffix: str) -> Path:
        """The one file whose name ends with ``suffix`` (e.g. ``".md.cram"``)."""
        found = [path for name, path in self.files.items() if name.endswith(suffix)]
        if len(found) != 1:
            raise KeyError(
                f"{self.stage}/{self.subject}: expected one file ending with {suffix!r}, "
                f"found {sorted(self.files)}"
            )
        return found[0]


@dataclass(frozen=True)
class Excluded:
    """A fan-in member left out because it, or a stage before it, failed permanently."""

    stage: str  # the upstream stage whose output is missing, e.g. "qc"
    subject: str
    failed_stage: str  # where it failed, e.g. "align"
    failed_subject: str
    message: str


@dataclass(frozen=True)
class StageContext:
    """Everything a stage function may look at."""

    stage: str
    subject: str
    kind: SubjectKind
    params: Any
    inputs: dict[str, list[InputSet]]
    out_dir: Path
    scratch: Path
    threads: int
    #: Source stages only: the run folder's downloaded files, and every object of it.
    source_dir: Path | None = None
    source_listing: tuple[tuple[str, int], ...] = ()
    #: Stages declared with ``reference=True``: the reference FASTA, and a folder where
    #: prepared indexes are cached across stages and runs on this worker.
    reference_fasta: Path | None = None
    #: Where the reference lives in the store (``refs/<name>/genome.fa``), for reports.
    reference_key: str | None = None
    cache_dir: Path | None = None
    #: Stages declared with ``resources``: each present resource's name in the reference
    #: area (``genes.gff3``, ``panels/rare.txt``) -> its file in the worker's cache.
    resources: dict[str, Path] = field(default_factory=dict)
    #: Root source stages: when the run folder was complete (its marker's store time).
    completed_at: datetime | None = None
    #: Stages declared with ``tolerate_failures=True``: the members they go on without.
    excluded: tuple[Excluded, ...] = ()

    def one(self, stage: str) -> InputSet:
        """The single input set of upstream ``stage`` (same subject kind)."""
        sets = self.inputs.get(stage, [])
        if len(sets) != 1:
            raise KeyError(f"expected one input from {stage!r}, found {len(sets)}")
        return sets[0]


@dataclass
class StageResult:
    """What a stage returns besides the files in ``out_dir``."""

    summary: dict[str, Any] = field(default_factory=dict)
    tools: dict[str, str] = field(default_factory=dict)
    relations: list[Relation] = field(default_factory=list)
    #: Output file name -> the subject it belongs to (see FileRef.subject).
    file_subjects: dict[str, str] = field(default_factory=dict)
    #: Publishing stages only: outbox folder, e.g. ``"APHP/S01"``.
    publish_to: str | None = None


StageFunction = Callable[[StageContext], StageResult]
#: What a stage means to the engine beyond running it. The QC gate's commits carry the
#: verdict counted by the metrics and shown by status; the delivery's first commit ends a
#: run's turnaround. At most one stage of a pipeline holds each role.
StageRole = Literal["qc_gate", "delivery"]
#: Where a publishing stage writes: ``review`` (awaiting a biologist's release) or ``outbox``.
PublishArea = Literal["review", "outbox"]


@dataclass(frozen=True)
class GateVerdict:
    """A QC gate's verdict as the engine needs it: passed, and the checks that failed."""

    passed: bool
    failed_checks: tuple[str, ...] = ()


@dataclass(frozen=True)
class QCGate:
    """How the engine reads the QC gate stage's commits.

    ``verdict`` reads a committed summary (``None`` when it carries no verdict);
    ``checks`` names every check the gate may fail (bounded metric label values).
    """

    verdict: Callable[[dict[str, Any]], GateVerdict | None]
    checks: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunFolderMarkers:
    """Run-folder files whose arrival may complete the folder, most telling first.

    The router wakes the root stage when one of them appears; status and metrics date a
    run's completion by the first of them present. ``after_grace``: markers that may be
    written before the copy has finished, so the root is looked at again after the grace
    period.
    """

    names: tuple[str, ...]
    after_grace: frozenset[str] = frozenset()


#: A fan-in whose membership the links alone do not settle (a pair's normal may come in a
#: later run): (subject, upstream stage -> committed summaries) -> None when whole, else
#: why the subject waits.
MembersReady = Callable[[str, dict[str, list[dict[str, Any]]]], "str | None"]

#: Decides whether a run folder is complete: (listing, grace_s) -> None when ready, else
#: why not. ``grace_s`` is how long to wait after a marker that is not the last one written.
SourceReadiness = Callable[[list[ObjectInfo], float], "str | None"]


@dataclass(frozen=True)
class Stage:
    """One declared stage."""

    name: str
    kind: SubjectKind
    needs: tuple[str, ...]
    queue: str
    version: str
    params: type[BaseModel]
    fn: StageFunction
    isolation: Isolation
    time_limit_s: float | None
    #: Which upstream files to download: (upstream stage, file name) -> bool.
    fetch: Callable[[str, str], bool] | None
    #: Source stages read the run folder in the inbox. Without ``needs`` a source stage is
    #: a root, run when the folder is complete; with ``needs`` it reads the folder as its
    #: upstream run stage listed it (validate first, demultiplex its parts after).
    source: bool
    #: Which run-folder files to download: (subject, file name) -> bool.
    fetch_sources: Callable[[str, str], bool] | None
    source_ready: SourceReadiness | None
    reference: bool = False
    #: Publishing stages write their outputs into the outbox (``StageResult.publish_to``)
    #: instead of an attempt prefix: a delivery that hospitals read.
    publish: bool = False
    #: A fan-in (a run's report over its samples) that goes ahead without the members that
    #: failed permanently, instead of waiting for an admin; ``ctx.excluded`` names them.
    tolerate_failures: bool = False
    #: What the stage means to the engine (see :data:`StageRole`); ``gate`` goes with the
    #: QC gate role.
    role: StageRole | None = None
    gate: QCGate | None = None
    #: Root stages: the run-folder files that wake them (without, no inbox object does).
    markers: RunFolderMarkers | None = None
    #: Files of the reference area the stage reads, relative to ``refs/<name>/``: a file
    #: (``genes.gff3``), an optional one (``clinvar.vcf.gz?``) or a folder (``panels/``).
    #: Planned like the reference: their ETags are part of the fingerprint.
    resources: tuple[str, ...] = ()
    publish_area: PublishArea = "outbox"
    #: Fan-ins that know from upstream summaries whether every member has come.
    members_ready: MembersReady | None = None

    def __post_init__(self) -> None:
        where = f"stage {self.name!r}"
        if self.role is not None and self.role not in get_args(StageRole):
            raise DeclarationError(f"{where}: unknown role {self.role!r}")
        if (self.role == "qc_gate") != (self.gate is not None):
            raise DeclarationError(f"{where}: a QC gate declares role='qc_gate' and its gate")
        if self.markers is not None and not (self.source and not self.needs):
            raise DeclarationError(f"{where}: markers belong to a root source stage (no needs)")
        for name in self.resources:
            bare = name.rstrip("?/")
            if not bare or bare.startswith("/") or ".." in bare.split("/") or bare == "genome.fa":
                raise DeclarationError(f"{where}: bad reference resource {name!r}")
        if self.publish_area not in get_args(PublishArea):
            raise DeclarationError(f"{where}: unknown publishing area {self.publish_area!r}")

    def wants(self, upstream: str, name: str) -> bool:
        return self.fetch is None or self.fetch(upstream, name)


class Pipeline:
    """A named set of stages forming a DAG.

    Each stage's options are checked as it is declared; the graph once every stage is
    declared, by :meth:`check` (which the pipeline's module calls last, and every query
    calls before it answers).
    """

    def __init__(self, name: str, *, import_path: str | None = None) -> None:
        self.name = validate_name(name, "pipeline name")
        #: ``module:attribute`` from which a stage's child process imports this pipeline.
        self.import_path = import_path
        self._declared: dict[str, Stage] = {}
        #: The declared stages in dependency order, once :meth:`check` has passed.
        self._ordered: dict[str, Stage] | None = None
        self._downstream: dict[str, list[Stage]] = {}
        self._last_needs: dict[str, list[str]] = {}

    def stage(
        self,
        name: str,
        *,
        kind: SubjectKind,
        version: str,
        needs: Iterable[str] = (),
        queue: str | None = None,
        params: type[BaseModel] = NoParams,
        isolation: Isolation = "process",
        time_limit_s: float | None = None,
        fetch: Callable[[str, str], bool] | None = None,
        source: bool = False,
        fetch_sources: Callable[[str, str], bool] | None = None,
        source_ready: SourceReadiness | None = None,
        reference: bool = False,
        publish: bool = False,
        tolerate_failures: bool = False,
        role: StageRole | None = None,
        gate: QCGate | None = None,
        markers: RunFolderMarkers | None = None,
        resources: Iterable[str] = (),
        publish_area: PublishArea = "outbox",
        members_ready: MembersReady | None = None,
    ) -> Callable[[StageFunction], StageFunction]:
        """Declare a stage; the decorated function is returned unchanged."""

        def register(fn: StageFunction) -> StageFunction:
            self.add(
                Stage(
                    name=name,
                    kind=kind,
                    needs=tuple(needs),
                    queue=queue or "default",
                    version=version,
                    params=params,
                    fn=fn,
                    isolation=isolation,
                    time_limit_s=time_limit_s,
                    fetch=fetch,
                    source=source,
                    fetch_sources=fetch_sources,
                    source_ready=source_ready,
                    reference=reference,
                    publish=publish,
                    tolerate_failures=tolerate_failures,
                    role=role,
                    gate=gate,
                    markers=markers,
                    resources=tuple(resources),
                    publish_area=publish_area,
                    members_ready=members_ready,
                )
            )
            return fn

        return register

    def add(self, stage: Stage) -> None:
        """Register a stage after checking its declaration."""
        where = f"stage {stage.name!r} of pipeline {self.name!r}"
        try:
            validate_name(stage.name, "stage name")
        except Exception as err:
            raise DeclarationError(f"{where}: {err}") from err
        if stage.name.startswith("_"):
            raise DeclarationError(f"{where}: names starting with '_' are reserved")
        if stage.name in self._declared:
            raise DeclarationError(f"{where}: declared twice")
        # The stages declared so far, not the checked graph: upstream may come later.
        holder = next(
            (s for s in self._declared.values() if stage.role and s.role == stage.role), None
        )
        if holder is not None:
            raise DeclarationError(f"{where}: stage {holder.name!r} already is the {stage.role}")
        if stage.kind not in get_args(SubjectKind):
            raise DeclarationError(f"{where}: unknown subject kind {stage.kind!r}")
        if not _QUEUE.match(stage.queue):
            raise DeclarationError(f"{where}: bad queue name {stage.queue!r}")
        if not stage.version:
            raise DeclarationError(f"{where}: a version is required")
        if not (isinstance(stage.params, type) and issubclass(stage.params, BaseModel)):
            raise DeclarationError(f"{where}: params must be a pydantic model class")
        if not stage.params.model_config.get("frozen"):
            raise DeclarationError(f"{where}: params model must be frozen")
        try:
            stage.params()
        except Exception as err:
            raise DeclarationError(f"{where}: params need defaults for every field") from err
        if stage.isolation not in ("process", "inline"):
            raise DeclarationError(f"{where}: isolation must be 'process' or 'inline'")
        if stage.source and stage.kind not in ("run", "part"):
            raise DeclarationError(f"{where}: only run and part stages can read the run folder")
        if stage.source and stage.needs and stage.source_ready is not None:
            raise DeclarationError(
                f"{where}: source_ready belongs to the first stage of a run (no needs)"
            )
        if stage.tolerate_failures and not stage.needs:
            raise DeclarationError(f"{where}: tolerate_failures needs upstream stages")
        if not stage.source and not stage.needs:
            raise DeclarationError(f"{where}: needs upstream stages (or source=True)")
        # Upstream stages may be declared later: check() looks at the graph as a whole.
        self._declared[stage.name] = stage
        self._ordered = None

    def check(self) -> Pipeline:
        """Check the graph of the declared stages and order them upstream first.

        Raises :class:`DeclarationError` for an unknown upstream stage or a cycle. A
        pipeline's module calls it after declaring its last stage, so that a mistake
        fails at import. Every query calls it too; the work is done once, and again
        after a stage is added. Rules that look at other stages belong here, not in add.
        """
        if self._ordered is None:
            needs = {name: stage.needs for name, stage in self._declared.items()}
            order = dependency_order(needs, self.name)
            downstream: dict[str, list[Stage]] = {name: [] for name in order}
            for name in order:
                for upstream in self._declared[name].needs:
                    downstream[upstream].append(self._declared[name])
            self._downstream = downstream
            self._ordered = {name: self._declared[name] for name in order}
            self._last_needs = {
                name: [n for n in s.needs if not any(n in self.ancestors(o) for o in s.needs)]
                for name, s in self._ordered.items()
            }
        return self

    # -- queries -----------------------------------------------------------------------
    @property
    def stages(self) -> dict[str, Stage]:
        """Every stage by name, upstream stages first (see :meth:`check`)."""
        self.check()
        assert self._ordered is not None
        return self._ordered

    def __getitem__(self, name: str) -> Stage:
        try:
            return self.stages[name]
        except KeyError:
            raise DeclarationError(
                f"pipeline {self.name!r} has no stage {name!r}; stages: {', '.join(self.stages)}"
            ) from None

    def downstream(self, name: str) -> list[Stage]:
        """Stages that need ``name`` directly."""
        self.check()
        return list(self._downstream.get(name, []))

    def descendants(self, name: str) -> list[Stage]:
        """``name`` and every stage that depends on it, in dependency order."""
        wanted = {name}
        for stage in self.stages.values():  # upstream stages come first
            if any(upstream in wanted for upstream in stage.needs):
                wanted.add(stage.name)
        return [s for s in self.stages.values() if s.name in wanted]

    def ancestors(self, name: str) -> set[str]:
        """Every stage that ``name`` depends on, transitively."""
        found: set[str] = set()
        todo = list(self[name].needs)
        while todo:
            upstream = todo.pop()
            if upstream not in found:
                found.add(upstream)
                todo.extend(self.stages[upstream].needs)
        return found

    def last_needs(self, name: str) -> list[str]:
        """The needs of ``name`` that no other need of it descends from.

        Only their commits route ``name`` (see the router): ``report`` needs
        ``call_variants`` and ``qc``, and ``qc`` comes after ``call_variants``.
        """
        stage = self[name]  # checks the graph first, which computes them
        return list(self._last_needs[stage.name])

    def roots(self) -> list[Stage]:
        """The stages a complete run folder starts: source stages with no upstream."""
        return [s for s in self.stages.values() if s.source and not s.needs]

    def with_role(self, role: StageRole) -> Stage | None:
        """The stage that holds ``role``, if one does."""
        return next((s for s in self.stages.values() if s.role == role), None)

    def completion_markers(self) -> tuple[str, ...]:
        """Every root's run-folder markers, most telling first (for dating completion)."""
        names = (name for root in self.roots() if root.markers for name in root.markers.names)
        return tuple(dict.fromkeys(names))

    def queues(self) -> list[str]:
        return sorted({s.queue for s in self.stages.values()})

    def process_queues(self) -> set[str]:
        """Queues with a stage that runs in a process: long messages, and a fork server."""
        return {s.queue for s in self.stages.values() if s.isolation == "process"}

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.stages.values())
