"""The clinical report as an HL7 FHIR R4 Bundle after the Genomics Reporting IG 3.0.0.

:func:`build_genomics_bundle` turns a :class:`ClinicalReport` into a ``collection``
Bundle: the laboratory ``Organization`` (the report's ``performer``), a pseudonymous
``Patient`` and ``Specimen`` (the sample id, nothing else), a ``genomic-report``
DiagnosticReport (``preliminary`` or ``final``, the PDF as ``presentedForm``), one
``variant`` Observation per tiered variant and, where ClinVar classified it, one
``diagnostic-implication`` Observation carrying the clinical significance (53037-8) and
derived from that variant (the IG keeps significance out of the variant profile).

Pure and deterministic: ids are UUID 5 of the sample and of facts that do not change
between the preliminary and the final report (runs, variant, transcript), and every
date comes from the report (``issued`` is the release time, else the effective time),
so the same report gives the same bytes (see :func:`bundle_json`).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from seqoia.genomics.clinical_report import ClinicalReport
from seqoia.genomics.tiering import ReportedVariant

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
HGVS = "http://varnomen.hgvs.org"
HGNC = "http://www.genenames.org"  # the system of the IG's hgnc-vs
REFSEQ = "http://www.ncbi.nlm.nih.gov/refseq"
ENSEMBL = "http://www.ensembl.org"
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
TBD = "http://hl7.org/fhir/uv/genomics-reporting/CodeSystem/tbd-codes-cs"
SAMPLE_SYSTEM = "urn:seqoia:sample"
IG_PROFILE = "http://hl7.org/fhir/uv/genomics-reporting/StructureDefinition"
GENOMIC_REPORT = f"{IG_PROFILE}/genomic-report"
VARIANT = f"{IG_PROFILE}/variant"
DIAGNOSTIC_IMPLICATION = f"{IG_PROFILE}/diagnostic-implication"

_NAMESPACE = uuid.UUID("0d5f3a52-8c1e-4f57-b1a4-2b7c9e3d6a10")

# LOINC answers (LL381-5 allelic state, LL378-1 genomic source, LL4034-6 significance).
_ZYGOSITY = {
    "heterozygous": ("LA6706-1", "Heterozygous"),
    "homozygous": ("LA6705-3", "Homozygous"),
    "hemizygous": ("LA6707-9", "Hemizygous"),
}
_SOURCE = {"germline": ("LA6683-2", "Germline"), "somatic": ("LA6684-0", "Somatic")}
_SIGNIFICANCE = {
    "pathogenic": ("LA6668-3", "Pathogenic"),
    "likely_pathogenic": ("LA26332-9", "Likely pathogenic"),
    "uncertain_significance": ("LA26333-7", "Uncertain significance"),
    "likely_benign": ("LA26334-5", "Likely benign"),
    "benign": ("LA6675-8", "Benign"),
}
_ASSEMBLY = {"grch38": ("LA26806-2", "GRCh38"), "grch37": ("LA14029-5", "GRCh37")}
# GRCh38 chromosome accessions, so that a g. HGVS names a real reference sequence.
_GRCH38_ACCESSIONS = {
    **{
        str(n): f"NC_{n:06d}.{v}"
        for n, v in zip(
            range(1, 23),
            (11, 12, 12, 12, 10, 12, 14, 11, 12, 11, 10, 12, 11, 9, 10, 10, 11, 10, 10, 11, 9, 11),
            strict=True,
        )
    },
    "X": "NC_000023.11",
    "Y": "NC_000024.10",
    "M": "NC_012920.1",
    "MT": "NC_012920.1",
}


def _coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def concept(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    """A CodeableConcept of one coding."""
    return {"coding": [_coding(system, code, display)]}


def component(code: str, display: str, **value: Any) -> dict[str, Any]:
    """An Observation component coded with LOINC ``code``."""
    return {"code": concept(LOINC, code, display), **value}


# The variant profile's components that the sample and the family bundles both carry.
def reference_sequence_component(accession: str | None, contig: str, text: str) -> dict[str, Any]:
    """48013-7: the RefSeq accession of ``contig`` where known, else ``text``."""
    value = concept(REFSEQ, accession, contig) if accession else {"text": text}
    return component("48013-7", "Genomic reference sequence [ID]", valueCodeableConcept=value)


def position_components(pos: int, ref: str, alt: str) -> list[dict[str, Any]]:
    """Coordinate system (1-based), exact start-end, and the REF and ALT alleles."""
    return [
        component(
            "92822-6",
            "Genomic coordinate system",
            valueCodeableConcept=concept(LOINC, "LA30102-0", "1-based character counting"),
        ),
        component(
            "81254-5",
            "Variant exact start-end",
            valueRange={"low": {"value": pos}, "high": {"value": pos + len(ref) - 1}},
        ),
        component("69547-8", "Genomic ref allele [ID]", valueString=ref),
        component("69551-0", "Genomic alt allele [ID]", valueString=alt),
    ]


def genomic_source_component(source: str) -> dict[str, Any]:
    """48002-0: germline or somatic."""
    return component(
        "48002-0",
        "Genomic source class [Type]",
        valueCodeableConcept=concept(LOINC, *_SOURCE[source]),
    )


def _instant(moment: datetime) -> str:
    """An ISO instant with its offset (naive times are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat()


def _grch38(report: ClinicalReport) -> bool:
    names = f"{report.reference.name} {report.reference.assembly or ''}".lower()
    return "grch38" in names or "hg38" in names


def chromosome_accession(contig: str) -> str | None:
    """The RefSeq accession of a GRCh38 chromosome (``chr17`` → ``NC_000017.11``)."""
    return _GRCH38_ACCESSIONS.get(contig.removeprefix("chr"))


def _genomic_hgvs(variant: ReportedVariant, grch38: bool) -> str:
    contig, sep, change = variant.hgvs_g.partition(":")
    accession = chromosome_accession(contig) if grch38 else None
    return f"{accession}:{change}" if sep and accession else variant.hgvs_g


def _transcript_system(transcript: str) -> str:
    return ENSEMBL if transcript.startswith("ENS") else REFSEQ


class _Ids:
    """UUID 5 per (sample, kind, facts): stable across preliminary and final reports."""

    def __init__(self, report: ClinicalReport) -> None:
        self.prefix = f"{report.sample}|{'+'.join(report.runs)}"

    def __call__(self, *parts: object) -> str:
        return str(uuid.uuid5(_NAMESPACE, "|".join([self.prefix, *map(str, parts)])))


def _ref(resource_id: str) -> dict[str, str]:
    return {"reference": f"urn:uuid:{resource_id}"}


def categories() -> list[dict[str, Any]]:
    return [
        concept(OBS_CATEGORY, "laboratory", "Laboratory"),
        concept(V2_0074, "GE", "Genetics"),
    ]


def _variant_components(
    variant: ReportedVariant, report: ClinicalReport, hgnc_ids: Mapping[str, str]
) -> list[dict[str, Any]]:
    grch38 = _grch38(report)
    hgnc = hgnc_ids.get(variant.gene)
    gene = (
        concept(HGNC, hgnc, variant.gene) if hgnc else {"text": variant.gene}
    )  # the IG's HGNC binding is extensible: a name without its id goes in text
    components = [component("48018-6", "Gene studied [ID]", valueCodeableConcept=gene)]
    components.append(
        component(
            "48004-6",
            "DNA change (c.HGVS)",
            valueCodeableConcept=concept(HGVS, variant.hgvs_c),
        )
    )
    if variant.hgvs_p:
        components.append(
            component(
                "48005-3",
                "Amino acid change (pHGVS)",
                valueCodeableConcept=concept(HGVS, variant.hgvs_p),
            )
        )
    components.append(
        component(
            "81290-9",
            "Genomic DNA change (gHGVS)",
            valueCodeableConcept=concept(HGVS, _genomic_hgvs(variant, grch38)),
        )
    )
    accession = chromosome_accession(variant.contig) if grch38 else None
    components.append(
        reference_sequence_component(
            accession, variant.contig, f"{report.reference.name} {variant.contig}"
        )
    )
    components.append(
        component(
            "51958-7",
            "Transcript reference sequence [ID]",
            valueCodeableConcept=concept(
                _transcript_system(variant.transcript), variant.transcript
            ),
        )
    )
    assembly = _ASSEMBLY.get("grch38" if grch38 else report.reference.name.lower())
    if assembly:
        components.append(
            component(
                "62374-4",
                "Human reference sequence assembly version",
                valueCodeableConcept=concept(LOINC, *assembly),
            )
        )
    components += position_components(variant.pos, variant.ref, variant.alt)
    if variant.zygosity in _ZYGOSITY:
        components.append(
            component(
                "53034-5",
                "Allelic state",
                valueCodeableConcept=concept(LOINC, *_ZYGOSITY[variant.zygosity]),
            )
        )
    if variant.vaf is not None:
        # A fraction, UCUM "1", everywhere in the bundle (never mixed with "%").
        components.append(
            component(
                "81258-6",
                "Sample variant allelic frequency [NFr]",
                valueQuantity={
                    "value": round(variant.vaf, 4),
                    "system": UCUM,
                    "code": "1",
                    "unit": "relative frequency of a particular allele in the specimen",
                },
            )
        )
    components.append(genomic_source_component(report.genomic_source))
    return components


def _significance(variant: ReportedVariant) -> dict[str, Any] | None:
    term = variant.clinvar_significance
    if not term:
        return None
    key = term.strip().lower().replace(" ", "_").replace("/", "_")
    if key in _SIGNIFICANCE:
        return concept(LOINC, *_SIGNIFICANCE[key])
    return {"text": term.replace("_", " ")}  # e.g. conflicting interpretations


def build_genomics_bundle(
    report: ClinicalReport,
    pdf: bytes | None,
    *,
    hgnc_ids: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The Genomics Reporting IG Bundle of ``report`` (with ``pdf`` as presentedForm).

    ``hgnc_ids`` maps gene symbols to ``HGNC:<n>`` identifiers where the caller knows them.
    """
    ids = _Ids(report)
    hgnc_ids = hgnc_ids or {}
    status = report.status
    effective = _instant(report.effective)
    issued = _instant(report.release.at) if report.release else effective
    patient_id, specimen_id, org_id, report_id = (
        ids("Patient"),
        ids("Specimen"),
        ids("Organization"),
        ids("DiagnosticReport"),
    )
    sample_identifier = [{"system": SAMPLE_SYSTEM, "value": report.sample}]
    lab = report.laboratory
    organization: dict[str, Any] = {
        "resourceType": "Organization",
        "id": org_id,
        "identifier": [{"system": lab.system, "value": lab.identifier}],
        "name": lab.name,
    }
    if lab.address:
        organization["address"] = [{"text": lab.address}]
    patient = {"resourceType": "Patient", "id": patient_id, "identifier": sample_identifier}
    specimen = {
        "resourceType": "Specimen",
        "id": specimen_id,
        "identifier": sample_identifier,
        "subject": _ref(patient_id),
    }
    common = {
        "status": status,
        "category": categories(),
        "subject": _ref(patient_id),
        "effectiveDateTime": effective,
        "issued": issued,
        "performer": [_ref(org_id)],
        "specimen": _ref(specimen_id),
    }
    observations: list[dict[str, Any]] = []
    results: list[dict[str, str]] = []
    ordered = sorted(report.variants, key=lambda v: (v.tier, v.gene, v.contig, v.pos, v.alt))
    for variant in ordered:
        vid = ids("variant", variant.key, variant.transcript)
        observations.append(
            {
                "resourceType": "Observation",
                "id": vid,
                "meta": {"profile": [VARIANT]},
                **common,
                "code": concept(LOINC, "69548-6", "Genetic variant assessment"),
                "valueCodeableConcept": concept(LOINC, "LA9633-4", "Present"),
                "method": concept(LOINC, "LA26398-0", "Sequencing"),
                "note": [{"text": f"Tier {variant.tier} ({variant.finding} finding)"}],
                "component": _variant_components(variant, report, hgnc_ids),
            }
        )
        results.append(_ref(vid))
        significance = _significance(variant)
        if significance is None:
            continue
        did = ids("diagnostic-implication", variant.key, variant.transcript)
        implication: dict[str, Any] = {
            "resourceType": "Observation",
            "id": did,
            "meta": {"profile": [DIAGNOSTIC_IMPLICATION]},
            **common,
            "code": concept(TBD, "diagnostic-implication", "Diagnostic Implication"),
            "derivedFrom": [_ref(vid)],
            "component": [
                component(
                    "53037-8",
                    "Genetic variation clinical significance [Imp]",
                    valueCodeableConcept=significance,
                )
            ],
        }
        if variant.clinvar_review_status:
            review = variant.clinvar_review_status.replace("_", " ")
            implication["note"] = [{"text": f"ClinVar review status: {review}"}]
        observations.append(implication)
        results.append(_ref(did))
    diagnostic_report: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "id": report_id,
        "meta": {"profile": [GENOMIC_REPORT]},
        "identifier": [{"system": f"{SAMPLE_SYSTEM}:report", "value": report.sample}],
        "status": status,
        "category": [concept(V2_0074, "GE", "Genetics")],
        "code": concept(LOINC, "51969-4", "Genetic analysis report"),
        "subject": _ref(patient_id),
        "effectiveDateTime": effective,
        "issued": issued,
        "performer": [_ref(org_id)],
        "specimen": [_ref(specimen_id)],
        "result": results,
        "conclusion": _conclusion(report),
    }
    if pdf is not None:
        diagnostic_report["presentedForm"] = [
            {
                "contentType": "application/pdf",
                "data": base64.b64encode(pdf).decode("ascii"),
                "title": f"{report.sample}.clinical.pdf",
                "creation": issued,
            }
        ]
    resources = [diagnostic_report, organization, patient, specimen, *observations]
    return {
        "resourceType": "Bundle",
        "id": ids("Bundle", report.status),
        "type": "collection",
        "timestamp": issued,
        "entry": [
            {"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource}
            for resource in resources
        ],
    }


def _conclusion(report: ClinicalReport) -> str:
    tiers = sorted({v.tier for v in report.variants})
    counts = ", ".join(f"tier {t}: {sum(1 for v in report.variants if v.tier == t)}" for t in tiers)
    qc = "QC passed" if report.qc.passed else "QC FAILED"
    return f"{len(report.variants)} variant(s) reported ({counts or 'none'}); {qc}."


def bundle_json(bundle: Mapping[str, Any]) -> bytes:
    """The wire bytes of a bundle: sorted keys, UTF-8, so equal bundles are equal bytes."""
    return json.dumps(bundle, sort_keys=True, ensure_ascii=False, indent=1).encode("utf-8")
