"""The report pictures script: pages fit the width of A4 in a real browser (Chromium)."""

from __future__ import annotations

import importlib.util
import shutil
import struct
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).parents[3] / "scripts" / "report_screenshots.py"


@pytest.fixture(scope="module")
def script() -> ModuleType:
    for tool in ("chromium", "pdftoppm"):
        if shutil.which(tool) is None:
            pytest.fail(
                f"{tool} is not installed (scripts/test.sh installs chromium, poppler-utils)"
            )
    spec = importlib.util.spec_from_file_location("report_screenshots", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def test_the_report_page_fits_a4_width_and_is_pictured(script: ModuleType, tmp_path: Path) -> None:
    # One case through the whole script (each Chromium start costs seconds on a shared box):
    # the longest one, with a 120-base insertion's HGVS and 40 variants over pages.
    assert script.main(["--out", str(tmp_path), "--case", "long"]) == 0
    assert _png_size(tmp_path / "long.html.png") == (794, 1123)
    pages = sorted(tmp_path.glob("long.pdf-*.png"))
    assert len(pages) >= 2
    assert pages, "pdftoppm wrote no page"
    width, height = _png_size(pages[0])
    assert abs(width - 595) <= 1 and abs(height - 842) <= 1  # A4 at 72 dpi, pixels rounded


def test_the_overflow_measure_sees_a_page_that_is_too_wide(
    script: ModuleType, tmp_path: Path
) -> None:
    page = tmp_path / "wide.html"
    page.write_text(
        "<!DOCTYPE html><html><body><table style='table-layout:fixed;width:300px'><tr>"
        "<td>" + "X" * 400 + "</td></tr></table></body></html>",
        encoding="utf-8",
    )
    measure = script.measure_overflow(page)
    assert script.overflows(measure), measure
    assert measure["scrollWidth"] > 794
