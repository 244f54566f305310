"""Where seqoia's own objects live: one function per kind of key.

    inbox/<run>/...                                   run folders, as sequencers write them
    work/<stage>/<subject>/g000001.manifest.json      committed generations (written last)
    work/<stage>/<subject>/g000001.published.json     a publishing generation's files all copied
    work/<stage>/<subject>/attempts/<attempt>/<file>  outputs of one attempt
    work/_links/<kind>/<id>/<kind>/<id>               relations run <-> sample <-> family
    work/_leases/<stage>/<subject>                    a running attempt's lease (a hint)
    work/_failures/<stage>/<subject>.json             last failure (a hint for status/retry)
    work/_overrides/<stage>/<subject>.json            admin parameter overrides / force salt
    work/_done/<run>                                  runs the reconciler no longer visits
    review/<centre>/<sample>/...                      preliminary reports awaiting sign-off
    work/_releases/<sample>/g000001.json              a biologist's release of a generation
    outbox/<centre>/<sample>/g000001/...              released (final) reports and files
    refs/<name>/genome.fa                             reference genomes
    refs/<name>/<resource>                            genes.gff3, clinvar.vcf.gz, panels/...

Only manifests say what is done; every other bookkeeping object is derived and may be
lost without losing work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from seqoia.errors import SeqoiaError
from seqoia.storage.keys import validate_name

MANIFEST_SUFFIX = ".manifest.json"
PUBLISHED_SUFFIX = ".published.json"
_GENERATION = re.compile(r"^g(\d{6,})\.manifest\.json$")


@dataclass(frozen=True)
class Layout:
    """Key layout for the four areas of one store."""

    inbox: str = "inbox"
    work: str = "work"
    outbox: str = "outbox"
    refs: str = "refs"
    review: str = "review"

    # -- run folders -----------------------------------------------------------------
    def inbox_prefix(self) -> str:
        """Where run folders are (list its children for the run ids)."""
        return f"{self.inbox}/"

    def run_prefix(self, run: str) -> str:
        return f"{self.inbox}/{validate_name(run, 'run id')}/"

    def split_inbox_key(self, key: str) -> tuple[str, str] | None:
        """``inbox/<run>/<path>`` -> ``(run, path)``; ``None`` for other keys."""
        head, _, rest = key.partition("/")
        if head != self.inbox or "/" not in rest:
            return None
        run, _, path = rest.partition("/")
        return run, path

    # -- stage outputs and manifests -------------------------------------------------
    def work_prefix(self) -> str:
        """Everything seqoia writes besides deliveries: outputs, manifests, bookkeeping."""
        return f"{self.work}/"

    def stage_prefix(self, stage: str, subject: str) -> str:
        return f"{self.work}/{stage}/{subject}/"

    def manifest_key(self, stage: str, subject: str, generation: int) -> str:
        return f"{self.stage_prefix(stage, subject)}g{generation:06d}{MANIFEST_SUFFIX}"

    def publication_name(self, generation: int) -> str:
        """The name, under the pair's prefix, of a generation's publication mark."""
        return f"g{generation:06d}{PUBLISHED_SUFFIX}"

    def publication_key(self, stage: str, subject: str, generation: int) -> str:
        """Written (create-only) after the last copy of a publishing generation: listed
        beside the manifests, so the listing that finds the latest generation tells it."""
        return self.stage_prefix(stage, subject) + self.publication_name(generation)

    def attempt_prefix(self, stage: str, subject: str, attempt: str) -> str:
        return f"{self.stage_prefix(stage, subject)}attempts/{attempt}/"

    @staticmethod
    def generation_of(name: str) -> int | None:
        """The generation number of a manifest file name, else ``None``."""
        match = _GENERATION.match(name)
        return int(match.group(1)) if match else None

    def split_manifest_key(self, key: str) -> tuple[str, str, int] | None:
        """``work/<stage>/<subject>/gN.manifest.json`` -> ``(stage, subject, N)``."""
        parts = key.split("/")
        if len(parts) != 4 or parts[0] != self.work or parts[1].startswith("_"):
            return None
        generation = self.generation_of(parts[3])
        return None if generation is None else (parts[1], parts[2], generation)

    # -- derived bookkeeping -------------------------------------------------------------
    def kind_links_prefix(self, kind: str) -> str:
        """Links of every subject of ``kind`` (its children are the subjects' ids)."""
        return f"{self.work}/_links/{kind}/"

    def subject_links_prefix(self, kind: str, subject: str) -> str:
        """Every link of one subject, to subjects of any kind."""
        return f"{self.kind_links_prefix(kind)}{subject}/"

    def links_prefix(self, kind: str, subject: str, other_kind: str) -> str:
        return f"{self.subject_links_prefix(kind, subject)}{other_kind}/"

    def link_key(self, kind: str, subject: str, other_kind: str, other: str) -> str:
        return self.links_prefix(kind, subject, other_kind) + other

    def lease_key(self, stage: str, subject: str) -> str:
        return f"{self.work}/_leases/{stage}/{subject}"

    def failure_key(self, stage: str, subject: str) -> str:
        return f"{self.work}/_failures/{stage}/{subject}.json"

    def failures_prefix(self, stage: str | None = None) -> str:
        """All failure records, or those of one stage."""
        return f"{self.work}/_failures/" + (f"{stage}/" if stage else "")

    def override_key(self, stage: str, subject: str) -> str:
        return f"{self.work}/_overrides/{stage}/{subject}.json"

    def done_prefix(self) -> str:
        return f"{self.work}/_done/"

    def done_key(self, run: str) -> str:
        """The mark of a run the reconciler no longer visits."""
        return self.done_prefix() + run

    def audit_prefix(self) -> str:
        return f"{self.work}/_audit/"

    # -- deliveries and references -------------------------------------------------------
    def outbox_prefix(self, centre: str, sample: str) -> str:
        return f"{self.outbox}/{validate_name(centre, 'centre')}/{validate_name(sample, 'sample')}/"

    def reference_key(self, name: str) -> str:
        return f"{self.reference_prefix(name)}genome.fa"

    def reference_prefix(self, name: str) -> str:
        """The reference area of ``name``: the genome and its annotation resources."""
        return f"{self.refs}/{validate_name(name, 'reference')}/"

    def publish_prefix(self, area: str, centre: str, sample: str) -> str:
        """Where a publishing stage writes: the ``review`` area or the ``outbox``."""
        if area == "review":
            return self.review_prefix(centre, sample)
        if area == "outbox":
            return self.outbox_prefix(centre, sample)
        raise ValueError(f"unknown publishing area {area!r}")

    def is_publish_prefix(self, area: str, prefix: str) -> bool:
        """True when ``prefix`` is ``publish_prefix(area, centre, sample)`` for some names."""
        parts = prefix.split("/")
        if len(parts) != 4:
            return False
        try:
            return prefix == self.publish_prefix(area, parts[1], parts[2])
        except (SeqoiaError, ValueError):
            return False

    # -- review and release ----------------------------------------------------------------
    def review_prefix(self, centre: str, sample: str) -> str:
        """A sample's preliminary report, awaiting a biologist's release (never the outbox)."""
        return f"{self.review}/{validate_name(centre, 'centre')}/{validate_name(sample, 'sample')}/"

    def release_key(self, sample: str, generation: int) -> str:
        """The record (written last, create-only) of the release of one report generation."""
        return f"{self.work}/_releases/{validate_name(sample, 'sample')}/g{generation:06d}.json"

    def releases_prefix(self, sample: str) -> str:
        return f"{self.work}/_releases/{validate_name(sample, 'sample')}/"

    def family_release_key(self, family: str, generation: int) -> str:
        """The release record of one family report generation (``_family`` is no sample id:
        names start with a letter or digit)."""
        name = validate_name(family, "family")
        return f"{self.work}/_releases/_family/{name}/g{generation:06d}.json"

    def release_prefix(self, centre: str, sample: str, generation: int) -> str:
        """The outbox folder of one release: a new report generation is a new folder."""
        return f"{self.outbox_prefix(centre, sample)}g{generation:06d}/"
