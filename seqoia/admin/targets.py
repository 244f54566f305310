"""Targets of admin commands: what ``RUN``, ``SAMPLE``, ``FAMILY`` or ``STAGE/SUBJECT`` names.

An admin types identifiers by hand, so every name is checked against the store before
anything changes: an unknown name gets one line naming the closest known one, and a name
that is both a run and a sample must be qualified (``run:X``, ``sample:X``,
``family:X``). Existence costs one listing per kind; suggestions (error path only) list
the known names of that kind.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import get_args

from seqoia.engine.runtime import Runtime
from seqoia.errors import InputError
from seqoia.tasks.stage import Pipeline, Stage
from seqoia.vocabulary import SubjectKind, validate_name

KINDS: tuple[SubjectKind, ...] = get_args(SubjectKind)


@dataclass(frozen=True)
class Target:
    """A subject, optionally narrowed to one of its stages."""

    kind: SubjectKind
    subject: str
    stage: str | None = None

    def __str__(self) -> str:
        return f"{self.stage}/{self.subject}" if self.stage else f"{self.kind} {self.subject}"


def closest(name: str, candidates: list[str] | tuple[str, ...]) -> str:
    """``"; did you mean X?"`` when a candidate is close to ``name``, else ``""``."""
    found = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean {found[0]!r}?" if found else ""


def resolve_stage(pipeline: Pipeline, name: str) -> Stage:
    """The stage called ``name``, or an InputError suggesting the closest stage name."""
    if name in pipeline.stages:
        return pipeline.stages[name]
    raise InputError(
        f"pipeline {pipeline.name!r} has no stage {name!r}{closest(name, tuple(pipeline.stages))}"
        f" (stages: {', '.join(pipeline.stages)})"
    )


def _checked_name(text: str, what: str) -> str:
    try:
        return validate_name(text, what)
    except InputError as err:
        raise InputError(str(err)) from None


def known_subjects(rt: Runtime, kind: str) -> list[str]:
    """Every subject of ``kind`` the store knows (a listing of the history: error path only)."""
    names = set(rt.store.list_children(rt.layout.kind_links_prefix(kind)))
    if kind == "run":
        names |= set(rt.store.list_children(rt.layout.inbox_prefix()))
    return sorted(names)


def subject_exists(rt: Runtime, kind: str, subject: str) -> bool:
    """Whether the store knows ``subject`` as a ``kind`` (a run folder or any link)."""
    if rt.store.list_children(rt.layout.subject_links_prefix(kind, subject)):
        return True
    return kind == "run" and bool(rt.store.list_children(rt.layout.run_prefix(subject)))


def resolve_subject(rt: Runtime, kind: str, text: str) -> str:
    """Check that ``text`` names a known subject of ``kind``."""
    subject = _checked_name(text, f"{kind} id")
    if not subject_exists(rt, kind, subject):
        raise InputError(f"unknown {kind} {subject!r}{closest(subject, known_subjects(rt, kind))}")
    return subject


def resolve_target(rt: Runtime, text: str) -> Target:
    """Parse ``RUN``, ``SAMPLE``, ``FAMILY``, ``kind:ID`` or ``STAGE/SUBJECT``."""
    if "/" in text:
        stage_name, _, subject_text = text.partition("/")
        stage = resolve_stage(rt.pipeline, _checked_name(stage_name, "stage name"))
        subject = _checked_name(subject_text, f"{stage.kind} id")
        if not (
            subject_exists(rt, stage.kind, subject) or rt.manifests.generations(stage.name, subject)
        ):
            suggestion = closest(subject, known_subjects(rt, stage.kind))
            raise InputError(f"unknown {stage.kind} {subject!r} for stage {stage.name}{suggestion}")
        return Target(stage.kind, subject, stage.name)
    kind_text, sep, name = text.partition(":")
    if sep:
        if kind_text not in KINDS:
            raise InputError(
                f"unknown kind {kind_text!r} in {text!r}: use run:, part:, sample: or family:"
            )
        return Target(kind_text, resolve_subject(rt, kind_text, name))  # type: ignore[arg-type]
    subject = _checked_name(text, "target")
    kinds = [kind for kind in KINDS if subject_exists(rt, kind, subject)]
    if len(kinds) > 1:
        choices = " or ".join(f"{kind}:{subject}" for kind in kinds)
        raise InputError(
            f"{subject!r} is ambiguous: it names a {' and a '.join(kinds)}; write {choices}"
        )
    if not kinds:
        every = [name for kind in KINDS for name in known_subjects(rt, kind)]
        raise InputError(f"unknown run, sample or family {subject!r}{closest(subject, every)}")
    return Target(kinds[0], subject)


def runs_of(rt: Runtime, kind: str, subject: str) -> list[str]:
    """The runs a subject belongs to (a run belongs to itself)."""
    if kind == "run":
        return [subject]
    return rt.manifests.related(kind, subject, "run")


def first_stages(pipeline: Pipeline, kind: str) -> list[Stage]:
    """Stages of ``kind`` that no other stage of ``kind`` precedes (where a subject starts)."""
    return [
        stage
        for stage in pipeline
        if stage.kind == kind
        and not any(pipeline.stages[a].kind == kind for a in pipeline.ancestors(stage.name))
    ]
