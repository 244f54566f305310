"""The family FHIR bundle: variants, their origin and modes of inheritance, coded per the IG.

Built from a hand-made family report; checked against the Genomics Reporting IG 3.0.0
package (tests/data/fhir-genomics-ig) with seqoia's conformance checker.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from seqoia.genomics.clinical_report import Release
from seqoia.genomics.denovo import DeNovoCandidate
from seqoia.genomics.family import FamilyAnalysis
from seqoia.genomics.family_fhir import build_family_bundle
from seqoia.genomics.family_report import FamilyReport
from seqoia.genomics.fhir_conformance import Package, check_bundle
from seqoia.genomics.inheritance import VariantModes
from seqoia.genomics.mendelian import MendelianSummary
from seqoia.genomics.pedigree import trio

IG = Path(__file__).parents[2] / "data" / "fhir-genomics-ig" / "definitions"
ISSUED = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
TBD = "http://hl7.org/fhir/uv/genomics-reporting/CodeSystem/tbd-codes-cs"
HPO = "http://human-phenotype-ontology.org"


def _report() -> FamilyReport:
    de_novo = DeNovoCandidate(contig="chr1", pos=100, ref="A", alt="G", posterior=0.99, passed=True)
    rejected = DeNovoCandidate(contig="chr1", pos=200, ref="C", alt="T", posterior=0.2,
                               passed=False)  # fmt: skip
    variants = (
        VariantModes(contig="chr1", pos=100, ref="A", alt="G", gene="GENE1", origin="de_novo",
                     modes=("de_novo",)),
        VariantModes(contig="chr2", pos=300, ref="G", alt="A", gene="GENE2", origin="both",
                     modes=("homozygous_recessive",)),
        VariantModes(contig="chr2", pos=400, ref="T", alt="C", gene="GENE3", origin="maternal",
                     modes=("compound_heterozygous",)),
        VariantModes(contig="chr2", pos=500, ref="T", alt="TA", gene="GENE3", origin="paternal",
                     modes=("compound_heterozygous", "dominant_inherited")),
        VariantModes(contig="chrX", pos=600, ref="C", alt="A", gene="GENE4", origin="maternal",
                     modes=("x_linked_hemizygous",)),
        VariantModes(contig="chr3", pos=700, ref="A", alt="C", gene=None, origin="unknown",
                     modes=()),  # no mode: not a candidate, not in the bundle
    )  # fmt: skip
    analysis = FamilyAnalysis(
        family="FAM1", relatedness=(), sex=(), mendelian=MendelianSummary(sites=100, errors=1),
        unexplained_errors=0, de_novo=(de_novo, rejected), variants=variants,
    )  # fmt: skip
    return FamilyReport(
        family="FAM1", centre="APHP", runs=("RUN1",), composition="trio",
        pedigree=trio("FAM1", "P1", "M1", "F1", proband_sex="male"), analysis=analysis,
    )  # fmt: skip


def _resources(bundle: dict[str, Any], profile: str) -> list[dict[str, Any]]:
    return [
        e["resource"]
        for e in bundle["entry"]
        if any(p.endswith("/" + profile) for p in e["resource"].get("meta", {}).get("profile", []))
    ]


def _value(observation: dict[str, Any], loinc: str) -> dict[str, Any] | None:
    for c in observation["component"]:
        if c["code"]["coding"][0]["code"] == loinc:
            return c["valueCodeableConcept"]
    return None


@pytest.fixture(scope="module")
def package() -> Package:
    return Package.from_folder(IG)


def test_the_family_bundle_conforms_to_the_genomics_reporting_ig(package: Package) -> None:
    bundle = build_family_bundle(_report(), ISSUED)
    assert [str(i) for i in check_bundle(bundle, package)] == []
    final = build_family_bundle(_report().released(Release(by="Dr L", reason="ok", at=ISSUED)),
                                ISSUED)  # fmt: skip
    assert [str(i) for i in check_bundle(final, package)] == []
    assert {e["resource"].get("status") for e in final["entry"]} - {None} == {"final"}


def test_variant_origin_is_coded_from_loinc_ll5489_1_where_the_list_has_an_answer() -> None:
    variants = _resources(build_family_bundle(_report(), ISSUED), "variant")
    by_pos = {v["component"][2]["valueRange"]["low"]["value"]: v for v in variants}
    assert sorted(by_pos) == [100, 300, 400, 500, 600]  # the rejected candidate and no-mode out
    assert _value(by_pos[400], "94186-4") == {
        "coding": [{"system": "http://loinc.org", "code": "LA26320-4", "display": "Maternal"}]
    }
    assert _value(by_pos[500], "94186-4")["coding"][0]["code"] == "LA26321-2"  # type: ignore[index]
    # LL5489-1 has no de novo nor both-parents answer: text, as the extensible binding allows
    assert _value(by_pos[100], "94186-4") == {"text": "De novo"}
    assert _value(by_pos[300], "94186-4") == {"text": "Maternal and paternal"}
    basis = _value(by_pos[100], "82309-6")
    assert basis is not None and basis["coding"][0]["code"] == "LA26426-9"  # directly measured
    assert _value(by_pos[100], "48002-0")["coding"][0]["code"] == "LA6683-2"  # type: ignore[index]


def test_each_mode_of_inheritance_is_a_diagnostic_implication_with_an_hpo_code() -> None:
    bundle = build_family_bundle(_report(), ISSUED)
    variants = {v["id"]: v for v in _resources(bundle, "variant")}
    modes: dict[int, list[str]] = {}
    for implication in _resources(bundle, "diagnostic-implication"):
        (source,) = implication["derivedFrom"]
        variant = variants[source["reference"].removeprefix("urn:uuid:")]
        (component,) = implication["component"]
        assert component["code"]["coding"][0] == {
            "system": TBD, "code": "condition-inheritance", "display": "Condition Inheritance",
        }  # fmt: skip
        (coding,) = component["valueCodeableConcept"]["coding"]
        assert coding["system"] == HPO
        start = next(c for c in variant["component"] if c["code"]["coding"][0]["code"] == "81254-5")
        modes.setdefault(start["valueRange"]["low"]["value"], []).append(coding["code"])
    assert modes == {
        100: ["HP:0025352"],  # Typically de novo
        300: ["HP:0000007"],  # Autosomal recessive inheritance
        400: ["HP:0000007"],
        500: ["HP:0000007", "HP:0000006"],  # compound het, and dominant inherited
        600: ["HP:0001419"],  # X-linked recessive inheritance
    }
    report = next(e["resource"] for e in bundle["entry"]
                  if e["resource"]["resourceType"] == "DiagnosticReport")  # fmt: skip
    assert len(report["result"]) == 5 + 6
