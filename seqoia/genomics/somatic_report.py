"""The tumour/normal pair's report: JSON, HTML with a copy-number plot, and a FHIR bundle.

The report names the pair as ``<tumour>_vs_<normal>``, its identity check, the PASS
somatic variants, the tumour mutational burden with the territory it was counted over,
and the copy-number segments. A tumour-only analysis says so in every output (the JSON's
``mode``, the HTML's banner, the FHIR report's conclusion). The FHIR bundle follows the
HL7 Genomics Reporting IG as the germline one does, with genomic source class *somatic*
(LOINC 48002-0, answer LA6684-0) on every variant. Plain data in, files out: no store.
"""

from __future__ import annotations

import html
import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import pysam
from pydantic import BaseModel, ConfigDict

from seqoia.genomics.copynumber import Segment, Window
from seqoia.genomics.identity import IdentityCheck
from seqoia.genomics.tmb import TumourBurden

REPORT_SCHEMA = "seqoia.pair-report/1"
LOINC = "http://loinc.org"
#: LOINC 48002-0 "Genomic source class" and its answer LA6684-0 "Somatic".
GENOMIC_SOURCE_CLASS = ("48002-0", "Genomic source class")
SOMATIC = ("LA6684-0", "Somatic")
_NAMESPACE = uuid.UUID("2b0c9a4e-8f51-4d8e-b2f4-7c1a6e3d9f10")
Mode = Literal["tumour/normal", "tumour-only"]


class SomaticVariant(BaseModel):
    """One PASS somatic call as reported."""

    model_config = ConfigDict(frozen=True)

    contig: str
    pos: int  # 1-based
    ref: str
    alt: str
    tumour_vaf: float
    tumour_depth: int
    normal_depth: int | None = None


class PairReport(BaseModel):
    """What the pair's report says, as JSON (``seqoia.pair-report/1``)."""

    model_config = ConfigDict(frozen=True)

    schema_id: Literal["seqoia.pair-report/1"] = "seqoia.pair-report/1"
    pair: str
    name: str  # <tumour>_vs_<normal>
    tumour: str
    normal: str | None
    mode: Mode
    centre: str
    runs: tuple[str, ...]
    identity: IdentityCheck | None
    somatic: dict[str, Any]  # the caller's statistics
    variants: tuple[SomaticVariant, ...]
    tmb: TumourBurden
    segments: tuple[Segment, ...]
    tools: dict[str, str]
    reference: dict[str, str]


def passed_variants(vcf: Path, tumour: str, normal: str | None) -> list[SomaticVariant]:
    """The PASS records of a somatic VCF written by :func:`seqoia.genomics.somatic.call_somatic`."""
    out = []
    with pysam.VariantFile(str(vcf)) as records:
        for rec in records:
            if rec.filter.keys() and "PASS" not in rec.filter:
                continue
            t = rec.samples[tumour]
            n = rec.samples[normal] if normal is not None else None
            for alt in rec.alts or ():
                out.append(
                    SomaticVariant(
                        contig=rec.contig,
                        pos=rec.pos,
                        ref=str(rec.ref),
                        alt=alt,
                        tumour_vaf=float((t.get("AF") or (0.0,))[0]),
                        tumour_depth=int(t.get("DP") or 0),
                        normal_depth=None if n is None or n.get("DP") is None else int(n["DP"]),
                    )
                )
    return out


def write_segments_tsv(out: Path, pair: str, segments: Sequence[Segment]) -> Path:
    """Segments as a SEG file (IGV's format: ID, chrom, loc.start, loc.end, num.mark, seg.mean)."""
    lines = ["ID\tchrom\tloc.start\tloc.end\tnum.mark\tseg.mean\tbaf\thet_sites\tcall"]
    for s in segments:
        baf = "" if s.baf is None else f"{s.baf:.4f}"
        lines.append(
            f"{pair}\t{s.contig}\t{s.start + 1}\t{s.end}\t{s.windows}\t{s.log2_ratio:.4f}"
            f"\t{baf}\t{s.het_sites}\t{s.call}"
        )
    out.write_text("\n".join(lines) + "\n")
    return out


# -- HTML ------------------------------------------------------------------------------
_CSS = (
    "body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}"
    ".banner{background:#fde7c8;border:1px solid #d98b00;padding:.5em;margin:1em 0}"
    ".fail{color:#b00}.pass{color:#070}"
)


