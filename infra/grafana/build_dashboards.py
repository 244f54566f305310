# ruff: noqa: E501 - PromQL reads best on one line
"""Grafana dashboards for seqoia, as code: ``python infra/grafana/build_dashboards.py``.

Writes ``dashboards/*.json`` (Grafana 10 schema, provisioned by
``provisioning/dashboards/seqoia.yml``). Every query uses metrics that seqoia exports
(``tests/unit/test_infra.py`` checks the names and that these files are up to date;
``tests/integration/test_prometheus.py`` runs every query against a real Prometheus).
Grafana variables used in queries: ``$stage``, ``$queue``, ``$__rate_interval``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATASOURCE = {"type": "prometheus", "uid": "seqoia-prometheus"}
HERE = Path(__file__).resolve().parent
OUT = HERE / "dashboards"


class Board:
    """Panels laid out left to right, 24 columns wide."""

    def __init__(self, uid: str, title: str, description: str, variables: tuple[str, ...] = ()):
        self.uid, self.title, self.description = uid, title, description
        self.variables = variables
        self.panels: list[dict[str, Any]] = []
        self._x = self._y = self._row_h = 0

    def _place(self, w: int, h: int) -> dict[str, int]:
        if self._x + w > 24:
            self._x, self._y = 0, self._y + self._row_h
            self._row_h = 0
        pos = {"x": self._x, "y": self._y, "w": w, "h": h}
        self._x += w
        self._row_h = max(self._row_h, h)
        return pos

    def panel(
        self,
        kind: str,
        title: str,
        targets: list[tuple[str, str]],
        *,
        unit: str = "short",
        w: int = 12,
        h: int = 8,
        description: str = "",
        options: dict[str, Any] | None = None,
    ) -> None:
        """``targets``: (PromQL, legend) pairs."""
        self.panels.append(
            {
                "id": len(self.panels) + 1,
                "type": kind,
                "title": title,
                "description": description,
                "datasource": DATASOURCE,
                "gridPos": self._place(w, h),
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "options": options or {},
                "targets": [
                    {
                        "refId": chr(ord("A") + i),
                        "datasource": DATASOURCE,
                        "expr": expr,
                        "legendFormat": legend,
                        **({"format": "heatmap"} if kind == "heatmap" else {}),
                    }
                    for i, (expr, legend) in enumerate(targets)
                ],
            }
        )

    def stat(self, title: str, expr: str, unit: str = "short", description: str = "") -> None:
        self.panel("stat", title, [(expr, "")], unit=unit, w=4, h=4, description=description)

    def json(self) -> dict[str, Any]:
        templating = []
        for name, metric in (
            ("stage", "seqoia_stage_outcomes_total"),
            ("queue", "seqoia_queue_depth"),
        ):
            if name in self.variables:
                templating.append(
                    {
                        "name": name,
                        "label": name,
                        "type": "query",
                        "datasource": DATASOURCE,
                        "query": {"query": f"label_values({metric}, {name})", "refId": "vars"},
                        "definition": f"label_values({metric}, {name})",
                        "includeAll": True,
                        "allValue": ".*",
                        "multi": True,
                        "current": {"text": "All", "value": "$__all"},
                        "refresh": 2,
                    }
                )
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": ["seqoia"],
            "timezone": "browser",
            "schemaVersion": 39,
            "version": 1,
            "editable": True,
            "refresh": "30s",
            "time": {"from": "now-24h", "to": "now"},
            "templating": {"list": templating},
            "annotations": {"list": []},
            "links": [
                {"type": "dashboards", "tags": ["seqoia"], "asDropdown": True, "title": "seqoia"}
            ],
            "panels": self.panels,
        }


RATE = "$__rate_interval"
FAILED = 'outcome=~"failed_permanent|failed_transient"'
RAN = 'outcome=~"committed|lost_race|failed_permanent|failed_transient"'


def overview() -> Board:
    b = Board(
        "seqoia-overview",
        "seqoia / Pipeline overview",
        "Throughput, turnaround, work in flight and failures across the pipeline.",
    )
    b.stat("Deliveries (24 h)", "sum(increase(seqoia_turnaround_seconds_count[1d]))")
    b.stat(
        "Turnaround p90 (24 h)",
        "histogram_quantile(0.9, sum by (le) (rate(seqoia_turnaround_seconds_bucket[1d])))",
        unit="s",
    )
    b.stat("Stages in flight", "sum(seqoia_stages_in_flight)")
    b.stat("Active runs", "sum(max by (state) (seqoia_runs))")
    b.stat("Stuck runs", "max(seqoia_incomplete_runs_past_age)")
    b.stat("Dead letters", "sum(max by (queue) (seqoia_dead_letters))")
    b.panel(
        "timeseries",
        "Throughput: stages committed per hour",
        [
            (
                f'sum by (stage) (rate(seqoia_stage_outcomes_total{{outcome="committed"}}[{RATE}])) * 3600',
                "{{stage}}",
            )
        ],
        unit="short",
    )
    b.panel(
        "timeseries",
        "Turnaround: run completion to delivery",
        [
            (
                "histogram_quantile(0.5, sum by (le) (rate(seqoia_turnaround_seconds_bucket[1d])))",
                "p50",
            ),
            (
                "histogram_quantile(0.9, sum by (le) (rate(seqoia_turnaround_seconds_bucket[1d])))",
                "p90",
            ),
        ],
        unit="s",
        description="From the run folder's completion marker to the first commit of the delivery stage.",
    )
    b.panel(
        "timeseries",
        "Stages in flight",
        [("sum by (stage) (seqoia_stages_in_flight)", "{{stage}}")],
        options={"legend": {"displayMode": "table", "placement": "right"}},
    )
    b.panel(
        "timeseries",
        "Failures per hour",
        [
            (
                f"sum by (stage, outcome) (rate(seqoia_stage_outcomes_total{{{FAILED}}}[{RATE}])) * 3600",
                "{{stage}} {{outcome}}",
            )
        ],
    )
    b.panel(
        "timeseries",
        "Runs by state",
        [("max by (state) (seqoia_runs)", "{{state}}")],
        description="As of the last reconcile pass; active runs only.",
    )
    b.panel(
        "timeseries",
        "Samples with pending work",
        [("max by (state) (seqoia_samples)", "{{state}}")],
    )
    b.panel(
        "timeseries",
        "Store events received",
        [
            (
                f"sum by (source, outcome) (rate(seqoia_events_total[{RATE}]))",
                "{{source}} {{outcome}}",
            )
        ],
        unit="reqps",
        w=24,
    )
    return b


def stages() -> Board:
    b = Board(
        "seqoia-stages",
        "seqoia / Stage performance",
        "Durations, outcomes and data moved per stage.",
        variables=("stage",),
    )
    sel = 'stage=~"$stage"'
    b.panel(
        "timeseries",
        "Duration p50 / p90",
        [
            (
                f"histogram_quantile({q}, sum by (stage, le) (rate(seqoia_stage_duration_seconds_bucket{{{sel}}}[{RATE}])))",
                f"{{{{stage}}}} p{int(float(q) * 100)}",
            )
            for q in ("0.5", "0.9")
        ],
        unit="s",
    )
    b.panel(
        "timeseries",
        "Mean duration",
        [
            (
                f"sum by (stage) (rate(seqoia_stage_duration_seconds_sum{{{sel}}}[{RATE}]))"
                f" / sum by (stage) (rate(seqoia_stage_duration_seconds_count{{{sel}}}[{RATE}]))",
                "{{stage}}",
            )
        ],
        unit="s",
    )
    b.panel(
        "timeseries",
        "Outcomes per minute",
        [
            (
                f"sum by (stage, outcome) (rate(seqoia_stage_outcomes_total{{{sel}}}[{RATE}])) * 60",
                "{{stage}} {{outcome}}",
            )
        ],
    )
    b.panel(
        "timeseries",
        "Failure ratio (1 h)",
        [
            (
                f"sum by (stage) (rate(seqoia_stage_outcomes_total{{{sel},{FAILED}}}[1h]))"
                f" / sum by (stage) (rate(seqoia_stage_outcomes_total{{{sel},{RAN}}}[1h]))",
                "{{stage}}",
            )
        ],
        unit="percentunit",
    )
    b.panel(
        "timeseries",
        "Bytes read",
        [(f"sum by (stage) (rate(seqoia_stage_bytes_read_total{{{sel}}}[{RATE}]))", "{{stage}}")],
        unit="Bps",
    )
    b.panel(
        "timeseries",
        "Bytes written",
        [
            (
                f"sum by (stage) (rate(seqoia_stage_bytes_written_total{{{sel}}}[{RATE}]))",
                "{{stage}}",
            )
        ],
        unit="Bps",
    )
    b.panel(
        "heatmap",
        "Duration distribution",
        [
            (
                f"sum by (le) (increase(seqoia_stage_duration_seconds_bucket{{{sel}}}[{RATE}]))",
                "{{le}}",
            )
        ],
        w=12,
    )
    b.panel(
        "timeseries",
        "In flight",
        [(f"sum by (stage) (seqoia_stages_in_flight{{{sel}}})", "{{stage}}")],
    )
    return b


def queues() -> Board:
    b = Board(
        "seqoia-queues",
        "seqoia / Queues and workers",
        "Backlog per queue, dead letters, workers and the reconciler.",
        variables=("queue",),
    )
    sel = 'queue=~"$queue"'
    b.stat("Workers up", 'sum(up{job="seqoia-worker"})')
    b.stat("Broker answering", "min(seqoia_broker_up)")
    b.stat("Messages in progress", "sum(dramatiq_messages_inprogress)")
    b.stat("Dead letters", f"sum(max by (queue) (seqoia_dead_letters{{{sel}}}))")
    b.stat(
        "Since last reconcile",
        "time() - max(seqoia_reconcile_last_success_timestamp_seconds)",
        unit="s",
    )
    b.stat("Reconcile pass", "max(seqoia_reconcile_pass_duration_seconds)", unit="s")
    b.panel(
        "timeseries",
        "Queue depth (ready messages)",
        [(f"max by (queue) (seqoia_queue_depth{{{sel}}})", "{{queue}}")],
    )
    b.panel(
        "timeseries",
        "Oldest message age",
        [(f"max by (queue) (seqoia_queue_oldest_message_age_seconds{{{sel}}})", "{{queue}}")],
        unit="s",
    )
    b.panel(
        "timeseries",
        "Delayed and dead-lettered messages",
        [
            (f"max by (queue) (seqoia_queue_delayed{{{sel}}})", "{{queue}} delayed"),
            (f"max by (queue) (seqoia_dead_letters{{{sel}}})", "{{queue}} dead"),
        ],
    )
    b.panel(
        "timeseries",
        "Wait before processing p90",
        [
            (
                f"histogram_quantile(0.9, sum by (queue, le) (rate(seqoia_message_wait_seconds_bucket{{{sel}}}[{RATE}])))",
                "{{queue}}",
            )
        ],
        unit="s",
    )
    b.panel(
        "timeseries",
        "Messages processed, failed, retried, rejected",
        [
            (
                f"sum by (queue_name) (rate(dramatiq_messages_total[{RATE}]))",
                "{{queue_name}} processed",
            ),
            (
                f"sum by (queue_name) (rate(dramatiq_message_errors_total[{RATE}]))",
                "{{queue_name}} errors",
            ),
            (
                f"sum by (queue_name) (rate(dramatiq_message_retries_total[{RATE}]))",
                "{{queue_name}} retries",
            ),
            (
                f"sum by (queue_name) (rate(dramatiq_message_rejects_total[{RATE}]))",
                "{{queue_name}} rejected",
            ),
        ],
        unit="reqps",
    )
    b.panel(
        "timeseries",
        "Messages in progress per queue",
        [
            ("sum by (queue_name) (dramatiq_messages_inprogress)", "{{queue_name}}"),
            (
                "sum by (queue_name) (dramatiq_delayed_messages_inprogress)",
                "{{queue_name}} delayed",
            ),
        ],
    )
    b.panel(
        "timeseries",
        "Message handling p90",
        [
            (
                f"histogram_quantile(0.9, sum by (queue_name, le) (rate(dramatiq_message_duration_milliseconds_bucket[{RATE}])))",
                "{{queue_name}}",
            )
        ],
        unit="ms",
    )
    b.panel(
        "timeseries",
        "Dead-lettered per hour",
        [
            (
                f"sum by (queue) (rate(seqoia_dead_lettered_total{{{sel}}}[{RATE}])) * 3600",
                "{{queue}}",
            )
        ],
    )
    b.panel(
        "timeseries",
        "Worker memory (resident, not counting stage processes)",
        [('process_resident_memory_bytes{job="seqoia-worker"}', "{{instance}}")],
        unit="bytes",
    )
    b.panel(
        "timeseries",
        "Worker CPU",
        [(f'rate(process_cpu_seconds_total{{job="seqoia-worker"}}[{RATE}])', "{{instance}}")],
        unit="percentunit",
    )
    b.panel(
        "timeseries",
        "Reconciler findings (last pass)",
        [("max by (finding) (seqoia_reconcile_findings)", "{{finding}}")],
    )
    b.panel(
        "timeseries",
        "Reconcile passes",
        [(f"sum by (result) (increase(seqoia_reconcile_passes_total[{RATE}]))", "{{result}}")],
    )
    return b


def qc() -> Board:
    b = Board(
        "seqoia-qc",
        "seqoia / QC trends",
        "The QC gate: verdicts and the metrics that fail it.",
    )
    b.stat(
        "QC pass rate (7 d)",
        'sum(increase(seqoia_qc_verdicts_total{verdict="passed"}[7d])) / sum(increase(seqoia_qc_verdicts_total[7d]))',
        unit="percentunit",
    )
    b.stat(
        "Samples failing QC (7 d)", 'sum(increase(seqoia_qc_verdicts_total{verdict="failed"}[7d]))'
    )
    b.stat(
        "Samples passing QC (7 d)", 'sum(increase(seqoia_qc_verdicts_total{verdict="passed"}[7d]))'
    )
    b.panel(
        "bargauge",
        "Gate failures by metric (7 d)",
        [("sum by (metric) (increase(seqoia_qc_gate_failures_total[7d]))", "{{metric}}")],
        options={"orientation": "horizontal", "displayMode": "basic"},
        w=12,
        h=8,
    )
    b.panel(
        "timeseries",
        "Gate failures per day, by metric",
        [(f"sum by (metric) (rate(seqoia_qc_gate_failures_total[{RATE}])) * 86400", "{{metric}}")],
    )
    b.panel(
        "timeseries",
        "Verdicts per day",
        [(f"sum by (verdict) (rate(seqoia_qc_verdicts_total[{RATE}])) * 86400", "{{verdict}}")],
        w=24,
    )
    return b


BOARDS = {"overview": overview, "stages": stages, "queues": queues, "qc": qc}


def render() -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    return {
        f"seqoia-{name}.json": json.dumps(build().json(), indent=2) + "\n"
        for name, build in BOARDS.items()
    }


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (OUT / name).write_text(text)
        print(f"wrote {OUT / name}")


if __name__ == "__main__":
    main()
