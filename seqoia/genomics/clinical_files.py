"""The files of a clinical report: ``<sample>.clinical.json`` and its renderings.

The report stage writes them for a preliminary report, the release for the final one,
from the one :class:`~seqoia.genomics.clinical_report.ClinicalReport`: the JSON always,
and the HTML page, the PDF and the FHIR Genomics Reporting bundle through the renderer
modules (``clinical_html``, ``clinical_pdf``, ``fhir_genomics``). Those modules are
written on another branch; until they are merged a rendering whose module is absent is
not written (the JSON still is), and :func:`renderers_available` says which are.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from seqoia.genomics.clinical_report import ClinicalReport

CLINICAL_JSON = ".clinical.json"


def write_clinical_json(report: ClinicalReport, out: Path) -> Path:
    """The report as sorted JSON (equal reports give equal bytes)."""
    out.write_text(json.dumps(report.model_dump(mode="json"), indent=2, sort_keys=True) + "\n")
    return out


def read_clinical_json(path: Path) -> ClinicalReport:
    """A report written by :func:`write_clinical_json`."""
    return ClinicalReport.model_validate_json(path.read_text())


def _module(name: str) -> Any | None:
    try:
        return importlib.import_module(f"seqoia.genomics.{name}")
    except ModuleNotFoundError as err:
        if err.name != f"seqoia.genomics.{name}":
            raise  # the renderer exists but something it needs is missing: say so
        return None


def renderers_available() -> dict[str, bool]:
    """Which renderer modules this installation has."""
    return {
        name: _module(name) is not None
        for name in ("clinical_html", "clinical_pdf", "fhir_genomics")
    }


def write_clinical_files(report: ClinicalReport, out_dir: Path) -> list[Path]:
    """``<sample>.clinical.json`` and every rendering this installation can write."""
    stem = out_dir / report.sample
    written = [write_clinical_json(report, Path(f"{stem}{CLINICAL_JSON}"))]
    html = _module("clinical_html")
    if html is not None:
        page = Path(f"{stem}.clinical.html")
        page.write_text(html.render_clinical_html(report))
        written.append(page)
    pdf_module = _module("clinical_pdf")
    pdf: bytes | None = None
    if pdf_module is not None:
        path = pdf_module.write_clinical_pdf(report, Path(f"{stem}.clinical.pdf"))
        pdf = path.read_bytes()
        written.append(path)
    fhir = _module("fhir_genomics")
    if fhir is not None:
        bundle = Path(f"{stem}.clinical.fhir.json")
        bundle.write_text(json.dumps(fhir.build_genomics_bundle(report, pdf), indent=1))
        written.append(bundle)
    return written
