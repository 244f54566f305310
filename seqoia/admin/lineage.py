"""Lineage: from any delivered or intermediate file, the chain of manifests back to the run folder.

An auditor points at one object (a CRAM in the outbox, a VCF under an attempt prefix, a
manifest) and gets the generation that produced it, and recursively the exact upstream
generations it was computed from (``InputRef`` names stage, subject, generation and
attempt), each with its parameters, stage, tool and reference versions, the checksums of
the files it consumed, when, where and why it ran (``reason`` says who reprocessed it and
why), down to the run-folder objects the first stage read. Only reads manifests.

The lineage of a sample's file shows that sample's chain only: of the run folder, the
metadata and its own FASTQ files (not the other samples' FASTQ that the run-level
stages also read), and each run-folder object once, however many stages read it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from seqoia.engine.runtime import Runtime
from seqoia.errors import InputError, ObjectNotFoundError
from seqoia.storage.keys import validate_key
from seqoia.storage.manifest import FileRef, Manifest, public_source
from seqoia.vocabulary import ALIAS_NAME

#: Run-folder objects shown per source stage (a run folder holds thousands of base calls).
MAX_SOURCES_SHOWN = 20
#: A FASTQ of one sample, as bcl2fastq and BCL Convert name them.
_SAMPLE_FASTQ = re.compile(r"^(?P<sample>.+?)_S\d+(?:_L\d{3})?_[RI][12]_001\.fastq\.gz$")


def _other_sample(key: str, sample: str) -> bool:
    """Whether ``key`` is a FASTQ file of a sample other than ``sample``."""
    match = _SAMPLE_FASTQ.match(key.rsplit("/", 1)[-1])
    return match is not None and match["sample"] != sample


@dataclass
class LineageNode:
    """One committed generation and the generations it was computed from."""

    key: str
    manifest: Manifest | None
    #: Files of this generation that its consumer read (empty for the root).
    consumed: list[FileRef] = field(default_factory=list)
    inputs: list[LineageNode] = field(default_factory=list)
    #: Already shown higher up in the tree (a fan-in reaches one run twice).
    repeated: bool = False
    #: The run-folder objects of this generation that belong to the chain, not yet shown.
    sources: list[FileRef] = field(default_factory=list)
    #: Run-folder objects of the chain already listed under an earlier stage.
    sources_shown_above: int = 0

    def to_json(self) -> dict[str, Any]:
        m = self.manifest
        if m is None:
            return {"manifest": self.key, "missing": True}
        data: dict[str, Any] = {
            "manifest": self.key,
            "stage": m.stage,
            "subject": m.subject,
            "generation": m.generation,
            "attempt": m.attempt,
            "repeated": self.repeated,
        }
        if self.repeated:
            return data
        data |= {
            "stage_version": m.stage_version,
            "fingerprint": m.fingerprint,
            "parameters": m.parameters,
            "tools": m.tools,
            "reference": m.reference.model_dump(mode="json") if m.reference else None,
            "reason": m.reason,
            "worker": m.worker,
            "started_at": m.started_at.isoformat(),
            "finished_at": m.finished_at.isoformat(),
            "consumed": [_file_json(ref) for ref in self.consumed],
            "sources": [_file_json(ref) for ref in self.sources[:MAX_SOURCES_SHOWN]],
            "sources_total": len(self.sources),
            "sources_shown_above": self.sources_shown_above,
            "inputs": [node.to_json() for node in self.inputs],
        }
        return data


@dataclass
class LineageReport:
    """The object asked about, and the tree of generations behind it."""

    key: str
    file: FileRef | None
    roots: list[LineageNode]

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "file": _file_json(self.file) if self.file else None,
            "produced_by": [node.to_json() for node in self.roots],
        }


def _file_json(ref: FileRef) -> dict[str, Any]:
    return {
        "name": ref.name,
        "key": ref.key,
        "size": ref.size,
        "sha256": ref.sha256,
        "etag": ref.etag,
    }


@dataclass
class _Walk:
    """What one lineage walk has shown so far, and whose chain it follows."""

    manifests: set[str] = field(default_factory=set)
    sources: set[str] = field(default_factory=set)
    sample: str | None = None


class LineageReader:
    """Builds lineage trees from one runtime's manifests."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    def of_key(self, key: str) -> LineageReport:
        """The lineage of ``key``; InputError when it is unknown or produced by nothing."""
        try:
            validate_key(key)
        except InputError as err:
            raise InputError(str(err)) from None
        layout = self.rt.layout
        if self.rt.store.head(key) is None:
            raise InputError(f"no object at {key!r}")
        ref = layout.split_manifest_key(key)
        if ref is not None:
            return LineageReport(key, None, [self._node(key, _Walk())])
        parts = key.split("/")
        area = parts[0]
        if area == layout.work and len(parts) >= 6 and parts[3] == "attempts":
            stage, subject, attempt = parts[1], parts[2], parts[4]
            found = [m for m in self._history(stage, subject) if m.attempt == attempt]
            if not found:
                raise InputError(
                    f"{key} belongs to attempt {attempt} of {stage}/{subject}, which no committed "
                    "generation references (a losing or crashed attempt: gc removes it)"
                )
            return self._report(key, found)
        if area == layout.outbox and len(parts) >= 4:
            sample = parts[2]
            found = [
                m
                for stage in self.rt.pipeline
                if stage.publish
                for m in self._history(stage.name, sample)
                # Published after the commit under published_to (older manifests: the key).
                if any(key in (out.key, f"{m.published_to}{out.name}") for out in m.outputs)
            ]
            if not found:
                raise InputError(f"{key} is in the outbox but no delivery manifest names it")
            return self._report(key, found[-1:])  # the newest delivery wrote what is there now
        if area == layout.inbox and len(parts) >= 3:
            run = parts[1]
            # Run-folder FASTQ are recorded under their alias (no Sample_Name in records).
            name = key[len(layout.run_prefix(run)) :]
            recorded = public_source(FileRef(name=name, key=key, size=0)).key
            found = [
                m
                for stage in self.rt.pipeline
                if stage.source
                for m in self._history(stage.name, run)
                if any(src.key == recorded for src in m.sources)
            ]
            if not found:
                raise InputError(f"{key} is a run-folder object that no stage has read yet")
            walk = _Walk()
            return LineageReport(key, None, [self._node(self._key_of(m), walk) for m in found])
        raise InputError(f"{key} is not in the work area, the outbox or the inbox")

    def _history(self, stage: str, subject: str) -> list[Manifest]:
        if stage.startswith("_") or stage not in self.rt.pipeline.stages:
            return []
        return self.rt.manifests.history(stage, subject)

    def _key_of(self, manifest: Manifest) -> str:
        return self.rt.layout.manifest_key(manifest.stage, manifest.subject, manifest.generation)

    def _report(self, key: str, manifests: list[Manifest]) -> LineageReport:
        file = next((out for m in manifests for out in m.outputs if out.key == key), None)
        walk = _Walk()
        return LineageReport(key, file, [self._node(self._key_of(m), walk) for m in manifests])

    def _node(self, key: str, walk: _Walk, consumer: Manifest | None = None) -> LineageNode:
        try:
            manifest = self.rt.manifests.get(key)
        except ObjectNotFoundError:
            return LineageNode(key, None)
        node = LineageNode(key, manifest, consumed=self._consumed(manifest, consumer))
        if key in walk.manifests:
            node.repeated = True
            return node
        walk.manifests.add(key)
        if walk.sample is None and manifest.subject_kind == "sample":
            walk.sample = manifest.subject  # the chain of this sample's file
        for source in manifest.sources:
            if walk.sample is not None and self._other_sample(source.key, walk.sample):
                continue
            if source.key in walk.sources:
                node.sources_shown_above += 1
            else:
                walk.sources.add(source.key)
                node.sources.append(source)
        for ref in manifest.inputs:
            upstream_key = self.rt.layout.manifest_key(ref.stage, ref.subject, ref.generation)
            node.inputs.append(self._node(upstream_key, walk, manifest))
        return node

    def _other_sample(self, key: str, sample: str) -> bool:
        """Whether run-folder object ``key`` is a FASTQ of another sample than ``sample``.

        A FASTQ recorded under its alias names no sample: its owner is what validate_run
        of its run found (``fastq_sources``, alias -> Sample_ID).
        """
        base = key.rsplit("/", 1)[-1]
        if not ALIAS_NAME.match(base):
            return _other_sample(key, sample)
        inbox = self.rt.layout.split_inbox_key(key)
        validated = self.rt.manifests.latest("validate_run", inbox[0]) if inbox else None
        owners = validated.summary.get("fastq_sources", {}) if validated else {}
        owner = owners.get(inbox[1] if inbox else base) or owners.get(base)
        return owner is not None and owner != sample

    def _consumed(self, manifest: Manifest, consumer: Manifest | None) -> list[FileRef]:
        """The outputs of ``manifest`` that ``consumer`` downloaded (as the runner chooses them)."""
        if consumer is None:
            return []
        stage = self.rt.pipeline.stages.get(consumer.stage)
        foreign = manifest.subject_kind != consumer.subject_kind
        return [
            ref
            for ref in manifest.outputs
            if not (foreign and ref.subject not in (None, consumer.subject))
            and (stage is None or stage.wants(manifest.stage, ref.name))
        ]
