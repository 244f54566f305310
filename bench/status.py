"""``seqoia status --json`` over a store holding 10,000 samples, of which a few dozen are active.

Builds a local store (on /dev/shm when it exists) with the germline pipeline's state
written directly as manifests (no stage runs): finished runs of 100 samples each, every
stage committed and the run marked done, plus a few active runs whose manifests carry the
planner's real fingerprints and whose samples stand at every depth of the pipeline, some
running (a live lease), some failed (a failure record). Then it times ``seqoia status
--json`` and counts its store requests, first with 1,000 finished samples, then with
10,000 and the same active runs: if the cost follows the active work, both stay flat.

Baseline, in the same process: deriving the state of *every* run the store holds (what a
status that walks the history would do), with the same derivation code.

    python bench/status.py [--finished 1000,10000] [--active-runs 3] [--active-samples 12]
                           [--repeats 3] [--workdir DIR --keep] [--no-baseline]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from seqoia.admin.state import StateReader
from seqoia.cli import app
from seqoia.engine.runtime import DEFAULT_PIPELINE, Runtime, load_pipeline
from seqoia.settings import Settings
from seqoia.storage.counting import CountingStore
from seqoia.storage.local import LocalStore
from seqoia.storage.manifest import FileRef, Manifest
from seqoia.tasks.stage import Stage
from seqoia.vocabulary import Relation

SAMPLES_PER_RUN = 100
T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def _runtime(root: Path) -> Runtime:
    settings = Settings(store_url=f"file://{root}", broker_url="memory://")
    store = LocalStore(root, fsync=False)  # building only: status reads through open_store
    return Runtime(settings, store, load_pipeline(DEFAULT_PIPELINE))


def _manifest(
    stage: Stage, subject: str, *, fingerprint: str, at: datetime, **fields: Any
) -> Manifest:
    attempt = f"{at:%Y%m%dT%H%M%S}-bench{zlib.crc32(f'{stage.name}/{subject}'.encode()):08x}"
    outputs = [
        FileRef(
            name=f"{subject}.{stage.name}.out",
            key=f"work/{stage.name}/{subject}/attempts/{attempt}/{subject}.{stage.name}.out",
            size=1000,
            sha256="0" * 64,
        )
    ]
    return Manifest(
        stage=stage.name,
        stage_version=stage.version,
        subject=subject,
        subject_kind=stage.kind,
        fingerprint=fingerprint,
        generation=1,
        attempt=attempt,
        outputs=outputs,
        started_at=at,
        finished_at=at + timedelta(minutes=20),
        worker="bench:1",
        **fields,
    )


def _run_folder(rt: Runtime, run: str) -> None:
    prefix = rt.layout.run_prefix(run)
    rt.store.put_bytes(prefix + "SampleSheet.csv", b"[Header]\n")
    rt.store.put_bytes(prefix + "RunInfo.xml", b"<RunInfo/>")
    rt.store.put_bytes(prefix + "CopyComplete.txt", b"")


def _fan_out(run: str, samples: list[str]) -> list[Relation]:
    """The links ``validate_run`` writes for a one-lane run: run <-> part <-> sample."""
    part = f"{run}_L001"
    return [
        Relation(kind="run", subject=run, other_kind="part", other=part),
        *(Relation(kind="run", subject=run, other_kind="sample", other=s) for s in samples),
        *(Relation(kind="part", subject=part, other_kind="sample", other=s) for s in samples),
    ]


def add_finished_runs(rt: Runtime, first: int, count: int) -> None:
    """``count`` runs of SAMPLES_PER_RUN samples, every stage committed, runs marked done."""
    for number in range(first, first + count):
        run = f"R{number:05d}"
        samples = [f"{run}-S{i:03d}" for i in range(SAMPLES_PER_RUN)]
        at = T0 + timedelta(hours=number)
        _run_folder(rt, run)
        for stage in rt.pipeline:
            subjects = {"run": [run], "part": [f"{run}_L001"], "sample": samples}[stage.kind]
            for subject in subjects:
                relations = _fan_out(run, samples) if stage.source and not stage.needs else []
                rt.manifests.commit(
                    _manifest(stage, subject, fingerprint="f" * 64, at=at, relations=relations)
                )
        rt.store.put_bytes(rt.layout.done_prefix() + run, b"{}")


def add_active_runs(rt: Runtime, runs: int, samples_per_run: int) -> dict[str, int]:
    """Active runs committed stage by stage with the planner's fingerprints, at every depth."""
    rt.store.put_bytes(rt.layout.reference_key(rt.settings.reference), b">chr1\nACGT\n")
    stages = list(rt.pipeline)
    sample_stages = [s for s in stages if s.kind == "sample"]
    # Run and part stages before the samples' (a run report after them stays waiting).
    run_stages = [
        s
        for s in stages
        if s.kind in ("run", "part")
        and not any(rt.pipeline[a].kind == "sample" for a in rt.pipeline.ancestors(s.name))
    ]
    tally = {"running": 0, "failed": 0}
    for number in range(runs):
        run = f"A{number:03d}"
        samples = [f"{run}-S{i:03d}" for i in range(samples_per_run)]
        _run_folder(rt, run)
        for stage in run_stages:
            subject = run if stage.kind == "run" else f"{run}_L001"
            plan = rt.planner.plan(stage.name, subject)
            relations = _fan_out(run, samples) if stage.source and not stage.needs else []
            rt.manifests.commit(
                _manifest(
                    stage,
                    subject,
                    fingerprint=plan.fingerprint,
                    at=datetime.now(UTC),
                    inputs=plan.inputs,
                    sources=plan.sources,
                    relations=relations,
                )
            )
        for index, sample in enumerate(samples):
            depth = index % (len(sample_stages) + 1)  # 0 .. all stages committed
            for stage in sample_stages[:depth]:
                plan = rt.planner.plan(stage.name, sample)
                rt.manifests.commit(
                    _manifest(
                        stage,
                        sample,
                        fingerprint=plan.fingerprint,
                        at=datetime.now(UTC),
                        inputs=plan.inputs,
                        reference=plan.reference,
                    )
                )
            if depth == len(sample_stages):
                continue
            following = sample_stages[depth]
            if index % 3 == 1:  # running: a live lease
                rt.store.put_bytes(
                    rt.layout.lease_key(following.name, sample),
                    json.dumps(
                        {"attempt": "a", "worker": "w", "expires": time.time() + 86400}
                    ).encode(),
                )
                tally["running"] += 1
            elif index % 5 == 2:  # failed permanently with the fingerprint it would run with
                plan = rt.planner.plan(following.name, sample)
                record = {
                    "fingerprint": plan.fingerprint,
                    "permanent": True,
                    "message": "bench failure",
                }
                rt.store.put_bytes(
                    rt.layout.failure_key(following.name, sample), json.dumps(record).encode()
                )
                tally["failed"] += 1
    return tally


