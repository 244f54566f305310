"""The stage runner: plan, skip or run, upload, commit. The one place a stage attempt happens.

    plan -> (not ready | up to date | failed before) -> nothing to do
         -> lease -> download inputs -> run (inline or child process) -> upload outputs
         -> commit manifest (create-only) -> release lease

It is safe to call any number of times, concurrently, for the same ``(stage, subject)``:
at most one generation commits per fingerprint, and losing attempts leave only files
under their own attempt prefix, which no manifest references.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import logging
import os
import random
import re
import resource
import shutil
import subprocess
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from seqoia.engine.child import result_from_json, run_request
from seqoia.engine.forkserver import fork_server
from seqoia.engine.leases import LeaseKeeper
from seqoia.engine.observe import AttemptWatch, StageObserver
from seqoia.engine.planner import Plan, Waiting
from seqoia.engine.publication import complete_publication, publish, unpublished
from seqoia.engine.refcache import cached_reference
from seqoia.engine.runtime import Runtime
from seqoia.engine.scratch import open_scratch, path_inside
from seqoia.errors import (
    CommitConflictError,
    PreconditionFailedError,
    SeqoiaError,
    StageCrashedError,
    StageFailedError,
    StageTimeoutError,
)
from seqoia.storage.failures import FailureRecord
from seqoia.storage.manifest import FileRef, Manifest, public_source, utcnow
from seqoia.storage.permissions import make_folders
from seqoia.tasks.stage import Stage, StageResult
from seqoia.vocabulary import sha256_file

log = logging.getLogger(__name__)

OutcomeKind = Literal["committed", "up_to_date", "not_ready", "failed_before", "lost_race"]


@dataclass
class Outcome:
    kind: OutcomeKind
    plan: Plan
    manifest: Manifest | None = None


#: Attempt ids' random part: a private generator seeded from the OS, and again in forked
#: children, so that drawing one is not a system call (a GIL hand-over per attempt).
_ATTEMPT_IDS = random.Random()
os.register_at_fork(after_in_child=_ATTEMPT_IDS.seed)


def _reaped_cpu_s() -> float:
    """User + system seconds of this process's reaped children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def new_attempt_id() -> str:
    """Sortable by start time, unique across workers."""
    return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{_ATTEMPT_IDS.getrandbits(40):010x}"


