"""The run-level MultiQC report, built from seqoia's own per-sample QC results.

seqoia measures QC itself (:mod:`seqoia.genomics.qc`, :mod:`seqoia.genomics.qc_gate`);
laboratories read MultiQC reports. :func:`write_custom_content` turns the committed ``qc``
summaries of a run into MultiQC *custom content* files (``*_mqc.json``): general-statistics
columns, a QC-gate table, and a table of the samples that never reached QC, so a missing
sample is visible rather than silently absent. :func:`write_bcftools_stats` adds
``bcftools stats`` output for MultiQC's native bcftools module. :func:`run_multiqc` runs
MultiQC on such a folder.

MultiQC is an optional extra (``pip install 'seqoia[multiqc]'``) with heavy dependencies:
it is never imported here, only run as ``python -m multiqc`` in a child process, with a
fresh configuration (no user or working-directory config, no ``MULTIQC_*`` variables), no
network use (version check and AI features off) and a time limit that kills it.
"""

from __future__ import annotations

import contextlib
import html
import importlib.util
import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pysam
import pysam.bcftools
import pysam.utils
from pydantic import BaseModel, ConfigDict

from seqoia.errors import ConfigurationError, InputError, ToolError
from seqoia.genomics.qc_gate import METRIC_LABELS

__all__ = [
    "ExcludedSample",
    "multiqc_available",
    "run_multiqc",
    "write_bcftools_stats",
    "write_custom_content",
]

log = logging.getLogger(__name__)

REPORT_NAME = "multiqc_report.html"
DATA_ZIP_NAME = "multiqc_data.zip"
INSTALL_HINT = "pip install 'seqoia[multiqc]'"

GENERAL_STATS_ID = "seqoia_qc"
GATE_ID = "seqoia_qc_gate"
EXCLUDED_ID = "seqoia_excluded_samples"

#: A sample id becomes a file name; refuse anything that could leave the folder.
_SAFE_SAMPLE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_STDERR_TAIL_LINES = 20

_PCT = {"suffix": "%", "min": 0, "max": 100, "format": "{:,.1f}"}

#: General-statistics columns: QCMetrics field -> MultiQC column header.
_GENERAL_STATS: dict[str, dict[str, Any]] = {
    "read_pairs": {
        "title": "M Pairs",
        "description": "Read pairs (millions)",
        "min": 0,
        "scale": "Blues",
        "format": "{:,.1f}",
    },
    "q30_pct": {"title": "≥Q30", "description": "Bases ≥ Q30 (%)", "scale": "RdYlGn", **_PCT},
    "mapped_pct": {"title": "Mapped", "description": "Mapped reads (%)", "scale": "RdYlGn", **_PCT},
    "duplicate_pct": {
        "title": "Dups",
        "description": "Duplicate reads among mapped reads (%)",
        "scale": "RdYlGn-rev",
        **_PCT,
    },
    "mean_coverage": {
        "title": "Mean cov",
        "description": "Mean coverage without duplicates (×)",
        "suffix": "X",
        "min": 0,
        "scale": "BuPu",
        "format": "{:,.1f}",
    },
    "pct_20x": {
        "title": "≥20X",
        "description": "Bases covered ≥ 20× (%)",
        "scale": "RdYlGn",
        **_PCT,
    },
    "ti_tv": {
        "title": "Ti/Tv",
        "description": "Transition/transversion ratio of PASS SNVs",
        "scale": "Purples",
        "format": "{:,.2f}",
    },
    "het_hom_ratio": {
        "title": "Het/Hom",
        "description": "Heterozygous/homozygous-alt ratio of PASS SNVs",
        "scale": "Oranges",
        "format": "{:,.2f}",
    },
    "predicted_sex": {
        "title": "Sex",
        "description": "Karyotype predicted from chrX/chrY coverage (XX, XY or unknown)",
        "scale": False,
    },
    "qc_verdict": {
        "title": "QC",
        "description": "Verdict of the QC gate (pass or fail); reasons in the QC gate table",
        "scale": False,
    },
}

#: Gate thresholds (``QCThresholds`` field, kind) that colour a general-statistics cell.
_THRESHOLD_RULES: dict[str, tuple[str, str]] = {
    "read_pairs": ("min_read_pairs", "min"),
    "q30_pct": ("min_q30_pct", "min"),
    "mapped_pct": ("min_mapped_pct", "min"),
    "duplicate_pct": ("max_duplicate_pct", "max"),
    "mean_coverage": ("min_mean_coverage", "min"),
    "pct_20x": ("min_pct_20x", "min"),
    "ti_tv": ("ti_tv_range", "range"),
    "het_hom_ratio": ("het_hom_range", "range"),
}


