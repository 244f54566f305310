#!/usr/bin/env python3
"""Render sample clinical reports to HTML and PDF and take pictures of them.

For each case of ``tests/unit/genomics/clinical_fixture.py`` (preliminary, qc_failed,
final) this writes ``<case>.html`` and ``<case>.pdf``, a screenshot of the page in
headless Chromium at the width of A4 at 96 dpi (794 × 1123 px), PNGs of the PDF's pages
(poppler's ``pdftoppm``), and measures in Chromium whether anything runs wider than the
window. It prints one JSON summary and exits 1 when a page overflows.

Usage: PYTHONPATH=. python scripts/report_screenshots.py [--out DIR] [--case NAME ...]
Needs Debian's ``chromium`` and ``poppler-utils``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from seqoia.genomics.clinical_html import render_clinical_html  # noqa: E402
from seqoia.genomics.clinical_pdf import write_clinical_pdf  # noqa: E402
from tests.unit.genomics import clinical_fixture  # noqa: E402

A4_WINDOW = (794, 1123)  # A4 at 96 dpi, what a browser prints on
CASES = {
    "preliminary": clinical_fixture.preliminary_report,
    "qc_failed": clinical_fixture.qc_failed_report,
    "final": clinical_fixture.final_report,
    "long": clinical_fixture.long_report,
}
CHROMIUM_TIMEOUT_S = 90

# Measures the laid-out page and writes the numbers into the DOM that --dump-dom prints.
_MEASURE = """<script>
(function () {
  var root = document.documentElement;
  var right = 0;
  var cells = 0;
  document.querySelectorAll('body *').forEach(function (e) {
    right = Math.max(right, e.getBoundingClientRect().right);
    if ((e.tagName === 'TD' || e.tagName === 'TH') && e.scrollWidth > e.clientWidth + 1) {
      cells += 1;
    }
  });
  var out = {scrollWidth: root.scrollWidth, clientWidth: root.clientWidth,
             innerWidth: window.innerWidth, maxRight: Math.ceil(right),
             overflowingCells: cells};
  var pre = document.createElement('pre');
  pre.id = 'seqoia-measure';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"""


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise SystemExit(f"{tool} is not installed (Debian: chromium, poppler-utils)")
    return path


def chromium_command(profile: Path, *extra: str) -> list[str]:
    """Headless Chromium that reaches no network and keeps no state between runs."""
    width, height = A4_WINDOW
    return [
        _need("chromium"),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
        *extra,
    ]


def screenshot_html(html: Path, png: Path) -> Path:
    with tempfile.TemporaryDirectory(prefix="seqoia-chromium-") as profile:
        subprocess.run(
            chromium_command(Path(profile), f"--screenshot={png}", html.resolve().as_uri()),
            check=True,
            capture_output=True,
            timeout=CHROMIUM_TIMEOUT_S,
        )
    if not png.exists():
        raise RuntimeError(f"chromium wrote no screenshot for {html}")
    return png


def measure_overflow(html: Path) -> dict[str, int]:
    """Layout widths of ``html`` in a 794-px-wide window, measured by Chromium."""
    page = html.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="seqoia-chromium-") as tmp:
        probe = Path(tmp) / "probe.html"
        probe.write_text(page.replace("</body>", _MEASURE + "</body>"), encoding="utf-8")
        done = subprocess.run(
            chromium_command(Path(tmp) / "profile", "--dump-dom", probe.as_uri()),
            check=True,
            capture_output=True,
            text=True,
            timeout=CHROMIUM_TIMEOUT_S,
        )
    found = re.search(r'<pre id="seqoia-measure">(.*?)</pre>', done.stdout, re.S)
    if found is None:
        raise RuntimeError(f"chromium did not measure {html}: {done.stderr[-500:]}")
    return json.loads(found.group(1).replace("&quot;", '"'))


def overflows(measure: dict[str, int]) -> bool:
    return (
        measure["scrollWidth"] > measure["clientWidth"]
        or measure["maxRight"] > measure["innerWidth"]
        or measure["overflowingCells"] > 0
    )


def screenshot_pdf(pdf: Path, prefix: Path, dpi: int = 72) -> list[Path]:
    subprocess.run(
        [_need("pdftoppm"), "-r", str(dpi), "-png", str(pdf), str(prefix)],
        check=True,
        capture_output=True,
    )
    return sorted(prefix.parent.glob(prefix.name + "-*.png"))


def render_case(name: str, out: Path) -> dict[str, object]:
    report = CASES[name]()
    html = out / f"{name}.html"
    html.write_text(render_clinical_html(report), encoding="utf-8")
    pdf = write_clinical_pdf(report, out / f"{name}.pdf")
    measure = measure_overflow(html)
    return {
        "html": str(html),
        "pdf": str(pdf),
        "html_png": str(screenshot_html(html, out / f"{name}.html.png")),
        "pdf_pngs": [str(p) for p in screenshot_pdf(pdf, out / f"{name}.pdf")],
        "measure": measure,
        "overflows": overflows(measure),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("report-screenshots"))
    parser.add_argument("--case", action="append", choices=sorted(CASES))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {name: render_case(name, args.out) for name in args.case or sorted(CASES)}
    print(json.dumps(summary, indent=2))
    return 1 if any(case["overflows"] for case in summary.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
