"""The FHIR R4 genomics bundle: valid, self-consistent, pseudonymous and reproducible."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle  # R4B: the R4-compatible models of fhir.resources

from seqoia.genomics.fhir import ReportedVariant, build_fhir_bundle, reported_variants
from seqoia.genomics.qc import QCMetrics
from seqoia.genomics.qc_gate import QCThresholds, evaluate_gate
from seqoia.genomics.report import FileChecksum

ISSUED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
VCF = """##fileformat=VCFv4.2
##contig=<ID=chr1,length=100000>
##contig=<ID=chrX,length=50000>
##FILTER=<ID=PASS,Description="All filters passed">
##FILTER=<ID=LowQual,Description="Low quality">
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">
##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS01
chr1\t100\t.\tA\tG\t50\tPASS\t.\tGT:AD:DP\t0/1:12,18:30
chr1\t200\t.\tC\tT\t10\tLowQual\t.\tGT:AD:DP\t0/1:20,3:23
chr1\t300\t.\tCTT\tC,CT\t60\tPASS\t.\tGT:AD:DP\t1/2:0,14,15:29
chr1\t400\t.\tG\tA\t40\t.\t.\tGT:AD:DP\t./.:.:0
chr1\t500\t.\tT\tC\t70\tPASS\t.\tGT:AD:DP\t1/1:0,28:28
chrX\t800\t.\tA\tT\t55\tPASS\t.\tGT:DP\t1:16
"""
LOINC_VARIANT_COMPONENTS = {"48001-2", "92822-6", "81254-5", "69547-8", "69551-0", "53034-5"}


@pytest.fixture
def vcf(tmp_path: Path) -> Path:
    path = tmp_path / "S01.vcf"
    path.write_text(VCF)
    return path


def _bundle(passed: bool, variants: list[ReportedVariant], **kw: object) -> dict:
    metrics = QCMetrics(
        q30_pct=91.0,
        mean_coverage=31.2,
        duplicate_pct=4.0 if passed else 42.0,
        predicted_sex="XY",
        ti_tv=2.05,
    )
    verdict = evaluate_gate(metrics, QCThresholds())
    assert verdict.passed is passed
    files = [
        FileChecksum(
            name="S01/S01.md.cram", sha256=hashlib.sha256(b"cram").hexdigest(), size=3 << 30
        ),
        FileChecksum(name="S01/S01.bcftools.vcf.gz", sha256="0f" * 32, size=12_345),
    ]
    return build_fhir_bundle(
        sample="S01",
        metrics=metrics,
        verdict=verdict,
        variants=variants,
        total_variants=5,
        files=files,
        reference={"name": "GRCh38_sim", "sha256": "ab" * 32},
        issued=ISSUED,
        **kw,
    )


def _resources(bundle: dict, kind: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def _references(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return found + [r for v in node.values() for r in _references(v)]
    if isinstance(node, list):
        return [r for v in node for r in _references(v)]
    return []


def test_reported_variants_keep_pass_calls_split_alleles_and_read_ad(vcf: Path) -> None:
    variants, total = reported_variants(vcf)
    assert total == 5
    assert [(v.pos, v.alt, v.zygosity) for v in variants] == [
        (100, "G", "heterozygous"),
        (300, "C", "heterozygous"),
        (300, "CT", "heterozygous"),
        (500, "C", "homozygous"),
        (800, "T", "hemizygous"),
    ]
    assert variants[0].vaf == pytest.approx(0.6) and variants[0].depth == 30
    assert variants[4].depth == 16 and variants[4].vaf is None
    capped, total = reported_variants(vcf, max_variants=2)
    assert len(capped) == 2 and total == 5
    everything, total = reported_variants(vcf, pass_only=False)
    assert total == 6 and any(v.pos == 200 for v in everything)


@pytest.mark.parametrize("bundle_type", ["collection", "document"])
def test_bundle_validates_against_the_fhir_models(vcf: Path, bundle_type: str) -> None:
    variants, _ = reported_variants(vcf)
    bundle = _bundle(True, variants, bundle_type=bundle_type)
    parsed = Bundle.model_validate(json.loads(json.dumps(bundle)))
    kinds = [type(e.resource).__name__ for e in parsed.entry]
    assert kinds.count("Observation") == len(variants) + 5
    assert kinds.count("DocumentReference") == 2
    assert (kinds[0] == "Composition") is (bundle_type == "document")
    broken = json.loads(json.dumps(bundle))
    broken["entry"][-1]["resource"]["content"][0]["attachment"]["sizeInBytes"] = 1
    with pytest.raises(ValueError):
        Bundle.model_validate(broken)


def test_every_reference_resolves_inside_the_bundle(vcf: Path) -> None:
    bundle = _bundle(True, reported_variants(vcf)[0], bundle_type="document")
    full_urls = {e["fullUrl"] for e in bundle["entry"]}
    assert len(full_urls) == len(bundle["entry"])
    assert set(_references(bundle)) <= full_urls


def test_report_status_follows_the_qc_verdict(vcf: Path) -> None:
    variants, _ = reported_variants(vcf)
    good = _resources(_bundle(True, variants), "DiagnosticReport")[0]
    bad = _resources(_bundle(False, variants), "DiagnosticReport")[0]
    assert good["code"]["coding"][0]["code"] == "81247-9"
    assert good["status"] == "final" and bad["status"] == "preliminary"
    assert "QC failed" in bad["conclusion"] and "Duplicate reads" in bad["conclusion"]
    assert "5 of 5 PASS variants" in good["conclusion"]
    dup = next(
        o
        for o in _resources(_bundle(False, variants), "Observation")
        if o["code"]["coding"][0]["code"] == "duplicate_pct"
    )
    assert dup["interpretation"][0]["coding"][0]["code"] == "A"
    assert dup["referenceRange"][0]["text"] == "≤ 20.00" and dup["status"] == "preliminary"


def test_patient_is_a_pseudonymous_identifier_and_nothing_else(vcf: Path) -> None:
    (patient,) = _resources(_bundle(True, []), "Patient")
    assert set(patient) == {"resourceType", "id", "identifier"}
    assert patient["identifier"][0]["value"] == "S01"


def test_variant_observations_carry_the_genomics_ig_components(vcf: Path) -> None:
    variants, _ = reported_variants(vcf)
    observations = [
        o
        for o in _resources(_bundle(True, variants), "Observation")
        if o["code"]["coding"][0]["code"] == "69548-6"
    ]
    assert len(observations) == len(variants)
    first = observations[0]
    codes = {c["code"]["coding"][0]["code"]: c for c in first["component"]}
    assert set(codes) >= LOINC_VARIANT_COMPONENTS
    assert codes["69547-8"]["valueString"] == "A" and codes["69551-0"]["valueString"] == "G"
    assert codes["53034-5"]["valueCodeableConcept"]["coding"][0]["code"] == "LA6706-1"
    assert codes["81254-5"]["valueRange"]["low"]["value"] == 100
    assert codes["62374-4"]["valueCodeableConcept"]["coding"][0]["code"] == "LA26806-2"
    assert codes["81258-6"]["valueQuantity"]["value"] == pytest.approx(0.6)
    hemi = {c["code"]["coding"][0]["code"]: c for c in observations[-1]["component"]}
    assert hemi["53034-5"]["valueCodeableConcept"]["coding"][0]["code"] == "LA6707-9"


def test_document_references_name_files_by_relative_url_and_digest(vcf: Path) -> None:
    cram, vcf_doc = _resources(_bundle(True, []), "DocumentReference")
    attachment = cram["content"][0]["attachment"]
    assert attachment["url"] == "S01/S01.md.cram"
    assert attachment["contentType"] == "application/vnd.ga4gh.cram"
    assert "size" not in attachment  # 3 GiB overflows R4's unsignedInt; kept in an extension
    digest = hashlib.sha256(b"cram").digest()
    ni = "ni:///sha-256;" + base64.urlsafe_b64encode(digest).decode().rstrip("=")
    assert cram["identifier"][0]["value"] == ni
    assert any(e.get("valueString") == digest.hex() for e in cram["extension"])
    assert vcf_doc["content"][0]["attachment"]["size"] == 12_345


def test_same_inputs_give_the_same_bundle_and_a_new_key_new_ids(vcf: Path) -> None:
    variants, _ = reported_variants(vcf)
    assert _bundle(True, variants) == _bundle(True, variants)
    other = _bundle(True, variants, report_key="generation-2")
    assert other["id"] != _bundle(True, variants)["id"]


def test_naive_issue_time_is_refused() -> None:
    metrics = QCMetrics()
    with pytest.raises(ValueError, match="timezone"):
        build_fhir_bundle(
            sample="S01",
            metrics=metrics,
            verdict=evaluate_gate(metrics),
            variants=[],
            files=[],
            reference={"name": "r", "sha256": "00" * 32},
            issued=datetime(2026, 1, 1),
        )