def time_status(root: Path, repeats: int) -> dict[str, Any]:
    """``seqoia status --json`` in this process (median of ``repeats``) and once as a command."""
    env = {"SEQOIA_STORE_URL": f"file://{root}", "SEQOIA_BROKER_URL": "memory://"}
    runner, walls, report = CliRunner(), [], {}
    for _ in range(repeats):
        started = time.perf_counter()
        result = runner.invoke(app, ["status", "--json"], env=env)
        walls.append(time.perf_counter() - started)
        if result.exit_code != 0:
            raise SystemExit(f"seqoia status failed: {result.stderr or result.exception}")
        report = json.loads(result.stdout)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "seqoia.cli", "status", "--json"],
        env=dict(os.environ, **env),
        check=True,
        capture_output=True,
    )
    command_s = time.perf_counter() - started
    states: dict[str, int] = {}
    for run in report["runs"]:
        for counts in run["stages"].values():
            for state, n in counts.items():
                states[state] = states.get(state, 0) + n
    return {
        "requests": report["store_requests"],
        "in_process_s": statistics.median(walls),
        "command_s": command_s,
        "active_runs": len(report["runs"]),
        "states": states,
    }


def time_full_walk(rt: Runtime) -> dict[str, Any]:
    """Baseline: derive the state of every run in the inbox, finished or not."""
    counting = CountingStore(LocalStore(Path(rt.store.url.removeprefix("file://"))))
    reader = StateReader(Runtime(rt.settings, counting, rt.pipeline))
    started = time.perf_counter()
    runs = rt.store.list_children(f"{rt.layout.inbox}/")
    for run in runs:
        reader.run(run)
    return {
        "requests": counting.requests,
        "seconds": time.perf_counter() - started,
        "runs": len(runs),
    }


