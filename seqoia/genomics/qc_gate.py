"""The QC gate: a sample's metrics against the laboratory's thresholds.

:func:`evaluate_gate` compares :class:`~seqoia.genomics.qc.QCMetrics` with
:class:`QCThresholds` and says which checks failed and why; a metric that was not
measured is reported, not failed, unless the thresholds say otherwise.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from seqoia.genomics.qc import QCMetrics


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class QCThresholds(_Frozen):
    """Limits a germline genome must meet; ``None`` switches a check off.

    Defaults follow common practice for PCR-free 2×150 germline WGS at 30×: coverage is
    counted without duplicates, so ``min_mean_coverage`` sits a little under the nominal
    depth. ``min_read_pairs`` is off because it depends on genome size (coverage says it
    better); ``fail_on_missing`` turns an unmeasured metric from "not checked" into a fail.
    """

    min_read_pairs: int | None = None
    min_q30_pct: float | None = 75.0
    gc_pct_range: tuple[float, float] | None = (35.0, 50.0)
    min_mapped_pct: float | None = 95.0
    min_properly_paired_pct: float | None = 90.0
    max_duplicate_pct: float | None = 20.0
    min_median_insert_size: float | None = 200.0
    min_mean_coverage: float | None = 25.0
    min_pct_20x: float | None = 85.0
    ti_tv_range: tuple[float, float] | None = (1.8, 2.4)
    het_hom_range: tuple[float, float] | None = (1.0, 3.0)
    fail_on_missing: bool = False


# (metric, threshold field, kind) in report order.
_CHECKS: tuple[tuple[str, str, Literal["min", "max", "range"]], ...] = (
    ("read_pairs", "min_read_pairs", "min"),
    ("q30_pct", "min_q30_pct", "min"),
    ("gc_pct", "gc_pct_range", "range"),
    ("mapped_pct", "min_mapped_pct", "min"),
    ("properly_paired_pct", "min_properly_paired_pct", "min"),
    ("duplicate_pct", "max_duplicate_pct", "max"),
    ("median_insert_size", "min_median_insert_size", "min"),
    ("mean_coverage", "min_mean_coverage", "min"),
    ("pct_20x", "min_pct_20x", "min"),
    ("ti_tv", "ti_tv_range", "range"),
    ("het_hom_ratio", "het_hom_range", "range"),
)

METRIC_LABELS: dict[str, str] = {
    "read_pairs": "Read pairs",
    "q30_pct": "Bases ≥ Q30 (%)",
    "gc_pct": "GC (%)",
    "mapped_pct": "Mapped reads (%)",
    "properly_paired_pct": "Properly paired reads (%)",
    "duplicate_pct": "Duplicate reads (%)",
    "median_insert_size": "Median insert size (bp)",
    "coverage_region": "Coverage region",
    "mean_coverage": "Mean coverage (×)",
    "pct_10x": "Bases ≥ 10× (%)",
    "pct_20x": "Bases ≥ 20× (%)",
    "pct_30x": "Bases ≥ 30× (%)",
    "snvs": "SNVs",
    "indels": "Indels",
    "ti_tv": "Ti/Tv",
    "het_hom_ratio": "Het/hom (SNVs)",
    "chrx_coverage_ratio": "chrX / autosome coverage",
    "chry_coverage_ratio": "chrY / autosome coverage",
    "chrx_het_fraction": "chrX het SNV fraction",
    "predicted_sex": "Predicted sex",
    "sex": "Sex (declared vs predicted)",
}


class QCCheck(_Frozen):
    """One comparison of a metric with its threshold; ``passed`` None = not measured."""

    metric: str
    value: float | int | str | None
    threshold: str
    passed: bool | None
    message: str


class QCFailure(_Frozen):
    metric: str
    value: float | int | str | None
    threshold: str
    message: str


class QCVerdict(_Frozen):
    passed: bool
    failures: tuple[QCFailure, ...]
    checks: tuple[QCCheck, ...]


def _fmt(value: float | int | str | None) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _check(
    metric: str, value: float | None, limit: float | tuple[float, float], kind: str, strict: bool
) -> QCCheck:
    if isinstance(limit, tuple):
        lo, hi = limit
        threshold = f"{_fmt(lo)}–{_fmt(hi)}"
    else:
        lo, hi = (limit, float("inf")) if kind == "min" else (float("-inf"), limit)
        threshold = f"{'≥' if kind == 'min' else '≤'} {_fmt(limit)}"
    ok = value is not None and lo <= value <= hi
    label = METRIC_LABELS.get(metric, metric)
    if value is None:
        passed = False if strict else None
        return QCCheck(
            metric=metric,
            value=None,
            threshold=threshold,
            passed=passed,
            message=f"{label} was not measured",
        )
    message = f"{label} {_fmt(value)} {'meets' if ok else 'misses'} {threshold}"
    return QCCheck(metric=metric, value=value, threshold=threshold, passed=ok, message=message)


def evaluate_gate(
    metrics: QCMetrics, thresholds: QCThresholds | None = None, *, expected_sex: str | None = None
) -> QCVerdict:
    """Check ``metrics`` against ``thresholds``; a declared sex must not contradict the
    predicted one (a sample swap's classic sign); ``unknown`` is reported, not failed."""
    thresholds = thresholds or QCThresholds()
    checks = [
        _check(
            metric,
            getattr(metrics, metric),
            getattr(thresholds, field),
            kind,
            thresholds.fail_on_missing,
        )
        for metric, field, kind in _CHECKS
        if getattr(thresholds, field) is not None
    ]
    if expected_sex is not None:
        predicted = metrics.predicted_sex
        ok = None if predicted in (None, "unknown") else predicted == expected_sex
        checks.append(
            QCCheck(
                metric="sex",
                value=predicted,
                threshold=f"= {expected_sex}",
                passed=ok,
                message=f"declared sex {expected_sex}, predicted {predicted or 'not measured'}",
            )
        )
    failures = tuple(
        QCFailure(metric=c.metric, value=c.value, threshold=c.threshold, message=c.message)
        for c in checks
        if c.passed is False
    )
    return QCVerdict(passed=not failures, failures=failures, checks=tuple(checks))
