"""The admin CLI driven through Typer's test runner against real pipeline state.

Two stacks: ``memory`` (file:// store, in-process broker: the CLI is attached to the
test's embedded workers, see ``seqoia.commands.admin_common``) and ``redis`` (moto S3 over
HTTP and a real redis-server; the CLI opens its own broker connection and the test's
``dramatiq.Worker`` consumes what it sends). One toy state per stack is built once:

    R1: S1, S2 (family F1)            -> everything commits
    R2: S9 (its text asks to fail)    -> process/S9 fails permanently, tally/R2 is blocked

The tests run in file order on that state and check deltas (generations before/after),
so each one states what it changes. Toy ``process`` runs in a child process: the tests
keep the number of such attempts small.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from seqoia.cli import app
from seqoia.commands.admin_common import attached
from seqoia.errors import ObjectNotFoundError
from tests.integration.engine_helpers import (
    PIPELINE,
    Stack,
    Workers,
    build_stack,
    toy_expected,
    wait_for_manifests,
    write_toy_run,
)

R1_ROWS = [("S1", "F1", "hello"), ("S2", "F1", "world")]
R2_ROWS = [("S9", "-", "FAIL please")]

Pair = tuple[str, str]


@dataclass
class Admin:
    """One stack with running workers and a way to call ``seqoia`` against it."""

    stack: Stack
    workers: Workers
    runner: CliRunner

    def cli(self, *args: str, attach: bool = True) -> Result:
        argv = [*args, "--pipeline", PIPELINE]
        if attach and self.stack.name == "memory":
            with attached(self.workers.actors):
                return self.runner.invoke(app, argv, env=self.stack.env)
        return self.runner.invoke(app, argv, env=self.stack.env)

    def ok(self, *args: str, attach: bool = True) -> Result:
        result = self.cli(*args, attach=attach)
        assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json").stdout)

    def drain(self) -> None:
        self.workers.drain(timeout_s=120)

    def generations(self) -> dict[Pair, int]:
        """Number of committed generations of every ``(stage, subject)``."""
        rt, found = self.stack.runtime, {}
        for stage in rt.pipeline.stages:
            for subject in self.stack.store.list_children(f"work/{stage}/"):
                count = len(rt.manifests.generations(stage, subject))
                if count:
                    found[(stage, subject)] = count
        return found

    def listing(self) -> list[tuple[str, str]]:
        return [(info.key, info.etag) for info in self.stack.store.list("")]


def rerun(before: dict[Pair, int], after: dict[Pair, int]) -> set[Pair]:
    """Pairs that gained exactly one generation (and fail if any gained more)."""
    grown = {pair: after[pair] - before.get(pair, 0) for pair in after}
    assert all(n in (0, 1) for n in grown.values()), grown
    return {pair for pair, n in grown.items() if n == 1}


def planned(report: dict[str, Any]) -> set[Pair]:
    return {(item["stage"], item["subject"]) for item in report["runs"]}


@pytest.fixture(scope="module", params=["memory", "redis"])
def admin(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Admin]:
    stack = build_stack(request, request.param, tmp_path_factory.mktemp(request.param))
    workers = Workers(stack, threads=2).start()
    try:
        write_toy_run(stack.store, "R1", R1_ROWS)
        write_toy_run(stack.store, "R2", R2_ROWS)
        workers.actors.notify("inbox/R1/CopyComplete.txt")
        workers.actors.notify("inbox/R2/CopyComplete.txt")
        wait_for_manifests(stack, toy_expected("R1", R1_ROWS) | {("ingest", "R2")})
        workers.drain(timeout_s=120)
        yield Admin(stack, workers, CliRunner())
    finally:
        workers.stop()
        stack.store.close()


# -- status ---------------------------------------------------------------------------------
def test_status_shows_each_active_run_per_stage_and_counts_its_store_requests(admin: Admin) -> None:
    overview = admin.json("status")
    runs = {run["run"]: run for run in overview["runs"]}
    assert runs["R1"]["outcome"] == "done"
    assert runs["R1"]["stages"]["process"] == {"done": 2}
    assert runs["R2"]["outcome"] == "failed"
    assert runs["R2"]["stages"]["process"] == {"failed": 1}
    assert runs["R2"]["stages"]["tally"] == {"blocked": 1}
    assert 0 < overview["store_requests"] < 200
    assert "R1" in admin.ok("status").stdout


def test_status_of_a_run_and_of_a_sample_give_generation_worker_and_failure(admin: Admin) -> None:
    detail = {(s["stage"], s["subject"]): s for s in admin.json("status", "R1")["detail"]}
    assert set(detail) == toy_expected("R1", R1_ROWS)
    process = detail[("process", "S1")]
    assert process["state"] == "done" and process["generation"] >= 1
    assert process["worker"] == admin.stack.settings.worker_id and process["duration_s"] > 0
    failed = {(s["stage"], s["subject"]): s for s in admin.json("status", "R2")["detail"]}
    assert failed[("process", "S9")]["state"] == "failed"
    assert "asks to fail" in failed[("process", "S9")]["failure"]["message"]
    assert failed[("tally", "R2")]["waiting_for"] == ["process/S9"]

    sample = admin.json("sample", "S1")
    assert sample["runs"] == ["R1"] and sample["families"] == ["F1"]
    assert {(s["stage"], s["subject"]) for s in sample["detail"]} == {
        ("ingest", "R1"), ("process", "S1"), ("joint", "F1"), ("tally", "R1"),
    }  # fmt: skip
    table = admin.ok("sample", "S9").stdout
    assert "failed" in table and "asks to fail" in table


# -- reprocess ------------------------------------------------------------------------------
def test_dry_run_lists_exactly_what_a_forced_reprocess_from_a_stage_then_runs(admin: Admin) -> None:
    before = admin.generations()
    dry = admin.json("reprocess", "S1", "--from", "process", "--force", "--dry-run")
    assert planned(dry) == {("process", "S1"), ("joint", "F1"), ("tally", "R1")}
    assert admin.generations() == before  # a dry run changes nothing

    admin.ok("reprocess", "S1", "--from", "process", "--force", "--reason", "re-run after a fix")
    admin.drain()
    after = admin.generations()
    # --from reruns the stage and all its dependents, and nothing else (ingest, S2 stay).
    assert rerun(before, after) == planned(dry)
    latest = admin.stack.runtime.manifests.latest("process", "S1")
    assert latest is not None and latest.reason.startswith("reprocess by ")
    assert latest.reason.endswith(": re-run after a fix")


def test_forced_generation_leaves_the_old_one_readable(admin: Admin) -> None:
    rt = admin.stack.runtime
    history = rt.manifests.history("process", "S1")
    assert len(history) >= 2
    old, new = history[-2], history[-1]
    assert old.fingerprint != new.fingerprint and old.attempt != new.attempt
    old_key = old.output("S1.out").key
    data, _ = admin.stack.store.get_bytes(old_key)
    assert data == b"HELLO!"
    lineage = admin.json("lineage", old_key)
    assert lineage["produced_by"][0]["generation"] == old.generation


def test_set_validates_the_parameter_and_reruns_with_it(admin: Admin) -> None:
    before = admin.generations()
    dry = admin.json("reprocess", "S2", "--set", "process.suffix=?", "--dry-run")
    assert planned(dry) == {("process", "S2"), ("joint", "F1"), ("tally", "R1")}
    admin.ok("reprocess", "S2", "--set", "process.suffix=?", "--reason", "new suffix")
    admin.drain()
    assert rerun(before, admin.generations()) == planned(dry)
    manifest = admin.stack.runtime.manifests.latest("process", "S2")
    assert manifest is not None and manifest.parameters["suffix"] == "?"
    assert admin.stack.store.get_bytes(manifest.output("S2.out").key)[0] == b"WORLD?"
    # The override stays: the same --set again is up to date and runs nothing.
    again = admin.json("reprocess", "S2", "--set", "process.suffix=?", "--dry-run")
    assert again["runs"] == []


def test_from_a_family_stage_reruns_only_that_stage(admin: Admin) -> None:
    before = admin.generations()
    dry = admin.json("reprocess", "R1", "--from", "joint", "--force", "--dry-run")
    assert planned(dry) == {("joint", "F1")}
    admin.ok("reprocess", "R1", "--from", "joint", "--force", "--reason", "joint only")
    admin.drain()
    assert rerun(before, admin.generations()) == {("joint", "F1")}


def test_a_command_without_attached_workers_sends_to_the_stack_broker(admin: Admin) -> None:
    # memory:// has no shared broker: the command runs the stages itself until idle.
    # redis:// reaches the test's worker through the server, as a cluster's would.
    before = admin.generations()
    result = admin.ok("reprocess", "joint/F1", "--force", "--reason", "one stage", attach=False)
    if admin.stack.name == "memory":
        assert "ran in this process until idle" in result.stdout
    else:
        assert "sent to redis:// workers" in result.stdout
        admin.drain()
    assert rerun(before, admin.generations()) == {("joint", "F1")}


def test_mistaken_or_hostile_input_exits_2_with_one_line_and_changes_nothing(admin: Admin) -> None:
    before = admin.listing()
    cases = {
        ("reprocess", "NOPE", "--reason", "x"): "unknown run, sample or family 'NOPE'",
        ("reprocess", "S1", "--from", "proces", "--reason", "x"): "did you mean 'process'?",
        ("reprocess", "proces/S1", "--reason", "x"): "did you mean 'process'?",
        ("reprocess", "S1", "--set", "process.sufix=1", "--reason", "x"): "did you mean 'suffix'?",
        ("reprocess", "S1", "--set", "process.sleep_s=abc", "--reason", "x"): "valid number",
        ("reprocess", "S1", "--set", "process.sleep_s", "--reason", "x"): "STAGE.PARAM=VALUE",
        ("reprocess", "F1", "--from", "joint", "--set", "process.suffix=x", "--reason", "x"): (
            "not rerun by this reprocess"
        ),
        ("reprocess", "S1", "--from", "ingest", "--reason", "x"): "reprocess the run instead",
        ("reprocess", "S1", "--force"): "--reason is required",
        ("reprocess", "../../etc", "--reason", "x"): "invalid stage name '..'",
        ("reprocess", "..", "--reason", "x"): "invalid target '..'",
        ("status", "R3"): "unknown run 'R3'",
        ("sample", "R1"): "unknown sample 'R1'",
        ("lineage", "work/process/S1/attempts/nope/S1.out"): "no object",
        ("lineage", "../etc/passwd"): "'..' path segment",
        ("retry", "--stage", "aling", "--reason", "x"): "no stage 'aling'",
        ("dlq", "show", "zzzz"): "no dead letter",
        ("dlq", "requeue", "--reason", "x"): "one letter ID or --all",
        ("gc",): "--reason is required",
        ("audit", "--since", "yesterday"): "--since 'yesterday'",
    }
    for args, expected in cases.items():
        result = admin.cli(*args)
        assert result.exit_code == 2, (args, result.stdout, result.stderr, result.exception)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, result.stderr)
        assert expected in lines[0], (args, lines[0])
    assert admin.listing() == before


# -- retry, dead letters ----------------------------------------------------------------------
def _failure(admin: Admin) -> dict[str, Any]:
    rt = admin.stack.runtime
    data, _ = admin.stack.store.get_bytes(rt.layout.failure_key("process", "S9"))
    record: dict[str, Any] = json.loads(data)
    return record


def test_retry_clears_the_failure_and_runs_the_stage_again(admin: Admin) -> None:
    listed = admin.json("retry", "--run", "R2", "--dry-run")
    assert [(f["stage"], f["subject"], f["current"]) for f in listed["failures"]] == [
        ("process", "S9", True)
    ]
    first = _failure(admin)["attempt"]
    admin.ok("retry", "--run", "R2", "--reason", "input fixed?")
    admin.drain()
    assert _failure(admin)["attempt"] != first  # it ran again (and failed again: same input)


def test_dead_letters_are_listed_with_their_failure_requeued_and_purged(admin: Admin) -> None:
    letters = [d for d in admin.json("dlq", "list") if d["args"][:2] == ["process", "S9"]]
    assert letters, "the permanent failure of process/S9 is a dead letter"
    letter = letters[-1]
    assert "asks to fail" in letter["error"]
    shown = admin.json("dlq", "show", letter["id"][:8])
    assert shown["failure"]["stage"] == "process" and "asks to fail" in shown["error"]
    assert "traceback:" in admin.ok("dlq", "show", letter["id"]).stdout

    attempt = _failure(admin)["attempt"]
    admin.ok("dlq", "requeue", letter["id"], "--reason", "try once more")
    admin.drain()
    assert _failure(admin)["attempt"] != attempt  # requeued: it ran (and failed) again
    remaining = admin.json("dlq", "list")
    assert letter["id"] in {d["id"] for d in remaining}  # dead again, as a fresh letter
    assert admin.ok("dlq", "purge", "--all", "--reason", "known bad sample").stdout.startswith(
        "purged"
    )
    assert admin.json("dlq", "list") == []


# -- lineage, watch, gc, audit ----------------------------------------------------------------
def test_lineage_goes_from_a_family_file_back_to_the_run_folder(admin: Admin) -> None:
    rt = admin.stack.runtime
    joint = rt.manifests.latest("joint", "F1")
    assert joint is not None
    key = joint.output("F1.joint.txt").key
    report = admin.json("lineage", key)
    assert report["file"]["sha256"] == joint.output("F1.joint.txt").sha256
    root = report["produced_by"][0]
    assert (root["stage"], root["subject"], root["generation"]) == ("joint", "F1", joint.generation)
    inputs = {(n["stage"], n["subject"]): n for n in root["inputs"]}
    assert set(inputs) == {("process", "S1"), ("process", "S2")}
    s2 = inputs[("process", "S2")]
    assert s2["parameters"]["suffix"] == "?" and s2["reason"].endswith(": new suffix")
    assert [f["name"] for f in s2["consumed"]] == ["S2.out"] and s2["consumed"][0]["sha256"]
    ingests = [n for node in inputs.values() for n in node["inputs"]]
    assert {(n["stage"], n["repeated"]) for n in ingests} == {("ingest", False), ("ingest", True)}
    full = next(n for n in ingests if not n["repeated"])
    assert "inbox/R1/samples.tsv" in {s["key"] for s in full["sources"]}
    tree = admin.ok("lineage", key).stdout
    assert "process/S2" in tree and "inbox/R1/samples.tsv" in tree
    manifest_key = rt.layout.manifest_key("joint", "F1", joint.generation)
    assert admin.json("lineage", manifest_key)["produced_by"][0]["attempt"] == joint.attempt


def test_outputs_lists_and_downloads_the_latest_commit_of_a_stage(
    admin: Admin, tmp_path: Path
) -> None:
    joint = admin.stack.runtime.manifests.latest("joint", "F1")
    assert joint is not None
    listed = admin.json("outputs", "joint/F1", "--download", str(tmp_path / "got"))
    assert listed["generation"] == joint.generation
    assert [o["key"] for o in listed["outputs"]] == [joint.output("F1.joint.txt").key]
    local = tmp_path / "got" / "F1.joint.txt"
    assert listed["downloaded"] == [str(local)]
    expected = admin.stack.store.get_bytes(joint.output("F1.joint.txt").key)[0]
    assert local.read_bytes() == expected
    assert "F1.joint.txt" in admin.ok("outputs", "joint/F1").stdout
    for wrong, says in (("F1", "STAGE/SUBJECT"), ("joint/F9", "unknown family"),
                        ("jiont/F1", "did you mean 'joint'")):  # fmt: skip
        result = admin.cli("outputs", wrong)
        assert result.exit_code == 2 and says in result.stderr, result.stderr


def test_watch_ends_with_the_run_outcome(admin: Admin) -> None:
    assert admin.cli("watch", "R1", "--timeout", "20", "--interval", "0.2").exit_code == 0
    failed = admin.cli("watch", "R2", "--timeout", "20", "--interval", "0.2")
    assert failed.exit_code == 1 and "process/S9" in failed.stdout


def test_gc_removes_superseded_and_orphan_attempts_but_nothing_current(admin: Admin) -> None:
    rt, store = admin.stack.runtime, admin.stack.store
    if len(rt.manifests.history("process", "S1")) < 2:  # run alone: make what gc collects
        admin.ok("reprocess", "process/S1", "--force", "--reason", "a generation to supersede")
        admin.drain()
    old = rt.manifests.history("process", "S1")[0]
    orphan = "work/process/S1/attempts/20200101T000000-crashed/S1.out"
    running = "work/process/S2/attempts/20200101T000000-running/S2.out"
    store.put_bytes(orphan, b"partial")
    store.put_bytes(running, b"partial")
    store.put_bytes(
        rt.layout.lease_key("process", "S2"),
        json.dumps({"attempt": "20200101T000000-running", "worker": "w", "expires": 4e9}).encode(),
    )
    young = admin.json("gc", "--dry-run")
    assert young["objects"] == 0 and young["spared_young"] >= 2  # default 1 h grace
    dry = admin.json("gc", "--dry-run", "--grace", "0")
    whys = {(c["stage"], c["subject"], c["why"]) for c in dry["collected"]}
    assert ("process", "S1", f"superseded g{old.generation}") in whys
    assert ("process", "S1", "orphan attempt") in whys
    assert dry["spared_leased"] == 1
    assert store.exists(orphan)  # dry run

    result = admin.ok("gc", "--grace", "0", "--reason", "monthly clean-up")
    assert "removed" in result.stdout
    assert not store.exists(orphan) and store.exists(running)
    with pytest.raises(ObjectNotFoundError):
        store.get_bytes(old.output("S1.out").key)
    assert store.exists(rt.layout.manifest_key("process", "S1", old.generation))  # the record stays
    for stage, subject in admin.generations():
        latest = rt.manifests.latest(stage, subject)
        assert latest is not None and all(store.exists(ref.key) for ref in latest.outputs)
    assert admin.json("gc", "--dry-run", "--grace", "0")["objects"] == 0
    store.delete(rt.layout.lease_key("process", "S2"))
    store.delete(running)


def test_audit_lists_every_admin_action_newest_first(admin: Admin) -> None:
    records = admin.json("audit")
    commands = [r["command"] for r in records]
    assert commands[0] == "gc"
    assert {"reprocess", "retry", "dlq requeue", "dlq purge", "gc"} <= set(commands)
    assert [r["at"] for r in records] == sorted((r["at"] for r in records), reverse=True)
    forced = next(r for r in records if r["reason"] == "re-run after a fix")
    assert forced["target"] == "sample S1" and forced["params"]["force"] is True
    assert forced["triggered"]["enqueued"] == [["process", "S1"]]
    assert "@" not in forced["user"] and forced["host"]
    assert len(admin.json("audit", "--since", "1h")) == len(records)
    assert admin.json("audit", "--limit", "2") == records[:2]
    assert "monthly clean-up" in admin.ok("audit").stdout


def test_status_cost_follows_the_active_runs_only(admin: Admin) -> None:
    # The overview reads only active runs: marking R1 done removes it from the cost.
    both = admin.json("status")
    rt = admin.stack.runtime
    admin.stack.store.put_bytes(rt.layout.done_prefix() + "R1", b"{}")
    try:
        one = admin.json("status")
        assert [r["run"] for r in one["runs"]] == ["R2"]
        assert one["store_requests"] < both["store_requests"]
    finally:
        admin.stack.store.delete(rt.layout.done_prefix() + "R1")


# -- RabbitMQ dead letters ----------------------------------------------------------------------
def test_rabbitmq_dead_letters_are_listed_requeued_and_purged(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """dlq on RabbitMQ: letters sit in ``<queue>.XQ`` (put there as dramatiq's nack would)."""
    import dramatiq

    from seqoia.workers.actors import declare_actors
    from seqoia.workers.broker import build_broker

    stack = build_stack(request, "amqp", tmp_path_factory.mktemp("amqp"))
    broker = build_broker(stack.settings)
    declare_actors(broker, stack.runtime)
    try:
        broker.declare_queue("samples", ensure=True)  # type: ignore[call-arg]
        channel = broker.channel  # type: ignore[attr-defined]
        channel.queue_purge("samples")
        channel.queue_purge("samples.XQ")
        ids = []
        for subject in ("S1", "S2"):
            message = dramatiq.Message(
                queue_name="samples", actor_name="run_stage", args=("process", subject, "event"),
                kwargs={}, options={},
            )  # fmt: skip
            channel.basic_publish(exchange="", routing_key="samples.XQ", body=message.encode())
            ids.append(message.message_id)
        runner = CliRunner()

        def cli(*args: str) -> Result:
            result = runner.invoke(app, [*args, "--pipeline", PIPELINE], env=stack.env)
            assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
            return result

        listed = json.loads(cli("dlq", "list", "--json").stdout)
        assert sorted(d["id"] for d in listed) == sorted(ids)
        assert json.loads(cli("dlq", "show", ids[0], "--json").stdout)["args"][:2] == [
            "process",
            "S1",
        ]
        cli("dlq", "requeue", ids[0], "--reason", "test")
        assert [d["id"] for d in json.loads(cli("dlq", "list", "--json").stdout)] == [ids[1]]
        method, _, body = channel.basic_get(queue="samples", auto_ack=True)
        assert method is not None and dramatiq.Message.decode(body).message_id == ids[0]
        assert "retries" not in dramatiq.Message.decode(body).options
        cli("dlq", "purge", "--all", "--reason", "test")
        assert json.loads(cli("dlq", "list", "--json").stdout) == []
        commands = [r["command"] for r in json.loads(cli("audit", "--json").stdout)]
        assert commands == ["dlq purge", "dlq requeue"]
    finally:
        broker.close()
        stack.store.close()
