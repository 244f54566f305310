"""The per-sample report: one JSON document for machines and one HTML page for people.

Both are built from the same :class:`SampleReport` (sample pseudonym, runs, QC metrics
and verdict, variant statistics, tool and reference versions, file checksums), so they
cannot disagree. The HTML page is self-contained (inline CSS, the coverage plot as inline
SVG, no scripts, no external assets) so it can be mailed or archived as one file. Output
is deterministic: nothing time-dependent is written unless ``generated_at`` is given.
"""

from __future__ import annotations

import hashlib
import html
import inspect
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from seqoia.genomics.qc import QCMetrics, coverage_profile
from seqoia.genomics.qc_gate import METRIC_LABELS, QCThresholds, QCVerdict

__all__ = [
    "FileChecksum",
    "ReferenceInfo",
    "SampleReport",
    "build_report",
    "coverage_profile",
    "coverage_svg",
    "file_checksum",
    "render_html",
    "write_report_html",
    "write_report_json",
]

REPORT_SCHEMA = "seqoia.sample-report/1"
ProfileBin = tuple[str, int, float]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FileChecksum(_Frozen):
    name: str
    sha256: str
    size: int


class ReferenceInfo(_Frozen):
    name: str
    sha256: str


class SampleReport(_Frozen):
    """Everything the reports show, in the JSON report's shape."""

    schema_id: Literal["seqoia.sample-report/1"] = "seqoia.sample-report/1"
    sample: str
    runs: tuple[str, ...]
    generated_at: datetime | None = None
    qc_passed: bool
    verdict: QCVerdict
    metrics: QCMetrics
    thresholds: QCThresholds | None = None
    variant_stats: dict[str, Any]
    tools: dict[str, str]
    reference: ReferenceInfo
    files: tuple[FileChecksum, ...]


def file_checksum(
    path: Path, *, name: str | None = None, chunk_bytes: int = 1 << 20
) -> FileChecksum:
    """SHA-256 and size of ``path``, streamed; ``name`` defaults to the file name."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_bytes):
            digest.update(chunk)
            size += len(chunk)
    return FileChecksum(name=name or Path(path).name, sha256=digest.hexdigest(), size=size)


def _as_dict(value: BaseModel | Mapping[str, Any]) -> dict[str, Any]:
    """A model's fields plus its public properties (ti_tv, het_hom_ratio...), or a mapping."""
    if isinstance(value, BaseModel):
        out = value.model_dump(mode="json")
        for name, _ in inspect.getmembers(type(value), lambda m: isinstance(m, property)):
            if not name.startswith(("_", "model_")):
                out[name] = getattr(value, name)
        return out
    return dict(value)


def build_report(
    *,
    sample: str,
    runs: Sequence[str],
    metrics: QCMetrics,
    verdict: QCVerdict,
    variant_stats: BaseModel | Mapping[str, Any],
    tools: Mapping[str, str],
    reference: ReferenceInfo | Mapping[str, str],
    files: Sequence[FileChecksum | Mapping[str, Any]],
    thresholds: QCThresholds | None = None,
    generated_at: datetime | None = None,
) -> SampleReport:
    """Assemble a :class:`SampleReport` (``sample`` must be the pseudonymous id)."""
    return SampleReport(
        sample=sample,
        runs=tuple(runs),
        generated_at=generated_at,
        qc_passed=verdict.passed,
        verdict=verdict,
        metrics=metrics,
        thresholds=thresholds,
        # Timings differ run to run: they live in the stage manifests, not in the report.
        variant_stats={k: v for k, v in _as_dict(variant_stats).items() if k != "elapsed_s"},
        tools=dict(sorted(tools.items())),
        reference=ReferenceInfo.model_validate(reference),
        files=tuple(FileChecksum.model_validate(f) for f in files),
    )


