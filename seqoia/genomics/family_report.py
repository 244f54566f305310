"""Family report: one family's analysis as the biologist reviews it (JSON and HTML).

The report states its *composition* first (trio, duo without the father ...) and the
members left out because their sequencing failed for good, so that a duo is never read as
a trio: every rendering carries them. Then the pedigree checks (relatedness, sex,
Mendelian errors), the de novo candidates and the inherited candidates with their
inheritance modes. Pure: a model in, files out.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from seqoia.genomics.clinical_report import Release
from seqoia.genomics.family import FamilyAnalysis
from seqoia.genomics.pedigree import Pedigree

#: Inherited candidates listed in the HTML page (the JSON keeps them all).
MAX_HTML_VARIANTS = 200


class LeftOut(BaseModel):
    """A declared member the analysis goes on without, and why."""

    model_config = ConfigDict(frozen=True)

    sample: str
    failed_stage: str
    reason: str


class FamilyReport(BaseModel):
    """The family report: who was analysed, what was checked, what was found."""

    model_config = ConfigDict(frozen=True)

    family: str
    centre: str
    runs: tuple[str, ...]
    composition: str
    pedigree: Pedigree
    left_out: tuple[LeftOut, ...] = ()
    analysis: FamilyAnalysis
    status: str = "preliminary"
    release: Release | None = None

    @property
    def title(self) -> str:
        """The heading every rendering opens with (names the composition)."""
        return f"Family {self.family}: {self.composition} analysis ({self.status})"

    def released(self, release: Release) -> FamilyReport:
        """The final report of a biologist's sign-off (the preliminary one stays as it was)."""
        return self.model_copy(update={"status": "final", "release": release})


def write_family_report(report: FamilyReport, out_dir: Path) -> list[Path]:
    """Write ``<family>.family.json`` and ``<family>.family.html``; return their paths."""
    out_json = out_dir / f"{report.family}.family.json"
    payload = report.model_dump(mode="json") | {"title": report.title}
    out_json.write_text(_dumps(payload))
    out_html = out_dir / f"{report.family}.family.html"
    out_html.write_text(family_html(report))
    return [out_json, out_html]


def _dumps(payload: object) -> str:
    return json.dumps(payload, indent=1, sort_keys=True)


def _table(header: list[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def family_html(report: FamilyReport) -> str:
    """A self-contained HTML page of the report."""
    a = report.analysis
    parts = [
        f"<h1>{html.escape(report.title)}</h1>",
        f"<p>Centre {html.escape(report.centre)}; runs {html.escape(', '.join(report.runs))}.</p>",
    ]
    if report.release is not None:
        signed = f"{report.release.by}, {report.release.at:%Y-%m-%d %H:%M} UTC"
        parts.append(f"<p>Released by {html.escape(signed)}.</p>")
    if report.left_out:
        parts.append("<h2>Members left out</h2>")
        parts.append(
            _table(
                ["sample", "failed at", "reason"],
                [[m.sample, m.failed_stage, m.reason] for m in report.left_out],
            )
        )
    parts.append("<h2>Members</h2>")
    parts.append(
        _table(
            ["sample", "role", "declared sex", "affected"],
            [
                [m.sample, m.role, m.sex, "yes" if m.affected else "no"]
                for m in report.pedigree.members
            ],
        )
    )
    parts.append("<h2>Pedigree checks</h2>")
    checks = [["relatedness", c.message] for c in a.relatedness]
    checks += [["sex", c.message] for c in a.sex]
    if a.mendelian is not None:
        checks.append(
            [
                "Mendelian",
                f"{a.unexplained_errors} unexplained error(s) over {a.mendelian.sites} sites",
            ]
        )
    else:
        checks.append(["Mendelian", "not assessed: needs both parents"])
    parts.append(_table(["check", "result"], checks))
    parts.append("<h2>De novo candidates</h2>")
    if a.mendelian is None:
        parts.append("<p>Not assessed: a de novo call needs both parents.</p>")
    parts.append(
        _table(
            ["contig", "position", "ref", "alt", "posterior", "passed", "notes"],
            [
                [
                    c.contig,
                    c.pos,
                    c.ref,
                    c.alt,
                    f"{c.posterior:.4f}",
                    c.passed,
                    "; ".join(c.reasons),
                ]
                for c in a.de_novo
            ],
        )
    )
    inherited = [v for v in a.variants if "de_novo" not in v.modes and v.modes]
    parts.append(f"<h2>Inherited candidates ({len(inherited)})</h2>")
    parts.append(
        _table(
            ["contig", "position", "ref", "alt", "gene", "origin", "modes"],
            [
                [v.contig, v.pos, v.ref, v.alt, v.gene or "", v.origin, ", ".join(v.modes)]
                for v in inherited[:MAX_HTML_VARIANTS]
            ],
        )
    )
    style = (
        "body{font-family:sans-serif}table{border-collapse:collapse}"
        "td,th{border:1px solid #999;padding:2px 6px}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(report.title)}"
        f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>\n"
    )
