"""The bucket-notification filters let through what the router acts on, and little else."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from seqoia.cli import app
from seqoia.commands.engine import _intake_server
from seqoia.engine.notifications import (
    KeyFilter,
    any_matches,
    bucket_notification,
    check_notifications,
    routed_key_filters,
)
from seqoia.engine.router import Router
from seqoia.engine.runtime import build_runtime
from seqoia.settings import Settings
from seqoia.workers.actors import declare_actors
from seqoia.workers.broker import build_broker
from tests.fixtures.committed import local_runtime


def test_every_marker_the_router_wakes_on_passes_and_other_run_files_do_not(
    tmp_path: Path,
) -> None:
    runtime = local_runtime(tmp_path)
    sent: list[tuple[str, str]] = []
    router = Router(runtime, lambda stage, subject, *_: sent.append((stage, subject)))
    filters = routed_key_filters(runtime.pipeline, runtime.layout)
    markers = runtime.pipeline.completion_markers()
    assert markers  # the germline pipeline starts on run folder markers
    others = ["SampleSheet.csv", "RunInfo.xml", "Data/Intensities/s.locs", "XCopyComplete.txt"]
    for name in [*markers, *others]:
        key = f"inbox/R1/{name}"
        routed = bool(router.object_created(key))
        assert any_matches(filters, key) == routed, key
    assert {stage for stage, _ in sent} == {root.name for root in runtime.pipeline.roots()}


def test_manifests_pass_and_the_engine_s_bookkeeping_does_not(tmp_path: Path) -> None:
    runtime = local_runtime(tmp_path)
    layout = runtime.layout
    filters = routed_key_filters(runtime.pipeline, layout)
    assert any_matches(filters, layout.manifest_key("align", "S1", 3))
    for key in (
        layout.lease_key("align", "S1"),
        layout.link_key("run", "R1", "sample", "S1"),
        layout.failure_key("align", "S1"),
        layout.override_key("align", "S1"),
        layout.publication_key("report", "S1", 1),
        layout.attempt_prefix("align", "S1", "a1") + "S1.cram",
        layout.done_key("R1"),
        "outbox/APHP/S1/S1.fhir.json",
    ):
        assert not any_matches(filters, key), key


def test_a_store_prefix_leads_every_filter(tmp_path: Path) -> None:
    runtime = local_runtime(tmp_path)
    filters = routed_key_filters(runtime.pipeline, runtime.layout, key_prefix="lab-a/")
    assert all(key_filter.prefix.startswith("lab-a/") for key_filter in filters)
    assert any_matches(filters, "lab-a/" + runtime.layout.manifest_key("align", "S1", 1))
    assert not any_matches(filters, runtime.layout.manifest_key("align", "S1", 1))


def test_the_s3_configuration_has_one_prefix_and_one_suffix_rule_per_filter() -> None:
    filters = [KeyFilter("inbox/", "/CopyComplete.txt"), KeyFilter("work/", ".manifest.json")]
    configuration = bucket_notification("arn:aws:sns:eu-west-3:1:seqoia", filters)
    topics = configuration["TopicConfigurations"]
    assert len({topic["Id"] for topic in topics}) == len(filters)
    rules = [
        {rule["Name"]: rule["Value"] for rule in topic["Filter"]["Key"]["FilterRules"]}
        for topic in topics
    ]
    assert rules == [{"prefix": f.prefix, "suffix": f.suffix} for f in filters]
    assert all(topic["Events"] == ["s3:ObjectCreated:*"] for topic in topics)


def test_seqoia_notifications_prints_the_configuration_for_the_store_s_prefix(
    tmp_path: Path,
) -> None:
    env = {
        "SEQOIA_STORE_URL": "s3://lab-bucket/site-a?endpoint_url=http://127.0.0.1:9&allow_http=1",
        "SEQOIA_SCRATCH_DIR": str(tmp_path / "scratch"),
    }
    arn = "arn:aws:sns:eu-west-3:123456789012:seqoia"
    result = CliRunner().invoke(app, ["notifications", "--topic-arn", arn], env=env)
    assert result.exit_code == 0, result.output
    topics = json.loads(result.output)["TopicConfigurations"]
    prefixes = {
        rule["Value"]
        for topic in topics
        for rule in topic["Filter"]["Key"]["FilterRules"]
        if rule["Name"] == "prefix"
    }
    assert prefixes == {"site-a/inbox/", "site-a/work/"}
    assert {topic["TopicArn"] for topic in topics} == {arn}

    minio = CliRunner().invoke(app, ["notifications", "--minio", "local/seqoia"], env=env)
    assert minio.exit_code == 2
    assert "ALIAS/BUCKET=ARN" in minio.output


class _Bucket:
    """An S3 store's two attributes the check reads; the answer is S3's response shape."""

    bucket = "seqoia"

    def __init__(self, answer: dict[str, Any] | Exception) -> None:
        self.client = self
        self.answer = answer

    def get_bucket_notification_configuration(self, Bucket: str) -> dict[str, Any]:  # noqa: N803
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def _queue(prefix: str, suffix: str) -> dict[str, Any]:
    rules = [{"Name": "Prefix", "Value": prefix}, {"Name": "Suffix", "Value": suffix}]
    return {
        "QueueArn": "arn:minio:sqs::SEQOIA:webhook",
        "Events": ["s3:ObjectCreated:Put"],
        "Filter": {"Key": {"FilterRules": rules}},
    }


def test_infra_compose_s_minio_events_cover_the_filters(tmp_path: Path) -> None:
    """The `mc event add` lines of infra/compose.yaml announce every key the router needs."""
    compose = (Path(__file__).resolve().parents[3] / "infra" / "compose.yaml").read_text()
    rules = re.findall(r"mc event add .* --prefix (\S+) --suffix (\S+)", compose)
    assert len(rules) >= 2
    runtime = local_runtime(tmp_path)
    filters = routed_key_filters(runtime.pipeline, runtime.layout)
    store = _Bucket({"QueueConfigurations": [_queue(*rule) for rule in rules]})
    check = check_notifications(store, runtime.layout, filters)  # type: ignore[arg-type]
    assert check.verdict == "ok", check.detail
    # Without the manifests' rule, runs would stop after their first stage.
    inbox_only = [_queue(*rule) for rule in rules if rule[0] == "inbox/"]
    store = _Bucket({"QueueConfigurations": inbox_only})
    check = check_notifications(store, runtime.layout, filters)  # type: ignore[arg-type]
    assert check.verdict == "warn" and "work/*.manifest.json" in check.detail


def test_a_configuration_that_cannot_be_read_is_a_warning(tmp_path: Path) -> None:
    runtime = local_runtime(tmp_path)
    filters = routed_key_filters(runtime.pipeline, runtime.layout)
    store = _Bucket(PermissionError("AccessDenied"))
    check = check_notifications(store, runtime.layout, filters)  # type: ignore[arg-type]
    assert check.verdict == "warn" and "AccessDenied" in check.detail


def test_the_intake_command_sends_on_only_what_a_stage_starts_from(tmp_path: Path) -> None:
    """`seqoia intake` drops leases and outputs itself when a bucket announces everything."""
    settings = Settings(
        store_url="s3://lab-bucket/site-a?endpoint_url=http://127.0.0.1:9&allow_http=1",
        broker_url="memory://",
        scratch_dir=tmp_path / "scratch",
        intake_port=0,
    )
    actors = declare_actors(build_broker(settings), build_runtime(settings))
    token = "intake-test-token-0123456789"  # noqa: S105 - a test value
    with _intake_server(settings, actors, token=token, insecure_no_auth=False) as server:
        status, answer = server.handle_payload(
            json.dumps(
                {
                    "Records": [
                        {
                            "eventName": "ObjectCreated:Put",
                            "eventSource": "aws:s3",
                            "s3": {"bucket": {"name": "lab-bucket"}, "object": {"key": key}},
                        }
                        for key in (
                            "site-a/work/_leases/align/S1",
                            "site-a/work/align/S1/attempts/a1/S1.cram",
                            "site-a/inbox/R1/CopyComplete.txt",
                        )
                    ]
                }
            ).encode(),
            token_ok=True,
        )
    assert status == 200 and (answer["accepted"], answer["ignored"]) == (1, 2), answer
    assert server.counts()["s3"] == {"accepted": 1, "unrouted": 2}
