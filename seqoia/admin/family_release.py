"""Sign-off of a family report: ``seqoia release family:F`` (issue 15).

``deliver_family`` stops at the review area (``review/<centre>/<family>/``). A biologist's
release takes the latest committed generation of ``family_analysis`` that
``deliver_family`` put up for review, makes the report final (JSON, HTML, FHIR: status
``final``, the sign-off named) and writes into ``outbox/<centre>/<family>/g<generation>/``
the three files, the JSON first and create-only; then, last, the release record
``work/_releases/_family/<family>/g<generation>.json`` (create-only: it commits the
release) and an audit record. The same guarantees as a sample's release
(:mod:`seqoia.admin.release`): a second release of one generation is refused, of two
concurrent releases one wins, an interrupted one is finished by the same person.

Refused: a family with nothing in review, and a family whose analysis has failed since the
reviewed generation (a failed pedigree check on a swapped tube, a new member's run that
made the family inconsistent): the report in review no longer stands for the family.
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from seqoia.admin.audit import AuditLog
from seqoia.admin.outbox import ReleaseRefusedError, claim_report, put_once
from seqoia.engine.runtime import Runtime
from seqoia.errors import PreconditionFailedError
from seqoia.genomics.clinical_report import Release
from seqoia.genomics.family_fhir import build_family_bundle
from seqoia.genomics.family_report import FamilyReport, write_family_report
from seqoia.storage.manifest import Manifest, parse_record

ANALYSIS_STAGE = "family_analysis"
REVIEW_STAGE = "deliver_family"
JSON, HTML, FHIR = ".family.json", ".family.html", ".family.fhir.json"


class FamilyReleaseRecord(BaseModel):
    """What ``work/_releases/_family/<family>/g<generation>.json`` holds."""

    model_config = ConfigDict(frozen=True)

    family: str
    centre: str
    composition: str
    generation: int  # of family_analysis
    analysis_attempt: str
    by: str
    reason: str
    at: datetime
    outbox: str
    files: tuple[str, ...]


def read_family_release(
    runtime: Runtime, family: str, generation: int
) -> FamilyReleaseRecord | None:
    key = runtime.layout.family_release_key(family, generation)
    if runtime.store.head(key) is None:
        return None
    body, _ = runtime.store.get_bytes(key)
    return parse_record(FamilyReleaseRecord, body, key=key, what="family release record")


def _in_review(runtime: Runtime, family: str) -> Manifest:
    """The family_analysis manifest in review now, or the reason there is none to release."""
    analysis = runtime.manifests.latest(ANALYSIS_STAGE, family)
    failure = runtime.failures.read(ANALYSIS_STAGE, family)
    if failure is not None and (
        analysis is None or (failure.at is not None and failure.at > analysis.finished_at)
    ):
        raise ReleaseRefusedError(
            f"family {family}: its latest analysis failed ({failure.headline()}): nothing "
            "to release until the family is analysed again"
        )
    if analysis is None:
        raise ReleaseRefusedError(f"family {family}: no committed family analysis to release")
    # Committed but not all its files in the review area yet: not in review.
    review = runtime.manifests.latest_published(REVIEW_STAGE, family)
    reviewed = {(i.stage, i.generation) for i in review.inputs} if review else set()
    if (ANALYSIS_STAGE, analysis.generation) not in reviewed:
        raise ReleaseRefusedError(
            f"family {family}: analysis generation {analysis.generation} is not in review yet "
            "(deliver_family has not run): nothing to release"
        )
    return analysis


def awaiting_family_release(runtime: Runtime, family: str) -> bool:
    """Whether the family has a report in review that nobody has released yet."""
    try:
        analysis = _in_review(runtime, family)
    except ReleaseRefusedError:
        return False
    return read_family_release(runtime, family, analysis.generation) is None


def release_family(
    runtime: Runtime, family: str, *, by: str, reason: str, at: datetime | None = None
) -> FamilyReleaseRecord:
    """Release the family's reviewed report into its centre's outbox (see the module doc)."""
    if not by.strip() or not reason.strip():
        raise ReleaseRefusedError("a release needs --by (who signs off) and --reason")
    analysis = _in_review(runtime, family)
    generation = analysis.generation
    existing = read_family_release(runtime, family, generation)
    if existing is not None:
        raise ReleaseRefusedError(
            f"family {family}: report generation {generation} was already released by "
            f"{existing.by} at {existing.at:%Y-%m-%d %H:%M:%S} UTC into {existing.outbox}"
        )
    store, layout = runtime.store, runtime.layout
    with tempfile.TemporaryDirectory(prefix="seqoia-release-") as tmp:
        work = Path(tmp)
        for suffix in (JSON, FHIR):
            store.download_file(analysis.output(family + suffix).key, work / (family + suffix))
        preliminary = FamilyReport.model_validate_json((work / (family + JSON)).read_text())
        bundle = json.loads((work / (family + FHIR)).read_text())
        sign_off = Release(by=by.strip(), reason=reason.strip(), at=at or datetime.now(UTC))
        prefix = layout.release_prefix(preliminary.centre, family, generation)
        final = claim_report(
            store,
            prefix,
            preliminary.released(sign_off),
            work / "out",
            name=family + JSON,
            what=f"family {family}",
            write=write_family_report,
            parse=FamilyReport.model_validate_json,
        )
        out = work / "out"
        # The bundle keeps the analysis' issue date: the release changes its status only.
        issued = datetime.fromisoformat(bundle["timestamp"])
        (out / (family + FHIR)).write_text(json.dumps(build_family_bundle(final, issued), indent=1))
        for suffix in (HTML, FHIR):
            put_once(store, prefix + family + suffix, out / (family + suffix))
    release = final.release or sign_off
    record = FamilyReleaseRecord(
        family=family,
        centre=final.centre,
        composition=final.composition,
        generation=generation,
        analysis_attempt=analysis.attempt,
        by=release.by,
        reason=release.reason,
        at=release.at,
        outbox=prefix,
        files=tuple(sorted(family + s for s in (JSON, HTML, FHIR))),
    )
    try:
        store.put_bytes(
            layout.family_release_key(family, generation),
            record.model_dump_json(indent=1).encode(),
            if_none_match=True,
        )
    except PreconditionFailedError:
        raise ReleaseRefusedError(
            f"family {family}: report generation {generation} was released meanwhile"
        ) from None
    AuditLog(store, layout).record(
        "release",
        f"family/{family}",
        record.reason,
        params={"by": record.by, "generation": generation},
        triggered={"outbox": prefix, "files": len(record.files), "composition": final.composition},
        at=record.at,
    )
    return record


def family_release_json(record: FamilyReleaseRecord) -> str:
    return json.dumps(record.model_dump(mode="json"), indent=1)