class ExcludedSample(BaseModel):
    """A sample of the run that failed permanently before QC, shown so it is not missed."""

    model_config = ConfigDict(frozen=True)

    sample: str
    stage: str  # the pipeline stage where it failed permanently, e.g. "align"
    reason: str  # one-line error message


def multiqc_available() -> bool:
    """Whether MultiQC is installed (a cheap look-up; nothing is imported)."""
    return importlib.util.find_spec("multiqc") is not None


# -- custom content --------------------------------------------------------------------


def write_custom_content(
    folder: Path,
    *,
    run: str,
    qc: Mapping[str, Mapping[str, Any]],
    excluded: Sequence[ExcludedSample] = (),
) -> list[Path]:
    """Write MultiQC custom-content files for the ``qc`` summaries of ``run`` -> the files.

    ``qc`` maps a sample id to its ``qc`` stage summary (``metrics``, ``verdict``,
    ``thresholds``). Writes general-statistics columns, the QC-gate table and, when
    ``excluded`` is not empty, the table of samples not in the report. Unmeasured
    (None) metrics are left out. Only sample ids and QC values are written.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for sample in [*qc, *(e.sample for e in excluded)]:
        _check_sample_id(sample, run)
    documents = []
    if qc:
        documents.append(("seqoia_general_stats_mqc.json", _general_stats(qc)))
        documents.append(("seqoia_qc_gate_mqc.json", _gate_table(run, qc)))
    if excluded:
        documents.append(("seqoia_excluded_samples_mqc.json", _excluded_table(run, excluded)))
    written = []
    for name, document in documents:
        path = folder / name
        path.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
        written.append(path)
    return written


def _cell(text: str) -> str:
    """Text for a table cell: one line, HTML-escaped (MultiQC inserts cell text verbatim)."""
    return html.escape(" ".join(text.split()), quote=False)


def _check_sample_id(sample: str, run: str) -> None:
    if not _SAFE_SAMPLE.match(sample):
        raise InputError(
            f"sample id {sample!r} is not safe in a report (letters, digits, ., _, -)", run=run
        )


def _general_stats(qc: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    data: dict[str, dict[str, Any]] = {}
    for sample, summary in qc.items():
        metrics = summary.get("metrics") or {}
        row: dict[str, Any] = {key: metrics.get(key) for key in _GENERAL_STATS if key in metrics}
        if (pairs := row.get("read_pairs")) is not None:
            row["read_pairs"] = pairs / 1e6
        passed = (summary.get("verdict") or {}).get("passed")
        if passed is not None:
            row["qc_verdict"] = "pass" if passed else "fail"
        data[sample] = {key: value for key, value in row.items() if value is not None}
    headers = {key: dict(header, namespace="seqoia") for key, header in _GENERAL_STATS.items()}
    thresholds = _common_thresholds(qc)
    for key, (field, kind) in _THRESHOLD_RULES.items():
        limit = thresholds.get(field)
        if limit is not None:
            if key == "read_pairs":
                limit = limit / 1e6
            headers[key]["cond_formatting_rules"] = {"fail": _fail_rules(limit, kind)}
            headers[key]["cond_formatting_colours"] = [{"fail": "#d9534f"}]
    used = {key for row in data.values() for key in row}
    return {
        "id": GENERAL_STATS_ID,
        "plot_type": "generalstats",
        "headers": {key: header for key, header in headers.items() if key in used},
        "data": data,
    }


def _common_thresholds(qc: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The thresholds every sample was gated with; the differing ones are left out."""
    each = [dict(summary.get("thresholds") or {}) for summary in qc.values()]
    if not each:
        return {}
    return {k: v for k, v in each[0].items() if all(t.get(k) == v for t in each[1:])}


def _fail_rules(limit: Any, kind: str) -> list[dict[str, float]]:
    if kind == "range":
        low, high = limit
        return [{"lt": low}, {"gt": high}]
    return [{"lt": limit}] if kind == "min" else [{"gt": limit}]


