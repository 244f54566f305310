"""A real MultiQC run over seqoia's custom content: what a laboratory reads is what was written.

One MultiQC run (about 6 s) serves the report tests; a user configuration planted in the
home folder, the working folder and the environment must not reach it.
"""

from __future__ import annotations

import csv
import io
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from seqoia.errors import ToolError
from seqoia.genomics.multiqc import (
    run_multiqc,
    write_bcftools_stats,
    write_custom_content,
)
from tests.unit.genomics.test_multiqc import EXCLUDED, RUN, run_summaries, small_vcf

pytest.importorskip("multiqc")

LEAK = "leaked-user-config"


@dataclass(frozen=True)
class Report:
    html: str
    data: dict[str, str]  # file name in multiqc_data.zip -> text
    out_dir: Path
    elapsed_s: float


def _table(text: str) -> dict[str, dict[str, str]]:
    return {row["Sample"]: row for row in csv.DictReader(io.StringIO(text), delimiter="\t")}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    root = tmp_path_factory.mktemp("multiqc")
    folder = root / "mqc"
    write_custom_content(folder, run=RUN, qc=run_summaries(), excluded=EXCLUDED)
    write_bcftools_stats(small_vcf(root), folder, "S01")
    home = root / "home"
    home.mkdir()
    (home / ".multiqc_config.yaml").write_text(f"report_comment: {LEAK}-home\n")
    (root / "multiqc_config.yaml").write_text(f"report_comment: {LEAK}-cwd\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        mp.setenv("MULTIQC_REPORT_COMMENT", f"{LEAK}-env")
        mp.chdir(root)
        started = time.monotonic()
        path = run_multiqc(folder, root / "out", title=f"Run {RUN}", time_limit_s=120)
        elapsed_s = time.monotonic() - started
    assert path == root / "out" / "multiqc_report.html"
    with zipfile.ZipFile(root / "out" / "multiqc_data.zip") as zf:
        data = {
            Path(n).name: zf.read(n).decode() for n in zf.namelist() if n.endswith((".txt", ".log"))
        }
    return Report(path.read_text(), data, root / "out", elapsed_s)


def test_multiqc_writes_one_report_and_one_data_zip(report: Report) -> None:
    assert sorted(p.name for p in report.out_dir.iterdir()) == [
        "multiqc_data.zip",
        "multiqc_report.html",
    ]
    assert report.elapsed_s < 30


def test_report_shows_every_sample_and_why_one_is_missing(report: Report) -> None:
    for sample in ("S01", "S02", "S03", "S04"):
        assert f">{sample}<" in report.html
    assert "Samples not in this report" in report.html
    assert EXCLUDED[0].reason in report.html
    assert f"Run {RUN}" in report.html


def test_report_shows_the_general_statistics_columns(report: Report) -> None:
    for title in ("M Pairs", "≥Q30", "Mapped", "Dups", "Mean cov", "≥20X", "Ti/Tv", "Het/Hom"):
        assert f">{title}<" in report.html or f"{title}</span>" in report.html, title
    assert "QC gate of run" in report.html
    assert "Mean coverage (×) 18.20 misses ≥ 25.00" in report.html


def test_general_stats_parsed_by_multiqc_are_the_values_written(report: Report) -> None:
    stats = _table(report.data["multiqc_general_stats.txt"])
    assert set(stats) == {"S01", "S02", "S03"}  # S04 never reached QC

    def value(sample: str, column: str) -> str:
        return stats[sample][f"custom_content_seqoia-{column}"]

    assert float(value("S01", "mean_coverage")) == 33.42
    assert float(value("S03", "mean_coverage")) == 18.2
    assert float(value("S01", "read_pairs")) == pytest.approx(412.345678)
    assert value("S01", "qc_verdict") == "pass" and value("S03", "qc_verdict") == "fail"
    assert value("S02", "predicted_sex") == "XY"
    assert value("S02", "ti_tv") == ""  # not measured, left out
    assert float(stats["S01"]["bcftools_stats-number_of_records"]) == 4  # native module


def test_gate_and_excluded_tables_parsed_by_multiqc_are_the_rows_written(report: Report) -> None:
    gate = _table(report.data["multiqc_seqoia_qc_gate_table.txt"])
    assert {s: r["verdict"] for s, r in gate.items()} == {
        "S01": "pass",
        "S02": "pass",
        "S03": "fail",
    }
    assert gate["S03"]["reasons"].count(";") == 3
    excluded = _table(report.data["multiqc_seqoia_excluded_samples_table.txt"])
    assert excluded == {"S04": {"Sample": "S04", "stage": "align", "reason": EXCLUDED[0].reason}}


def test_bcftools_module_names_the_sample_from_the_stats_file(report: Report) -> None:
    bcftools = _table(report.data["multiqc_bcftools_stats.txt"])
    assert list(bcftools) == ["S01"]
    assert int(bcftools["S01"]["number_of_SNPs"]) == 3


def test_user_configuration_does_not_reach_the_report(report: Report) -> None:
    assert LEAK not in report.html
    log = report.data["multiqc.log"]
    assert "'no_version_check': True" in log
    # check_version() logs one of these whenever it runs, online or not
    assert "for version check" not in log and "Latest MultiQC version" not in log


def test_an_empty_folder_raises_tool_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ToolError, match="No analysis results found") as caught:
        run_multiqc(tmp_path / "empty", tmp_path / "out", title="t")
    assert f"no report written for {tmp_path / 'empty'}" in str(caught.value)
    assert not (tmp_path / "out" / "multiqc_report.html").exists()


def test_multiqc_past_its_time_limit_is_killed(tmp_path: Path) -> None:
    write_custom_content(tmp_path / "mqc", run=RUN, qc=run_summaries())
    started = time.monotonic()
    with pytest.raises(ToolError, match="time limit") as caught:
        run_multiqc(tmp_path / "mqc", tmp_path / "out", title="t", time_limit_s=0.5)
    assert caught.value.exit_code < 0
    assert time.monotonic() - started < 5
    assert str(tmp_path / "mqc") in caught.value.command
