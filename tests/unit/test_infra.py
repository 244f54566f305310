"""infra/: promtool accepts the rules and configuration, the alert unit tests pass, every YAML
file parses, and the dashboards query nothing that seqoia does not export.

Needs Debian's ``prometheus`` package (``promtool``); scripts/test.sh installs it. A
missing promtool fails these tests: it never skips them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from seqoia.workers.families import exported_sample_names
from tests.fixtures.observability import (
    DASHBOARDS,
    INFRA,
    PROMETHEUS_GENERATED,
    RULE_FILES,
    dashboard_queries,
    metric_names,
    recorded_names,
    rule_queries,
)

PROMETHEUS_DIR = INFRA / "prometheus"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool is not installed (Debian package prometheus; scripts/test.sh)")
    return subprocess.run(
        [binary, *args], cwd=PROMETHEUS_DIR, capture_output=True, text=True, timeout=60
    )


def test_promtool_accepts_the_recording_and_alert_rules() -> None:
    result = promtool("check", "rules", *(str(path) for path in RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_FILES)


def test_promtool_accepts_the_scrape_configuration() -> None:
    result = promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_fire_when_and_only_when_their_unit_tests_say() -> None:
    result = promtool("test", "rules", "tests/alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_yaml_file_under_infra_parses() -> None:
    files = sorted([*INFRA.rglob("*.yml"), *INFRA.rglob("*.yaml")])
    assert len(files) >= 12
    for path in files:
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        assert documents, f"{path} is empty"
        for document in documents:
            assert isinstance(document, dict), f"{path}: a document is not a mapping"


def test_kubernetes_manifests_name_their_kind_and_reference_secrets_rather_than_ship_them() -> None:
    kinds = []
    for path in sorted((INFRA / "k8s").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            assert {"apiVersion", "kind", "metadata"} <= set(document), path
            kinds.append(document["kind"])
    assert "Secret" not in kinds
    for kind in ("Deployment", "Service", "ConfigMap", "ScaledObject", "PodDisruptionBudget"):
        assert kind in kinds


def test_dashboards_query_only_metrics_that_seqoia_exports() -> None:
    exported = exported_sample_names() | PROMETHEUS_GENERATED
    queries = dashboard_queries()
    assert len(queries) > 40
    unknown = {
        f"{where}: {name}"
        for where, expr in queries
        for name in metric_names(expr)
        if name not in exported
    }
    assert not unknown, "dashboard queries read metrics nobody exports:\n" + "\n".join(
        sorted(unknown)
    )


def test_rules_read_only_exported_or_recorded_metrics() -> None:
    known = exported_sample_names() | PROMETHEUS_GENERATED | recorded_names()
    unknown = {
        f"{where}: {name}"
        for where, expr in rule_queries()
        for name in metric_names(expr)
        if name not in known
    }
    assert not unknown, "\n".join(sorted(unknown))


def test_the_metric_name_scanner_skips_labels_functions_ranges_and_grouping() -> None:
    expr = (
        'histogram_quantile(0.9, sum by (stage, le) (rate(a_bucket{stage=~"x|y", le!="1"}[5m])))'
        " / on (stage) group_left b_total offset 5m and time() - c"
    )
    assert metric_names(expr) == {"a_bucket", "b_total", "c"}


def test_a_dashboard_query_with_an_unknown_metric_would_be_caught() -> None:
    exported = exported_sample_names()
    assert metric_names("sum(rate(seqoia_stage_outcome_total[5m]))") - exported == {
        "seqoia_stage_outcome_total"
    }


def test_dashboards_are_what_build_dashboards_generates() -> None:
    sys.path.insert(0, str(INFRA / "grafana"))
    try:
        import build_dashboards
    finally:
        sys.path.pop(0)
    rendered = build_dashboards.render()
    on_disk = {path.name: path.read_text() for path in DASHBOARDS.glob("*.json")}
    assert rendered == on_disk, "run: python infra/grafana/build_dashboards.py"
    for text in on_disk.values():
        board = json.loads(text)
        assert board["uid"].startswith("seqoia-")
        assert all(p["datasource"]["uid"] == "seqoia-prometheus" for p in board["panels"])


def test_grafana_datasource_has_the_uid_the_dashboards_use() -> None:
    provisioning = INFRA / "grafana" / "provisioning"
    datasource = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    assert [d["uid"] for d in datasource["datasources"]] == ["seqoia-prometheus"]
    dashboards = yaml.safe_load((provisioning / "dashboards" / "seqoia.yml").read_text())
    path = Path(dashboards["providers"][0]["options"]["path"])
    compose = yaml.safe_load((INFRA / "compose.yaml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./grafana/dashboards:{path}:ro" in mounts