def _gate_table(run: str, qc: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    data: dict[str, dict[str, Any]] = {}
    for sample, summary in qc.items():
        verdict = summary.get("verdict") or {}
        passed = verdict.get("passed")
        failures = [f.get("message") or f.get("metric", "") for f in verdict.get("failures", ())]
        unmeasured = [
            METRIC_LABELS.get(c.get("metric", ""), c.get("metric", ""))
            for c in verdict.get("checks", ())
            if c.get("passed") is None
        ]
        row = {
            "verdict": None if passed is None else ("pass" if passed else "fail"),
            "failed_checks": len(failures),
            "reasons": _cell("; ".join(failures)),
            "not_measured": _cell(", ".join(unmeasured)),
        }
        data[sample] = {key: value for key, value in row.items() if value not in (None, "")}
    return {
        "id": GATE_ID,
        "section_name": "QC gate",
        "description": _gate_description(run, qc),
        "plot_type": "table",
        "pconfig": {"id": f"{GATE_ID}_table", "title": "seqoia: QC gate", "col1_header": "Sample"},
        "headers": {
            "verdict": {
                "title": "Verdict",
                "description": "pass or fail",
                "scale": False,
                "placement": 10,
            },
            "failed_checks": {
                "placement": 20,
                "title": "Failed checks",
                "description": "Number of thresholds missed",
                "min": 0,
                "format": "{:,.0f}",
                "scale": "Reds",
            },
            "reasons": {
                "title": "Reasons",
                "description": "Thresholds missed",
                "scale": False,
                "placement": 30,
            },
            "not_measured": {
                "placement": 40,
                "title": "Not measured",
                "description": "Metrics with a threshold that could not be measured",
                "scale": False,
            },
        },
        "data": data,
    }


def _gate_description(run: str, qc: Mapping[str, Mapping[str, Any]]) -> str:
    """The thresholds as applied (from the verdicts' checks), so the table can be read alone."""
    applied: dict[str, list[str]] = {}
    declared_sex = False
    strict: set[bool] = set()
    for summary in qc.values():
        for check in (summary.get("verdict") or {}).get("checks", ()):
            if check.get("metric") == "sex":
                declared_sex = True
                continue
            label = METRIC_LABELS.get(check.get("metric", ""), check.get("metric", ""))
            if check.get("threshold") not in applied.setdefault(label, []):
                applied[label].append(check.get("threshold"))
        strict.add(bool((summary.get("thresholds") or {}).get("fail_on_missing")))
    passed = sum(1 for s in qc.values() if (s.get("verdict") or {}).get("passed") is True)
    rules = [f"- {label}: {' or '.join(limits)}" for label, limits in applied.items()]
    if declared_sex:
        rules.append("- Sex: the predicted karyotype must match the declared sex")
    lines = [f"QC gate of run {run}: {passed} of {len(qc)} samples pass."]
    lines += ["", "Thresholds:", "", *rules] if rules else ["", "No threshold was checked."]
    if strict == {True}:
        lines += ["", "A metric that could not be measured fails the gate."]
    elif strict == {False}:
        lines += ["", "A metric that could not be measured is reported, not failed."]
    return "\n".join(lines)


def _excluded_table(run: str, excluded: Sequence[ExcludedSample]) -> dict[str, Any]:
    count = len(excluded)
    return {
        "id": EXCLUDED_ID,
        "section_name": "Samples not in this report",
        "description": (
            f"{count} sample{'s' if count != 1 else ''} of run {run} failed permanently "
            "before QC and are missing from every other section of this report."
        ),
        "plot_type": "table",
        "pconfig": {
            "id": f"{EXCLUDED_ID}_table",
            "title": "seqoia: samples not in this report",
            "col1_header": "Sample",
        },
        "headers": {
            "stage": {"title": "Failed stage", "description": "Pipeline stage", "scale": False},
            "reason": {"title": "Reason", "description": "Error of that stage", "scale": False},
        },
        "data": {e.sample: {"stage": _cell(e.stage), "reason": _cell(e.reason)} for e in excluded},
    }


# -- bcftools stats --------------------------------------------------------------------


def write_bcftools_stats(vcf: Path, folder: Path, sample: str, *, pass_only: bool = True) -> Path:
    """Write ``bcftools stats`` of ``vcf`` as ``<sample>.bcftools_stats.txt`` for MultiQC.

    MultiQC names the sample after the file named on the ``ID`` line, so that line (and
    the command-line comment) carry the sample id instead of a local scratch path.
    ``pass_only`` counts PASS records only, as the QC metrics do.
    """
    _check_sample_id(sample, "")
    args = ["-s", "-", *(["-f", ".,PASS"] if pass_only else []), str(vcf)]
    try:
        text = str(pysam.bcftools.stats(*args))
    except pysam.utils.SamtoolsError as err:
        command = ["bcftools", "stats", *args]
        raise ToolError(command, getattr(err, "returncode", 1) or 1, str(err)) from err
    lines = []
    for line in text.splitlines():
        if line.startswith("ID\t"):
            line = "\t".join([*line.split("\t")[:2], sample])
        elif line.startswith("# The command line was:"):
            line = f"# The command line was:\tbcftools stats {' '.join(args[:-1])} {sample}"
        lines.append(line)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{sample}.bcftools_stats.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


# -- running MultiQC -------------------------------------------------------------------


def _multiqc_config() -> dict[str, Any]:
    """Settings that keep a run offline, deterministic in shape and free of surprises."""
    return {
        "no_version_check": True,  # no call to api.multiqc.info
        "no_ai": True,  # no AI summary buttons sending report data to a provider
        "plots_force_interactive": True,  # no kaleido/Chromium child for flat plots
        "fn_clean_sample_names": False,  # sample ids are shown exactly as written
        # MultiQC rewrites the commas of every table cell, text included, to this
        # separator; the default (a thin-space span) would erase the commas of reasons.
        "thousandsSep_format": ",",
        # Fixed names: otherwise MultiQC derives them from the title.
        "output_fn_name": REPORT_NAME,
        "data_dir_name": "multiqc_data",
        "plots_dir_name": "multiqc_plots",
        "custom_content": {"order": [f"{GATE_ID}-module", f"{EXCLUDED_ID}-module"]},
    }


def _clean_environment(home: Path) -> dict[str, str]:
    """The environment without ``MULTIQC_*`` settings and with an empty home folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MULTIQC_")}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), MPLCONFIGDIR=str(home))
    env["COLUMNS"] = "200"  # rich wraps its error boxes at the terminal width, paths included
    env.pop("MEGAQC_ACCESS_TOKEN", None)
    return env


def run_multiqc(
    folder: Path,
    out_dir: Path,
    *,
    title: str,
    time_limit_s: float = 600,
    python: str | None = None,
) -> Path:
    """Run MultiQC on ``folder`` -> ``out_dir/multiqc_report.html``.

    Beside the report MultiQC's parsed data is written as one ``multiqc_data.zip`` (two
    self-contained files suit an object store better than a folder of many). Raises
    :class:`ConfigurationError` if MultiQC is not installed and :class:`ToolError` if it
    fails, writes no report, or outlives ``time_limit_s`` (it is killed with its
    children). ``python`` is the interpreter to run it with (default: this one).
    """
    folder, out_dir = Path(folder).absolute(), Path(out_dir).absolute()
    if python is None and not multiqc_available():
        raise ConfigurationError(_missing(folder))
    if not folder.is_dir():
        raise InputError("no such folder to report on", file=str(folder))
    out_dir.mkdir(parents=True, exist_ok=True)
    report = out_dir / REPORT_NAME
    for stale in (report, out_dir / DATA_ZIP_NAME):  # so a silent no-op cannot pass for a run
        stale.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="seqoia-multiqc-") as scratch:
        home = Path(scratch)
        config = home / "seqoia_multiqc_config.yaml"
        config.write_text(json.dumps(_multiqc_config()))  # JSON is YAML
        command = [
            python or sys.executable,
            "-m",
            "multiqc",
            str(folder),
            "--outdir",
            str(out_dir),
            "--title",
            title,
            "--config",
            str(config),
            "--force",
            "--no-ansi",
            "--quiet",
            "--no-version-check",
            "--no-ai",
            "--no-megaqc-upload",
            "--zip-data-dir",
        ]
        exit_code, output = _run(
            command, cwd=home, env=_clean_environment(home), time_limit_s=time_limit_s
        )
    if exit_code != 0 and "No module named multiqc" in output:
        raise ConfigurationError(_missing(folder, command[0]))
    if exit_code != 0 or not report.is_file():
        if exit_code == 0:
            output += f"\nno report written for {folder}"
        raise ToolError(command, exit_code, output)
    log.info("multiqc report written to %s", report)
    return report


def _missing(folder: Path, python: str = sys.executable) -> str:
    return f"cannot report on {folder}: MultiQC is not installed for {python} ({INSTALL_HINT})"


def _run(
    command: list[str], *, cwd: Path, env: dict[str, str], time_limit_s: float
) -> tuple[int, str]:
    """Run ``command`` in its own process group; kill the group past the time limit."""
    try:
        proc = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,  # MultiQC logs to both; keep their order
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except OSError as err:
        raise ToolError(command, 127, str(err)) from err
    try:
        output, _ = proc.communicate(timeout=time_limit_s)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        output, _ = proc.communicate()
        return -signal.SIGKILL, f"{output}\nkilled after the time limit of {time_limit_s:g} s"
    finally:
        if proc.poll() is None:  # an exception (e.g. KeyboardInterrupt) while waiting
            _kill_group(proc.pid)
            proc.wait()
    return proc.returncode, output


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
        os.killpg(pid, signal.SIGKILL)
