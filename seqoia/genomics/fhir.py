"""The per-sample HL7 FHIR R4 report, shaped after the HL7 Genomics Reporting IG.

:func:`build_fhir_bundle` returns a Bundle (``collection``, or ``document`` with a
Composition first) holding: a pseudonymous ``Patient`` (an identifier, nothing else), the
``Specimen``, a ``DiagnosticReport`` coded LOINC 81247-9 whose status is ``final`` when
the QC gate passed and ``preliminary`` otherwise, one ``Observation`` per QC metric (with
its threshold as ``referenceRange`` and pass/fail as ``interpretation``), one variant
``Observation`` (LOINC 69548-6) per reported variant, and a ``DocumentReference`` per
delivered file (CRAM, VCF...) carrying its SHA-256 and size, its URL relative to the
outbox folder. Resources get UUIDs derived from the sample and a report key, so the
same inputs give the same bundle. Plain dicts: the wire format is the contract.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import pysam
from pydantic import BaseModel, ConfigDict

from seqoia.genomics.qc import QCMetrics
from seqoia.genomics.qc_gate import METRIC_LABELS, QCVerdict
from seqoia.genomics.report import FileChecksum, ReferenceInfo

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
IG = "http://hl7.org/fhir/uv/genomics-reporting/StructureDefinition"
DEFAULT_BASE = "https://seqoia.example.org/fhir"
_NAMESPACE = uuid.UUID("6f1d3c1e-5b7a-4c0e-9a51-5e9c0a0f7d21")
_MAX_UNSIGNED_INT = 2**31 - 1

Zygosity = Literal["heterozygous", "homozygous", "hemizygous"]
_ZYGOSITY = {
    "heterozygous": ("LA6706-1", "Heterozygous"),
    "homozygous": ("LA6705-3", "Homozygous"),
    "hemizygous": ("LA6707-9", "Hemizygous"),
}
_ASSEMBLIES = {
    "grch38": ("LA26806-2", "GRCh38"),
    "hg38": ("LA26806-2", "GRCh38"),
    "grch37": ("LA14029-5", "GRCh37"),
    "hg19": ("LA14029-5", "GRCh37"),
}
_CONTENT_TYPES = {
    ".cram": "application/vnd.ga4gh.cram",
    ".bam": "application/vnd.ga4gh.bam",
    ".vcf.gz": "text/vcf+bgzip",
    ".vcf": "text/vcf",
    ".json": "application/json",
    ".html": "text/html",
    ".crai": "application/octet-stream",
    ".tbi": "application/octet-stream",
}


class ReportedVariant(BaseModel):
    """One variant as the FHIR report states it (VCF coordinates, 1-based)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    contig: str
    pos: int
    ref: str
    alt: str
    zygosity: Zygosity
    depth: int | None = None
    vaf: float | None = None

    @property
    def end(self) -> int:
        return self.pos + len(self.ref) - 1


def reported_variants(
    vcf: Path, *, pass_only: bool = True, max_variants: int = 100, sample: str | None = None
) -> tuple[list[ReportedVariant], int]:
    """The first ``max_variants`` called (PASS) variants of ``sample`` and how many there were.

    Non-ALT and no-call genotypes are skipped; a multi-allelic site gives one variant per
    called ALT. The total lets the report say "100 of 4,812 shown".
    """
    chosen: list[ReportedVariant] = []
    total = 0
    with pysam.VariantFile(str(vcf)) as fh:
        samples = list(fh.header.samples)
        name = sample or (samples[0] if samples else None)
        for rec in fh:
            if pass_only and not (set(rec.filter.keys()) <= {"PASS"}):
                continue
            call = rec.samples[name] if name is not None else None
            gt = tuple(a for a in (call["GT"] if call is not None else ()) if a is not None)
            for allele in sorted({a for a in gt if a and a > 0}):
                total += 1
                if len(chosen) >= max_variants:
                    continue
                chosen.append(_variant(rec, call, gt, allele))
    return chosen, total


