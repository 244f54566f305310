"""The clinical report as one self-contained HTML page a clinician can read and print.

Inline CSS, no script, no external fetch (the page is opened in hospital networks that
reach nothing outside). Laid out for A4 (``@page``): tables have fixed layouts and wrap
long HGVS names and checksums, so nothing runs off the page. Every value is escaped:
gene names, HGVS and ClinVar text come from files the laboratory did not write.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from seqoia.genomics import clinical_layout as layout
from seqoia.genomics.clinical_report import ClinicalReport

_CSS = """
@page { size: A4; margin: 14mm 12mm 16mm 12mm; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; font-size: 9.5pt;
  color: #111; margin: 0 auto; padding: 8px; max-width: 186mm; line-height: 1.35; }
h1 { font-size: 14pt; margin: 0 0 4px 0; }
h2 { font-size: 11pt; margin: 14px 0 4px 0; border-bottom: 1px solid #999;
  page-break-after: avoid; }
.banner { padding: 6px 10px; font-weight: bold; font-size: 11pt; margin: 6px 0 8px 0;
  border: 2px solid; }
.banner.preliminary { background: #fff3cd; border-color: #b58900; color: #5c4400; }
.banner.final { background: #e3f4e3; border-color: #2e7d32; color: #1b4d1e; }
.qc.pass { color: #1b5e20; font-weight: bold; }
.qc.fail { color: #b00020; font-weight: bold; }
table { width: 100%; border-collapse: collapse; table-layout: fixed; margin: 2px 0 6px 0; }
th, td { border: 1px solid #bbb; padding: 2px 4px; text-align: left; vertical-align: top;
  overflow-wrap: break-word; hyphens: auto; }
th { background: #eee; font-weight: bold; overflow-wrap: normal; }
tr { page-break-inside: avoid; }
thead { display: table-header-group; }
table.facts th { width: 32%; }
td.mono, .mono { font-family: "DejaVu Sans Mono", "Liberation Mono", monospace;
  font-size: 8pt; overflow-wrap: anywhere; }
table.variants { font-size: 8pt; }
td.fail { color: #b00020; font-weight: bold; }
ul { margin: 2px 0 6px 18px; padding: 0; }
footer { margin-top: 12px; font-size: 8pt; color: #555; }
"""


def _table(
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    css_class: str = "",
    widths: Sequence[int] | None = None,
    mono: Sequence[int] = (),
) -> str:
    parts = [f'<table class="{escape(css_class)}">']
    if widths:
        parts.append("<colgroup>")
        parts += [f'<col style="width:{w}%">' for w in widths]
        parts.append("</colgroup>")
    parts.append("<thead><tr>")
    parts += [f"<th>{escape(c)}</th>" for c in columns]
    parts.append("</tr></thead><tbody>")
    for row in rows:
        parts.append("<tr>")
        for i, cell in enumerate(row):
            classes = []
            if i in mono:
                classes.append("mono")
            if cell == "FAIL":
                classes.append("fail")
            attr = f' class="{" ".join(classes)}"' if classes else ""
            text = escape(cell)
            if i in mono:
                # HGVS: break after the accession ("NM_…:" then "c.…") before breaking anywhere.
                text = text.replace(":", ":<wbr>")
            parts.append(f"<td{attr}>{text}</td>")
        parts.append("</tr>")
    parts.append("</tbody></table>")
    return "".join(parts)


def _facts(rows: Sequence[tuple[str, str]], *, mono_labels: Sequence[str] = ()) -> str:
    parts = ['<table class="facts"><tbody>']
    for label, value in rows:
        cls = ' class="mono"' if label in mono_labels else ""
        parts.append(f"<tr><th>{escape(label)}</th><td{cls}>{escape(value)}</td></tr>")
    parts.append("</tbody></table>")
    return "".join(parts)


def render_clinical_html(report: ClinicalReport) -> str:
    """The report as a standalone HTML page (same report, same bytes)."""
    banner = layout.banner(report)
    state = "final" if banner.final else "preliminary"
    qc_class = "pass" if report.qc.passed else "fail"
    body = [
        f"<h1>{escape(layout.title(report))}</h1>",
        f'<div class="banner {state}" id="status">{escape(banner.text)}</div>',
        _facts(layout.header_rows(report)),
        "<h2>Quality control</h2>",
        f'<p class="qc {qc_class}" id="qc-verdict">{escape(layout.qc_summary(report))}</p>',
    ]
    failures = layout.failure_messages(report)
    if failures:
        body.append('<ul id="qc-failures">')
        body += [f"<li>{escape(m)}</li>" for m in failures]
        body.append("</ul>")
    body.append(_table(layout.QC_COLUMNS, layout.qc_rows(report), css_class="qc-checks"))
    body.append(f"<h2>Reported variants ({len(report.variants)})</h2>")
    if report.variants:
        body.append(
            _table(
                layout.VARIANT_COLUMNS,
                layout.variant_rows(report),
                css_class="variants",
                widths=layout.VARIANT_WIDTHS_PCT,
                mono=(2, 3),
            )
        )
        body.append(
            "<p>Tier 1: pathogenic or likely pathogenic in ClinVar; tier 2: rare loss of "
            "function, missense or in-frame; tier 3: other rare variants in the panel.</p>"
        )
    else:
        body.append("<p>No variant was tiered in the panel's genes.</p>")
    body.append("<h2>Coverage of the panel's genes</h2>")
    if report.coverage:
        body.append(
            _table(
                layout.COVERAGE_COLUMNS,
                layout.coverage_rows(report),
                css_class="coverage",
                widths=(18, 22, 60),
            )
        )
    else:
        body.append("<p>No panel coverage was measured.</p>")
    body.append("<h2>Versions</h2>")
    body.append(_facts(layout.version_rows(report), mono_labels=("Reference SHA-256",)))
    body.append("<h2>Files</h2>")
    if report.files:
        body.append(
            _table(
                layout.FILE_COLUMNS,
                layout.file_rows(report),
                css_class="files",
                widths=(34, 12, 54),
                mono=(2,),
            )
        )
    else:
        body.append("<p>No files delivered.</p>")
    body.append(
        f"<footer>{escape(report.laboratory.name)} — sample {escape(report.sample)} — "
        f"{escape(report.status)} — generated by {escape(report.pipeline_version)}</footer>"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(layout.title(report))}</title>"
        f"<style>{_CSS}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
