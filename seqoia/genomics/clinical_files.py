"""The files of a clinical report: ``<sample>.clinical.json`` and its renderings.

The report stage writes them for a preliminary report, the release for the final one,
from the one :class:`~seqoia.genomics.clinical_report.ClinicalReport`:

- ``<sample>.clinical.json``: the model itself (sorted keys: equal reports, equal bytes);
- ``<sample>.clinical.html``: the self-contained page (:mod:`~seqoia.genomics.clinical_html`);
- ``<sample>.clinical.pdf``: the printable report (:mod:`~seqoia.genomics.clinical_pdf`);
- ``<sample>.clinical.fhir.json``: the FHIR Genomics Reporting bundle, the PDF attached
  (:mod:`~seqoia.genomics.fhir_genomics`).
"""

from __future__ import annotations

import json
from pathlib import Path

from seqoia.genomics.clinical_html import render_clinical_html
from seqoia.genomics.clinical_pdf import write_clinical_pdf
from seqoia.genomics.clinical_report import ClinicalReport
from seqoia.genomics.fhir_genomics import build_genomics_bundle

CLINICAL_JSON = ".clinical.json"
RENDERINGS = (".clinical.html", ".clinical.pdf", ".clinical.fhir.json")


def write_clinical_json(report: ClinicalReport, out: Path) -> Path:
    """The report as sorted JSON (equal reports give equal bytes)."""
    out.write_text(json.dumps(report.model_dump(mode="json"), indent=2, sort_keys=True) + "\n")
    return out


def read_clinical_json(path: Path) -> ClinicalReport:
    """A report written by :func:`write_clinical_json`."""
    return ClinicalReport.model_validate_json(path.read_text())


def write_clinical_files(report: ClinicalReport, out_dir: Path) -> list[Path]:
    """``<sample>.clinical.json`` and its HTML, PDF and FHIR renderings, in ``out_dir``."""
    stem = f"{out_dir}/{report.sample}"
    written = [write_clinical_json(report, Path(stem + CLINICAL_JSON))]
    page = Path(stem + ".clinical.html")
    page.write_text(render_clinical_html(report))
    pdf = write_clinical_pdf(report, Path(stem + ".clinical.pdf"))
    bundle = Path(stem + ".clinical.fhir.json")
    bundle.write_text(json.dumps(build_genomics_bundle(report, pdf.read_bytes()), indent=1))
    return [*written, page, pdf, bundle]