def _variant(rec: Any, call: Any, gt: tuple[int, ...], allele: int) -> ReportedVariant:
    if len(gt) == 1:
        zygosity: Zygosity = "hemizygous"
    else:
        zygosity = "homozygous" if all(a == allele for a in gt) else "heterozygous"
    depth = vaf = None
    fmt = call.keys() if call is not None else ()
    if "AD" in fmt and call["AD"] and None not in call["AD"]:
        ad = call["AD"]
        depth = int(sum(ad))
        vaf = round(ad[allele] / depth, 4) if depth and allele < len(ad) else None
    elif "DP" in fmt and call["DP"] is not None:
        depth = int(call["DP"])
    return ReportedVariant(
        contig=rec.contig,
        pos=rec.pos,
        ref=rec.ref,
        alt=rec.alleles[allele],
        zygosity=zygosity,
        depth=depth,
        vaf=vaf,
    )


# -- building blocks -------------------------------------------------------------------


def _coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def _concept(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [_coding(system, code, display)], "text": display}


def _loinc(code: str, display: str) -> dict[str, Any]:
    return _concept(LOINC, code, display)


_CATEGORIES = [
    _concept(OBS_CATEGORY, "laboratory", "Laboratory"),
    _concept(V2_0074, "GE", "Genetics"),
]


def _quantity(value: float, unit: str, code: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": code}


def _metric_unit(metric: str) -> tuple[str, str]:
    if metric.endswith("_pct"):
        return "%", "%"
    return {
        "read_pairs": ("read pairs", "{pairs}"),
        "median_insert_size": ("bp", "{bp}"),
        "mean_coverage": ("×", "{depth}"),
        "snvs": ("variants", "{variants}"),
        "indels": ("variants", "{variants}"),
    }.get(metric, ("ratio", "1"))


class _Ids:
    """Deterministic UUIDs per (sample, report key, resource kind, item)."""

    def __init__(self, sample: str, key: str) -> None:
        self.prefix = f"{sample}|{key}"

    def __call__(self, *parts: object) -> str:
        return str(uuid.uuid5(_NAMESPACE, "|".join([self.prefix, *map(str, parts)])))


def _ref(resource_id: str, display: str | None = None) -> dict[str, str]:
    out = {"reference": f"urn:uuid:{resource_id}"}
    if display:
        out["display"] = display
    return out


def _qc_observation(
    rid: str, metric: str, value: Any, check: Any, common: dict[str, Any], system: str
) -> dict[str, Any]:
    label = METRIC_LABELS.get(metric, metric)
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": rid,
        **common,
        "category": [_concept(OBS_CATEGORY, "laboratory", "Laboratory")],
        "code": {"coding": [_coding(system, metric, label)], "text": label},
    }
    if isinstance(value, str):
        obs["valueString"] = value
    else:
        unit, code = _metric_unit(metric)
        obs["valueQuantity"] = _quantity(round(float(value), 4), unit, code)
    if check is not None and check.passed is not None:
        flag = ("N", "Normal") if check.passed else ("A", "Abnormal")
        obs["interpretation"] = [_concept(INTERPRETATION, *flag)]
        obs["referenceRange"] = [{"text": check.threshold}]
    return obs


