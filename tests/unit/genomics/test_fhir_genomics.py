"""The Genomics Reporting IG bundle of a clinical report."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from fhir.resources.R4B.bundle import Bundle

from seqoia.genomics.clinical_report import ReferenceGenome
from seqoia.genomics.fhir_conformance import Package
from seqoia.genomics.fhir_genomics import (
    VARIANT,
    build_genomics_bundle,
    bundle_json,
    chromosome_accession,
)
from tests.unit.genomics.clinical_fixture import (
    EFFECTIVE,
    RELEASED_AT,
    VARIANTS,
    final_report,
    preliminary_report,
    qc_failed_report,
)

IG_DEFINITIONS = Path(__file__).parents[2] / "data" / "fhir-genomics-ig" / "definitions"


def _resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def _report(bundle: dict[str, Any]) -> dict[str, Any]:
    (report,) = _resources(bundle, "DiagnosticReport")
    return report


def _variants(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [o for o in _resources(bundle, "Observation") if o["meta"]["profile"] == [VARIANT]]


def _component(observation: dict[str, Any], loinc: str) -> dict[str, Any] | None:
    for component in observation["component"]:
        if component["code"]["coding"][0]["code"] == loinc:
            return component
    return None


def test_a_preliminary_report_is_issued_at_its_effective_time() -> None:
    report = _report(build_genomics_bundle(preliminary_report(), None))
    assert report["status"] == "preliminary"
    assert report["effectiveDateTime"] == EFFECTIVE.isoformat()
    assert report["issued"] == EFFECTIVE.isoformat()
    assert "presentedForm" not in report


def test_a_final_report_is_issued_at_its_release_with_the_pdf() -> None:
    pdf = b"%PDF-1.4\n fake but bytes"
    bundle = build_genomics_bundle(final_report(), pdf)
    report = _report(bundle)
    assert report["status"] == "final"
    assert report["issued"] == RELEASED_AT.isoformat()
    (form,) = report["presentedForm"]
    assert form["contentType"] == "application/pdf"
    assert base64.b64decode(form["data"]) == pdf
    assert all(o["status"] == "final" for o in _resources(bundle, "Observation"))


def test_the_performer_is_the_laboratory() -> None:
    bundle = build_genomics_bundle(preliminary_report(), None)
    (org,) = _resources(bundle, "Organization")
    assert org["identifier"] == [{"system": "urn:oid:1.2.250.1.71.4.2.2", "value": "750100000"}]
    assert _report(bundle)["performer"] == [{"reference": f"urn:uuid:{org['id']}"}]


def test_one_variant_observation_per_tiered_variant_in_the_report_results() -> None:
    bundle = build_genomics_bundle(preliminary_report(), None)
    variants = _variants(bundle)
    assert len(variants) == len(VARIANTS)
    results = {r["reference"] for r in _report(bundle)["result"]}
    assert {f"urn:uuid:{v['id']}" for v in variants} <= results


def test_variant_components_carry_hgvs_zygosity_frequency_and_source() -> None:
    bundle = build_genomics_bundle(preliminary_report(), None, hgnc_ids={"CFTR": "HGNC:1884"})
    cftr = next(
        v
        for v in _variants(bundle)
        if _component(v, "48018-6")["valueCodeableConcept"].get("coding")
    )
    gene = _component(cftr, "48018-6")["valueCodeableConcept"]["coding"][0]
    assert gene == {
        "system": "http://www.genenames.org",
        "code": "HGNC:1884",
        "display": "CFTR",
    }
    code = lambda loinc: _component(cftr, loinc)["valueCodeableConcept"]["coding"][0]["code"]  # noqa: E731
    assert code("48004-6") == "NM_000492.4:c.1521_1523del"
    assert code("48005-3") == "NP_000483.3:p.(Phe508del)"
    assert code("81290-9") == "NC_000007.14:g.117559593_117559595del"
    assert code("48013-7") == "NC_000007.14"
    assert code("51958-7") == "NM_000492.4"
    assert code("53034-5") == "LA6705-3"  # homozygous
    assert code("48002-0") == "LA6683-2"  # germline
    frequency = _component(cftr, "81258-6")["valueQuantity"]
    assert (frequency["value"], frequency["code"]) == (0.982, "1")
    assert _component(cftr, "69547-8")["valueString"] == "ATCT"
    assert _component(cftr, "69551-0")["valueString"] == "A"


def test_a_gene_without_an_hgnc_id_is_named_in_text() -> None:
    bundle = build_genomics_bundle(preliminary_report(), None)
    genes = {
        _component(v, "48018-6")["valueCodeableConcept"].get("text") for v in _variants(bundle)
    }
    assert {"CFTR", "BRCA1", "DMD"} <= genes


def test_a_variant_without_a_protein_change_has_no_p_hgvs_component() -> None:
    bundle = build_genomics_bundle(preliminary_report(), None)
    dmd = next(
        v
        for v in _variants(bundle)
        if _component(v, "48018-6")["valueCodeableConcept"].get("text") == "DMD"
    )
    assert _component(dmd, "48005-3") is None
    assert _component(dmd, "53034-5")["valueCodeableConcept"]["coding"][0]["code"] == "LA6707-9"


def test_somatic_reports_say_somatic() -> None:
    bundle = build_genomics_bundle(preliminary_report(genomic_source="somatic"), None)
    codes = {
        _component(v, "48002-0")["valueCodeableConcept"]["coding"][0]["code"]
        for v in _variants(bundle)
    }
    assert codes == {"LA6684-0"}


def test_clinvar_significance_is_a_diagnostic_implication_of_its_variant() -> None:
    bundle = build_genomics_bundle(preliminary_report(), None)
    implications = [o for o in _resources(bundle, "Observation") if "derivedFrom" in o]
    # CFTR (Pathogenic) and DMD (Uncertain significance); the others have no ClinVar record.
    assert len(implications) == 2
    by_variant = {i["derivedFrom"][0]["reference"]: i for i in implications}
    cftr = next(v for v in _variants(bundle) if _component(v, "69547-8")["valueString"] == "ATCT")
    significance = _component(by_variant[f"urn:uuid:{cftr['id']}"], "53037-8")
    assert significance["valueCodeableConcept"]["coding"][0]["code"] == "LA6668-3"


def test_only_the_pseudonymous_sample_id_identifies_the_patient() -> None:
    bundle = build_genomics_bundle(final_report(), None)
    (patient,) = _resources(bundle, "Patient")
    assert set(patient) == {"resourceType", "id", "identifier"}
    assert patient["identifier"] == [{"system": "urn:seqoia:sample", "value": "S-7Q2K9"}]


def test_the_same_report_gives_the_same_bytes() -> None:
    first = bundle_json(build_genomics_bundle(final_report(), b"%PDF"))
    second = bundle_json(build_genomics_bundle(final_report(), b"%PDF"))
    assert first == second
    assert json.loads(first)["timestamp"] == RELEASED_AT.isoformat()


def test_resource_ids_do_not_change_when_a_report_is_released() -> None:
    preliminary = build_genomics_bundle(preliminary_report(), None)
    final = build_genomics_bundle(final_report(), None)
    assert _report(preliminary)["id"] == _report(final)["id"]
    assert [v["id"] for v in _variants(preliminary)] == [v["id"] for v in _variants(final)]
    other = build_genomics_bundle(preliminary_report(sample="S-OTHER"), None)
    assert _report(other)["id"] != _report(preliminary)["id"]


def test_the_conclusion_says_when_qc_failed() -> None:
    assert "QC FAILED" in _report(build_genomics_bundle(qc_failed_report(), None))["conclusion"]


def test_bundles_validate_against_the_r4b_models() -> None:
    for report in (preliminary_report(), qc_failed_report(), final_report()):
        Bundle.model_validate(build_genomics_bundle(report, b"%PDF-1.4"))


def test_grch38_chromosomes_have_refseq_accessions() -> None:
    assert chromosome_accession("chr17") == "NC_000017.11"
    assert chromosome_accession("X") == "NC_000023.11"
    assert chromosome_accession("chrUn_KI270302v1") is None


def test_a_reference_without_refseq_accessions_keeps_its_own_names() -> None:
    report = preliminary_report(
        reference=ReferenceGenome(name="mini-genome", sha256="d" * 64),
        variants=(VARIANTS[1].model_copy(update={"hgvs_g": "chr17:g.43057063dup"}),),
    )
    (variant,) = _variants(build_genomics_bundle(report, None))
    assert _component(variant, "81290-9")["valueCodeableConcept"]["coding"][0]["code"] == (
        "chr17:g.43057063dup"
    )
    assert _component(variant, "48013-7")["valueCodeableConcept"] == {"text": "mini-genome chr17"}
    assert _component(variant, "62374-4") is None  # no assembly to name


def test_coded_components_use_the_systems_of_the_igs_value_sets() -> None:
    # The IG binds gene (hgnc-vs, extensible) and HGVS (hgvs-vs, required) to code systems.
    package = Package.from_folder(IG_DEFINITIONS)
    genes = package.expansion("http://hl7.org/fhir/uv/genomics-reporting/ValueSet/hgnc-vs")
    hgvs = package.expansion("http://hl7.org/fhir/uv/genomics-reporting/ValueSet/hgvs-vs")
    assert genes is not None and hgvs is not None
    bundle = build_genomics_bundle(preliminary_report(), None, hgnc_ids={"CFTR": "HGNC:1884"})
    for variant in _variants(bundle):
        for loinc in ("48004-6", "81290-9"):
            assert (
                _component(variant, loinc)["valueCodeableConcept"]["coding"][0]["system"] in hgvs[1]
            )
        gene = _component(variant, "48018-6")["valueCodeableConcept"]
        for coding in gene.get("coding", []):
            assert coding["system"] in genes[1]
