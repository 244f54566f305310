"""The clinical report's content as rows of plain text, shared by the HTML and PDF pages.

Both renderings show the same facts in the same order; deciding *what* a clinician reads
(labels, number formats, which checks failed) happens once here, and each renderer only
decides *how* it looks. Values are returned unescaped: every renderer escapes for its
own format.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from seqoia.genomics.clinical_report import ClinicalReport
from seqoia.genomics.qc_gate import METRIC_LABELS
from seqoia.genomics.tiering import ReportedVariant

VARIANT_COLUMNS: tuple[str, ...] = (
    "Tier",
    "Gene",
    "HGVS c.",
    "HGVS p.",
    "Conse\u00adquence",
    "Zygosity",
    "Depth/VAF",
    "ClinVar",
    "Pop. AF",
)
# Relative widths of the variant table's columns (sum 100): HGVS names need the room.
VARIANT_WIDTHS_PCT: tuple[int, ...] = (5, 8, 17, 15, 11, 12, 10, 13, 9)
COVERAGE_COLUMNS: tuple[str, ...] = ("Gene", "Bases ≥ 20× (%)", "Low-coverage exons")
FILE_COLUMNS: tuple[str, ...] = ("File", "Size", "SHA-256")
QC_COLUMNS: tuple[str, ...] = ("Check", "Value", "Threshold", "Result")


@dataclass(frozen=True)
class Banner:
    """The status line at the top of the page."""

    final: bool
    text: str


def format_datetime(moment: datetime) -> str:
    """ISO date and minute with its offset, the way a lab report dates things."""
    return moment.strftime("%Y-%m-%d %H:%M %Z").strip() or moment.isoformat()


def banner(report: ClinicalReport) -> Banner:
    if report.status == "final":
        return Banner(final=True, text="FINAL report")
    return Banner(final=False, text="PRELIMINARY — not for clinical use")


def title(report: ClinicalReport) -> str:
    kind = "Somatic" if report.genomic_source == "somatic" else "Germline"
    return f"{kind} genome sequencing report — sample {report.sample}"


def header_rows(report: ClinicalReport) -> list[tuple[str, str]]:
    """Who, what and when: laboratory, centre, sample, runs and dates."""
    lab = report.laboratory
    rows = [
        ("Laboratory", f"{lab.name} ({lab.identifier})"),
    ]
    if lab.address:
        rows.append(("Address", lab.address))
    rows += [
        ("Prescribing centre", report.centre),
        ("Sample (pseudonymous id)", report.sample),
        ("Sequencing runs", ", ".join(report.runs) or "—"),
        ("Genomic source", report.genomic_source),
        ("Sequenced (effective)", format_datetime(report.effective)),
        ("Status", report.status),
    ]
    if report.release is not None:
        release = report.release
        rows.append(("Released", f"{format_datetime(release.at)} by {release.by}"))
        rows.append(("Release reason", release.reason))
        if release.qc_override:
            rows.append(("QC override", "released although the QC gate failed"))
    return rows


def version_rows(report: ClinicalReport) -> list[tuple[str, str]]:
    """Pipeline, reference and panel versions, one fact per row (no mapping reprs)."""
    ref = report.reference
    reference = ref.name + (f" ({ref.assembly})" if ref.assembly else "")
    rows = [
        ("Pipeline", report.pipeline_version),
        ("Reference genome", reference),
        ("Reference SHA-256", ref.sha256),
    ]
    if report.panel is not None:
        panel = report.panel
        rows.append(("Gene panel", f"{panel.name}, version {panel.version}"))
        rows.append(("Panel genes", ", ".join(panel.genes)))
    for tool in sorted(report.tools):
        rows.append((f"Tool: {tool}", report.tools[tool]))
    return rows


def qc_summary(report: ClinicalReport) -> str:
    if report.qc.passed:
        return "QC passed: every check met its threshold."
    count = len(report.qc.failures)
    if count == 1:
        return "QC FAILED: 1 check missed its threshold."
    return f"QC FAILED: {count} checks missed their thresholds."


def _value_text(value: float | int | str | None) -> str:
    if value is None:
        return "not measured"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def qc_rows(report: ClinicalReport) -> list[tuple[str, str, str, str]]:
    """Every check of the QC gate: label, value, threshold and pass / FAIL / not checked."""
    rows = []
    for check in report.qc.checks:
        result = {True: "pass", False: "FAIL", None: "not checked"}[check.passed]
        label = METRIC_LABELS.get(check.metric, check.metric)
        rows.append((label, _value_text(check.value), check.threshold, result))
    return rows


def failure_messages(report: ClinicalReport) -> list[str]:
    return [failure.message for failure in report.qc.failures]


def _readable(term: str | None) -> str:
    """ClinVar and VEP write words with underscores and ``&``; a clinician reads spaces."""
    if not term:
        return "—"
    return term.replace("_", " ").replace("&", ", ").replace(" ,", ",")


def format_af(af: float | None) -> str:
    if af is None:
        return "absent"
    if af == 0:
        return "0"
    # Decimal, never scientific notation: "0.00004", not "4e-05".
    return f"{af:.6f}".rstrip("0").rstrip(".") if af >= 1e-6 else f"{af:.1e}"


def variant_row(variant: ReportedVariant) -> tuple[str, ...]:
    depth = "—" if variant.depth is None else str(variant.depth)
    # A no-break space keeps "%" with its number when the cell wraps.
    vaf = "—" if variant.vaf is None else f"{variant.vaf * 100:.1f}\u00a0%"
    clinvar = _readable(variant.clinvar_significance)
    if variant.clinvar_review_status:
        clinvar += f" ({_readable(variant.clinvar_review_status)})"
    tier = str(variant.tier)
    if variant.finding == "secondary":
        tier += " (secondary)"
    if variant.promoted_by:
        tier += f" ↑ {variant.promoted_by.replace('_', ' ')}"
    return (
        tier,
        variant.gene,
        variant.hgvs_c,
        variant.hgvs_p or "—",
        _readable(variant.consequence),
        variant.zygosity,
        f"{depth} / {vaf}",
        clinvar,
        format_af(variant.population_af),
    )


def variant_rows(report: ClinicalReport) -> list[tuple[str, ...]]:
    """The tiered variants, most urgent tier first, then by position."""
    ordered = sorted(report.variants, key=lambda v: (v.tier, v.gene, v.contig, v.pos, v.alt))
    return [variant_row(v) for v in ordered]


def coverage_rows(report: ClinicalReport) -> list[tuple[str, str, str]]:
    return [
        (c.gene, f"{c.pct_bases_20x:.1f}", ", ".join(c.low_coverage_exons) or "none")
        for c in report.coverage
    ]


def format_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def file_rows(report: ClinicalReport) -> list[tuple[str, str, str]]:
    return [(f.name, format_size(f.size), f.sha256) for f in report.files]