def _variant_observation(
    rid: str, v: ReportedVariant, common: dict[str, Any], reference: ReferenceInfo
) -> dict[str, Any]:
    assembly = next((a for k, a in _ASSEMBLIES.items() if k in reference.name.lower()), None)
    components = [
        {
            "code": _loinc("48002-0", "Genomic source class"),
            "valueCodeableConcept": _loinc("LA6683-2", "Germline"),
        },
        {
            "code": _loinc("48001-2", "Cytogenetic (chromosome) location"),
            "valueCodeableConcept": {"text": v.contig},
        },
        {
            "code": _loinc("62374-4", "Human reference sequence assembly version"),
            "valueCodeableConcept": _loinc(*assembly) if assembly else {"text": reference.name},
        },
        {
            "code": _loinc("92822-6", "Genomic coord system"),
            "valueCodeableConcept": _loinc("LA30102-0", "1-based character counting"),
        },
        {
            "code": _loinc("81254-5", "Genomic allele start-end"),
            "valueRange": {"low": {"value": v.pos}, "high": {"value": v.end}},
        },
        {"code": _loinc("69547-8", "Genomic ref allele [ID]"), "valueString": v.ref},
        {"code": _loinc("69551-0", "Genomic alt allele [ID]"), "valueString": v.alt},
        {
            "code": _loinc("53034-5", "Allelic state"),
            "valueCodeableConcept": _loinc(*_ZYGOSITY[v.zygosity]),
        },
    ]
    if v.depth is not None:
        components.append(
            {
                "code": _loinc("82121-5", "Allelic read depth"),
                "valueQuantity": _quantity(v.depth, "reads per base pair", "1"),
            }
        )
    if v.vaf is not None:
        components.append(
            {"code": _loinc("81258-6", "Sample VAF"), "valueQuantity": _quantity(v.vaf, "1", "1")}
        )
    return {
        "resourceType": "Observation",
        "id": rid,
        "meta": {"profile": [f"{IG}/variant"]},
        **common,
        "category": _CATEGORIES,
        "code": _loinc("69548-6", "Genetic variant assessment"),
        "valueCodeableConcept": _loinc("LA9633-4", "Present"),
        "method": _loinc("LA26398-0", "Sequencing"),
        "component": components,
    }


def _content_type(name: str) -> str:
    lower = name.lower()
    return next(
        (t for ext, t in _CONTENT_TYPES.items() if lower.endswith(ext)), "application/octet-stream"
    )


def _document_reference(
    rid: str, f: FileChecksum, subject: dict, report_ref: dict, status: str, issued: str, base: str
) -> dict[str, Any]:
    ni = base64.urlsafe_b64encode(bytes.fromhex(f.sha256)).decode().rstrip("=")
    attachment: dict[str, Any] = {
        "contentType": _content_type(f.name),
        "url": f.name,
        "title": Path(f.name).name,
    }
    extension = [{"url": f"{base}/StructureDefinition/sha256", "valueString": f.sha256}]
    if f.size <= _MAX_UNSIGNED_INT:  # R4 Attachment.size is an unsignedInt
        attachment["size"] = f.size
    extension.append({"url": f"{base}/StructureDefinition/size-bytes", "valueString": str(f.size)})
    return {
        "resourceType": "DocumentReference",
        "id": rid,
        "extension": extension,
        # RFC 6920 names the file by its digest; Attachment.hash would have to be SHA-1.
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": f"ni:///sha-256;{ni}"}],
        "status": "current",
        "docStatus": status,
        "type": {"text": _content_type(f.name)},
        "subject": subject,
        "date": issued,
        "content": [{"attachment": attachment}],
        "context": {"related": [report_ref]},
    }


def _instant(when: datetime) -> str:
    if when.tzinfo is None:
        raise ValueError("issued must be timezone-aware (FHIR instants carry a zone)")
    return when.isoformat()


