"""The pair's report on hand-made inputs: JSON, HTML with its copy-number SVG, FHIR bundle."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from fhir.resources.R4B.bundle import Bundle  # R4B: the R4-compatible models of fhir.resources

from seqoia.genomics.copynumber import Segment, Window
from seqoia.genomics.identity import IdentityCheck
from seqoia.genomics.somatic_report import (
    PairReport,
    SomaticVariant,
    copy_number_svg,
    write_pair_report,
    write_segments_tsv,
)
from seqoia.genomics.tmb import TumourBurden

ISSUED = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
SEGMENTS = (
    Segment(contig="chr1", start=0, end=30_000, windows=3, log2_ratio=0.01, baf=0.51,
            het_sites=12, call="neutral"),
    Segment(contig="chr1", start=30_000, end=80_000, windows=5, log2_ratio=0.5, baf=0.66,
            het_sites=20, call="gain"),
)  # fmt: skip
WINDOWS = [
    Window(
        contig="chr1", start=i * 10_000, end=(i + 1) * 10_000, log2_ratio=0.5 if 3 <= i < 8 else 0
    )
    for i in range(8)
]


def _code(resource: dict) -> str | None:  # type: ignore[type-arg]
    return resource.get("code", {}).get("coding", [{}])[0].get("code")


def _report(normal: str | None) -> PairReport:
    return PairReport(
        pair="P-01",
        name=f"T-01_vs_{normal}" if normal else "T-01_tumour_only",
        tumour="T-01",
        normal=normal,
        mode="tumour/normal" if normal else "tumour-only",
        centre="CURIE",
        runs=("R1", "R2"),
        identity=IdentityCheck(first="T-01", second=normal, informative_sites=200,
                               concordance=0.98, passed=True, message="T-01 and N-01 share")
        if normal else None,
        somatic={"passed": 2},
        variants=(
            SomaticVariant(contig="chr1", pos=1234, ref="C", alt="T", tumour_vaf=0.31,
                           tumour_depth=48, normal_depth=30),
            SomaticVariant(contig="chr2", pos=777, ref="GA", alt="G", tumour_vaf=0.22,
                           tumour_depth=51, normal_depth=None),
        ),
        tmb=TumourBurden(mutations=2, callable_bp=190_000, per_mb=10.526,
                         territory="whole callable genome"),
        segments=SEGMENTS if normal else (),
        tools={"bcftools": "1.21"},
        reference={"name": "refs/demo/genome.fa", "sha256": "0" * 64},
    )  # fmt: skip


def test_the_pair_bundle_is_valid_fhir_and_marks_every_variant_somatic(tmp_path: Path) -> None:
    json_path, html_path, fhir_path = write_pair_report(
        tmp_path, _report("N-01"), WINDOWS, issued=ISSUED
    )
    assert fhir_path.name == "T-01_vs_N-01.fhir.json"
    data = json.loads(fhir_path.read_text())
    Bundle.model_validate(data)
    resources = [e["resource"] for e in data["entry"]]
    variants = [r for r in resources if _code(r) == "69548-6"]
    assert len(variants) == 2
    for variant in variants:
        sources = [
            c["valueCodeableConcept"]["coding"][0]
            for c in variant["component"]
            if c["code"]["coding"][0]["code"] == "48002-0"
        ]
        assert [(s["code"], s["display"]) for s in sources] == [("LA6684-0", "Somatic")]
    tmb = next(r for r in resources if _code(r) == "94076-7")
    assert tmb["valueQuantity"]["value"] == 10.526
    assert "whole callable genome" in tmb["note"][0]["text"]
    # Same inputs, same bundle: resource ids derive from the pair, not from chance.
    (tmp_path / "again").mkdir()
    again = write_pair_report(tmp_path / "again", _report("N-01"), WINDOWS, issued=ISSUED)[2]
    assert json.loads(again.read_text()) == data
    assert json.loads(json_path.read_text())["variants"][1]["ref"] == "GA"
    assert "Tumour-only" not in html_path.read_text()


def test_the_copy_number_svg_draws_each_window_and_each_segment_in_its_colour() -> None:
    svg = copy_number_svg(WINDOWS, SEGMENTS)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count('class="window"') == len(WINDOWS)
    assert svg.count('class="segment gain"') == 1 and svg.count('class="segment neutral"') == 1

    # The gain's line is drawn above the neutral one (SVG y grows downwards).
    def y_of(call: str) -> float:
        part = svg.split(f'class="segment {call}"')[1]
        return float(part.split('y1="')[1].split('"')[0])

    assert y_of("gain") < y_of("neutral")


def test_a_tumour_only_report_says_so_in_json_html_and_fhir(tmp_path: Path) -> None:
    json_path, html_path, fhir_path = write_pair_report(tmp_path, _report(None), [], issued=ISSUED)
    assert json.loads(json_path.read_text())["mode"] == "tumour-only"
    assert "Tumour-only analysis: no matched normal" in html_path.read_text()
    data = json.loads(fhir_path.read_text())
    Bundle.model_validate(data)
    report = next(e["resource"] for e in data["entry"]
                  if e["resource"]["resourceType"] == "DiagnosticReport")  # fmt: skip
    assert report["conclusion"].startswith("TUMOUR-ONLY (no matched normal).")


def test_segments_are_written_as_an_igv_seg_file(tmp_path: Path) -> None:
    out = write_segments_tsv(tmp_path / "p.cnv.seg", "T-01_vs_N-01", SEGMENTS)
    rows = [line.split("\t") for line in out.read_text().splitlines()]
    assert rows[0][:6] == ["ID", "chrom", "loc.start", "loc.end", "num.mark", "seg.mean"]
    assert rows[2] == ["T-01_vs_N-01", "chr1", "30001", "80000", "5", "0.5000", "0.6600", "20",
                       "gain"]  # fmt: skip
