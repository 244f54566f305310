"""Per-sample JSON and HTML reports: same data, deterministic, self-contained, escaped."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree

import pytest

from seqoia.genomics.qc import QCMetrics, VariantMetrics
from seqoia.genomics.qc_gate import QCThresholds, evaluate_gate
from seqoia.genomics.report import (
    build_report,
    coverage_svg,
    file_checksum,
    write_report_html,
    write_report_json,
)

METRICS = QCMetrics(
    read_pairs=110_002,
    q30_pct=88.1,
    gc_pct=41.4,
    mapped_pct=99.9,
    properly_paired_pct=99.5,
    duplicate_pct=31.0,
    median_insert_size=349.0,
    coverage_region="autosomes",
    mean_coverage=29.4,
    pct_20x=96.7,
    snvs=1249,
    indels=193,
    ti_tv=2.04,
    het_hom_ratio=1.6,
    predicted_sex="XY",
)
VARIANTS = VariantMetrics(
    records=1442,
    snvs=1249,
    indels=193,
    transitions=838,
    transversions=411,
    het_snvs=652,
    hom_alt_snvs=597,
)
PROFILE = [
    (contig, start, depth)
    for contig, n, depth in (("chr1", 40, 30.0), ("chr2", 30, 29.0), ("chrX", 10, 15.0))
    for start, depth in ((i * 10_000, depth + (i % 3)) for i in range(n))
]


@pytest.fixture
def fields(tmp_path: Path) -> dict:
    cram = tmp_path / "S01.md.cram"
    cram.write_bytes(b"CRAM" * 1000)
    verdict = evaluate_gate(METRICS, QCThresholds())
    return dict(
        sample="S01",
        runs=["250101_A00123_0042_BHSIMFLOWX"],
        metrics=METRICS,
        verdict=verdict,
        variant_stats=VARIANTS,
        tools={"samtools": "1.24", "bcftools": "1.24"},
        reference={"name": "sim-1Mbp", "sha256": "ab" * 32},
        files=[file_checksum(cram)],
        thresholds=QCThresholds(),
    )


def test_file_checksum_streams_sha256_and_size(tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000
    (tmp_path / "f.bin").write_bytes(data)
    checksum = file_checksum(tmp_path / "f.bin", name="x/f.bin", chunk_bytes=1000)
    assert checksum.sha256 == hashlib.sha256(data).hexdigest()
    assert checksum.size == len(data) and checksum.name == "x/f.bin"


def test_json_report_carries_verdict_metrics_and_derived_variant_ratios(
    fields: dict, tmp_path: Path
) -> None:
    out = write_report_json(tmp_path / "S01.report.json", build_report(**fields))
    doc = json.loads(out.read_text())
    assert doc["schema_id"] == "seqoia.sample-report/1"
    assert doc["sample"] == "S01" and doc["qc_passed"] is False
    assert [f["metric"] for f in doc["verdict"]["failures"]] == ["duplicate_pct"]
    assert doc["metrics"]["mean_coverage"] == 29.4
    assert doc["variant_stats"]["ti_tv"] == pytest.approx(838 / 411)
    assert doc["files"][0] == {
        "name": "S01.md.cram",
        "sha256": hashlib.sha256(b"CRAM" * 1000).hexdigest(),
        "size": 4000,
    }
    assert doc["generated_at"] is None
    again = write_report_json(tmp_path / "again.json", build_report(**fields))
    assert again.read_bytes() == out.read_bytes()


def test_html_report_has_qc_table_with_fail_colouring_and_an_svg_plot(
    fields: dict, tmp_path: Path
) -> None:
    when = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    out = write_report_html(
        tmp_path / "S01.report.html", build_report(generated_at=when, **fields), PROFILE
    )
    page = out.read_text()
    HTMLParser().feed(page)  # well-formed enough for the standard parser
    assert '<table class="qc">' in page
    fail_rows = re.findall(r'<tr class="fail">(.*?)</tr>', page)
    assert len(fail_rows) == 1 and "Duplicate reads" in fail_rows[0] and "≤ 20.00" in fail_rows[0]
    assert len(re.findall(r'<tr class="pass">', page)) >= 8
    assert "QC FAIL" in page and "2026-01-02T03:04:00+00:00" in page
    svg = re.search(r"<svg.*?</svg>", page, re.S)
    assert svg is not None
    root = ElementTree.fromstring(svg.group(0))
    polygons = root.findall("{http://www.w3.org/2000/svg}polygon")
    assert len(polygons) == 3  # one area per contig
    assert hashlib.sha256(b"CRAM" * 1000).hexdigest() in page
    assert "sim-1Mbp" in page and "1.24" in page
    # Self-contained: no scripts, stylesheets or images fetched from anywhere.
    assert not re.search(r"<script|<link|src=|@import|url\(", page)


def test_html_escapes_every_field(fields: dict, tmp_path: Path) -> None:
    fields["sample"] = "S<01>&"
    fields["tools"] = {"evil": "<script>alert(1)</script>"}
    page = write_report_html(tmp_path / "r.html", build_report(**fields)).read_text()
    assert "<script>" not in page
    assert "S&lt;01&gt;&amp;" in page
    assert "No coverage profile" in page


def test_coverage_svg_scales_to_the_bulk_of_the_profile_not_its_spikes() -> None:
    profile = [("chr1", i * 100, 30.0) for i in range(200)] + [("chr1", 20_000, 5000.0)]
    svg = coverage_svg(profile, height=260)
    root = ElementTree.fromstring(svg)
    labels = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "30×" in labels and "5000×" not in labels
