"""The family report as an HL7 FHIR R4 Bundle: the proband's candidates as variant observations.

A ``collection`` Bundle after the Genomics Reporting IG 3.0.0: a pseudonymous ``Patient``
(the proband's sample id, nothing else), a ``genomic-report`` DiagnosticReport
(``preliminary`` in review, ``final`` once released; its conclusion names the composition,
e.g. ``duo (no father)``, and the members left out), one ``variant`` Observation per
passing de novo candidate and per inherited candidate, and per inheritance mode of a
variant one ``diagnostic-implication`` Observation derived from it.

Codes, as the IG 3.0.0 package (tests/data/fhir-genomics-ig) binds them:

- the variant's origin, component ``variant-inheritance`` (LOINC 94186-4, answer list
  LL5489-1, extensible): Maternal LA26320-4, Paternal LA26321-2, Unknown LA4489-6. The
  list has no answer for de novo or for an allele from both parents: those go as text,
  as an extensible binding allows. With both parents sequenced the origin was measured:
  ``variant-inheritance-basis`` (82309-6) Directly measured LA26426-9, as the IG's example.
- the mode of inheritance, component ``mode-of-inheritance`` of the diagnostic
  implication (code ``tbd-codes-cs#condition-inheritance``; values preferred from
  ``condition-inheritance-mode-vs``, HPO): de novo HP:0025352 (Typically de novo),
  homozygous recessive and compound heterozygous HP:0000007 (Autosomal recessive
  inheritance; HP:0001419 on chrX), X-linked hemizygous HP:0001419 (X-linked recessive
  inheritance), dominant inherited HP:0000006 (Autosomal dominant inheritance). The IG
  uses neither LOINC 79742-3 (Inheritance pattern based on family history, an eyeGENE
  history question) nor a LOINC answer list for this.

The variant's location and source components are :mod:`seqoia.genomics.fhir_genomics`'s,
shared with the sample report. Pure and deterministic: ids are UUID 5 of the family and
the variant.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from seqoia.genomics.family_report import FamilyReport
from seqoia.genomics.fhir_genomics import (
    DIAGNOSTIC_IMPLICATION,
    GENOMIC_REPORT,
    LOINC,
    SAMPLE_SYSTEM,
    TBD,
    V2_0074,
    VARIANT,
    categories,
    component,
    concept,
    genomic_source_component,
    position_components,
    reference_sequence_component,
)
from seqoia.genomics.inheritance import Mode, Origin

HPO = "http://human-phenotype-ontology.org"
#: Inherited candidates carried in the bundle (the JSON report keeps every one).
MAX_FHIR_VARIANTS = 200
_NAMESPACE = uuid.UUID("8f4e1f7e-2b1c-4e63-9d0a-6f1f5a3c2e11")
#: LL5489-1 answers; origins the list lacks are given as text.
_ORIGIN_CODE: dict[str, tuple[str, str]] = {
    "maternal": ("LA26320-4", "Maternal"),
    "paternal": ("LA26321-2", "Paternal"),
    "unknown": ("LA4489-6", "Unknown"),
}
_ORIGIN_TEXT = {"both": "Maternal and paternal", "de_novo": "De novo"}
_AUTOSOMAL_RECESSIVE = ("HP:0000007", "Autosomal recessive inheritance")
_X_LINKED_RECESSIVE = ("HP:0001419", "X-linked recessive inheritance")
_MODE_CODE: dict[str, tuple[str, str]] = {
    "de_novo": ("HP:0025352", "Typically de novo"),
    "homozygous_recessive": _AUTOSOMAL_RECESSIVE,
    "compound_heterozygous": _AUTOSOMAL_RECESSIVE,
    "x_linked_hemizygous": _X_LINKED_RECESSIVE,
    "dominant_inherited": ("HP:0000006", "Autosomal dominant inheritance"),
}


def _id(*parts: object) -> str:
    return str(uuid.uuid5(_NAMESPACE, "/".join(map(str, parts))))


def origin_components(origin: Origin | str) -> list[dict[str, Any]]:
    """``variant-inheritance`` (94186-4) and, when the parents were read, its basis."""
    value = (
        concept(LOINC, *_ORIGIN_CODE[origin])
        if origin in _ORIGIN_CODE
        else {"text": _ORIGIN_TEXT.get(origin, origin)}
    )
    out = [component("94186-4", "Variant inheritance", valueCodeableConcept=value)]
    if origin != "unknown":
        basis = concept(LOINC, "LA26426-9", "Directly measured")
        out.append(component("82309-6", "Basis of variant inheritance", valueCodeableConcept=basis))
    return out


def mode_code(mode: Mode | str, contig: str) -> tuple[str, str]:
    """The HPO term (code, display) of an inheritance mode on ``contig``."""
    code = _MODE_CODE[mode]
    if code == _AUTOSOMAL_RECESSIVE and contig.removeprefix("chr") == "X":
        return _X_LINKED_RECESSIVE
    return code


def _variant(
    report: FamilyReport, patient: str, contig: str, pos: int, ref: str, alt: str, origin: str
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": _id(report.family, contig, pos, ref, alt),
        "meta": {"profile": [VARIANT]},
        "status": report.status,
        "category": categories(),
        "code": concept(LOINC, "69548-6", "Genetic variant assessment"),
        "subject": {"reference": f"urn:uuid:{patient}"},
        "valueCodeableConcept": concept(LOINC, "LA9633-4", "Present"),
        "component": [
            reference_sequence_component(None, contig, contig),
            *position_components(pos, ref, alt),
            genomic_source_component("germline"),
            *origin_components(origin),
        ],
    }


def _implications(
    report: FamilyReport, patient: str, variant: dict[str, Any], contig: str, modes: tuple[str, ...]
) -> list[dict[str, Any]]:
    """One ``diagnostic-implication`` per distinct mode-of-inheritance code of a variant."""
    codes = list(dict.fromkeys(mode_code(m, contig) for m in modes))
    return [
        {
            "resourceType": "Observation",
            "id": _id(variant["id"], "mode", code),
            "meta": {"profile": [DIAGNOSTIC_IMPLICATION]},
            "status": report.status,
            "category": categories(),
            "code": concept(TBD, "diagnostic-implication", "Diagnostic Implication"),
            "subject": {"reference": f"urn:uuid:{patient}"},
            "derivedFrom": [{"reference": f"urn:uuid:{variant['id']}"}],
            "component": [
                {
                    "code": concept(TBD, "condition-inheritance", "Condition Inheritance"),
                    "valueCodeableConcept": concept(HPO, code, display),
                }
            ],
        }
        for code, display in codes
    ]


def build_family_bundle(report: FamilyReport, issued: datetime) -> dict[str, Any]:
    """The family report's FHIR Bundle (see the module docstring)."""
    proband = report.pedigree.proband.sample
    patient = _id(report.family, "patient", proband)
    analysis = report.analysis
    observations: list[dict[str, Any]] = []
    found: list[tuple[str, int, str, str, str, tuple[str, ...]]] = [
        (c.contig, c.pos, c.ref, c.alt, "de_novo", ("de_novo",))
        for c in analysis.de_novo
        if c.passed
    ]
    inherited = [v for v in analysis.variants if "de_novo" not in v.modes and v.modes]
    found += [
        (v.contig, v.pos, v.ref, v.alt, v.origin, tuple(v.modes))
        for v in inherited[:MAX_FHIR_VARIANTS]
    ]
    for contig, pos, ref, alt, origin, modes in found:
        variant = _variant(report, patient, contig, pos, ref, alt, origin)
        observations += [variant, *_implications(report, patient, variant, contig, modes)]
    left_out = "; ".join(f"{m.sample} left out ({m.failed_stage})" for m in report.left_out)
    conclusion = f"{report.title}." + (f" {left_out}." if left_out else "")
    diagnostic = {
        "resourceType": "DiagnosticReport",
        "id": _id(report.family, "report"),
        "meta": {"profile": [GENOMIC_REPORT]},
        "status": report.status,  # preliminary in review, final once released
        "category": [concept(V2_0074, "GE", "Genetics")],
        "code": concept(LOINC, "51969-4", "Genetic analysis report"),
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
