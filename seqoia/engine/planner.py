"""The planner: from the store alone, what would ``(stage, subject)`` run on, and is it due?

Used by the runner (before running), the router (after a commit), the reconciler (over
active runs) and the CLI (dry runs). It only reads: manifests, links, overrides and, for
source stages, the run folder's listing.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from seqoia.errors import FormatError, InvalidKeyError, RunFolderError, first_error
from seqoia.storage.base import ObjectInfo, ObjectStore
from seqoia.storage.failures import FailureLog, FailureRecord
from seqoia.storage.layout import Layout
from seqoia.storage.manifest import (
    FileRef,
    InputRef,
    Manifest,
    ManifestStore,
    fingerprint_of,
    is_alias,
    public_source,
    read_json,
)
from seqoia.tasks.stage import Excluded, Pipeline, Stage

#: Fan-in blockers remembered per process (see ``Planner.fan_in_blocker``).
_MAX_BLOCKERS = 10_000

#: Why a waiting pair's upstream member is awaited: it has not committed.
NOT_COMMITTED = "not committed"


@dataclass(frozen=True, slots=True)
class Waiting:
    """One thing a plan waits for: an upstream pair (``stage`` and ``subject``), or else.

    Callers that act on what is awaited (reprocess, status) read the fields; ``str()`` is
    the human text shown by status and dry runs (``process/S1``, ``process: no sample
    linked yet``, ``reference refs/demo/genome.fa``).
    """

    stage: str | None = None
    subject: str | None = None
    why: str = NOT_COMMITTED

    @property
    def pair(self) -> tuple[str, str] | None:
        """The awaited ``(stage, subject)``, when it is one."""
        if self.stage is None or self.subject is None:
            return None
        return (self.stage, self.subject)

    def __str__(self) -> str:
        if self.stage is not None and self.subject is not None:
            pair = f"{self.stage}/{self.subject}"
            return pair if self.why == NOT_COMMITTED else f"{pair} {self.why}"
        if self.stage is not None:
            return f"{self.stage}: {self.why}"
        return self.why


@dataclass
class Plan:
    """What one ``(stage, subject)`` would run with, and why it would or would not run."""

    stage: Stage
    subject: str
    params: Any
    upstream: list[Manifest] = field(default_factory=list)
    sources: list[FileRef] = field(default_factory=list)
    salt: str | None = None
    reference: FileRef | None = None
    #: Present reference-area resources the stage declared, by resource name.
    resources: list[FileRef] = field(default_factory=list)
    latest: Manifest | None = None
    #: Whether the latest generation's publication mark was listed beside it.
    latest_marked: bool = False
    waiting: list[Waiting] = field(default_factory=list)
    #: Fan-in members left out (stages declared ``tolerate_failures``).
    excluded: list[Excluded] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.waiting

    @property
    def waiting_for(self) -> list[str]:
        """What the plan waits for, as text for people."""
        return [str(w) for w in self.waiting]

    @property
    def inputs(self) -> list[InputRef]:
        return [
            InputRef(
                stage=m.stage,
                subject=m.subject,
                generation=m.generation,
                attempt=m.attempt,
                fingerprint=m.fingerprint,
            )
            for m in self.upstream
        ]

    @property
    def fingerprint(self) -> str:
        # A member that failed and later commits changes the inputs, so a tolerant fan-in
        # runs again with it; the excluded set is part of the fingerprint only when set.
        excluded = {"excluded": sorted((e.stage, e.subject) for e in self.excluded)}
        # Only stages that read resources carry them, so other fingerprints stay as they were.
        resources = {"resources": sorted((r.name, r.etag) for r in self.resources)}
        return fingerprint_of(
            (excluded if self.excluded else {})
            | (resources if self.stage.resources else {})
            | {
                "stage": self.stage.name,
                "version": self.stage.version,
                "params": self.params.model_dump(mode="json"),
                "inputs": sorted(
                    (i.stage, i.subject, i.generation, i.attempt) for i in self.inputs
                ),
                # As recorded (FASTQ under their aliases), so that a plan from the
                # listing and one from a manifest's record agree.
                "sources": sorted(
                    (s.key, s.etag, s.size) for s in map(public_source, self.sources)
                ),
                "salt": self.salt,
                "reference": self.reference.etag if self.reference else None,
            }
        )

    @property
    def up_to_date(self) -> bool:
        """Committed with exactly these inputs and parameters: nothing to do."""
        return self.latest is not None and self.latest.fingerprint == self.fingerprint

    @property
    def publication_pending(self) -> bool:
        """Up to date, but the committer did not finish copying the files where they go.

        A manifest read back is data: this only says an attempt should look (it takes the
        lease, checks the folder is the stage's own and HEADs each file before writing).
        """
        latest = self.latest
        return (
            self.up_to_date
            and latest is not None
            and not latest.publication_complete(self.latest_marked)
        )

    @property
    def due(self) -> bool:
        return self.ready and not self.up_to_date


class Planner:
    """Plans stages of one pipeline against one store."""

    def __init__(
        self,
        pipeline: Pipeline,
        manifests: ManifestStore,
        *,
        reference: str = "demo",
        grace_s: float = 0.0,
        site_params: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.manifests = manifests
        self.reference_name = reference
        self.grace_s = grace_s
        self.failures = FailureLog(manifests.store, manifests.layout)
        #: Per stage, parameter values the site's settings give (e.g. the allowed
        #: centres); a run's override wins. Applied only to stages that have the field.
        self.site_params = site_params or {}
        #: (fan-in stage, subject, upstream stage) -> a member last seen uncommitted.
        self._blockers: dict[tuple[str, str, str], str] = {}

    def over(self, manifests: ManifestStore) -> Planner:
        """This planner reading through ``manifests`` (a snapshot), its hints shared."""
        view = copy.copy(self)
        view.manifests = manifests
        return view

    @property
    def store(self) -> ObjectStore:
        return self.manifests.store

    @property
    def layout(self) -> Layout:
        return self.manifests.layout

    def plan(
        self,
        stage_name: str,
        subject: str,
        *,
        quick: bool = False,
        upstream_subjects: dict[str, list[str]] | None = None,
    ) -> Plan:
        """Resolve inputs, parameters (with overrides) and the latest commit.

        ``quick`` (the router's readiness check after each commit) stops at the first
        fan-in member that has not committed, looking first at members not yet seen
        committed: otherwise each of a family's or run's N members' commits re-reads all
        N, O(N^2) listings per fan-in. ``waiting`` then names that one member only.
        ``upstream_subjects``: what :meth:`upstream_subjects` just answered for some
        upstream stages, read by the caller in the same transition (not read twice).
        """
        stage = self.pipeline[stage_name]
        key = self.layout.override_key(stage.name, subject)
        override = read_json(self.store, key) or {}
        given, salt = override.get("params", {}), override.get("salt")
        if not isinstance(given, dict) or not isinstance(salt, str | None):
            raise FormatError("override: params must be an object and salt a string", file=key)
        site = {
            name: value
            for name, value in self.site_params.get(stage.name, {}).items()
            if name in stage.params.model_fields
        }
        try:
            params = stage.params.model_validate(site | given)
        except ValidationError as err:
            if not given:
                raise  # the site's settings alone: checked when they are loaded
            raise FormatError(
                f"override of stage {stage.name}: parameter {first_error(err)}", file=key
            ) from err
        latest, marked = self.manifests.latest_marked(stage.name, subject)
        plan = Plan(
            stage=stage,
            subject=subject,
            params=params,
            salt=salt,
            latest=latest,
            latest_marked=marked,
        )
        if stage.source and stage.needs:
            pass  # reads the run folder that its upstream run stage listed (below)
        elif (
            stage.source and plan.latest is not None and not any(map(is_alias, plan.latest.sources))
        ):
            # A run folder is immutable once complete: reuse the committed listing
            # rather than listing thousands of base-call objects again. A record with
            # FASTQ aliases does not name the files: those are listed again.
            plan.sources = list(plan.latest.sources)
        elif stage.source:
            self._plan_sources(plan)
        if stage.reference:
            self._plan_reference(plan)
        if stage.resources:
            self._plan_resources(plan)
        for upstream_name in stage.needs:
            upstream = self.pipeline[upstream_name]
            if upstream_subjects is not None and upstream.name in upstream_subjects:
                subjects = upstream_subjects[upstream.name]
            else:
                subjects = self.upstream_subjects(stage, subject, upstream)
            if not subjects:
                plan.waiting.append(Waiting(upstream.name, why=f"no {upstream.kind} linked yet"))
            if quick and len(subjects) > 1 and not stage.tolerate_failures:
                # Last first: members commit roughly in the order they were sent, so the
                # last uncommitted one keeps blocking longest (see ``fan_in_blocker``).
                for other in reversed(subjects):
                    if not self.manifests.seen_committed(upstream.name, other) and (
                        self.manifests.latest(upstream.name, other) is None
                    ):
                        plan.waiting.append(Waiting(upstream.name, other))
                        self._remember_blocker(stage, subject, upstream, other)
                        return plan
            for other in subjects:
                manifest = self.manifests.latest(upstream.name, other)
                if manifest is not None:
                    plan.upstream.append(manifest)
                    continue
                failed = (
                    self.permanent_failure(upstream, other) if stage.tolerate_failures else None
                )
                if failed is not None:
                    plan.excluded.append(failed)
                else:
                    plan.waiting.append(Waiting(upstream.name, other))
        if stage.source and stage.needs:  # the listing of the run this subject belongs to
            recorded = next((list(m.sources) for m in plan.upstream if m.sources), [])
            if any(map(is_alias, recorded)):  # FASTQ recorded by alias: list the real names
                run = next(m.subject for m in plan.upstream if m.sources)
                plan.sources = self._run_listing(run)
            else:
                plan.sources = recorded
        if stage.members_ready is not None and not plan.waiting:
            summaries: dict[str, list[dict[str, Any]]] = {name: [] for name in stage.needs}
            for manifest in plan.upstream:
                summaries[manifest.stage].append(manifest.summary)
            why = stage.members_ready(subject, summaries)
            if why is not None:
                plan.waiting.append(Waiting(why=why))
        return plan

    def fan_in_blocker(self, stage: Stage, subject: str, upstream: Stage) -> str | None:
        """A member that still keeps the fan-in ``(stage, subject)`` waiting, if one is known.

        The quick readiness check remembers the uncommitted member it stopped at. While that
        member is still linked and still uncommitted (two lookups), the fan-in is not
        ready, and the check need not list all N members again after each member's commit
        (O(N^2) listed names per fan-in). A hint like ``seen_committed``: it is checked
        against the store before it is believed, so it can only save work.
        """
        key = (stage.name, subject, upstream.name)
        member = self._blockers.get(key)
        if member is None:
            return None
        link = self.layout.link_key(stage.kind, subject, upstream.kind, member)
        if (
            self.store.head(link) is not None
            and self.manifests.latest(upstream.name, member) is None
        ):
            return member
        self._blockers.pop(key, None)
        return None

    def _remember_blocker(self, stage: Stage, subject: str, upstream: Stage, member: str) -> None:
        if stage.kind == upstream.kind:
            return  # not a fan-in over links
        if len(self._blockers) >= _MAX_BLOCKERS:
            self._blockers.clear()  # bounded; a lost hint costs one listing
        self._blockers[(stage.name, subject, upstream.name)] = member

    def failed_for_good(self, plan: Plan) -> FailureRecord | None:
        """The failure record of ``plan``'s pair if it failed permanently with these inputs.

        Such a pair is not retried until an admin acts (``seqoia retry``, a reprocess that
        changes its fingerprint); a record of other inputs or a transient fault is not.
        """
        record = self.failures.read(plan.stage.name, plan.subject)
        if record is not None and record.failed_for_good(plan.fingerprint):
            return record
        return None

    def need_in_flight(self, plan: Plan) -> tuple[str, str] | None:
        """An input of ``plan`` about to change, if any: running ``plan`` now would be wasted.

        Its commit will route ``plan``'s pair again, with what ``plan`` has not seen. Two
        cases, both of a pair that has committed before (a first generation waits for
        every input to commit, which the router's readiness check sees):

        - a fan-in's member (a run's report over its samples): during a reprocess every
          member still has its previous commit, so the fan-in is ready after each
          member's new commit and would run once per member;
        - a sibling need of the same subject (``report`` needs ``qc`` and ``annotate``,
          both after ``call_variants``, neither after the other): the first to commit
          would run the stage on the other's previous output, and the second again.
        """
        if plan.latest is None:
            return None
        return self._sibling_in_flight(plan) or self._member_in_flight(plan)

    def _in_flight(self, pair: Plan, seen: Manifest | None = None) -> bool:
        """Whether ``pair`` is about to change: it is not up to date and not failed for
        good, or (``seen``: the commit of it a plan read) it has committed again since."""
        moved_on = seen is not None and (pair.latest is None or pair.latest.attempt != seen.attempt)
        return moved_on or (not pair.up_to_date and self.failed_for_good(pair) is None)

    def _sibling_in_flight(self, plan: Plan) -> tuple[str, str] | None:
        """A need of ``plan``'s own subject, among its last needs, about to change.

        Only the last needs (no other need descends from them) are planned: the router
        never routes the stage on the others' commits. One plan per last need, and only
        for stages with two or more of them.
        """
        last = self.pipeline.last_needs(plan.stage.name)
        if len(last) < 2:
            return None
        siblings = [m for m in plan.upstream if m.stage in last and m.subject == plan.subject]
        for seen in siblings:
            if self._in_flight(self.plan(seen.stage, seen.subject), seen):
                return (seen.stage, seen.subject)
        return None

    def _member_in_flight(self, plan: Plan) -> tuple[str, str] | None:
        """A fan-in member about to change, if any.

        A member is in flight while a stage it comes from is neither up to date nor
        failed for good, or once it has committed again since ``plan`` was made. Members
        the last generation read are looked at first (during a reprocess they are the
        ones still waiting), so a held fan-in costs a few plans; one about to run pays
        one plan per member and stage, once.
        """
        assert plan.latest is not None
        members = [m for m in plan.upstream if m.subject_kind != plan.stage.kind]
        read_before = {(i.stage, i.subject, i.attempt) for i in plan.latest.inputs}
        members.sort(key=lambda m: (m.stage, m.subject, m.attempt) not in read_before)
        verdicts: dict[tuple[str, str], bool] = {}  # stages shared by members: planned once
        for member in members:
            for name in [member.stage, *self.pipeline.ancestors(member.stage)]:
                kind = self.pipeline[name].kind
                for other in self.manifests.linked(member.subject_kind, member.subject, kind):
                    if (name, other) not in verdicts:
                        # Of an ancestor, only whether it will run again.
                        itself = (name, other) == (member.stage, member.subject)
                        verdicts[name, other] = self._in_flight(
                            self.plan(name, other), member if itself else None
                        )
                    if verdicts[name, other]:
                        return (name, other)
        return None

    def permanent_failure(self, stage: Stage, subject: str) -> Excluded | None:
        """Why ``(stage, subject)`` cannot commit until an admin acts, if it cannot.

        It failed permanently with the inputs it has now, or it has never committed and
        one of its missing inputs cannot commit. Reads failure records of missing pairs
        only, so a run without failures costs nothing more.
        """
        record = self.failed_for_good(self.plan(stage.name, subject))
        if record is not None:
            return Excluded(stage.name, subject, stage.name, subject, record.message)
        if self.manifests.latest(stage.name, subject) is not None:
            return None
        for name in stage.needs:
            upstream = self.pipeline[name]
            for other in self.upstream_subjects(stage, subject, upstream):
                if self.manifests.latest(name, other) is None:
                    found = self.permanent_failure(upstream, other)
                    if found is not None:
                        return Excluded(
                            stage.name, subject, found.failed_stage, found.failed_subject,
                            found.message,
                        )  # fmt: skip
        return None

    def upstream_subjects(self, stage: Stage, subject: str, upstream: Stage) -> list[str]:
        """Subjects of ``upstream`` that ``stage`` on ``subject`` consumes."""
        return self.manifests.linked(stage.kind, subject, upstream.kind)

    def downstream_of(self, manifest: Manifest) -> list[tuple[Stage, str]]:
        """The ``(stage, subject)`` pairs a newly committed manifest may have made ready.

        Only stages it is a last need of: when another need comes after this one (``qc``
        needs ``validate_run`` and, through alignment, its descendants), that need is about
        to commit again and routes the stage itself; this commit's subjects are not even
        listed (a run's validation would list its samples once per sample stage).
        """
        pairs: list[tuple[Stage, str]] = []
        for stage in self.pipeline.downstream(manifest.stage):
            if manifest.stage not in self.pipeline.last_needs(stage.name):
                continue
            linked = self.manifests.linked(manifest.subject_kind, manifest.subject, stage.kind)
            pairs.extend((stage, other) for other in linked)
        return pairs

    def _plan_reference(self, plan: Plan) -> None:
        key = self.layout.reference_key(self.reference_name)
        info = self.store.head(key)
        if info is None:
            plan.waiting.append(Waiting(why=f"reference {key}"))
        else:
            plan.reference = FileRef(name="genome.fa", key=key, size=info.size, etag=info.etag)

    def _plan_resources(self, plan: Plan) -> None:
        """The reference-area files the stage declared; a missing required one is awaited."""
        prefix = self.layout.reference_prefix(self.reference_name)
        for wanted in plan.stage.resources:
            name = wanted.rstrip("?")
            if name.endswith("/"):  # a folder: every object under it, possibly none
                found = list(self.store.list(prefix + name))
            else:
                info = self.store.head(prefix + name)
                found = [info] if info is not None else []
                if not found and not wanted.endswith("?"):
                    plan.waiting.append(Waiting(why=f"reference resource {prefix}{name}"))
            plan.resources += [
                FileRef(name=i.key[len(prefix) :], key=i.key, size=i.size, etag=i.etag)
                for i in found
            ]

    def _plan_sources(self, plan: Plan) -> None:
        listing = list(self.store.list(self.layout.run_prefix(plan.subject)))
        if not listing:
            plan.waiting.append(Waiting(why=f"run folder {plan.subject} is empty or absent"))
            return
        if plan.stage.source_ready is not None:
            reason = plan.stage.source_ready(listing, self.grace_s)
            if reason is not None:
                plan.waiting.append(Waiting(why=reason))
                return
        plan.sources = self._refs(plan.subject, listing)

    def _run_listing(self, run: str) -> list[FileRef]:
        return self._refs(run, list(self.store.list(self.layout.run_prefix(run))))

    def _refs(self, run: str, listing: list[ObjectInfo]) -> list[FileRef]:
        """Source references of a run folder listing; an unsafe key is a run folder error."""
        prefix = self.layout.run_prefix(run)
        refs = []
        for info in listing:
            try:
                refs.append(
                    FileRef(
                        name=info.key[len(prefix) :],
                        key=info.key,
                        size=info.size,
                        etag=info.etag,
                        modified=info.modified,
                    )
                )
            except InvalidKeyError as err:
                # An S3 key may hold '..' or '//'; it must never become a local path.
                raise RunFolderError(
                    f"the run folder holds an unsafe object key: {err.message}", run=run
                ) from None
        return refs