def copy_number_svg(
    windows: Sequence[Window], segments: Sequence[Segment], *, width: int = 900, height: int = 220
) -> str:
    """Log2 ratio per window (dots) and segments (lines), contigs side by side, as SVG."""
    contigs: dict[str, int] = {}
    for w in windows:
        contigs[w.contig] = max(contigs.get(w.contig, 0), w.end)
    for s in segments:
        contigs[s.contig] = max(contigs.get(s.contig, 0), s.end)
    total = sum(contigs.values()) or 1
    left, bottom, top = 40, height - 20, 10
    span = width - left - 10
    y_max = 2.0

    def x(contig: str, position: float) -> float:
        offset = 0
        for name, length in contigs.items():
            if name == contig:
                break
            offset += length
        return left + span * (offset + position) / total

    def y(value: float) -> float:
        clipped = max(-y_max, min(y_max, value))
        return top + (bottom - top) * (y_max - clipped) / (2 * y_max)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="copy number: log2 ratio per window and segments">',
        f'<line x1="{left}" y1="{y(0):.1f}" x2="{width - 10}" y2="{y(0):.1f}" stroke="#999"/>',
    ]
    for tick in (-2, -1, 0, 1, 2):
        parts.append(
            f'<text x="{left - 4}" y="{y(tick) + 4:.1f}" font-size="10" '
            f'text-anchor="end">{tick}</text>'
        )
    for name, length in contigs.items():
        parts.append(
            f'<line x1="{x(name, 0):.1f}" y1="{top}" x2="{x(name, 0):.1f}" y2="{bottom}" '
            'stroke="#ddd"/>'
            f'<text x="{x(name, length / 2):.1f}" y="{height - 4}" font-size="10" '
            f'text-anchor="middle">{html.escape(name)}</text>'
        )
    for w in windows:
        parts.append(
            f'<circle class="window" cx="{x(w.contig, (w.start + w.end) / 2):.1f}" '
            f'cy="{y(w.log2_ratio):.1f}" r="1.5" fill="#888"/>'
        )
    colours = {"gain": "#c00", "loss": "#00c", "loh": "#a0a", "neutral": "#333"}
    for s in segments:
        parts.append(
            f'<line class="segment {s.call}" x1="{x(s.contig, s.start):.1f}" '
            f'y1="{y(s.log2_ratio):.1f}" x2="{x(s.contig, s.end):.1f}" '
            f'y2="{y(s.log2_ratio):.1f}" stroke="{colours.get(s.call, "#333")}" '
            'stroke-width="3"/>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(report: PairReport, windows: Sequence[Window]) -> str:
    """The pair's report as one self-contained HTML page."""
    e = html.escape
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(report.name)}</title>"]
    out.append(f"<style>{_CSS}</style></head><body><h1>Somatic report {e(report.name)}</h1>")
    if report.mode == "tumour-only":
        out.append(
            "<p class='banner'>Tumour-only analysis: no matched normal. Germline variants "
            "cannot be told apart from somatic ones with certainty.</p>"
        )
    out.append(
        _table(
            ["pair", "tumour", "normal", "mode", "centre", "runs"],
            [
                [
                    report.pair,
                    report.tumour,
                    report.normal or "none",
                    report.mode,
                    report.centre,
                    ", ".join(report.runs),
                ]
            ],
        )  # fmt: skip
    )
    if report.identity is not None:
        verdict = "pass" if report.identity.passed else "fail"
        out.append(f"<h2>Identity</h2><p class='{verdict}'>{e(report.identity.message)}</p>")
    tmb = report.tmb
    out.append(
        f"<h2>Tumour mutational burden</h2><p>{tmb.per_mb:.2f} mutations per Mb "
        f"({tmb.mutations} over {tmb.callable_bp:,} bp; territory: {e(tmb.territory)})</p>"
    )
    out.append(f"<h2>Somatic variants (PASS: {len(report.variants)})</h2>")
    out.append(
        _table(
            ["contig", "position", "ref", "alt", "tumour VAF", "tumour depth", "normal depth"],
            [
                [
                    v.contig,
                    v.pos,
                    v.ref,
                    v.alt,
                    f"{v.tumour_vaf:.3f}",
                    v.tumour_depth,
                    "" if v.normal_depth is None else v.normal_depth,
                ]
                for v in report.variants
            ],
        )  # fmt: skip
    )
    out.append("<h2>Copy number</h2>" + copy_number_svg(windows, report.segments))
    out.append(
        _table(
            ["contig", "start", "end", "windows", "log2 ratio", "BAF", "call"],
            [
                [
                    s.contig,
                    s.start + 1,
                    s.end,
                    s.windows,
                    f"{s.log2_ratio:+.3f}",
                    "" if s.baf is None else f"{s.baf:.3f}",
                    s.call,
                ]
                for s in report.segments
            ],
        )  # fmt: skip
    )
    out.append("<h2>Tools</h2>" + _table(["tool", "version"], sorted(report.tools.items())))
    out.append("</body></html>")
    return "".join(out)


# -- FHIR ------------------------------------------------------------------------------
def _id(name: str, key: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{name}/{key}"))


def _concept(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}]}


