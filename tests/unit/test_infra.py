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


# -- security (issue 12, item 17) -----------------------------------------------------------

POLICIES = INFRA / "policies"
BUCKET_ARN = "arn:aws:s3:::seqoia"


def allowed(policy: dict, action: str, resource: str) -> bool:
    """IAM's rule, enough for these policies: an explicit Deny wins, else any Allow."""
    import fnmatch

    def matches(statement: dict) -> bool:
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        resources = (
            statement["Resource"]
            if isinstance(statement["Resource"], list)
            else [statement["Resource"]]
        )
        return any(fnmatch.fnmatchcase(action, a) for a in actions) and any(
            fnmatch.fnmatchcase(resource, r) for r in resources
        )

    statements = policy["Statement"]
    if any(s["Effect"] == "Deny" and matches(s) for s in statements):
        return False
    return any(s["Effect"] == "Allow" and matches(s) for s in statements)


def policy(role: str) -> dict:
    return json.loads((POLICIES / f"{role}.json").read_text())


def test_a_sequencer_may_write_only_the_inbox_and_delete_nothing() -> None:
    sequencer = policy("sequencer")
    assert allowed(sequencer, "s3:PutObject", f"{BUCKET_ARN}/inbox/RUN1/SampleSheet.csv")
    for key in ("work/align/S1/x.manifest.json", "outbox/APHP/S1/r.json", "refs/demo/genome.fa"):
        assert not allowed(sequencer, "s3:PutObject", f"{BUCKET_ARN}/{key}"), key
        assert not allowed(sequencer, "s3:GetObject", f"{BUCKET_ARN}/{key}"), key
    assert not allowed(sequencer, "s3:DeleteObject", f"{BUCKET_ARN}/inbox/RUN1/SampleSheet.csv")


def test_workers_cannot_write_or_delete_in_the_inbox_but_can_do_their_work() -> None:
    worker = policy("worker")
    for action in ("s3:PutObject", "s3:DeleteObject"):
        assert not allowed(worker, action, f"{BUCKET_ARN}/inbox/RUN1/SampleSheet.csv")
        assert not allowed(worker, action, f"{BUCKET_ARN}/refs/demo/genome.fa")
        assert allowed(worker, action, f"{BUCKET_ARN}/work/align/S1/a/S1.bam")
    assert allowed(worker, "s3:PutObject", f"{BUCKET_ARN}/outbox/APHP/S1/S1.vcf.gz")
    assert allowed(worker, "s3:GetObject", f"{BUCKET_ARN}/inbox/RUN1/SampleSheet.csv")
    assert allowed(worker, "s3:ListBucket", BUCKET_ARN)


def test_intake_and_reconciler_hold_no_delete_and_almost_no_write() -> None:
    intake, reconcile = policy("intake"), policy("reconcile")
    for key in ("inbox/R/x", "work/a/S/x", "outbox/C/S/x"):
        assert not allowed(intake, "s3:PutObject", f"{BUCKET_ARN}/{key}")
        assert not allowed(intake, "s3:DeleteObject", f"{BUCKET_ARN}/{key}")
        assert not allowed(reconcile, "s3:DeleteObject", f"{BUCKET_ARN}/{key}")
        assert not allowed(reconcile, "s3:PutObject", f"{BUCKET_ARN}/{key}")
    assert allowed(reconcile, "s3:PutObject", f"{BUCKET_ARN}/work/_done/RUN1")


def test_no_compose_component_uses_the_stores_root_credentials() -> None:
    compose = yaml.safe_load((INFRA / "compose.yaml").read_text())
    services = compose["services"]
    roles = {"worker": "seqoia-worker", "intake": "seqoia-intake", "reconcile": "seqoia-reconcile"}
    for name, user in roles.items():
        env = services[name]["environment"]
        assert env["AWS_ACCESS_KEY_ID"] == user, name
        assert "MINIO_ROOT" not in json.dumps(env), name
    setup = "\n".join(services["minio-setup"]["command"])
    for role in ("sequencer", "worker", "intake", "reconcile"):
        assert (POLICIES / f"{role}.json").exists()
        assert f"seqoia-{role}" in setup or "seqoia-$$role" in setup
    assert "./policies:/policies:ro" in services["minio-setup"]["volumes"]