def _table(rows: list[tuple[int, dict[str, Any], dict[str, Any] | None]], active: int) -> None:
    header = ("finished", "active", "requests", "status ms", "command s", "walk req", "walk s")
    print(" ".join(f"{h:>9}" for h in (*header, "ratio")))
    for finished, status, full in rows:
        cells = [
            finished,
            active,
            status["requests"],
            f"{status['in_process_s'] * 1000:.0f}",
            f"{status['command_s']:.2f}",
            full["requests"] if full else "-",
            f"{full['seconds']:.1f}" if full else "-",
            f"{full['seconds'] / status['in_process_s']:.0f}x" if full else "-",
        ]
        print(" ".join(f"{c:>9}" for c in cells))
    if len(rows) > 1:
        (f0, s0, _), (f1, s1, _) = rows[0], rows[-1]
        print(
            f"history x{f1 / f0:.0f}: status requests x{s1['requests'] / s0['requests']:.2f}, "
            f"time x{s1['in_process_s'] / s0['in_process_s']:.2f} "
            "(flat: the cost follows the active work)"
        )
    print("ratio = full-history walk time / status time; the walk is the same derivation")
    print("applied to every run in the inbox, finished or not (what a naive status would do)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--finished", default="1000,10000", help="Finished samples at each step")
    parser.add_argument("--active-runs", type=int, default=3)
    parser.add_argument("--active-samples", type=int, default=12, help="Samples per active run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="Keep the store afterwards")
    parser.add_argument("--no-baseline", action="store_true", help="Skip the full-history walk")
    args = parser.parse_args()
    steps = [int(n) for n in args.finished.split(",")]
    if any(n % SAMPLES_PER_RUN for n in steps) or steps != sorted(steps):
        raise SystemExit(f"--finished: increasing multiples of {SAMPLES_PER_RUN}")
    base = args.workdir or Path(
        tempfile.mkdtemp(
            prefix="seqoia-bench-status-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None
        )
    )
    root = base / "store"
    rt = _runtime(root)
    try:
        started = time.perf_counter()
        tally = add_active_runs(rt, args.active_runs, args.active_samples)
        print(
            f"active: {args.active_runs} runs x {args.active_samples} samples "
            f"({tally['running']} running, {tally['failed']} failed, the rest at every depth), "
            f"built in {time.perf_counter() - started:.1f} s"
        )
        rows, built = [], 0
        for finished in steps:
            started = time.perf_counter()
            add_finished_runs(rt, built // SAMPLES_PER_RUN, (finished - built) // SAMPLES_PER_RUN)
            built = finished
            build_s = time.perf_counter() - started
            status = time_status(root, args.repeats)
            full = None if args.no_baseline else time_full_walk(rt)
            rows.append((finished, status, full))
            print(
                f"{finished:>6} finished samples (+{build_s:.0f} s to build): status --json "
                f"{status['requests']} requests, "
                f"{status['in_process_s'] * 1000:.0f} ms in process, "
                f"{status['command_s']:.2f} s as a command; states {status['states']}"
                + (
                    f"; full walk {full['requests']} requests, {full['seconds']:.1f} s"
                    if full
                    else ""
                )
            )
        print()
        _table(rows, args.active_runs * args.active_samples)
    finally:
        rt.store.close()
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
        else:
            print(f"store kept at {root}")


if __name__ == "__main__":
    main()