def build_fhir_bundle(
    *,
    sample: str,
    metrics: QCMetrics,
    verdict: QCVerdict,
    variants: Iterable[ReportedVariant],
    files: Sequence[FileChecksum | Mapping[str, Any]],
    reference: ReferenceInfo | Mapping[str, str],
    issued: datetime,
    total_variants: int | None = None,
    specimen_id: str | None = None,
    specimen_type: tuple[str, str, str] | None = None,
    report_key: str = "",
    bundle_type: Literal["collection", "document"] = "collection",
    system_base: str = DEFAULT_BASE,
    max_variants: int = 100,
) -> dict[str, Any]:
    """The sample's FHIR R4 Bundle as a JSON-ready dict.

    ``sample`` is the pseudonymous id (the Patient carries it as its only identifier);
    ``files`` names are paths relative to the outbox folder; ``specimen_type`` is a
    (system, code, display) coding; ``report_key`` (e.g. the stage fingerprint)
    distinguishes reprocessings of one sample.
    """
    ids = _Ids(sample, report_key)
    reference = ReferenceInfo.model_validate(reference)
    checksums = [FileChecksum.model_validate(f) for f in files]
    chosen = list(variants)[:max_variants]
    status = "final" if verdict.passed else "preliminary"
    when = _instant(issued)
    patient_id, specimen_rid, report_id = ids("Patient"), ids("Specimen"), ids("DiagnosticReport")
    subject = _ref(patient_id)
    common = {"status": status, "subject": subject, "specimen": _ref(specimen_rid), "issued": when}

    patient = {
        "resourceType": "Patient",
        "id": patient_id,
        "identifier": [{"system": f"{system_base}/NamingSystem/pseudonym", "value": sample}],
    }
    specimen: dict[str, Any] = {
        "resourceType": "Specimen",
        "id": specimen_rid,
        "identifier": [
            {"system": f"{system_base}/NamingSystem/specimen", "value": specimen_id or sample}
        ],
        "subject": subject,
    }
    if specimen_type:
        specimen["type"] = _concept(*specimen_type)

    checks = {c.metric: c for c in verdict.checks}
    qc_obs = [
        _qc_observation(ids("qc", m), m, v, checks.get(m), common, f"{system_base}/CodeSystem/qc")
        for m, v in metrics.model_dump().items()
        if v is not None
    ]
    var_obs = [
        _variant_observation(ids("variant", v.contig, v.pos, v.ref, v.alt), v, common, reference)
        for v in chosen
    ]
    shown = f"{len(chosen)} of {total_variants if total_variants is not None else len(chosen)}"
    conclusion = (
        f"QC {'passed' if verdict.passed else 'failed'}"
        + "".join(f"; {f.message}" for f in verdict.failures)
        + f". {shown} PASS variants reported. Reference {reference.name} "
        f"(sha256 {reference.sha256})."
    )
    report = {
        "resourceType": "DiagnosticReport",
        "id": report_id,
        "meta": {"profile": [f"{IG}/genomic-report"]},
        "identifier": [{"system": f"{system_base}/NamingSystem/report", "value": report_id}],
        "status": status,
        "category": [_concept(V2_0074, "GE", "Genetics")],
        "code": _loinc("81247-9", "Master HL7 genetic variant reporting panel"),
        "subject": subject,
        "issued": when,
        "specimen": [_ref(specimen_rid)],
        "result": [_ref(o["id"]) for o in qc_obs + var_obs],
        "conclusion": conclusion,
    }
    docs = [
        _document_reference(
            ids("file", f.name), f, subject, _ref(report_id), status, when, system_base
        )
        for f in checksums
    ]
    resources: list[dict[str, Any]] = [report, patient, specimen, *qc_obs, *var_obs, *docs]
    if bundle_type == "document":
        resources.insert(0, _composition(ids("Composition"), report, resources, subject, when))
    return {
        "resourceType": "Bundle",
        "id": ids("Bundle"),
        "identifier": {"system": f"{system_base}/NamingSystem/bundle", "value": ids("Bundle")},
        "type": bundle_type,
        "timestamp": when,
        "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources],
    }


def _composition(
    rid: str, report: dict, resources: list[dict], subject: dict, when: str
) -> dict[str, Any]:
    final = report["status"] == "final"
    return {
        "resourceType": "Composition",
        "id": rid,
        "status": "final" if final else "preliminary",
        "type": _loinc("51969-4", "Genetic analysis report"),
        "subject": subject,
        "date": when,
        "author": [{"display": "seqoia pipeline"}],
        "title": "Genome sequencing report",
        "section": [
            {"title": "Results", "entry": [_ref(report["id"])]},
            {
                "title": "Files",
                "entry": [
                    _ref(r["id"]) for r in resources if r["resourceType"] == "DocumentReference"
                ],
            },
        ],
    }
