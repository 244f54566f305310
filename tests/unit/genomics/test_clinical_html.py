"""The clinical report's HTML page: what a clinician reads, escaped and self-contained."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from seqoia.genomics.clinical_html import render_clinical_html
from tests.unit.genomics.clinical_fixture import (
    VARIANTS,
    final_report,
    preliminary_report,
    qc_failed_report,
)


class _Cells(HTMLParser):
    """Rows of each table (by class), as text, to read the page as a browser would."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.table: str | None = None
        self.cell: list[str] | None = None
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "table":
            self.table = dict(attrs).get("class") or ""
            self.tables.setdefault(self.table, [])
        elif tag == "tr" and self.table is not None:
            self.tables[self.table].append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None and self.table is not None:
            self.tables[self.table][-1].append("".join(self.cell))
            self.cell = None
        elif tag == "table":
            self.table = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def _tables(html: str) -> dict[str, list[list[str]]]:
    parser = _Cells()
    parser.feed(html)
    return parser.tables


def test_a_preliminary_report_says_it_is_not_for_clinical_use() -> None:
    html = render_clinical_html(preliminary_report())
    assert "PRELIMINARY — not for clinical use" in html
    assert "FINAL" not in html


def test_a_final_report_shows_its_release() -> None:
    html = render_clinical_html(final_report())
    assert 'class="banner final"' in html and "FINAL report" in html
    facts = dict(row for row in _tables(html)["facts"] if len(row) == 2)
    assert facts["Released"] == "2026-12-01 09:30 UTC by Dr A. Martin"
    assert facts["Sequenced (effective)"] == "2026-11-30 14:05 UTC"
    assert facts["Sample (pseudonymous id)"] == "S-7Q2K9"
    assert facts["Prescribing centre"] == "APHP-NECKER"


def test_values_from_files_are_escaped() -> None:
    html = render_clinical_html(preliminary_report())
    assert "<b>TP53" not in html
    assert "&lt;b&gt;TP53&lt;/b&gt;&amp;" in html
    genes = [row[1] for row in _tables(html)["variants"][1:]]
    assert "<b>TP53</b>&" in genes  # the browser shows the text as it was


def test_the_variant_table_lists_every_tiered_variant_most_urgent_first() -> None:
    rows = _tables(render_clinical_html(preliminary_report()))["variants"]
    header, body = rows[0], rows[1:]
    assert header[:3] == ["Tier", "Gene", "HGVS c."]
    assert len(body) == len(VARIANTS)
    assert [row[0] for row in body] == ["1", "2", "3", "3"]
    cftr = body[0]
    assert cftr[1:7] == [
        "CFTR",
        "NM_000492.4:c.1521_1523del",
        "NP_000483.3:p.(Phe508del)",
        "inframe deletion",
        "homozygous",
        "57 / 98.2\u00a0%",
    ]
    assert cftr[7] == "Pathogenic (criteria provided, multiple submitters, no conflicts)"
    assert cftr[8] == "0.0071"
    dmd = next(row for row in body if row[1] == "DMD")
    assert dmd[3] == "—" and dmd[8] == "0.00004"
    brca1 = next(row for row in body if row[1] == "BRCA1")
    assert brca1[8] == "absent"


def test_failed_qc_checks_are_spelled_out() -> None:
    html = render_clinical_html(qc_failed_report())
    assert "QC FAILED: 2 checks missed their thresholds." in html
    failures = re.search(r'<ul id="qc-failures">(.*?)</ul>', html, re.S)
    assert failures is not None
    assert "Mean coverage (×) 18.40 misses ≥ 25.00" in failures.group(1)
    assert "Duplicate reads (%) 27.90 misses ≤ 20.00" in failures.group(1)
    checks = _tables(html)["qc-checks"]
    assert ["Ti/Tv", "not measured", "1.80–2.40", "not checked"] in checks


def test_passed_qc_has_no_failure_list() -> None:
    html = render_clinical_html(preliminary_report())
    assert "QC passed" in html and "qc-failures" not in html


def test_coverage_lists_low_coverage_exons() -> None:
    rows = _tables(render_clinical_html(preliminary_report()))["coverage"]
    assert ["DMD", "88.5", "DMD exon 45 (62 %), DMD exon 52 (71 %)"] in rows
    assert ["TP53", "100.0", "none"] in rows


def test_versions_are_one_fact_per_row_not_a_mapping_repr() -> None:
    html = render_clinical_html(preliminary_report())
    assert "{'" not in html and "{&#x27;" not in html
    facts = dict(row for row in _tables(html)["facts"] if len(row) == 2)
    assert facts["Tool: samtools"] == "1.16.1"
    assert facts["Reference genome"] == "GRCh38 (GRCh38.p14)"
    assert facts["Gene panel"] == "Hereditary cancer & CF, version 2026-09"


def test_files_are_listed_with_their_checksums() -> None:
    rows = _tables(render_clinical_html(preliminary_report()))["files"]
    assert ["S-7Q2K9.md.cram", "17.0 GiB", "b" * 64] in rows


def test_the_page_fetches_nothing_and_prints_on_a4() -> None:
    html = render_clinical_html(final_report())
    assert not re.search(r"<(script|link|img|iframe)\b", html)
    assert "http://" not in html and "https://" not in html and "url(" not in html
    assert "@page { size: A4;" in html
    assert "table-layout: fixed" in html


def test_the_same_report_renders_the_same_page() -> None:
    assert render_clinical_html(final_report()) == render_clinical_html(final_report())
