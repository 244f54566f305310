"""Worker start-up on Ceph RGW + Redis: from exec to consuming, with and without S3 faults.

A replacement worker's start-up is part of a takeover when every other worker thread is
busy (bench/chaos.py). Each trial starts ``seqoia worker`` (the ``once`` pipeline) and
times it until it prints "consuming" (its consumer threads have started and fetch at
once), straight on RGW and through the fault proxy, for up to three sides interleaved in
one invocation: ``base`` (the code at ``--baseline DIR``, e.g. a ``git archive`` of the
previous commit), ``cold`` (this code, no recorded store verdict) and ``warm`` (this
code, a passing verdict recorded a moment ago: a replacement worker). It also times
``python -c "import seqoia.cli"`` for each code tree. Prints medians and ratios to base.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.chaos import PIPELINE, REPO_ROOT, Redis  # noqa: E402
from seqoia.storage import S3Store  # noqa: E402
from seqoia.storage.verdict import CHECKS_VERSION, verdict_key  # noqa: E402
from tests.fixtures.ceph import CephRGW  # noqa: E402
from tests.fixtures.faultproxy import FaultProxy  # noqa: E402
from tests.fixtures.servers import S3_REGION, free_port, rgw_store  # noqa: E402

#: The worker's start-up line (``seqoia.commands.engine``); code before the consumer phase
#: was logged writes only the first three.
PHASES = re.compile(
    r"start-up: pipeline and store ([\d.]+) s, store checks ([\d.]+) s, broker ([\d.]+) s"
    r"(?:, consumer ([\d.]+) s)?"
)


def time_worker(code: Path, env: dict[str, str], log: Path, timeout_s: float = 180) -> float:
    """Seconds from exec to "consuming"; the worker is stopped afterwards."""
    env = dict(env, PYTHONPATH=str(code), SEQOIA_METRICS_PORT=str(free_port()))
    with open(log, "wb") as out:
        began = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "seqoia.cli", "-v", "worker", "--pipeline", PIPELINE,
             "--unsafe-store"],
            env=env, cwd=code, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            while "consuming" not in log.read_text(errors="replace"):
                if proc.poll() is not None or time.monotonic() - began > timeout_s:
                    raise RuntimeError(f"worker did not start: {log.read_text()[-2000:]}")
                time.sleep(0.02)
            return time.monotonic() - began
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def time_import(code: Path) -> float:
    began = time.monotonic()
    subprocess.run(
        [sys.executable, "-c", "import seqoia.cli"], env=dict(os.environ, PYTHONPATH=str(code)),
        cwd=code, check=True,
    )  # fmt: skip
    return time.monotonic() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--fault-rate", type=float, default=0.15)
    parser.add_argument("--baseline", help="a checkout of the code to compare with")
    args = parser.parse_args(argv)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "seqoiatestaccess")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "seqoiatestsecret")
    codes = {"cold": REPO_ROOT, "warm": REPO_ROOT}
    if args.baseline:
        codes = {"base": Path(args.baseline).resolve(), **codes}
    seconds: dict[str, list[float]] = {}
    phases: dict[str, list[tuple[float, ...]]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="seqoia-startup-") as tmp,
        CephRGW.start(
            Path(tmp) / "ceph",
            access_key=os.environ["AWS_ACCESS_KEY_ID"],
            secret_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        ) as rgw,
    ):
        redis_server = Redis(Path(tmp) / "redis")
        proxy = FaultProxy(rgw.endpoint, rate=args.fault_rate, seed=1)
        direct = rgw_store(rgw)
        try:
            for trial in range(args.trials):
                for code_name, code in {"base": codes.get("base"), "this": REPO_ROOT}.items():
                    if code is not None:
                        seconds.setdefault(f"import {code_name}", []).append(time_import(code))
                for via, endpoint in (("direct", rgw.endpoint), ("faults", proxy.endpoint)):
                    url = (f"s3://{direct.bucket}?endpoint_url={endpoint}"
                           f"&region={S3_REGION}&sse=none")  # fmt: skip
                    env = dict(
                        os.environ, SEQOIA_STORE_URL=url, SEQOIA_BROKER_URL=redis_server.url,
                        SEQOIA_SCRATCH_DIR=str(Path(tmp) / "scratch"),
                        SEQOIA_WORKER_ID=f"startup-{trial}",
                    )  # fmt: skip
                    as_seen = S3Store(
                        direct.bucket, endpoint_url=endpoint, region=S3_REGION, sse=None
                    )
                    for side, code in codes.items():
                        key = verdict_key(as_seen)
                        if side == "warm":  # a passing verdict a moment ago, as a worker leaves
                            body = {"passed_at": time.time(), "checks_version": CHECKS_VERSION}
                            direct.put_bytes(key, json.dumps(body).encode())
                        else:
                            direct.delete_many([key])
                        log = Path(tmp) / f"{side}-{via}-{trial}.log"
                        took = time_worker(code, env, log)
                        seconds.setdefault(f"{side} {via}", []).append(took)
                        text = log.read_text(errors="replace")
                        found = PHASES.search(text)
                        refused = re.findall(r"UNSAFE STORE \(--unsafe-store\): (.+?) failed", text)
                        if found:
                            split = tuple(float(x) for x in found.groups()[:3])
                            phases.setdefault(f"{side} {via}", []).append(split)
                        print(f"trial {trial} {side:4s} {via:6s} {took:5.2f} s "
                              f"{found.group(0) if found else ''} (load {os.getloadavg()[0]:.1f})"
                              f"{' checks failed: ' + ', '.join(refused) if refused else ''}",
                              flush=True)  # fmt: skip
        finally:
            proxy.close()
            redis_server.stop()
    print(f"\nmedians over {args.trials} trials (load average now {os.getloadavg()})")
    for name, values in seconds.items():
        side, via = name.split(" ")
        ratio = ""
        base = seconds.get(f"base {via}") if side in ("cold", "warm") else None
        if base:
            ratio = f"  ratio to base {statistics.median(values) / statistics.median(base):.2f}"
        split = phases.get(name)
        parts = ""
        if split:
            meds = [statistics.median(p[i] for p in split) for i in range(3)]
            parts = f"  (pipeline+store {meds[0]:.2f}, checks {meds[1]:.2f}, broker {meds[2]:.2f})"
        print(f"  {name:12s} median {statistics.median(values):5.2f} s, max "
              f"{max(values):5.2f} s{ratio}{parts}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
