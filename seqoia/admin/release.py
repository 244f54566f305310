"""Sign-off: a biologist releases a sample's reviewed report to the prescribing hospital.

The pipeline stops at the review area (``review/<centre>/<sample>/``, see
:mod:`seqoia.tasks.delivery`). ``seqoia release SAMPLE --by NAME --reason TEXT`` takes the
latest committed generation of the sample's ``report`` (which ``deliver`` must have put up
for review), makes its :class:`~seqoia.genomics.clinical_report.ClinicalReport` final
(:meth:`~seqoia.genomics.clinical_report.ClinicalReport.released`), and writes into
``outbox/<centre>/<sample>/g<generation>/``:

- ``<sample>.clinical.json`` (final) and its renderings, and the QC report;
- the CRAM and the VCF (with their indexes) the report was made from.

Then, last, the release record ``work/_releases/<sample>/g<generation>.json`` (create-only:
it commits the release, as a manifest commits a stage) and an audit record. A sample that
failed the QC gate is refused unless ``--override-qc`` (the override is written into the
report, the record and the audit log). A second release of one generation is refused; a
reprocess makes a new report generation, which is a new release into a new folder.

The final report is written first, create-only: of two biologists releasing at once one
claims the folder and the other is refused. A release interrupted before its record is
finished by the same person running it again (the report already written is kept).
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
from seqoia.genomics.clinical_files import CLINICAL_JSON, write_clinical_files
from seqoia.genomics.clinical_report import ClinicalReport, Release
from seqoia.storage.manifest import Manifest, parse_record
from seqoia.tasks.delivery import DELIVERED

REPORT_STAGE = "report"
REVIEW_STAGE = "deliver"
#: The preliminary report's files that a release carries over unchanged (the QC detail).
QC_REPORT_SUFFIXES = (".report.json", ".report.html")


class ReleaseRecord(BaseModel):
    """What ``work/_releases/<sample>/g<generation>.json`` holds."""

    model_config = ConfigDict(frozen=True)

    sample: str
    centre: str
    generation: int  # of the report stage
    report_attempt: str
    by: str
    reason: str
    at: datetime
    qc_passed: bool
    qc_override: bool
    outbox: str  # the release's folder
    files: tuple[str, ...]


class ReleaseStatus(BaseModel):
    """Where a sample stands with respect to sign-off (for status)."""

    model_config = ConfigDict(frozen=True)

    sample: str
    generation: int
    centre: str
    qc_passed: bool
    record: ReleaseRecord | None = None

    @property
    def awaiting(self) -> bool:
        return self.record is None

    def describe(self) -> str:
        qc = "QC pass" if self.qc_passed else "QC FAILED"
        if self.record is None:
            return f"awaiting release (report g{self.generation}, {qc})"
        override = ", QC overridden" if self.record.qc_override else ""
        return (
            f"released g{self.generation} by {self.record.by} "
            f"at {self.record.at:%Y-%m-%d %H:%M}{override}"
        )


def read_release(runtime: Runtime, sample: str, generation: int) -> ReleaseRecord | None:
    data = runtime.store.head(runtime.layout.release_key(sample, generation))
    if data is None:
        return None
    key = runtime.layout.release_key(sample, generation)
    body, _ = runtime.store.get_bytes(key)
    return parse_record(ReleaseRecord, body, key=key, what="release record")


def _reviewed(runtime: Runtime, sample: str) -> tuple[Manifest, Manifest] | None:
    """(report, deliver) manifests when deliver put the latest report up for review."""
    report = runtime.manifests.latest(REPORT_STAGE, sample)
    # Committed but not all its files in the review area yet: not in review.
    review = runtime.manifests.latest_published(REVIEW_STAGE, sample)
    if report is None or review is None:
        return None
    reviewed = {(i.stage, i.generation) for i in review.inputs}
    if (REPORT_STAGE, report.generation) not in reviewed:
        return None  # a newer report is not in review yet
    return report, review


def release_status(runtime: Runtime, sample: str) -> ReleaseStatus | None:
    """The sign-off state of the sample's latest report in review; ``None`` if none is."""
    found = _reviewed(runtime, sample)
    if found is None:
        return None
    report, review = found
    return ReleaseStatus(
        sample=sample,
        generation=report.generation,
        centre=str(review.summary.get("centre", "default")),
        qc_passed=bool(report.summary.get("qc_passed")),
        record=read_release(runtime, sample, report.generation),
    )