def write_report_json(out: Path, report: SampleReport) -> Path:
    """Write the JSON report (sorted keys, so equal inputs give equal bytes)."""
    out = Path(out)
    out.write_text(json.dumps(report.model_dump(mode="json"), indent=2, sort_keys=True) + "\n")
    return out


def write_report_html(
    out: Path, report: SampleReport, coverage_profile: Sequence[ProfileBin] = ()
) -> Path:
    """Write the self-contained HTML report; ``coverage_profile`` is
    ``[(contig, bin_start, mean_depth), ...]`` as :func:`seqoia.genomics.qc.coverage_profile`
    returns it."""
    out = Path(out)
    out.write_text(render_html(report, coverage_profile), encoding="utf-8")
    return out


# -- HTML ------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:1100px;
color:#1d2330;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem;
border-bottom:1px solid #d5dae3;padding-bottom:.2rem}
table{border-collapse:collapse;width:100%;font-size:.92rem}
th,td{text-align:left;padding:.3rem .6rem;border-bottom:1px solid #e6e9ef}
th{background:#f3f5f8}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.pass td.status{color:#0b6b2e;font-weight:600}tr.fail{background:#fdecec}
tr.fail td.status{color:#b3261e;font-weight:700}tr.na td.status{color:#6b7280}
.badge{display:inline-block;padding:.25rem .7rem;border-radius:1rem;font-weight:700;color:#fff}
.badge.pass{background:#0b6b2e}.badge.fail{background:#b3261e}
code,.hash{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.82rem;word-break:break-all}
.meta{color:#4b5563}svg{width:100%;height:auto;background:#fff}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def _qc_rows(report: SampleReport) -> list[str]:
    rows = []
    checked = set()
    for check in report.verdict.checks:
        checked.add(check.metric)
        status = {True: "pass", False: "fail", None: "na"}[check.passed]
        text = {"pass": "PASS", "fail": "FAIL", "na": "not measured"}[status]
        rows.append(
            f'<tr class="{status}"><td>{_e(METRIC_LABELS.get(check.metric, check.metric))}</td>'
            f'<td class="num">{_e(_fmt(check.value))}</td><td>{_e(check.threshold)}</td>'
            f'<td class="status">{text}</td></tr>'
        )
    for name, value in report.metrics.model_dump().items():
        if name not in checked and value is not None:
            rows.append(
                f'<tr class="info"><td>{_e(METRIC_LABELS.get(name, name))}</td>'
                f'<td class="num">{_e(_fmt(value))}</td><td>—</td><td class="status">info</td></tr>'
            )
    return rows


def coverage_svg(
    profile: Sequence[ProfileBin], *, width: int = 1000, height: int = 260, mark: float = 20.0
) -> str:
    """The coverage profile as an inline SVG: one area per contig, alternating colours,
    a dashed line at ``mark``× and contig names under the axis."""
    if not profile:
        return "<p class='meta'>No coverage profile.</p>"
    left, bottom, top = 48, 36, 12
    plot_w, plot_h = width - left - 10, height - bottom - top
    depths = sorted(d for _, _, d in profile)
    y_max = max(mark * 1.25, depths[int(0.99 * (len(depths) - 1))] * 1.15, 1.0)
    n = len(profile)

    def x(i: float) -> float:
        return left + plot_w * i / n

    def y(d: float) -> float:
        return top + plot_h * (1 - min(d, y_max) / y_max)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="Coverage profile">'
    ]
    for tick in _ticks(y_max):
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            f'stroke="#e6e9ef"/><text x="{left - 6}" y="{y(tick) + 4:.1f}" font-size="10" '
            f'text-anchor="end">{tick:g}×</text>'
        )
    contigs: list[tuple[str, int, int]] = []
    for i, (contig, _, _) in enumerate(profile):
        if contigs and contigs[-1][0] == contig:
            contigs[-1] = (contig, contigs[-1][1], i + 1)
        else:
            contigs.append((contig, i, i + 1))
    for k, (contig, lo, hi) in enumerate(contigs):
        colour = "#3b6fb6" if k % 2 == 0 else "#7aa6dc"
        points = [f"{x(lo):.1f},{y(0):.1f}"]
        for i in range(lo, hi):
            d = profile[i][2]
            points.append(f"{x(i):.1f},{y(d):.1f} {x(i + 1):.1f},{y(d):.1f}")
        points.append(f"{x(hi):.1f},{y(0):.1f}")
        parts.append(
            f'<polygon points="{" ".join(points)}" fill="{colour}"><title>{_e(contig)}</title>'
            "</polygon>"
        )
        if (hi - lo) / n > 0.025:
            parts.append(
                f'<text x="{x((lo + hi) / 2):.1f}" y="{height - bottom + 16}" font-size="11" '
                f'text-anchor="middle">{_e(contig)}</text>'
            )
    parts.append(
        f'<line x1="{left}" x2="{left + plot_w}" y1="{y(mark):.1f}" y2="{y(mark):.1f}" '
        f'stroke="#b3261e" stroke-dasharray="5,4"/>'
        f'<text x="{left + plot_w}" y="{y(mark) - 4:.1f}" font-size="10" text-anchor="end" '
        f'fill="#b3261e">{mark:g}×</text>'
        f'<line x1="{left}" x2="{left + plot_w}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#1d2330"/>'
        "</svg>"
    )
    return "".join(parts)


def _ticks(y_max: float) -> list[float]:
    step = next(s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000) if y_max / s <= 6)
    return [step * k for k in range(1, int(y_max // step) + 1)]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric: int = -1) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{cell}</td>' if i == numeric else f"<td>{cell}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(report: SampleReport, coverage_profile: Sequence[ProfileBin] = ()) -> str:
    """The report as one self-contained HTML page."""
    status = "pass" if report.qc_passed else "fail"
    failures = "".join(f"<li>{_e(f.message)}</li>" for f in report.verdict.failures)
    when = f" · generated {_e(report.generated_at.isoformat())}" if report.generated_at else ""
    variant_rows = [(_e(k), _e(_fmt(v))) for k, v in report.variant_stats.items()]
    tool_rows = [(_e(k), f"<code>{_e(v)}</code>") for k, v in report.tools.items()]
    file_rows = [
        (_e(f.name), _e(_size(f.size)), f'<span class="hash">{_e(f.sha256)}</span>')
        for f in report.files
    ]
    region = report.metrics.coverage_region or "genome"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>seqoia report {_e(report.sample)}</title><style>{_CSS}</style></head>
<body>
<header><h1>Sample {_e(report.sample)} <span class="badge {status}">QC {status.upper()}</span></h1>
<p class="meta">Runs: {_e(", ".join(report.runs) or "—")}{when} ·
reference <code>{_e(report.reference.name)}</code></p>
{f"<ul class='failures'>{failures}</ul>" if failures else ""}</header>
<section id="qc"><h2>Quality control</h2>
<table class="qc"><thead><tr><th>Metric</th><th>Value</th><th>Threshold</th><th>Status</th>
</tr></thead><tbody>{"".join(_qc_rows(report))}</tbody></table></section>
<section id="coverage"><h2>Coverage (mean depth per bin, {_e(region)} summary above)</h2>
{coverage_svg(coverage_profile)}</section>
<section id="variants"><h2>Variants</h2>{_table(["Statistic", "Value"], variant_rows, 1)}</section>
<section id="provenance"><h2>Tools and reference</h2>
{
        _table(
            ["Tool", "Version"],
            [
                *tool_rows,
                (
                    _e("reference " + report.reference.name),
                    f'<span class="hash">sha256 {_e(report.reference.sha256)}</span>',
                ),
            ],
        )
    }</section>
<section id="files"><h2>Files</h2>{_table(["File", "Size", "SHA-256"], file_rows, 1)}</section>
<footer><p class="meta">Pseudonymous identifiers only. Report schema {_e(report.schema_id)}.
</p></footer>
</body></html>
"""
