"""The offline IG conformance checker: the IG's own examples pass, broken resources fail."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from seqoia.genomics.fhir_conformance import Package, check_bundle, check_resource
from seqoia.genomics.fhir_genomics import build_genomics_bundle
from tests.unit.genomics.clinical_fixture import final_report, preliminary_report

IG = Path(__file__).parents[2] / "data" / "fhir-genomics-ig"
EXAMPLES = sorted((IG / "examples").glob("*.json"))


@pytest.fixture(scope="module")
def package() -> Package:
    return Package.from_folder(IG / "definitions")


@pytest.fixture(scope="module")
def examples() -> dict[str, dict[str, Any]]:
    out = {}
    for path in EXAMPLES:
        resource = json.loads(path.read_text(encoding="utf-8"))
        out[f"{resource['resourceType']}/{resource['id']}"] = resource
    return out


def _resolver(examples: dict[str, dict[str, Any]]):
    def resolve(reference: str) -> dict[str, Any] | None:
        return examples.get("/".join(reference.split("/")[-2:]))

    return resolve


def test_the_package_holds_the_profiles_the_reports_use(package: Package) -> None:
    for name in ("genomic-report", "variant", "diagnostic-implication", "genotype"):
        profile = package.profile(
            f"http://hl7.org/fhir/uv/genomics-reporting/StructureDefinition/{name}"
        )
        assert profile is not None, name
    assert len(EXAMPLES) > 150


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_of_the_ig_conforms(
    path: Path, package: Package, examples: dict[str, dict[str, Any]]
) -> None:
    resource = json.loads(path.read_text(encoding="utf-8"))
    check = check_bundle if resource["resourceType"] == "Bundle" else check_resource
    issues = check(resource, package, resolve=_resolver(examples))
    assert [str(i) for i in issues] == []


def test_most_examples_claim_a_profile_the_checker_applies(
    package: Package, examples: dict[str, dict[str, Any]]
) -> None:
    # Guards against a checker that passes everything because it applies nothing.
    claimed = [
        r
        for r in examples.values()
        if any(package.profile(p) for p in r.get("meta", {}).get("profile", []))
    ]
    assert len(claimed) > 100


def _example(examples: dict[str, dict[str, Any]], key: str) -> dict[str, Any]:
    return copy.deepcopy(examples[key])


def test_a_variant_without_its_code_and_with_a_wrong_category_is_caught(
    package: Package, examples: dict[str, dict[str, Any]]
) -> None:
    variant = _example(examples, "Observation/NTHL1-snv-var")
    del variant["code"]
    variant["category"] = variant["category"][:1]
    issues = [str(i) for i in check_resource(variant, package)]
    assert any("Observation.code: has 0 value(s)" in i for i in issues), issues
    assert any("Observation.category:geCategory: has 0" in i for i in issues), issues


def test_a_wrong_fixed_code_is_caught(package: Package) -> None:
    bundle = build_genomics_bundle(preliminary_report(), None)
    report = bundle["entry"][0]["resource"]
    assert report["resourceType"] == "DiagnosticReport"
    report["code"]["coding"][0]["code"] = "81247-9"  # the old genomic report code
    issues = [str(i) for i in check_bundle(bundle, package)]
    assert len(issues) == 1
    assert "DiagnosticReport.code" in issues[0] and "51969-4" in issues[0]


def test_a_code_outside_a_required_value_set_is_caught(package: Package) -> None:
    bundle = build_genomics_bundle(preliminary_report(), None)
    variant = next(
        e["resource"]
        for e in bundle["entry"]
        if "variant" in str(e["resource"].get("meta", {}).get("profile"))
    )
    hgvs = next(c for c in variant["component"] if c["code"]["coding"][0]["code"] == "48004-6")
    hgvs["valueCodeableConcept"]["coding"][0]["system"] = "http://example.org/hgvs"
    variant["status"] = "done"
    issues = [str(i) for i in check_bundle(bundle, package)]
    assert any("hgvs-vs" in i for i in issues), issues
    assert any("Observation.status" in i and "observation-status" in i for i in issues), issues


def test_too_many_values_for_a_slice_are_caught(package: Package) -> None:
    bundle = build_genomics_bundle(preliminary_report(), None)
    variant = bundle["entry"][4]["resource"]
    source = next(c for c in variant["component"] if c["code"]["coding"][0]["code"] == "48002-0")
    variant["component"].append(copy.deepcopy(source))
    issues = [str(i) for i in check_bundle(bundle, package)]
    assert any("genomic-source-class: has 2 value(s)" in i for i in issues), issues


@pytest.mark.parametrize("build", [preliminary_report, final_report])
def test_seqoia_bundles_have_no_conformance_issue(package: Package, build) -> None:
    bundle = build_genomics_bundle(build(), b"%PDF-1.4 test")
    assert [str(i) for i in check_bundle(bundle, package)] == []


def test_extensions_are_checked_against_their_own_profiles(
    package: Package, examples: dict[str, dict[str, Any]]
) -> None:
    # The regions extension is reached through the element type's profile of the
    # genomic-study-analysis profile; its "studied" part must carry a value.
    analysis = _example(examples, "Procedure/analysisTumorRNA")
    assert check_resource(analysis, package) == []
    regions = next(e for e in analysis["extension"] if e["url"].endswith("analysis-regions"))
    del regions["extension"][0]["valueReference"]
    issues = [str(i) for i in check_resource(analysis, package)]
    assert any("extension:studied" in i and "value[x]: has 0" in i for i in issues), issues
