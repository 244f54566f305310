"""The clinical report as a PDF (A4), with the same content as the HTML page.

Drawn with ReportLab's page layout engine (pure Python, no browser and no network at run
time) from :mod:`seqoia.genomics.clinical_layout`. The bytes are a function of the report
alone: ReportLab's invariant mode removes the random document id, and the creation date
written into the PDF is the release time of a final report, else the effective time.
Text uses DejaVu Sans (Debian ``fonts-dejavu-core``) for ≥, × and accents, falling back
to the Vera font ReportLab ships.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.flowables import Flowable

from seqoia.genomics import clinical_layout as layout
from seqoia.genomics.clinical_report import ClinicalReport

MARGIN = 12 * mm
FRAME_PADDING = 6  # points, ReportLab's default frame padding on each side
FRAME_WIDTH = A4[0] - 2 * MARGIN - 2 * FRAME_PADDING
_FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"),)


def _register_fonts() -> tuple[str, str, str]:
    """(regular, bold, mono) font names, registering DejaVu once when it is installed."""
    for folder in _FONT_DIRS:
        files = {
            "DejaVuSans": folder / "DejaVuSans.ttf",
            "DejaVuSans-Bold": folder / "DejaVuSans-Bold.ttf",
            "DejaVuSansMono": folder / "DejaVuSansMono.ttf",
        }
        if all(p.exists() for p in files.values()):
            registered = set(pdfmetrics.getRegisteredFontNames())
            for name, path in files.items():
                if name not in registered:
                    pdfmetrics.registerFont(TTFont(name, str(path)))
            return "DejaVuSans", "DejaVuSans-Bold", "DejaVuSansMono"
    import reportlab

    fonts = Path(reportlab.__file__).parent / "fonts"
    registered = set(pdfmetrics.getRegisteredFontNames())
    for name, file in (("Vera", "Vera.ttf"), ("Vera-Bold", "VeraBd.ttf")):
        if name not in registered:
            pdfmetrics.registerFont(TTFont(name, str(fonts / file)))
    return "Vera", "Vera-Bold", "Courier"


class _Styles:
    def __init__(self) -> None:
        regular, bold, mono = _register_fonts()
        self.regular, self.bold, self.mono = regular, bold, mono
        self.body = ParagraphStyle("body", fontName=regular, fontSize=8.5, leading=10.5)
        self.cell = ParagraphStyle("cell", fontName=regular, fontSize=7.5, leading=9)
        self.cell_bold = ParagraphStyle("cellb", parent=self.cell, fontName=bold)
        # Narrow columns (the variant table's) keep whole words in their headers.
        self.header_narrow = ParagraphStyle("hn", parent=self.cell_bold, fontSize=6.8)
        self.cell_mono = ParagraphStyle("cellm", parent=self.cell, fontName=mono, fontSize=7)
        self.fail = ParagraphStyle(
            "fail", parent=self.cell_bold, textColor=colors.HexColor("#b00020")
        )
        self.title = ParagraphStyle("title", fontName=bold, fontSize=13, leading=16)
        self.h2 = ParagraphStyle(
            "h2", fontName=bold, fontSize=10.5, leading=13, spaceBefore=8, spaceAfter=3
        )
        self.qc_pass = ParagraphStyle(
            "qcpass", parent=self.body, fontName=bold, textColor=colors.HexColor("#1b5e20")
        )
        self.qc_fail = ParagraphStyle(
            "qcfail", parent=self.body, fontName=bold, textColor=colors.HexColor("#b00020")
        )


def _text(value: str) -> str:
    # Paragraph markup is XML: escape, and drop the soft hyphens meant for browsers.
    return escape(value.replace("\u00ad", ""))


class _Banner(Flowable):
    """The status box: amber PRELIMINARY or green FINAL, the width of the frame."""

    def __init__(self, banner: layout.Banner, font: str) -> None:
        super().__init__()
        self.banner, self.font = banner, font
        self.width, self.height = FRAME_WIDTH, 9 * mm

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        return self.width, self.height

    def draw(self) -> None:
        fill, stroke = ("#e3f4e3", "#2e7d32") if self.banner.final else ("#fff3cd", "#b58900")
        canvas = self.canv
        canvas.setFillColor(colors.HexColor(fill))
        canvas.setStrokeColor(colors.HexColor(stroke))
        canvas.setLineWidth(1.5)
        canvas.rect(0, 0, self.width, self.height, stroke=1, fill=1)
        canvas.setFillColor(colors.HexColor("#1b4d1e" if self.banner.final else "#5c4400"))
        canvas.setFont(self.font, 11)
        canvas.drawString(3 * mm, 3 * mm, self.banner.text)


def _grid(
    styles: _Styles,
    columns: Sequence[str] | None,
    rows: Sequence[Sequence[str]],
    widths_pct: Sequence[float],
    *,
    mono: Sequence[int] = (),
    label_column: bool = False,
    narrow_header: bool = False,
) -> Table:
    data = []
    if columns:
        header = styles.header_narrow if narrow_header else styles.cell_bold
        data.append([Paragraph(_text(c), header) for c in columns])
    for row in rows:
        cells = []
        for i, value in enumerate(row):
            style = styles.cell_mono if i in mono else styles.cell
            if value == "FAIL":
                style = styles.fail
            elif label_column and i == 0:
                style = styles.cell_bold
            text = _text(value)
            if i in mono and ":" in text and len(value) > 12:
                # HGVS: the accession on one line, the change on the next.
                text = text.replace(":", ":<br/>", 1)
            cells.append(Paragraph(text, style))
        data.append(cells)
    total = sum(widths_pct)
    table = Table(
        data,
        colWidths=[FRAME_WIDTH * w / total for w in widths_pct],
        repeatRows=1 if columns else 0,
    )
    commands = [
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#bbbbbb")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 2.5),
        ("RIGHTPADDING", (0, 0), (-1, -1), 2.5),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
    ]
    if columns:
        commands.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")))
    if label_column:
        commands.append(("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#eeeeee")))
    table.setStyle(TableStyle(commands))
    return table


def _pdf_date(moment: datetime) -> str:
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("D:%Y%m%d%H%M%S+00'00'")


def render_clinical_pdf(report: ClinicalReport) -> bytes:
    """The report as PDF bytes (same report, same bytes)."""
    styles = _Styles()
    banner = layout.banner(report)
    created = report.release.at if report.release else report.effective
    story: list[Flowable] = [
        Paragraph(_text(layout.title(report)), styles.title),
        Spacer(1, 2 * mm),
        _Banner(banner, styles.bold),
        Spacer(1, 2 * mm),
        _grid(styles, None, layout.header_rows(report), (32, 68), label_column=True),
        Paragraph("Quality control", styles.h2),
        Paragraph(
            _text(layout.qc_summary(report)),
            styles.qc_pass if report.qc.passed else styles.qc_fail,
        ),
    ]
    for message in layout.failure_messages(report):
        story.append(Paragraph("• " + _text(message), styles.body))
    story.append(Spacer(1, 1.5 * mm))
    story.append(_grid(styles, layout.QC_COLUMNS, layout.qc_rows(report), (40, 20, 20, 20)))
    story.append(Paragraph(f"Reported variants ({len(report.variants)})", styles.h2))
    if report.variants:
        story.append(
            _grid(
                styles,
                layout.VARIANT_COLUMNS,
                layout.variant_rows(report),
                layout.VARIANT_WIDTHS_PCT,
                mono=(2, 3),
                narrow_header=True,
            )
        )
        story.append(Spacer(1, 1.5 * mm))
        story.append(
            Paragraph(
                "Tier 1: pathogenic or likely pathogenic in ClinVar; tier 2: rare loss of "
                "function, missense or in-frame; tier 3: other rare variants in the panel.",
                styles.body,
            )
        )
    else:
        story.append(Paragraph("No variant was tiered in the panel's genes.", styles.body))
    story.append(Paragraph("Coverage of the panel's genes", styles.h2))
    if report.coverage:
        story.append(
            _grid(styles, layout.COVERAGE_COLUMNS, layout.coverage_rows(report), (18, 22, 60))
        )
    else:
        story.append(Paragraph("No panel coverage was measured.", styles.body))
    story.append(Paragraph("Versions", styles.h2))
    story.append(
        _grid(styles, None, layout.version_rows(report), (32, 68), label_column=True, mono=())
    )
    story.append(Paragraph("Files", styles.h2))
    if report.files:
        story.append(
            _grid(styles, layout.FILE_COLUMNS, layout.file_rows(report), (34, 12, 54), mono=(2,))
        )
    else:
        story.append(Paragraph("No files delivered.", styles.body))

    footer = f"{report.laboratory.name} — sample {report.sample} — {banner.text}"

    def decorate(canvas: Canvas, doc: SimpleDocTemplate) -> None:
        # The creation date is the report's own fact, never the wall clock.
        canvas.setDateFormatter(lambda *_: _pdf_date(created))
        canvas.saveState()
        canvas.setFont(styles.regular, 7)
        canvas.setFillColor(colors.HexColor("#555555"))
        canvas.drawString(MARGIN + FRAME_PADDING, 8 * mm, footer)
        canvas.drawRightString(A4[0] - MARGIN - FRAME_PADDING, 8 * mm, f"page {doc.page}")
        canvas.restoreState()

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=14 * mm,
        title=layout.title(report),
        author=report.laboratory.name,
        subject=f"{report.status} clinical report",
        creator=report.pipeline_version,
        invariant=True,
    )
    doc.build(story, onFirstPage=decorate, onLaterPages=decorate)
    return buffer.getvalue()


def write_clinical_pdf(report: ClinicalReport, out: Path) -> Path:
    """Write the report's PDF to ``out`` (written whole, then renamed into place)."""
    data = render_clinical_pdf(report)
    tmp = out.with_name(out.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(out)
    return out
