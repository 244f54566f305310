"""MultiQC custom content from seqoia's QC summaries, and the guards of ``run_multiqc``.

Nothing here needs MultiQC: the files are checked as written, and ``run_multiqc`` only
up to the point where it would start MultiQC (the real runs are in
``tests/integration/test_multiqc_report.py``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pysam
import pytest

from seqoia.errors import ConfigurationError, InputError, ToolError
from seqoia.genomics import multiqc
from seqoia.genomics.multiqc import (
    ExcludedSample,
    run_multiqc,
    write_bcftools_stats,
    write_custom_content,
)
from seqoia.genomics.qc import QCMetrics
from seqoia.genomics.qc_gate import QCThresholds, evaluate_gate

RUN = "240105_A00123_0042_AHWKLMDSX7"

_GOOD = {
    "read_pairs": 412_345_678,
    "q30_pct": 91.24,
    "gc_pct": 41.3,
    "mapped_pct": 99.12,
    "properly_paired_pct": 97.5,
    "duplicate_pct": 8.31,
    "median_insert_size": 421.0,
    "coverage_region": "genome",
    "mean_coverage": 33.42,
    "pct_10x": 99.1,
    "pct_20x": 95.13,
    "pct_30x": 61.0,
    "snvs": 4_123_456,
    "indels": 612_345,
    "ti_tv": 2.04,
    "het_hom_ratio": 1.61,
    "chrx_coverage_ratio": 1.0,
    "chry_coverage_ratio": 0.0,
    "chrx_het_fraction": 0.3,
    "predicted_sex": "XX",
}


def qc_summary(
    thresholds: QCThresholds | None = None, expected_sex: str | None = None, **changes: Any
) -> dict[str, Any]:
    """A ``qc`` stage summary as the stage commits it, from the real models and gate."""
    thresholds = thresholds or QCThresholds()
    metrics = QCMetrics(**{**_GOOD, **changes})
    verdict = evaluate_gate(metrics, thresholds, expected_sex=expected_sex)
    return {
        "metrics": metrics.model_dump(mode="json"),
        "verdict": verdict.model_dump(mode="json"),
        "thresholds": thresholds.model_dump(mode="json"),
    }


def run_summaries() -> dict[str, dict[str, Any]]:
    """Three samples: S01 passes, S02 passes with Ti/Tv unmeasured, S03 fails four checks."""
    return {
        "S01": qc_summary(expected_sex="XX"),
        "S02": qc_summary(expected_sex="XY", predicted_sex="XY", ti_tv=None, read_pairs=None),
        "S03": qc_summary(
            expected_sex="XX",
            predicted_sex="XY",
            mean_coverage=18.2,
            pct_20x=40.5,
            duplicate_pct=31.0,
            read_pairs=298_000_000,
        ),
    }


EXCLUDED = (
    ExcludedSample(
        sample="S04", stage="align", reason="FormatError: S04_R1.fastq.gz:17: truncated record"
    ),
)


def _documents(paths: list[Path]) -> dict[str, dict[str, Any]]:
    return {json.loads(p.read_text())["id"]: json.loads(p.read_text()) for p in paths}


@pytest.fixture
def written(tmp_path: Path) -> dict[str, dict[str, Any]]:
    paths = write_custom_content(tmp_path, run=RUN, qc=run_summaries(), excluded=EXCLUDED)
    assert all(p.parent == tmp_path and p.name.endswith("_mqc.json") for p in paths)
    return _documents(paths)


def test_general_stats_hold_the_key_metrics_of_every_sample(written: dict) -> None:
    stats = written["seqoia_qc"]
    assert stats["plot_type"] == "generalstats"
    s01 = stats["data"]["S01"]
    assert s01 == {
        "read_pairs": pytest.approx(412.345678),  # millions
        "q30_pct": 91.24,
        "mapped_pct": 99.12,
        "duplicate_pct": 8.31,
        "mean_coverage": 33.42,
        "pct_20x": 95.13,
        "ti_tv": 2.04,
        "het_hom_ratio": 1.61,
        "predicted_sex": "XX",
        "qc_verdict": "pass",
    }
    assert stats["data"]["S03"]["qc_verdict"] == "fail"
    assert stats["data"]["S03"]["read_pairs"] == pytest.approx(298.0)
    assert set(stats["data"]) == {"S01", "S02", "S03"}  # excluded samples have no QC


def test_general_stats_headers_have_titles_units_and_ranges(written: dict) -> None:
    headers = written["seqoia_qc"]["headers"]
    assert [h["title"] for h in headers.values()] == [
        "M Pairs",
        "≥Q30",
        "Mapped",
        "Dups",
        "Mean cov",
        "≥20X",
        "Ti/Tv",
        "Het/Hom",
        "Sex",
        "QC",
    ]
    assert headers["q30_pct"]["suffix"] == "%"
    assert (headers["pct_20x"]["min"], headers["pct_20x"]["max"]) == (0, 100)
    assert headers["mean_coverage"]["suffix"] == "X"
    assert headers["duplicate_pct"]["scale"].endswith("-rev")  # more duplicates is worse
    assert headers["qc_verdict"]["scale"] is False
    assert all(h["namespace"] == "seqoia" and h["description"] for h in headers.values())


def test_unmeasured_metrics_are_left_out_not_written_as_null(tmp_path: Path) -> None:
    paths = write_custom_content(tmp_path, run=RUN, qc=run_summaries(), excluded=EXCLUDED)
    s02 = _documents(paths)["seqoia_qc"]["data"]["S02"]
    assert "ti_tv" not in s02 and "read_pairs" not in s02
    assert s02["mean_coverage"] == 33.42
    for path in paths:
        assert "null" not in path.read_text() and "None" not in path.read_text()


def test_a_column_nobody_measured_is_not_shown(tmp_path: Path) -> None:
    qc = {"S01": qc_summary(ti_tv=None, het_hom_ratio=None)}
    stats = _documents(write_custom_content(tmp_path, run=RUN, qc=qc))["seqoia_qc"]
    assert "ti_tv" not in stats["headers"] and "het_hom_ratio" not in stats["headers"]
    assert "mean_coverage" in stats["headers"]


def test_general_stats_cells_are_marked_fail_beyond_the_gate_thresholds(written: dict) -> None:
    headers = written["seqoia_qc"]["headers"]
    assert headers["mean_coverage"]["cond_formatting_rules"] == {"fail": [{"lt": 25.0}]}
    assert headers["duplicate_pct"]["cond_formatting_rules"] == {"fail": [{"gt": 20.0}]}
    assert headers["ti_tv"]["cond_formatting_rules"] == {"fail": [{"lt": 1.8}, {"gt": 2.4}]}
    assert "cond_formatting_rules" not in headers["read_pairs"]  # min_read_pairs is off


def test_thresholds_that_differ_between_samples_mark_nothing(tmp_path: Path) -> None:
    qc = {
        "S01": qc_summary(QCThresholds(min_mean_coverage=25.0, min_read_pairs=1_000_000)),
        "S02": qc_summary(QCThresholds(min_mean_coverage=15.0, min_read_pairs=1_000_000)),
    }
    headers = _documents(write_custom_content(tmp_path, run=RUN, qc=qc))["seqoia_qc"]["headers"]
    assert "cond_formatting_rules" not in headers["mean_coverage"]
    assert headers["read_pairs"]["cond_formatting_rules"] == {"fail": [{"lt": 1.0}]}  # millions


def test_qc_gate_table_gives_each_verdict_with_its_failed_reasons(written: dict) -> None:
    gate = written["seqoia_qc_gate"]
    assert gate["plot_type"] == "table" and gate["section_name"] == "QC gate"
    failures = run_summaries()["S03"]["verdict"]["failures"]
    assert [f["metric"] for f in failures] == ["duplicate_pct", "mean_coverage", "pct_20x", "sex"]
    s03 = gate["data"]["S03"]
    assert s03["verdict"] == "fail" and s03["failed_checks"] == 4
    assert s03["reasons"] == "; ".join(f["message"] for f in failures)
    assert "Mean coverage (×) 18.20 misses ≥ 25.00" in s03["reasons"]
    assert gate["data"]["S01"] == {"verdict": "pass", "failed_checks": 0}
    assert gate["data"]["S02"] == {"verdict": "pass", "failed_checks": 0, "not_measured": "Ti/Tv"}
    assert set(gate["headers"]) == {"verdict", "failed_checks", "reasons", "not_measured"}


def test_qc_gate_description_states_the_thresholds_applied(written: dict) -> None:
    description = written["seqoia_qc_gate"]["description"]
    assert RUN in description and "2 of 3 samples pass" in description
    assert "- Mean coverage (×): ≥ 25.00" in description
    assert "- Ti/Tv: 1.80–2.40" in description
    assert "predicted karyotype must match the declared sex" in description
    assert "Read pairs" not in description  # that check is switched off
    assert "reported, not failed" in description


def test_excluded_samples_table_says_where_and_why_each_sample_stopped(written: dict) -> None:
    excluded = written["seqoia_excluded_samples"]
    assert excluded["section_name"] == "Samples not in this report"
    assert excluded["plot_type"] == "table"
    assert excluded["data"] == {
        "S04": {"stage": "align", "reason": "FormatError: S04_R1.fastq.gz:17: truncated record"}
    }
    assert "1 sample of run" in excluded["description"]


def test_no_excluded_table_is_written_when_every_sample_reached_qc(tmp_path: Path) -> None:
    paths = write_custom_content(tmp_path, run=RUN, qc=run_summaries())
    assert set(_documents(paths)) == {"seqoia_qc", "seqoia_qc_gate"}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)


def test_a_run_where_every_sample_failed_early_still_lists_them(tmp_path: Path) -> None:
    paths = write_custom_content(tmp_path, run=RUN, qc={}, excluded=EXCLUDED)
    assert set(_documents(paths)) == {"seqoia_excluded_samples"}


def test_table_text_is_one_line_and_html_escaped(tmp_path: Path) -> None:
    # MultiQC puts table cell text into the page as it is.
    odd = ExcludedSample(sample="S09", stage="call_variants", reason="bad <VCF> & co\n  line 2")
    paths = write_custom_content(tmp_path, run=RUN, qc={}, excluded=[odd])
    reason = _documents(paths)["seqoia_excluded_samples"]["data"]["S09"]["reason"]
    assert reason == "bad &lt;VCF&gt; &amp; co line 2"


@pytest.mark.parametrize("sample", ["../S01", "S01/x", "", ".hidden", "S 01"])
def test_sample_ids_unsafe_in_file_names_are_refused(tmp_path: Path, sample: str) -> None:
    with pytest.raises(InputError, match="not safe"):
        write_custom_content(tmp_path, run=RUN, qc={sample: qc_summary()})
    assert list(tmp_path.iterdir()) == []


def test_excluded_sample_is_frozen() -> None:
    with pytest.raises(ValueError):
        EXCLUDED[0].stage = "qc"  # type: ignore[misc]


# -- bcftools stats --------------------------------------------------------------------

_VCF = """\
##fileformat=VCFv4.2
##contig=<ID=chr1,length=10000>
##FILTER=<ID=LowQual,Description="Low quality">
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
#CHROM	POS	ID	REF	ALT	QUAL	FILTER	INFO	FORMAT	S01
chr1	100	.	A	G	50	PASS	.	GT	0/1
chr1	200	.	C	T	50	PASS	.	GT	1/1
chr1	300	.	G	C	50	PASS	.	GT	0/1
chr1	400	.	T	TA	50	PASS	.	GT	0/1
chr1	500	.	A	G	5	LowQual	.	GT	0/1
"""


def small_vcf(folder: Path) -> Path:
    """A bgzipped five-record VCF under a scratch-like name that must not leak."""
    plain = folder / "scratch-8f3a" / "attempt.vcf"
    plain.parent.mkdir(parents=True)
    plain.write_text(_VCF)
    out = plain.with_suffix(".vcf.gz")
    pysam.tabix_compress(str(plain), str(out))
    return out


def test_bcftools_stats_are_named_after_the_sample_not_the_scratch_file(tmp_path: Path) -> None:
    vcf = small_vcf(tmp_path)
    path = write_bcftools_stats(vcf, tmp_path / "mqc", "S01")
    assert path == tmp_path / "mqc" / "S01.bcftools_stats.txt"
    text = path.read_text()
    assert text.startswith("# This file was produced by bcftools stats")  # MultiQC's marker
    assert "ID\t0\tS01\n" in text
    assert "scratch-8f3a" not in text and str(tmp_path) not in text
    assert "SN\t0\tnumber of records:\t4\n" in text  # PASS only, as the QC counts
    assert "SN\t0\tnumber of SNPs:\t3\n" in text


def test_bcftools_stats_of_a_broken_vcf_raise_tool_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.vcf.gz"
    bad.write_bytes(b"not a vcf")
    with pytest.raises(ToolError, match="bcftools stats"):
        write_bcftools_stats(bad, tmp_path, "S01")


# -- run_multiqc guards ----------------------------------------------------------------


def test_run_multiqc_without_multiqc_names_the_folder_and_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(multiqc, "multiqc_available", lambda: False)
    with pytest.raises(ConfigurationError) as caught:
        run_multiqc(tmp_path / "mqc", tmp_path / "out", title="t")
    assert str(tmp_path / "mqc") in str(caught.value)
    assert "pip install 'seqoia[multiqc]'" in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_run_multiqc_with_an_interpreter_lacking_multiqc_names_the_extra(tmp_path: Path) -> None:
    # -S hides site-packages, so `python -m multiqc` fails as on a host without the extra.
    python = tmp_path / "python-without-site"
    python.write_text(f'#!/bin/sh\nexec {sys.executable} -S "$@"\n')
    python.chmod(0o755)
    (tmp_path / "mqc").mkdir()
    with pytest.raises(ConfigurationError, match=r"seqoia\[multiqc\]") as caught:
        run_multiqc(tmp_path / "mqc", tmp_path / "out", title="t", python=str(python))
    assert str(tmp_path / "mqc") in str(caught.value)


def test_run_multiqc_with_a_bogus_interpreter_raises_tool_error(tmp_path: Path) -> None:
    (tmp_path / "mqc").mkdir()
    with pytest.raises(ToolError) as caught:
        run_multiqc(tmp_path / "mqc", tmp_path / "out", title="t", python="/nonexistent/python")
    assert caught.value.exit_code == 127
    assert str(tmp_path / "mqc") in caught.value.command


def test_run_multiqc_refuses_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such folder") as caught:
        run_multiqc(tmp_path / "absent", tmp_path / "out", title="t")
    assert caught.value.file == str(tmp_path / "absent")


def test_multiqc_available_looks_it_up_without_importing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = []
    monkeypatch.setattr(multiqc.importlib.util, "find_spec", lambda name: seen.append(name))
    assert multiqc.multiqc_available() is False
    assert seen == ["multiqc"]


def test_importing_the_module_does_not_import_multiqc() -> None:
    code = "import sys, seqoia.genomics.multiqc; print('multiqc' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_qc_gate_description_says_so_when_no_threshold_was_checked(tmp_path: Path) -> None:
    off = QCThresholds(
        **{name: None for name in QCThresholds.model_fields if name != "fail_on_missing"}
    )
    paths = write_custom_content(tmp_path, run=RUN, qc={"S01": qc_summary(off)})
    description = _documents(paths)["seqoia_qc_gate"]["description"]
    assert "1 of 1 samples pass" in description
    assert "No threshold was checked." in description and "Thresholds:" not in description
