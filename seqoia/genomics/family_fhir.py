"""The family report as an HL7 FHIR R4 Bundle: the proband's candidates as variant observations.

A ``collection`` Bundle after the Genomics Reporting IG 3.0.0: a pseudonymous ``Patient``
(the proband's sample id, nothing else), a ``genomic-report`` DiagnosticReport
(``preliminary``; its conclusion names the composition, e.g. ``duo (no father)``, and
the members left out) and one ``variant`` Observation per passing de novo candidate and
per inherited candidate, each with the germline genomic source class (48002-0) and its
inheritance (94186-4) as text: the LOINC answer list LL5489-1 is bound *extensible*, and
seqoia's origins (maternal, paternal, both, de novo) are given in words rather than a
guessed code. Pure and deterministic: ids are UUID 5 of the family and the variant.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from seqoia.genomics.family_report import FamilyReport

LOINC = "http://loinc.org"
SAMPLE_SYSTEM = "urn:seqoia:sample"
IG_PROFILE = "http://hl7.org/fhir/uv/genomics-reporting/StructureDefinition"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
#: Inherited candidates carried in the bundle (the JSON report keeps every one).
MAX_FHIR_VARIANTS = 200
_NAMESPACE = uuid.UUID("8f4e1f7e-2b1c-4e63-9d0a-6f1f5a3c2e11")
_ORIGIN_TEXT = {
    "maternal": "Maternal",
    "paternal": "Paternal",
    "both": "Maternal and paternal",
    "de_novo": "De novo",
    "unknown": "Unknown",
}


def _id(*parts: object) -> str:
    return str(uuid.uuid5(_NAMESPACE, "/".join(map(str, parts))))


def _concept(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}]}


def _component(code: str, display: str, **value: Any) -> dict[str, Any]:
    return {"code": _concept(LOINC, code, display), **value}


def _variant(
    report: FamilyReport, patient: str, contig: str, pos: int, ref: str, alt: str, origin: str
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": _id(report.family, contig, pos, ref, alt),
        "meta": {"profile": [f"{IG_PROFILE}/variant"]},
        "status": report.status,
        "category": [
            _concept(OBS_CATEGORY, "laboratory", "Laboratory"),
            {"coding": [{"system": V2_0074, "code": "GE", "display": "Genetics"}]},
        ],
        "code": _concept(LOINC, "69548-6", "Genetic variant assessment"),
        "subject": {"reference": f"urn:uuid:{patient}"},
        "valueCodeableConcept": _concept(LOINC, "LA9633-4", "Present"),
        "component": [
            _component(
                "48013-7", "Genomic reference sequence [ID]", valueCodeableConcept={"text": contig}
            ),
            _component(
                "92822-6",
                "Genomic coordinate system",
                valueCodeableConcept=_concept(LOINC, "LA30102-0", "1-based character counting"),
            ),
            _component(
                "81254-5",
                "Variant exact start-end",
                valueRange={"low": {"value": pos}, "high": {"value": pos + len(ref) - 1}},
            ),
            _component("69547-8", "Genomic ref allele [ID]", valueString=ref),
            _component("69551-0", "Genomic alt allele [ID]", valueString=alt),
            _component(
                "48002-0",
                "Genomic source class [Type]",
                valueCodeableConcept=_concept(LOINC, "LA6683-2", "Germline"),
            ),
            _component(
                "94186-4",
                "Variant inheritance",
                valueCodeableConcept={"text": _ORIGIN_TEXT.get(origin, origin)},
            ),
        ],
    }


def build_family_bundle(report: FamilyReport, issued: datetime) -> dict[str, Any]:
    """The family report's FHIR Bundle (see the module docstring)."""
    proband = report.pedigree.proband.sample
    patient = _id(report.family, "patient", proband)
    analysis = report.analysis
    observations = [
        _variant(report, patient, c.contig, c.pos, c.ref, c.alt, "de_novo")
        for c in analysis.de_novo
        if c.passed
    ]
    inherited = [v for v in analysis.variants if "de_novo" not in v.modes and v.modes]
    observations += [
        _variant(report, patient, v.contig, v.pos, v.ref, v.alt, v.origin)
        for v in inherited[:MAX_FHIR_VARIANTS]
    ]
    left_out = "; ".join(f"{m.sample} left out ({m.failed_stage})" for m in report.left_out)
    conclusion = f"{report.title}." + (f" {left_out}." if left_out else "")
    diagnostic = {
        "resourceType": "DiagnosticReport",
        "id": _id(report.family, "report"),
        "meta": {"profile": [f"{IG_PROFILE}/genomic-report"]},
        "status": report.status,  # preliminary in review, final once released
        "category": [{"coding": [{"system": V2_0074, "code": "GE", "display": "Genetics"}]}],
        "code": _concept(LOINC, "51969-4", "Genetic analysis report"),
        "subject": {"reference": f"urn:uuid:{patient}"},
        "issued": issued.isoformat(),
        "result": [{"reference": f"urn:uuid:{o['id']}"} for o in observations],
        "conclusion": conclusion,
    }
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": patient,
        "identifier": [{"system": SAMPLE_SYSTEM, "value": proband}],
    }
    entries: list[dict[str, Any]] = [resource, diagnostic, *observations]
    return {
        "resourceType": "Bundle",
        "id": _id(report.family, "bundle"),
        "type": "collection",
        "timestamp": issued.isoformat(),
        "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in entries],
    }
