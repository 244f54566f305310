"""The clinical report's PDF: same content as the page, A4, deterministic bytes.

Read back with poppler's ``pdfinfo`` / ``pdftotext`` (Debian ``poppler-utils``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from seqoia.genomics.clinical_pdf import MARGIN, render_clinical_pdf, write_clinical_pdf
from seqoia.genomics.clinical_report import Release
from tests.unit.genomics.clinical_fixture import (
    RELEASED_AT,
    final_report,
    long_report,
    preliminary_report,
    qc_failed_report,
)

A4_POINTS = (595.28, 841.89)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (Debian poppler-utils; scripts/test.sh installs it)")
    return path


def _info(pdf: Path) -> dict[str, str]:
    out = subprocess.run([_tool("pdfinfo"), str(pdf)], capture_output=True, text=True, check=True)
    return dict(
        (k.strip(), v.strip())
        for k, _, v in (line.partition(":") for line in out.stdout.splitlines())
    )


def _text(pdf: Path) -> str:
    out = subprocess.run(
        [_tool("pdftotext"), "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    )
    return out.stdout


def test_the_same_report_gives_the_same_bytes() -> None:
    assert render_clinical_pdf(final_report()) == render_clinical_pdf(final_report())
    other = final_report().model_copy(
        update={"release": Release(by="Dr B. Durand", reason="second reading", at=RELEASED_AT)}
    )
    assert render_clinical_pdf(other) != render_clinical_pdf(final_report())


def test_the_pdf_is_a4_and_dated_by_its_release(tmp_path: Path) -> None:
    pdf = write_clinical_pdf(final_report(), tmp_path / "S-7Q2K9.clinical.pdf")
    info = _info(pdf)
    width, height = (float(x) for x in re.findall(r"[\d.]+", info["Page size"])[:2])
    assert (round(width, 2), round(height, 2)) == A4_POINTS
    assert info["CreationDate"].startswith("Tue Dec  1 09:30:00 2026")
    assert not (tmp_path / "S-7Q2K9.clinical.pdf.part").exists()


def test_a_preliminary_pdf_is_dated_by_its_effective_time(tmp_path: Path) -> None:
    info = _info(write_clinical_pdf(preliminary_report(), tmp_path / "p.pdf"))
    assert info["CreationDate"].startswith("Mon Nov 30 14:05:12 2026")


def test_the_pdf_says_what_the_page_says(tmp_path: Path) -> None:
    text = _text(write_clinical_pdf(qc_failed_report(), tmp_path / "q.pdf"))
    flat = " ".join(text.split())
    for expected in (
        "PRELIMINARY — not for clinical use",
        "S-7Q2K9",
        "QC FAILED: 2 checks missed their thresholds.",
        "Mean coverage (×) 18.40 misses ≥ 25.00",
        "Duplicate reads (%) 27.90 misses ≤ 20.00",
        "CFTR",
        "<b>TP53",  # escaped for the PDF's markup, shown as written
        "Pathogenic",
        "DMD exon 45 (62 %)",
        "Tool: samtools",
        "1.16.1",
        "S-7Q2K9.md.cram",
        "b" * 40,
    ):
        assert expected in flat, expected
    assert "{'" not in flat


@pytest.mark.parametrize("build", [final_report, long_report])
def test_text_stays_within_the_page_margins(tmp_path: Path, build) -> None:
    pdf = write_clinical_pdf(build(), tmp_path / "f.pdf")
    html = tmp_path / "bbox.html"
    subprocess.run([_tool("pdftotext"), "-bbox", str(pdf), str(html)], check=True)
    boxes = [
        (float(a), float(b))
        for a, b in re.findall(
            r'<word xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)"', html.read_text()
        )
    ]
    assert len(boxes) > 200
    left = min(x for x, _ in boxes)
    right = max(x for _, x in boxes)
    assert left >= MARGIN - 0.5, left
    assert right <= A4_POINTS[0] - MARGIN + 0.5, right


def test_a_long_report_spans_pages_and_repeats_the_variant_header(tmp_path: Path) -> None:
    pdf = write_clinical_pdf(long_report(), tmp_path / "long.pdf")
    assert int(_info(pdf)["Pages"]) >= 2
    pages = _text(pdf).split("\f")
    with_header = [p for p in pages if "HGVS c." in p and "Zygosity" in p]
    assert len(with_header) >= 2
    flat = " ".join(_text(pdf).split())
    assert "DMD exon 39 (79 %)" in flat and "page 2" in flat


def test_the_pdf_embeds_a_font_with_the_report_symbols(tmp_path: Path) -> None:
    # ≥, ×, – and accents need DejaVu (fonts-dejavu-core); the fallback font lacks ≥.
    pdf = write_clinical_pdf(qc_failed_report(), tmp_path / "q.pdf")
    out = subprocess.run([_tool("pdffonts"), str(pdf)], capture_output=True, text=True, check=True)
    fonts = out.stdout.splitlines()[2:]
    assert any("DejaVuSans" in line and " yes " in line for line in fonts), out.stdout