def _upstream(runtime: Runtime, report: Manifest, stage: str) -> Manifest:
    ref = next(i for i in report.inputs if i.stage == stage)
    return runtime.manifests.get(runtime.layout.manifest_key(stage, ref.subject, ref.generation))


def release_sample(
    runtime: Runtime,
    sample: str,
    *,
    by: str,
    reason: str,
    override_qc: bool = False,
    at: datetime | None = None,
) -> ReleaseRecord:
    """Release the sample's latest reviewed report into the outbox (see the module doc)."""
    if not by.strip() or not reason.strip():
        raise ReleaseRefusedError("a release needs --by (who signs off) and --reason")
    found = _reviewed(runtime, sample)
    if found is None:
        latest = runtime.manifests.latest(REPORT_STAGE, sample)
        what = (
            f"report generation {latest.generation} is not in review yet (deliver has not "
            "run, or not finished publishing)"
            if latest
            else "no committed report"
        )
        raise ReleaseRefusedError(f"sample {sample}: {what}: nothing to release")
    report, _review = found
    generation = report.generation
    store, layout = runtime.store, runtime.layout
    existing = read_release(runtime, sample, generation)
    if existing is not None:
        raise ReleaseRefusedError(
            f"sample {sample}: report generation {generation} was already released by "
            f"{existing.by} at {existing.at:%Y-%m-%d %H:%M:%S} UTC into {existing.outbox}; "
            "reprocess the sample for a new generation to release"
        )
    with tempfile.TemporaryDirectory(prefix="seqoia-release-") as tmp:
        work = Path(tmp)
        clinical = work / "in" / f"{sample}{CLINICAL_JSON}"
        clinical.parent.mkdir()
        store.download_file(report.output(clinical.name).key, clinical)
        preliminary = ClinicalReport.model_validate_json(clinical.read_text())
        if not preliminary.qc_passed and not override_qc:
            failed = ", ".join(f.metric for f in preliminary.qc.failures) or "the QC gate"
            raise ReleaseRefusedError(
                f"sample {sample} failed QC ({failed}): release refused; a biologist who "
                "accepts it anyway releases with --override-qc and a --reason"
            )
        prefix = layout.release_prefix(preliminary.centre, sample, generation)
        final = preliminary.released(
            Release(
                by=by.strip(),
                reason=reason.strip(),
                at=at or datetime.now(UTC),
                qc_override=not preliminary.qc_passed,
            )
        )
        final = claim_report(
            store,
            prefix,
            final,
            work / "out",
            name=f"{sample}{CLINICAL_JSON}",
            what=f"sample {sample}",
            write=write_clinical_files,
            parse=ClinicalReport.model_validate_json,
        )
        written = [f"{sample}{CLINICAL_JSON}"]
        out = work / "out"
        for path in sorted(out.iterdir()):
            if path.name not in written:
                put_once(store, prefix + path.name, path)
                written.append(path.name)
        sources = [ref for ref in report.outputs if ref.name.endswith(QC_REPORT_SUFFIXES)]
        for stage, suffixes in DELIVERED.items():
            upstream = _upstream(runtime, report, stage)
            sources += [ref for ref in upstream.outputs if ref.name.endswith(suffixes)]
        for ref in sources:
            local = work / "files" / ref.name
            local.parent.mkdir(exist_ok=True)
            store.download_file(ref.key, local)
            put_once(store, prefix + ref.name, local)
            written.append(ref.name)
            local.unlink()
    record = ReleaseRecord(
        sample=sample,
        centre=final.centre,
        generation=generation,
        report_attempt=report.attempt,
        by=final.release.by if final.release else by,
        reason=reason.strip(),
        at=final.release.at if final.release else datetime.now(UTC),
        qc_passed=final.qc_passed,
        qc_override=bool(final.release and final.release.qc_override),
        outbox=prefix,
        files=tuple(sorted(written)),
    )
    try:
        store.put_bytes(
            layout.release_key(sample, generation),
            record.model_dump_json(indent=1).encode(),
            if_none_match=True,
        )
    except PreconditionFailedError:
        raise ReleaseRefusedError(
            f"sample {sample}: report generation {generation} was released meanwhile"
        ) from None
    AuditLog(store, layout).record(
        "release",
        f"sample/{sample}",
        reason.strip(),
        params={"by": record.by, "generation": generation, "override_qc": override_qc},
        triggered={"outbox": prefix, "files": len(written), "qc_passed": record.qc_passed},
        at=record.at,
    )
    return record


def release_json(record: ReleaseRecord) -> str:
    return json.dumps(record.model_dump(mode="json"), indent=1)