def test_compose_publishes_ports_on_loopback_only() -> None:
    compose = yaml.safe_load((INFRA / "compose.yaml").read_text())
    published = [
        (name, port) for name, service in compose["services"].items()
        for port in service.get("ports", [])
    ]  # fmt: skip
    assert len(published) >= 5
    for name, port in published:
        assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


def test_redis_requires_a_password_and_the_broker_urls_carry_one() -> None:
    compose = yaml.safe_load((INFRA / "compose.yaml").read_text())
    command = compose["services"]["redis"]["command"]
    assert "--requirepass" in command
    broker = compose["x-seqoia"]["environment"]["SEQOIA_BROKER_URL"]
    assert "REDIS_PASSWORD" in broker and "@redis:6379" in broker
    settings = list(yaml.safe_load_all((INFRA / "k8s" / "config.yaml").read_text()))
    data = next(d["data"] for d in settings if d and d["kind"] == "ConfigMap")
    assert "SEQOIA_BROKER_URL" not in data  # it carries a password: it lives in a Secret
    assert "rediss://" in (INFRA / "k8s" / "config.yaml").read_text()
    for path in sorted((INFRA / "k8s").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document and document["kind"] == "Deployment":
                container = document["spec"]["template"]["spec"]["containers"][0]
                refs = [e["secretRef"]["name"] for e in container["envFrom"] if "secretRef" in e]
                assert "seqoia-broker" in refs, document["metadata"]["name"]
                assert any(r.startswith("seqoia-s3-") for r in refs), refs
                assert "seqoia-s3" not in refs  # one store identity per role


def test_store_urls_shipped_use_tls_or_say_they_do_not() -> None:
    from seqoia.errors import ConfigurationError
    from seqoia.storage.s3 import check_endpoint
    from seqoia.storage.urls import open_store

    compose = yaml.safe_load((INFRA / "compose.yaml").read_text())
    url = compose["x-seqoia"]["environment"]["SEQOIA_STORE_URL"]
    assert "allow_http=1" in url  # the compose network's plain HTTP, said explicitly
    with pytest.raises(ConfigurationError):
        open_store(url.replace("&allow_http=1", ""))
    data = next(
        d["data"]
        for d in yaml.safe_load_all((INFRA / "k8s" / "config.yaml").read_text())
        if d and d["kind"] == "ConfigMap"
    )
    endpoint = data["SEQOIA_STORE_URL"].split("endpoint_url=")[1].split("&")[0]
    assert endpoint.startswith("https://")
    check_endpoint(endpoint)
    minio = compose["services"]["minio"]["environment"]
    assert "MINIO_KMS_SECRET_KEY" in minio  # SSE-S3, on by default, needs a key on MinIO


def test_network_policies_deny_by_default_and_open_only_intake_and_metrics() -> None:
    documents = list(yaml.safe_load_all((INFRA / "k8s" / "network.yaml").read_text()))
    policies = {d["metadata"]["name"]: d["spec"] for d in documents if d}
    deny = policies["seqoia-default-deny"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny
    opened = sorted(
        port["port"]
        for spec in policies.values()
        for rule in spec.get("ingress", [])
        for port in rule["ports"]
    )
    assert opened == [8470, 9470]
    for spec in policies.values():
        for rule in spec.get("ingress", []):
            assert rule.get("from"), "an ingress rule open to every pod and address"


# -- manifests against their schemas, autoscaling that keeps running work (issue 17) --------

K8S = INFRA / "k8s"
#: Kubernetes minor the manifests are checked against (kubernetes-validate ships its schemas).
KUBERNETES_VERSION = "1.33"
KEDA_CRD = INFRA / "schemas" / "keda" / "keda.sh_scaledobjects.yaml"
#: Queue groups whose stages run for hours: their pods wait out the whole stage time limit.
HEAVY = {"demultiplex", "align", "call", "qc", "urgent"}


def manifests() -> list[tuple[str, dict]]:
    """Every document of every file in infra/k8s, with the file's name."""
    return [
        (path.name, document)
        for path in sorted(K8S.glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
        if document
    ]


def of_kind(kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for _, d in manifests() if d["kind"] == kind}


def closed(schema: object) -> object:
    """A CRD schema that refuses unknown fields, as ``kubectl apply --validate=strict``
    (server-side field validation) does: objects that list their properties and neither
    allow extra ones nor preserve unknown fields get ``additionalProperties: false``."""
    if isinstance(schema, list):
        return [closed(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: closed(v) if k != "properties" else {p: closed(s) for p, s in v.items()}
           for k, v in schema.items()}  # fmt: skip
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def keda_validator() -> object:
    import jsonschema

    crd = yaml.safe_load(KEDA_CRD.read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")
    schema = closed(version["schema"]["openAPIV3Schema"])
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def schema_errors(document: dict) -> list[str]:
    """Why ``document`` does not fit its kind's schema (empty when it does)."""
    if document["apiVersion"].startswith("keda.sh/"):
        assert document["kind"] == "ScaledObject", document["kind"]
        return [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in keda_validator().iter_errors(document)  # type: ignore[attr-defined]
        ]
    from kubernetes_validate import utils as kubernetes

    try:
        kubernetes.validate(document, KUBERNETES_VERSION, strict=True)
    except kubernetes.ValidationError as err:
        return [f"{'/'.join(map(str, err.absolute_path))}: {err.message}"]
    return []


def test_every_kubernetes_manifest_fits_the_kubernetes_or_keda_schema() -> None:
    documents = manifests()
    assert len(documents) >= 25
    failures = [
        f"{name} {d['kind']}/{d['metadata']['name']}: {error}"
        for name, d in documents
        for error in schema_errors(d)
    ]
    assert not failures, "\n".join(failures)


def test_the_vendored_keda_crd_is_the_release_named_in_its_origin() -> None:
    import hashlib

    origin = (KEDA_CRD.parent / "ORIGIN.md").read_text()
    assert hashlib.sha256(KEDA_CRD.read_bytes()).hexdigest() in origin
    crd = yaml.safe_load(KEDA_CRD.read_text())
    assert crd["spec"]["names"]["kind"] == "ScaledObject"


def test_a_broken_deployment_is_caught_by_the_kubernetes_schema() -> None:
    deployment = of_kind("Deployment")["seqoia-worker-align"]
    typo = json.loads(json.dumps(deployment))
    spec = typo["spec"]["template"]["spec"]
    spec["terminationGracePeriodSecond"] = spec.pop("terminationGracePeriodSeconds")
    assert any("terminationGracePeriodSecond" in e for e in schema_errors(typo))
    wrong_type = json.loads(json.dumps(deployment))
    wrong_type["spec"]["replicas"] = "two"
    assert schema_errors(wrong_type)
    assert schema_errors(deployment) == []


def test_a_broken_scaled_object_is_caught_by_the_keda_schema() -> None:
    scaled = of_kind("ScaledObject")["seqoia-worker-align"]
    typo = json.loads(json.dumps(scaled))
    typo["spec"]["cooldown"] = typo["spec"].pop("cooldownPeriod")
    assert any("cooldown" in e for e in schema_errors(typo))
    wrong_type = json.loads(json.dumps(scaled))
    wrong_type["spec"]["minReplicaCount"] = "zero"
    assert any("minReplicaCount" in e for e in schema_errors(wrong_type))
    no_target = json.loads(json.dumps(scaled))
    del no_target["spec"]["scaleTargetRef"]
    assert any("scaleTargetRef" in e for e in schema_errors(no_target))
    assert schema_errors(scaled) == []


def worker_deployments() -> dict[str, dict]:
    return {
        name: d
        for name, d in of_kind("Deployment").items()
        if d["metadata"]["labels"]["app.kubernetes.io/component"] == "worker"
    }


def option(args: list[str], flag: str) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args) if a == flag]


def container(deployment: dict) -> dict:
    """The Deployment's (only) container: ``seqoia worker`` and its arguments."""
    return deployment["spec"]["template"]["spec"]["containers"][0]


def consumed_queues(deployment: dict) -> list[str]:
    """What ``seqoia worker`` consumes with this Deployment's ``--queue`` and ``--lane``."""
    from seqoia.engine.priority import lane_queues

    args = container(deployment)["args"]
    return lane_queues(option(args, "--queue"), *option(args, "--lane"))


def test_every_queue_of_the_pipeline_is_consumed_by_exactly_one_worker_group(
    tmp_path: Path,
) -> None:
    from seqoia.engine.priority import urgent_queue
    from seqoia.engine.runtime import build_runtime
    from seqoia.settings import Settings
    from seqoia.workers.actors import EVENTS_QUEUE

    runtime = build_runtime(Settings(store_url=f"file://{tmp_path}"))
    consumed = [q for d in worker_deployments().values() for q in consumed_queues(d)]
    queues = {EVENTS_QUEUE, *runtime.pipeline.queues()}
    # the urgent queues too: a routine-only group leaves them to seqoia-worker-urgent
    assert sorted(consumed) == sorted(queues | set(map(urgent_queue, queues)))


def test_urgent_messages_of_heavy_queues_have_a_group_that_routine_work_cannot_fill(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from seqoia.engine.priority import urgent_queue

    groups = {d["metadata"]["labels"]["seqoia/queue"]: d for d in worker_deployments().values()}
    urgent_group = groups.pop("urgent")
    urgent = consumed_queues(urgent_group)
    assert urgent == sorted(urgent_queue(g) for g in HEAVY - {"urgent"})
    for name in HEAVY - {"urgent"}:
        assert consumed_queues(groups[name]) == [name]

    # its pods serve four queues with one thread: they fetch only into a free thread, so a
    # busy pod cannot hold the next urgent message while the group scales up for it
    from seqoia.settings import Settings

    for variable in container(urgent_group)["env"]:
        monkeypatch.setenv(variable["name"], variable["value"])
    assert Settings().thread_slots


def test_a_full_cluster_schedules_urgent_pods_first_without_evicting_a_running_stage() -> None:
    classes = of_kind("PriorityClass")
    value = {
        d["metadata"]["labels"]["seqoia/queue"]: classes[name]["value"] if name else 0
        for d in worker_deployments().values()
        for name in [d["spec"]["template"]["spec"].get("priorityClassName")]
    }
    assert value["urgent"] > max(v for g, v in value.items() if g != "urgent"), value
    urgent_class = worker_deployments()["seqoia-worker-urgent"]["spec"]["template"]["spec"][
        "priorityClassName"
    ]
    assert classes[urgent_class]["preemptionPolicy"] == "Never"
    assert not classes[urgent_class]["globalDefault"]


def test_each_worker_group_scales_on_backlog_plus_in_flight_work_and_never_to_zero_blindly() -> (
    None
):
    scaled = of_kind("ScaledObject")
    for name, deployment in worker_deployments().items():
        assert name in scaled, f"{name} has no ScaledObject"
        spec = scaled[name]["spec"]
        assert spec["scaleTargetRef"]["name"] == name
        [trigger] = spec["triggers"]
        query = trigger["metadata"]["query"]
        # each queue by name (test_autoscale.py checks that the regexes match exactly its lane)
        queues = option(container(deployment)["args"], "--queue")
        names = metric_names(query)
        # waiting work and the work workers hold: KEDA's redis trigger sees only the first
        assert {"seqoia_queue_depth", "dramatiq_messages_inprogress"} <= names, name
        assert "dramatiq_delayed_messages_inprogress" in names, name
        for queue in queues:
            assert queue in query, (name, queue)
        # an empty answer (intake down) is an error that keeps replicas, not a zero
        assert trigger["metadata"]["ignoreNullValues"] == "false"
        assert "seqoia_queue_depth" not in query.split("or vector(0)")[-1]
        threads = int(option(container(deployment)["args"], "--threads")[0])
        # one pod per `threads` messages, so the target never drops below the busy pods
        assert float(trigger["metadata"]["threshold"]) <= threads, name
        assert spec["cooldownPeriod"] >= 600
        down = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]
        assert down["stabilizationWindowSeconds"] >= 600
        assert down["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 600}]


def test_the_autoscaling_queries_are_promql_that_promtool_accepts(tmp_path: Path) -> None:
    scaled = of_kind("ScaledObject")
    queries = {name: d["spec"]["triggers"][0]["metadata"]["query"] for name, d in scaled.items()}
    records = [{"record": f"keda:{n.replace('-', '_')}", "expr": q} for n, q in queries.items()]
    rules = {"groups": [{"name": "keda", "rules": records}]}
    path = tmp_path / "keda_rules.yml"
    path.write_text(yaml.safe_dump(rules))
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    known = exported_sample_names() | PROMETHEUS_GENERATED
    for name, query in queries.items():
        unknown = metric_names(query) - known
        assert not unknown, f"{name} scales on metrics nobody exports: {unknown}"


def test_a_worker_told_to_stop_has_time_to_finish_its_stage_or_release_its_lease() -> None:
    data = of_kind("ConfigMap")["seqoia-settings"]["data"]
    time_limit_s = float(data["SEQOIA_STAGE_TIME_LIMIT_S"])
    lease_ttl_s = float(data["SEQOIA_LEASE_TTL_S"])
    for name, deployment in worker_deployments().items():
        pod = deployment["spec"]["template"]["spec"]
        [grace] = option(pod["containers"][0]["args"], "--grace-s")
        assert pod["terminationGracePeriodSeconds"] == float(grace) + lease_ttl_s, name
        group = deployment["metadata"]["labels"]["seqoia/queue"]
        if group in HEAVY:
            assert float(grace) >= time_limit_s, f"{name}: a scale-down could cut a stage short"
            annotations = deployment["spec"]["template"]["metadata"]["annotations"]
            assert annotations["cluster-autoscaler.kubernetes.io/safe-to-evict"] == "false"


def test_every_worker_deployment_has_a_disruption_budget_that_selects_its_pods() -> None:
    budgets = of_kind("PodDisruptionBudget")
    for name, deployment in worker_deployments().items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        matching = [
            b
            for b in budgets.values()
            if b["spec"]["selector"]["matchLabels"].items() <= labels.items()
        ]
        assert len(matching) == 1, f"{name}: {len(matching)} budgets"
        assert matching[0]["spec"]["maxUnavailable"] == 1


def quantity(text: str) -> float:
    """A Kubernetes quantity (cpu '500m', '16'; memory '48Gi') as a number."""
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    for suffix, factor in sorted(units.items(), key=lambda u: -len(u[0])):
        if str(text).endswith(suffix):
            return float(str(text)[: -len(suffix)]) * factor
    return float(text)


def test_resource_classes_give_heavy_queues_guaranteed_large_pods_and_routing_small_ones() -> None:
    resources = {
        d["metadata"]["labels"]["seqoia/queue"]: container(d)["resources"]
        for d in worker_deployments().values()
    }
    for group in HEAVY:
        requests, limits = resources[group]["requests"], resources[group]["limits"]
        assert quantity(requests["cpu"]) == quantity(limits["cpu"]), group  # Guaranteed QoS
        assert quantity(requests["memory"]) == quantity(limits["memory"]), group
    cpu = {g: quantity(r["requests"]["cpu"]) for g, r in resources.items()}
    memory = {g: quantity(r["requests"]["memory"]) for g, r in resources.items()}
    assert cpu["align"] >= 16 and memory["align"] >= 32 * 2**30  # index + sort buffers
    assert cpu["demultiplex"] >= 8
    assert cpu["light"] <= 1 and memory["light"] <= 2 * 2**30
    assert cpu["align"] == max(cpu.values())  # the urgent lane may equal it, not exceed it
    # the urgent lane runs every heavy stage: each one's largest class
    for key in ("cpu", "memory", "ephemeral-storage"):
        for kind in ("requests", "limits"):
            largest = max(quantity(resources[g][kind][key]) for g in HEAVY - {"urgent"})
            assert quantity(resources["urgent"][kind][key]) == largest, (kind, key)
