"""A local stage run: one stage over local files, without the store, broker or engine.

Stages are pure (DESIGN, invariant 5), so a stage can be tested, or tried on a folder at
hand, by giving it what the runner would give it::

    validated = run_local(pipeline["validate_run"], RUN, tmp / "v", source_dir=run_folder)
    parts = [run_local(pipeline["demultiplex"], part, tmp / part, source_dir=run_folder,
                       inputs={"validate_run": [validated]}) for part in validated.parts()]

A :class:`LocalOutput` is what a committed manifest is to the engine: it feeds the next
stage's ``inputs``. The context is built as the runner builds it, so that a stage which
reads a file it did not ask for fails here as it would on a worker: the run folder is
shown through ``fetch_sources``, upstream files through ``fetch``, a fan-out's files
through their subject, and the summary goes through JSON as a manifest's does.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from seqoia.tasks.stage import Excluded, InputSet, Stage, StageContext, StageResult


@dataclass(frozen=True)
class LocalOutput:
    """One stage's result over one subject, with its output files on local disk."""

    stage: Stage
    subject: str
    result: StageResult
    #: Output file name (relative to ``out_dir``) -> its local path.
    files: dict[str, Path]

    @property
    def summary(self) -> dict[str, Any]:
        return self.result.summary

    def as_input(self, stage: Stage, subject: str) -> InputSet:
        """What ``stage`` over ``subject`` receives of this output (see the runner)."""
        foreign = self.stage.kind != stage.kind
        files = {
            name: path
            for name, path in self.files.items()
            # A fan-out (a part's FASTQ of many samples) gives each subject its own files.
            if not (foreign and self.result.file_subjects.get(name) not in (None, subject))
            and stage.wants(self.stage.name, name)
        }
        return InputSet(
            stage=self.stage.name,
            subject=self.subject,
            files=files,
            summary=self.result.summary,
            tools=self.result.tools,
        )

    def related(self, kind: str) -> list[str]:
        """The subjects of ``kind`` this output links its subject to (e.g. a run's parts)."""
        return [
            r.other
            for r in self.result.relations
            if r.subject == self.subject and r.kind == self.stage.kind and r.other_kind == kind
        ]


def run_local(
    stage: Stage,
    subject: str,
    work_dir: Path,
    *,
    params: BaseModel | Mapping[str, Any] | None = None,
    inputs: Mapping[str, Iterable[LocalOutput | InputSet]] | None = None,
    source_dir: Path | None = None,
    reference_fasta: Path | None = None,
    cache_dir: Path | None = None,
    threads: int = 1,
    excluded: tuple[Excluded, ...] = (),
    resources: Mapping[str, Path] | None = None,
    completed_at: datetime | None = None,
) -> LocalOutput:
    """Run ``stage`` over ``subject`` in-process on local files; its outputs stay in
    ``work_dir/out``.

    ``params`` are the stage's parameter model, or overrides of its defaults; ``inputs``
    maps upstream stage names to their outputs (every upstream stage the stage needs, and
    no other); a source stage reads the run folder ``source_dir``; a stage declared with
    ``reference=True`` gets ``reference_fasta``, prepared into ``cache_dir`` (by default
    ``work_dir/cache``). ``resources`` are the reference-area files a stage declared
    (name -> local path); ``completed_at`` dates a root stage's run folder. Exceptions
    the stage raises propagate unchanged.
    """
    given = dict(inputs or {})
    unexpected = sorted(set(given) - set(stage.needs))
    if unexpected:
        raise ValueError(f"stage {stage.name!r} does not need {unexpected}; needs {stage.needs}")
    if stage.source and source_dir is None:
        raise ValueError(f"stage {stage.name!r} reads a run folder: pass source_dir")
    if stage.reference and reference_fasta is None:
        raise ValueError(f"stage {stage.name!r} is declared with reference=True: pass one")
    if isinstance(params, stage.params):
        model = params
    else:
        model = stage.params.model_validate(dict(params or {}))

    out_dir, scratch = work_dir / "out", work_dir / "tmp"
    out_dir.mkdir(parents=True)
    scratch.mkdir()
    listing: tuple[tuple[str, int], ...] = ()
    shown = None
    if stage.source and source_dir is not None:
        listing = _listing(source_dir)
        shown = _show_sources(stage, subject, source_dir, listing, work_dir / "run")
    ctx = StageContext(
        stage=stage.name,
        subject=subject,
        kind=stage.kind,
        params=model,
        inputs={
            upstream: [
                item.as_input(stage, subject) if isinstance(item, LocalOutput) else item
                for item in given.get(upstream, ())
            ]
            for upstream in stage.needs
        },
        out_dir=out_dir,
        scratch=scratch,
        threads=threads,
        source_dir=shown,
        source_listing=listing,
        reference_fasta=reference_fasta if stage.reference else None,
        cache_dir=(cache_dir or work_dir / "cache") if stage.reference else None,
        excluded=excluded,
        resources=dict(resources or {}),
        completed_at=completed_at,
    )
    result = stage.fn(ctx)
    if not isinstance(result, StageResult):
        raise TypeError(f"stage {stage.name} returned {type(result).__name__}, not StageResult")
    # A manifest keeps the summary as JSON: what does not survive that is a stage's bug.
    result.summary = json.loads(json.dumps(result.summary))
    files = {
        path.relative_to(out_dir).as_posix(): path
        for path in sorted(out_dir.rglob("*"))
        if path.is_file()
    }
    return LocalOutput(stage=stage, subject=subject, result=result, files=files)


def _listing(folder: Path) -> tuple[tuple[str, int], ...]:
    """Every file of a run folder as the store lists it: (relative name, size)."""
    return tuple(
        (path.relative_to(folder).as_posix(), path.stat().st_size)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    )


def _show_sources(
    stage: Stage, subject: str, folder: Path, listing: tuple[tuple[str, int], ...], into: Path
) -> Path:
    """The run-folder files ``stage`` downloads for ``subject``, linked into ``into``."""
    into.mkdir()
    for name, _size in listing:
        if stage.fetch_sources is None or stage.fetch_sources(subject, name):
            target = into / name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink((folder / name).resolve(), target)
    return into
