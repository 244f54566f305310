"""The engine's own CPU per stage transition, without a broker.

    python bench/engine_cpu.py [--samples 300] [--runs 5] [--profile]

The bench pipeline of ``bench/dispatch.py`` (a fan-out to N samples, three chained empty
stages, a fan-in), driven on one thread by the router and the stage runner in a loop: the
router's enqueue appends to a list, the loop runs what it appended. The store is
``file://`` on tmpfs (``?fsync=0``), wrapped as a worker wraps it (request metrics) and
with metrics in multiprocess files, as in a ``seqoia worker`` pool. What it prints is
process CPU (user + system) per committed transition, the median of ``--runs`` runs:
the part of ``bench/dispatch_pool.py``'s CPU per transition that is seqoia's, not
dramatiq's. ``--profile`` prints a cProfile of one run instead.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.dispatch import CHAIN, inline_pipeline  # noqa: E402
from seqoia.engine.observe import StageMetrics  # noqa: E402
from seqoia.engine.router import Router  # noqa: E402
from seqoia.engine.runner import StageRunner  # noqa: E402
from seqoia.engine.runtime import build_runtime  # noqa: E402
from seqoia.metrics import enable_multiprocess  # noqa: E402
from seqoia.settings import Settings  # noqa: E402
from seqoia.storage.counting import MeteredStore  # noqa: E402
from seqoia.storage.manifest import Manifest  # noqa: E402


def cpu_ms_per_transition(samples: int, profile: cProfile.Profile | None = None) -> float:
    """One run of the bench pipeline; CPU ms per committed transition."""
    tmpfs = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
    root = Path(tempfile.mkdtemp(prefix="seqoia-bench-engine-", dir=tmpfs))
    try:
        settings = Settings(
            store_url=f"file://{root}/store?fsync=0",
            broker_url="memory://",
            scratch_dir=root / "scratch",
            stage_threads=1,
            worker_id="bench",
        )
        runtime = build_runtime(settings, inline_pipeline)
        runtime.store = MeteredStore(runtime.store)  # as a worker does
        todo: collections.deque[tuple[str, str, str]] = collections.deque()
        router = Router(
            runtime, lambda stage, subject, reason, _: todo.append((stage, subject, reason))
        )
        runner = StageRunner(runtime, lease_ttl_s=120.0, observer=StageMetrics(runtime))
        runtime.store.put_bytes("inbox/R1/samples.txt", str(samples).encode())
        runtime.store.put_bytes("inbox/R1/CopyComplete.txt", b"")

        def route(manifest: Manifest) -> None:
            router.committed(manifest, fresh=True)  # as the stage actor does, lease held

        committed = 0
        started = time.process_time()
        if profile is not None:
            profile.enable()
        router.object_created("inbox/R1/CopyComplete.txt")
        while todo:
            stage, subject, reason = todo.popleft()
            outcome = runner.execute(stage, subject, reason=reason, on_commit=route)
            committed += outcome.kind == "committed"
        if profile is not None:
            profile.disable()
        cpu_s = time.process_time() - started
    finally:
        shutil.rmtree(root, ignore_errors=True)
    expected = 2 + len(CHAIN) * samples
    if committed != expected:
        raise SystemExit(f"{committed} transitions committed, expected {expected}")
    return 1000 * cpu_s / committed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=300, help="fan-out width per run")
    parser.add_argument("--runs", type=int, default=5, help="runs (median)")
    parser.add_argument("--profile", action="store_true", help="cProfile one run instead")
    args = parser.parse_args(argv)
    enable_multiprocess(None)  # metrics in files, as in a worker pool
    if args.profile:
        profile = cProfile.Profile()
        cpu_ms_per_transition(args.samples, profile)
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
        return
    runs = [cpu_ms_per_transition(args.samples) for _ in range(args.runs)]
    print(
        f"engine CPU per transition: {statistics.median(runs):.3f} ms (median of {args.runs}; "
        f"runs {', '.join(f'{r:.3f}' for r in runs)}; {2 + len(CHAIN) * args.samples} "
        "transitions each)"
    )


if __name__ == "__main__":
    main()
