"""A run's commit and its fan-out on a real S3 server (Ceph RGW): one request at a time or several.

    python bench/fan_out.py [--samples 24] [--rounds 7] [--concurrency 16] [--latency-ms 0]

Two steps of every run's way through the germline pipeline, with the code the workers run:

- **commit**: ``validate_run`` commits the run's sample sheet as links (run <-> part,
  part <-> sample, run <-> sample, run <-> family, family <-> sample: 162 create-only PUTs
  for a NovaSeq X run of 24 genomes in 8 trios), then its manifest
  (``ManifestStore.commit``). Nothing downstream is sent before it ends.
- **fan-out**: ``demultiplex`` has committed the run's part; the router looks at each of
  its samples' ``align`` (is it ready, how urgent, whose: the look-ups
  ``Actors.enqueue_stage`` makes), then sends the messages in the run's order
  (``Router.committed``). Timed to the last message sent: the urgent sample's, the last
  in the sheet, which one look at a time waited for every other sample's.

*Baseline*: ``concurrency=1``, one request after the other (what both steps did before).
*Candidate*: ``--concurrency`` at once (a worker's default on a remote store). Each round
does both sides, in alternating order, on new runs in the same bucket; a side's caches
start empty each round, as a worker's do for a new run. Prints medians over the rounds and
the ratios candidate/baseline.

``--latency-ms``: every request goes through the tests' proxy (``tests/fixtures/faultproxy.py``,
no faults), which holds it that long first: RGW here answers from memory on loopback, and
on two busy cores it is CPU-bound, where a production store is a network and disks away.

Needs Ceph (``ceph-mon ceph-osd radosgw ceph-common``), started here with the tests'
fixture (``tests/fixtures/ceph.py``) and stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from seqoia.engine.router import Router  # noqa: E402
from seqoia.engine.runtime import Runtime, build_runtime  # noqa: E402
from seqoia.settings import Settings  # noqa: E402
from seqoia.storage.manifest import FileRef, Manifest, utcnow  # noqa: E402
from seqoia.vocabulary import Relation  # noqa: E402
from tests.fixtures.ceph import CephRGW  # noqa: E402
from tests.fixtures.faultproxy import FaultProxy  # noqa: E402

ACCESS, SECRET = "fanoutbench", "fanoutbenchsecret"
PIPELINE = "seqoia.tasks.germline:pipeline"


def sheet(run: str, samples: int) -> tuple[list[Relation], dict[str, Any]]:
    """A run's relations and sample records as ``validate_run`` commits them: one part,
    trios as families, the last sample urgent."""
    part = f"{run}-all"
    relations = [Relation(kind="run", subject=run, other_kind="part", other=part)]
    records: dict[str, Any] = {}
    for i in range(samples):
        sample, family = f"{run}-S{i:02d}", f"{run}-F{i // 3:02d}"
        relations += [
            Relation(kind="part", subject=part, other_kind="sample", other=sample),
            Relation(kind="run", subject=run, other_kind="sample", other=sample),
            Relation(kind="family", subject=family, other_kind="sample", other=sample),
        ]
        if i % 3 == 0:
            relations.append(Relation(kind="run", subject=run, other_kind="family", other=family))
        urgent = i == samples - 1
        records[sample] = {"priority": "urgent" if urgent else "routine", "centre": "CURIE"}
    return relations, records


def manifest(rt: Runtime, stage: str, subject: str, generation: int = 1, **extra: Any) -> Manifest:
    declared = rt.pipeline[stage]
    return Manifest(
        stage=stage,
        stage_version=declared.version,
        subject=subject,
        subject_kind=declared.kind,
        fingerprint=f"{generation:064d}",
        generation=generation,
        attempt=f"bench-{stage}-{generation}",
        outputs=[FileRef(name="out.json", key=f"work/{stage}/{subject}/out.json", size=2)],
        started_at=utcnow(),
        finished_at=utcnow(),
        worker="bench",
        **extra,
    )


def one_round(rt: Runtime, run: str, samples: int) -> dict[str, float]:
    """Seconds for the run's commit and its fan-out."""
    relations, records = sheet(run, samples)
    validation = manifest(
        rt, "validate_run", run, relations=relations, summary={"samples": records}
    )
    started = time.perf_counter()
    rt.manifests.commit(validation)
    timings = {"commit": time.perf_counter() - started}
    part = f"{run}-all"
    demultiplexed = rt.manifests.commit(manifest(rt, "demultiplex", part))

    def enqueue(stage: str, subject: str, reason: str, delay_s: float) -> None:
        rt.priorities.standing(rt.pipeline[stage].kind, subject)  # as Actors.enqueue_stage

    started = time.perf_counter()
    routed = Router(rt, enqueue).committed(demultiplexed, fresh=True)
    timings["fan-out"] = time.perf_counter() - started
    aligned = [subject for stage, subject in routed if stage == "align"]
    if len(aligned) != samples:  # (demux_stats, the run's, is routed too)
        raise SystemExit(f"routed align for {len(aligned)} of {samples} samples: {routed}")
    return timings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args(argv)
    os.environ.update(AWS_ACCESS_KEY_ID=ACCESS, AWS_SECRET_ACCESS_KEY=SECRET)
    links = 2 * len(sheet("R", args.samples)[0])
    print(f"a {args.samples}-sample run on Ceph RGW (+{args.latency_ms:g} ms a request): commit "
          f"of {links} links + manifest; fan-out to {args.samples} align messages")  # fmt: skip
    sides = {"baseline": 1, "candidate": args.concurrency}
    times: dict[str, dict[str, list[float]]] = {side: {} for side in sides}
    with tempfile.TemporaryDirectory(prefix="seqoia-bench-fan-out-") as root:
        cluster = CephRGW.start(Path(root) / "ceph", access_key=ACCESS, secret_key=SECRET)
        try:
            endpoint = cluster.endpoint
            if args.latency_ms:
                proxy = FaultProxy(endpoint, latency_s=args.latency_ms / 1000)
                endpoint = proxy.endpoint
            url = (
                f"s3://fan-out?endpoint_url={endpoint}&allow_http=1"
                "&path_style=1&sse=none&region=us-east-1&create_bucket=1"
            )
            settings = Settings(store_url=url, scratch_dir=Path(root) / "scratch", worker_id="b")
            base = build_runtime(settings, PIPELINE)
            base.store.put_bytes(base.layout.reference_key(settings.reference), b">c\nACGT\n")
            one_round(base, "warm-up", 3)
            for round_no in range(args.rounds):
                order = list(sides) if round_no % 2 == 0 else list(reversed(sides))
                for side in order:
                    rt = Runtime(settings, base.store, base.pipeline)  # caches start empty
                    rt.store_concurrency = sides[side]
                    timed = one_round(rt, f"R{round_no:02d}{side[0]}", args.samples)
                    for step, seconds in timed.items():
                        times[side].setdefault(step, []).append(seconds)
                print(
                    f"round {round_no + 1}: "
                    + "; ".join(
                        f"{side} "
                        + ", ".join(f"{k} {v[-1] * 1000:.0f} ms" for k, v in times[side].items())
                        for side in order
                    ),
                    flush=True,
                )
        finally:
            cluster.stop()
    print(f"\nmedians of {args.rounds} rounds (baseline: one at a time; candidate: "
          f"{args.concurrency} at once):")  # fmt: skip
    for step in times["baseline"]:
        base_s = statistics.median(times["baseline"][step])
        cand_s = statistics.median(times["candidate"][step])
        print(
            f"  {step:12} baseline {base_s * 1000:6.0f} ms  candidate {cand_s * 1000:6.0f} ms  "
            f"ratio {cand_s / base_s:.2f}"
        )


if __name__ == "__main__":
    main()