class StageRunner:
    """Runs stage attempts for one runtime."""

    def __init__(
        self, runtime: Runtime, *, lease_ttl_s: float = 120.0, observer: StageObserver | None = None
    ) -> None:
        self.rt = runtime
        self.observer = observer or StageObserver()  # logs and metrics of each attempt
        self.leases = LeaseKeeper(
            runtime.store, ttl_s=lease_ttl_s, worker=runtime.settings.worker_id
        )
        #: Private to this user (0700), or refused: stages' inputs are patient data.
        self.scratch_root = open_scratch(runtime.settings.scratch_dir)

    def execute(
        self,
        stage_name: str,
        subject: str,
        *,
        reason: str = "event",
        on_commit: Callable[[Manifest], object] | None = None,
    ) -> Outcome:
        """Bring ``(stage, subject)`` up to date, if it is ready and not already.

        ``on_commit`` (the router) is called with a fresh commit while the lease is still
        held, so that a duplicate message waiting on the lease finds the stage committed
        and its successors already told.
        """
        with self.observer.attempt(stage_name, subject, reason=reason) as watch:
            outcome = self._execute(stage_name, subject, reason, watch, on_commit)
            watch.finished(outcome)
            return outcome

    def _execute(
        self,
        stage_name: str,
        subject: str,
        reason: str,
        watch: AttemptWatch,
        on_commit: Callable[[Manifest], object] | None,
    ) -> Outcome:
        # A first look without the lease: most calls (not ready, up to date) end here and
        # cost no write. Whatever it says is settled again under the lease below.
        plan = self.rt.planner.plan(stage_name, subject)
        early = self._nothing_to_do(plan)
        if early is not None and not (
            early.kind == "up_to_date"
            and early.manifest is not None
            and self._publication_unfinished(plan, early.manifest)
        ):
            return early
        attempt = new_attempt_id()
        # Every stage, inline ones too: the lease is what makes a duplicate message wait
        # and then find the commit, instead of running the stage a second time.
        lease = self.leases.acquire(self.rt.layout.lease_key(stage_name, subject), attempt)
        stop_renewing = self.leases.keep_alive(lease)
        scratch = self.scratch_root / "attempts" / attempt
        try:
            # Looked at again under the lease: an attempt that committed while we waited
            # (or just before we took the lease) is seen here, so we do not run again.
            # Only a new commit of this pair changes the verdict of the look above; a newer
            # upstream commit routes this pair again itself. So one listing, not a re-plan.
            if self._committed_since(plan):
                plan = self.rt.planner.plan(stage_name, subject)
                early = self._nothing_to_do(plan)
            if early is not None:
                if early.kind == "up_to_date" and early.manifest is not None:
                    self._complete_publication(plan, early.manifest, attempt, scratch)
                return early
            watch.running(attempt)
            outcome = self._attempt(plan, attempt, scratch, reason, watch)
            if outcome.kind == "committed" and outcome.manifest is not None:
                if outcome.manifest.published_to is not None:
                    publish(self.rt.store, outcome.manifest, scratch / "out")
                    # Last: until this mark is listed, the pair is "publication pending"
                    # to the reconciler, which re-sends it if this worker dies here.
                    self.rt.manifests.mark_published(outcome.manifest)
                if on_commit is not None:
                    on_commit(outcome.manifest)  # routed before a duplicate may look
            return outcome
        finally:
            stop_renewing.set()
            self.leases.release(lease)
            _remove_scratch(scratch)

    def _committed_since(self, plan: Plan) -> bool:
        """Whether ``plan``'s pair has a commit that ``plan`` did not see."""
        latest = self.rt.manifests.latest(plan.stage.name, plan.subject)
        seen = plan.latest
        return (latest is None) != (seen is None) or (
            latest is not None and seen is not None and latest.attempt != seen.attempt
        )

    def _nothing_to_do(self, plan: Plan) -> Outcome | None:
        """The outcome when ``plan`` needs no attempt; None when the stage must run."""
        stage_name, subject = plan.stage.name, plan.subject
        if not plan.ready:
            log.debug("%s/%s not ready: %s", stage_name, subject, "; ".join(plan.waiting_for))
            return Outcome("not_ready", plan)
        if plan.up_to_date:
            return Outcome("up_to_date", plan, plan.latest)
        if self.rt.planner.failed_for_good(plan) is not None:
            return Outcome("failed_before", plan)
        in_flight = self.rt.planner.need_in_flight(plan)
        if in_flight is not None:  # that member's commit will route here again
            plan.waiting.append(Waiting(*in_flight, why="is about to change"))
            log.debug("%s/%s held back: %s", stage_name, subject, plan.waiting[-1])
            return Outcome("not_ready", plan)
        return None

    def _attempt(
        self, plan: Plan, attempt: str, scratch: Path, reason: str, watch: AttemptWatch
    ) -> Outcome:
        """Download, run, upload under the attempt's prefix, and commit."""
        started = utcnow()
        thread_cpu = time.thread_time()
        try:
            request, read_bytes = self._prepare(plan, attempt, scratch)
            watch.read(read_bytes)
            result = self._run(plan, request, scratch, watch)
            outputs = self._upload(plan, attempt, Path(request["out_dir"]), result)
            watch.wrote(sum(ref.size for ref in outputs))
            manifest = Manifest(
                stage=plan.stage.name,
                stage_version=plan.stage.version,
                subject=plan.subject,
                subject_kind=plan.stage.kind,
                fingerprint=plan.fingerprint,
                generation=(plan.latest.generation + 1) if plan.latest else 1,
                attempt=attempt,
                inputs=plan.inputs,
                sources=[public_source(ref) for ref in plan.sources],  # no FASTQ names
                reference=plan.reference,
                resources=plan.resources,
                parameters=plan.params.model_dump(mode="json"),
                tools=result.tools,
                outputs=outputs,
                relations=result.relations,
                summary=result.summary,
                reason=reason,
                started_at=started,
                finished_at=utcnow(),
                worker=self.rt.settings.worker_id,
                published_to=self._publish_prefix(plan, result),
                marks_publication=plan.stage.publish,
            )
            committed = self._commit(plan, manifest)
            # This thread's CPU around the stage: downloads, checksums, uploads, commit.
            spent = time.thread_time() - thread_cpu - watch.cpu_s.get("inline", 0.0)
            watch.used_cpu("worker", spent)
            return committed
        except SeqoiaError as err:
            self._record_failure(plan, attempt, err)
            raise

    # -- steps -------------------------------------------------------------------------
    def _prepare(self, plan: Plan, attempt: str, scratch: Path) -> tuple[dict[str, Any], int]:
        """Download inputs into scratch; the call's request and the bytes downloaded."""
        store, stage = self.rt.store, plan.stage
        read_bytes = 0
        inputs: dict[str, list[dict[str, Any]]] = {name: [] for name in stage.needs}
        for manifest in plan.upstream:
            files: dict[str, str] = {}
            foreign_subjects = manifest.subject_kind != stage.kind
            for ref in manifest.outputs:
                if foreign_subjects and ref.subject not in (None, plan.subject):
                    continue
                if not stage.wants(manifest.stage, ref.name):
                    continue
                # Names come from a manifest, which is data: check before creating.
                local = path_inside(scratch, "in", manifest.stage, manifest.subject, ref.name)
                make_folders(local.parent, 0o700)
                store.download_file(ref.key, local)
                read_bytes += _size_of(local)
                files[ref.name] = str(local)
            inputs[manifest.stage].append(
                {
                    "stage": manifest.stage,
                    "subject": manifest.subject,
                    "files": files,
                    "summary": manifest.summary,
                    "tools": manifest.tools,
                }
            )
        source_dir = None
        if stage.source:
            source_dir = scratch / "run"
            for ref in plan.sources:
                if stage.fetch_sources is None or stage.fetch_sources(plan.subject, ref.name):
                    local = path_inside(scratch, "run", ref.name, what="run folder file")
                    make_folders(local.parent, 0o700)
                    store.download_file(ref.key, local)
                    read_bytes += _size_of(local)
        reference_fasta = None
        cache_dir = self.scratch_root / "cache"
        if plan.reference is not None:
            reference_fasta = cached_reference(self.rt.store, plan.reference, cache_dir)
        resources = {ref.name: str(self._cached_resource(ref, cache_dir)) for ref in plan.resources}
        out_dir = scratch / "out"
        try:
            os.mkdir(scratch, 0o700)
        except FileExistsError:
            pass  # inputs were downloaded into it
        except FileNotFoundError:
            make_folders(scratch, 0o700)  # the worker's first attempt
        os.mkdir(out_dir, 0o700)
        os.mkdir(scratch / "tmp", 0o700)
        threads = self.rt.settings.stage_threads or os.cpu_count() or 1
        return {
            "pipeline": self.rt.pipeline.import_path,
            "stage": stage.name,
            "subject": plan.subject,
            "params": plan.params.model_dump(mode="json"),
            "inputs": inputs,
            "out_dir": str(out_dir),
            "scratch": str(scratch / "tmp"),
            "threads": threads,
            "source_dir": str(source_dir) if source_dir else None,
            "source_listing": [(ref.name, ref.size) for ref in plan.sources],
            "reference_fasta": str(reference_fasta) if reference_fasta else None,
            "reference_key": plan.reference.key if plan.reference else None,
            "resources": resources,
            "completed_at": _completed_at(stage, plan.sources),
            "excluded": [dataclasses.asdict(e) for e in plan.excluded],
            "cache_dir": str(cache_dir),
            "attempt": attempt,
        }, read_bytes

    def _cached_resource(self, ref: FileRef, cache_dir: Path) -> Path:
        """A reference-area file in the worker's private cache, downloaded once per ETag."""
        tag = re.sub(r"[^A-Za-z0-9_-]", "", ref.etag or "") or "unknown"
        local = path_inside(cache_dir, "resources", tag, ref.name, what="reference resource")
        if not local.exists():
            make_folders(local.parent, 0o700)
            self.rt.store.download_file(ref.key, local)  # atomic: no partial file
        return local

    def _run(
        self, plan: Plan, request: dict[str, Any], scratch: Path, watch: AttemptWatch
    ) -> StageResult:
        if plan.stage.isolation == "inline":
            thread_cpu, tools_cpu = time.thread_time(), _reaped_cpu_s()
            outcome = run_request(self.rt.pipeline, request)
            spent = time.thread_time() - thread_cpu
            watch.used_cpu("stage", spent)
            watch.used_cpu("inline", spent)  # not the worker's: taken off its part
            # The worker's reaped children: this stage's tools (MultiQC), and any other
            # thread's that ended meanwhile (none with one worker thread).
            watch.used_cpu("tools", _reaped_cpu_s() - tools_cpu)
        else:
            outcome = self._run_child(plan, request, scratch)
            for part, seconds in (outcome.get("cpu_s") or {}).items():
                watch.used_cpu(part, float(seconds))
        if not outcome["ok"]:
            error = outcome["error"]
            # Name files as the run folder and the store know them, not by scratch paths.
            for local in (scratch / "run", scratch / "in"):
                error["message"] = error["message"].replace(f"{local}/", "")
            log.warning(
                "%s/%s failed: %s: %s",
                plan.stage.name,
                plan.subject,
                error["type"],
                error["message"],
            )
            raise StageFailedError(
                error["message"],
                error_type=error["type"],
                permanent=error["permanent"],
                traceback=error.get("traceback", ""),
            )
        return result_from_json(outcome["result"])

    def _run_child(self, plan: Plan, request: dict[str, Any], scratch: Path) -> dict[str, Any]:
        if not self.rt.pipeline.import_path:
            raise StageFailedError(
                f"pipeline {self.rt.pipeline.name} has no import path for child processes",
                permanent=True,
            )
        request_path = scratch / "request.json"
        request_path.write_text(json.dumps(request))
        limit = plan.stage.time_limit_s or self.rt.settings.stage_time_limit_s
        stderr_path = scratch / "stderr.log"
        with stderr_path.open("wb") as stderr:
            child = fork_server(self.rt.pipeline.import_path).launch(request_path, stderr)
        try:
            code = child.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            child.kill()
            raise StageTimeoutError(
                f"{plan.stage.name}/{plan.subject} exceeded its time limit of {limit:.0f} s"
            ) from None
        except BaseException:
            child.kill()  # the worker is stopping: take it down
            raise
        result_path = scratch / "result.json"
        if not result_path.exists():
            tail = stderr_path.read_text(errors="replace")[-2000:]
            how = f"signal {-code}" if code < 0 else f"exit code {code}"
            raise StageCrashedError(
                f"{plan.stage.name}/{plan.subject}: stage process died ({how}):\n{tail}"
            )
        outcome: dict[str, Any] = json.loads(result_path.read_text())
        return outcome

    def _upload(
        self, plan: Plan, attempt: str, out_dir: Path, result: StageResult
    ) -> list[FileRef]:
        # Publishing stages too: their files reach the review area or the outbox only
        # after the commit (``_publish``), so a losing attempt never writes there.
        if _removed_if_empty(out_dir):
            return []  # most routing and inline stages: one rmdir instead of a listing
        prefix = self.rt.layout.attempt_prefix(plan.stage.name, plan.subject, attempt)
        file_subjects = result.file_subjects
        refs = []
        for name in _files_under(out_dir):
            path = out_dir / name
            info = self.rt.store.upload_file(prefix + name, path)
            refs.append(
                FileRef(
                    name=name,
                    key=info.key,
                    size=info.size,
                    # The store's digest, taken while uploading; else a second read.
                    sha256=info.sha256 or sha256_file(path),
                    etag=info.etag,
                    subject=file_subjects.get(name),
                )
            )
        return refs

    def _publication_unfinished(self, plan: Plan, manifest: Manifest) -> bool:
        """Whether an up-to-date publishing generation needs its copies completed.

        Not marked complete: yes, without a look. Marked (or an older manifest, which has
        no mark): one HEAD per file, so a file rewritten since is published again.
        """
        if manifest.published_to is None:
            return False
        return plan.publication_pending or bool(unpublished(self.rt.store, manifest))

    def _complete_publication(
        self, plan: Plan, manifest: Manifest, attempt: str, scratch: Path
    ) -> None:
        """Publish what a dead committer left unpublished, into the stage's own area only.

        The folder comes from a manifest read back from the store, which anyone with
        write access could forge: it must be where this stage publishes. A refusal is
        recorded as the pair's permanent failure, so status shows it failed, not pending.
        """
        folder = manifest.published_to
        if folder is None:
            return
        try:
            if not (
                plan.stage.publish
                and self.rt.layout.is_publish_prefix(plan.stage.publish_area, folder)
            ):
                raise StageFailedError(
                    f"{plan.stage.name}/{plan.subject} g{manifest.generation}: manifest "
                    f"publishes to {folder!r}, outside the stage's {plan.stage.publish_area} "
                    "area",
                    permanent=True,
                )
            written = complete_publication(self.rt.store, manifest, scratch)
        except SeqoiaError as err:
            self._record_failure(plan, attempt, err)
            raise
        if manifest.marks_publication and (written or not plan.latest_marked):
            self.rt.manifests.mark_published(manifest)
            self.rt.failures.clear(plan.stage.name, plan.subject)  # an earlier refusal's

    def _publish_prefix(self, plan: Plan, result: StageResult) -> str | None:
        """Where a publishing stage's committed files go (``StageResult.publish_to``)."""
        if not plan.stage.publish:
            return None
        if not result.publish_to:
            raise StageFailedError(
                f"{plan.stage.name} did not say where to publish", permanent=True
            )
        centre, _, subject = result.publish_to.partition("/")
        return self.rt.layout.publish_prefix(plan.stage.publish_area, centre, subject)

    def _commit(self, plan: Plan, manifest: Manifest) -> Outcome:
        try:
            self.rt.manifests.commit(manifest, replaces=plan.latest)
        except PreconditionFailedError:
            winner = self.rt.manifests.latest(plan.stage.name, plan.subject)
            if winner is not None and winner.attempt == manifest.attempt:
                # Our create succeeded but its answer was lost; the retry saw our own write.
                self.rt.failures.clear(plan.stage.name, plan.subject)
                return Outcome("committed", plan, winner)
            self._discard(manifest)
            if winner is not None and winner.fingerprint == manifest.fingerprint:
                log.info("%s/%s: another attempt committed first", plan.stage.name, plan.subject)
                return Outcome("lost_race", plan, winner)
            raise CommitConflictError(
                f"{plan.stage.name}/{plan.subject} generation {manifest.generation} was "
                "committed with other inputs meanwhile; planning again"
            ) from None
        self.rt.failures.clear(plan.stage.name, plan.subject)
        return Outcome("committed", plan, manifest)

    def _discard(self, manifest: Manifest) -> None:
        """Remove a losing attempt's files at once (gc would find them later anyway)."""
        try:
            self.rt.store.delete_many([ref.key for ref in manifest.outputs])
        except SeqoiaError as err:
            log.warning("could not remove losing attempt %s: %s", manifest.attempt, err)

    def _record_failure(self, plan: Plan, attempt: str, err: SeqoiaError) -> None:
        record = FailureRecord(
            stage=plan.stage.name,
            subject=plan.subject,
            attempt=attempt,
            fingerprint=plan.fingerprint,
            error_type=getattr(err, "error_type", "") or type(err).__name__,
            message=str(err)[:4000],
            permanent=bool(getattr(err, "permanent", False)),
            traceback=getattr(err, "traceback", "") or traceback.format_exc(limit=20),
            at=utcnow(),
            worker=self.rt.settings.worker_id,
        )
        try:
            self.rt.failures.write(record)
        except SeqoiaError as store_err:
            log.warning(
                "could not record failure of %s/%s: %s", plan.stage.name, plan.subject, store_err
            )