def build_pair_fhir_bundle(report: PairReport, *, issued: datetime) -> dict[str, Any]:
    """A FHIR R4 collection Bundle: Patient, tumour Specimen, DiagnosticReport, variants, TMB.

    Every variant Observation carries component 48002-0 = LA6684-0 (somatic); the
    DiagnosticReport's conclusion names the mode, so tumour-only is never mistaken for a
    paired analysis.
    """
    name = report.name
    patient = _id(name, "patient")
    specimen = _id(name, "specimen")
    observations: list[dict[str, Any]] = []
    for v in report.variants:
        obs_id = _id(name, f"variant/{v.contig}:{v.pos}{v.ref}>{v.alt}")
        observations.append(
            {
                "resourceType": "Observation",
                "id": obs_id,
                "meta": {
                    "profile": [
                        "http://hl7.org/fhir/uv/genomics-reporting/StructureDefinition/variant"
                    ]
                },  # fmt: skip
                "status": "final",
                "category": [
                    _concept(
                        "http://terminology.hl7.org/CodeSystem/observation-category",
                        "laboratory",
                        "Laboratory",
                    )
                ],  # fmt: skip
                "code": _concept(LOINC, "69548-6", "Genetic variant assessment"),
                "subject": {"reference": f"urn:uuid:{patient}"},
                "specimen": {"reference": f"urn:uuid:{specimen}"},
                "valueCodeableConcept": _concept(LOINC, "LA9633-4", "Present"),
                "component": [
                    {
                        "code": _concept(LOINC, *GENOMIC_SOURCE_CLASS),
                        "valueCodeableConcept": _concept(LOINC, *SOMATIC),
                    },
                    {
                        "code": _concept(LOINC, "48013-7", "Genomic reference sequence ID"),
                        "valueCodeableConcept": {"text": v.contig},
                    },
                    {
                        "code": _concept(LOINC, "81254-5", "Genomic allele start-end"),
                        "valueRange": {"low": {"value": v.pos}},
                    },
                    {
                        "code": _concept(LOINC, "69547-8", "Genomic Ref allele [ID]"),
                        "valueString": v.ref,
                    },
                    {
                        "code": _concept(LOINC, "69551-0", "Genomic Alt allele [ID]"),
                        "valueString": v.alt,
                    },
                    {
                        "code": _concept(LOINC, "81258-6", "Sample variant allelic frequency"),
                        "valueQuantity": {
                            "value": round(v.tumour_vaf, 4),
                            "system": "http://unitsofmeasure.org",
                            "code": "1",
                        },
                    },
                ],
            }
        )
    tmb_id = _id(name, "tmb")
    observations.append(
        {
            "resourceType": "Observation",
            "id": tmb_id,
            "status": "final",
            "code": _concept(LOINC, "94076-7", "Mutations/Megabase [# Ratio] in Tumor"),
            "subject": {"reference": f"urn:uuid:{patient}"},
            "valueQuantity": {
                "value": report.tmb.per_mb,
                "unit": "/Mb",
                "system": "http://unitsofmeasure.org",
                "code": "/10*6",
            },
            "note": [{"text": f"territory: {report.tmb.territory}; mode: {report.mode}"}],
        }
    )
    conclusion = (
        f"{report.mode} analysis of {name}: {len(report.variants)} PASS somatic variant(s), "
        f"TMB {report.tmb.per_mb:.2f}/Mb ({report.tmb.territory}), "
        f"{sum(1 for s in report.segments if s.call != 'neutral')} copy-number segment(s) "
        "called."
    )
    if report.mode == "tumour-only":
        conclusion = "TUMOUR-ONLY (no matched normal). " + conclusion
    diagnostic = {
        "resourceType": "DiagnosticReport",
        "id": _id(name, "report"),
        "status": "final",
        "code": _concept(LOINC, "81247-9", "Master HL7 genetic variant reporting panel"),
        "subject": {"reference": f"urn:uuid:{patient}"},
        "specimen": [{"reference": f"urn:uuid:{specimen}"}],
        "issued": issued.isoformat(),
        "result": [{"reference": f"urn:uuid:{o['id']}"} for o in observations],
        "conclusion": conclusion,
    }
    resources: list[dict[str, Any]] = [
        {"resourceType": "Patient", "id": patient,
         "identifier": [{"system": "urn:seqoia:pair", "value": report.pair}]},
        {"resourceType": "Specimen", "id": specimen,
         "identifier": [{"system": "urn:seqoia:sample", "value": report.tumour}],
         "type": {"text": "tumour"}},
        diagnostic,
        *observations,
    ]  # fmt: skip
    return {
        "resourceType": "Bundle",
        "id": _id(name, "bundle"),
        "type": "collection",
        "timestamp": issued.isoformat(),
        "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources],
    }


def write_pair_report(
    out_dir: Path, report: PairReport, windows: Sequence[Window], *, issued: datetime
) -> list[Path]:
    """``<name>.report.json``, ``<name>.report.html`` and ``<name>.fhir.json`` in ``out_dir``."""
    paths = [
        out_dir / f"{report.name}.{tag}" for tag in ("report.json", "report.html", "fhir.json")
    ]
    paths[0].write_text(report.model_dump_json(indent=1))
    paths[1].write_text(render_html(report, windows))
    paths[2].write_text(json.dumps(build_pair_fhir_bundle(report, issued=issued), indent=1))
    return paths