def _completed_at(stage: Stage, sources: list[FileRef]) -> str | None:
    """A root stage's run completion: its most telling marker's store time, if recorded."""
    if stage.markers is None:
        return None
    modified = {ref.name: ref.modified for ref in sources if ref.modified is not None}
    found = next((modified[name] for name in stage.markers.names if name in modified), None)
    return found.isoformat() if found else None


def _size_of(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _files_under(folder: Path) -> list[str]:
    """Relative POSIX names of the regular files below ``folder``, sorted."""
    names: list[str] = []

    def walk(directory: str, prefix: str) -> None:
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    walk(entry.path, f"{prefix}{entry.name}/")
                elif entry.is_file():
                    names.append(prefix + entry.name)

    walk(str(folder), "")
    return sorted(names, key=lambda name: name.split("/"))  # as sorted paths are


def _removed_if_empty(folder: Path) -> bool:
    """Remove ``folder`` if it is empty (True), else leave it (False)."""
    try:
        os.rmdir(folder)
    except OSError:  # not empty (ENOTEMPTY, EEXIST), or not there to list either
        return False
    return True


def _remove_scratch(scratch: Path) -> None:
    """Remove an attempt's scratch folder; the common case is two or three empty folders.

    ``out`` is already gone when the stage wrote nothing (see ``_upload``), so it is
    looked for only when the attempt's folder is not empty without ``tmp``.
    """
    root = os.fspath(scratch)
    try:
        os.rmdir(root + "/tmp")
        try:
            os.rmdir(root)
        except OSError as err:
            if err.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            os.rmdir(root + "/out")
            os.rmdir(root)
    except OSError:
        shutil.rmtree(scratch, ignore_errors=True)
