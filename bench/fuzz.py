"""Fuzz every parser kind declared in ``bench/fuzz_*.py`` and count what happens.

    python bench/fuzz.py [--cases 1500] [--kinds runinfo,cbcl] [--seed 0]
                         [--time-limit-s 10] [--memory-mb 1024] [--workers 2] [--save DIR]

Each module ``bench/fuzz_<area>.py`` exposes ``KINDS: dict[str, FuzzKind]``
(``FuzzKind = (seeds, check, clean)``, see ``bench/fuzzing.py``); new modules are found by
file name. Cases run in worker processes forked from this one, each under an
``RLIMIT_AS`` of its start-up size plus ``--memory-mb`` and watched with a per-case time
limit. Every case ends as one of:

- accepted: ``check`` returned;
- clean: ``check`` raised one of the kind's ``clean`` exceptions;
- crash: any other exception, or the worker died (a signal in native code);
- hang: no answer within the time limit (the worker is killed and replaced);
- blow-up: MemoryError under the address-space limit (the worker is replaced).

Prints counts per kind with the median and slowest case time, and exits 1 unless there
were no crashes, hangs or blow-ups. ``--save DIR`` writes each failing case's bytes as
``<kind>-<index>.bin`` with its outcome beside it; ``case_bytes(kind, index)`` rebuilds any
case from its number.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import multiprocessing
import os
import resource
import statistics
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.fuzzing import FuzzKind, case_bytes  # noqa: E402

FAILURES = ("crash", "hang", "blowup")
OUTCOMES = ("accepted", "clean", *FAILURES)


def discover(folder: Path | None = None) -> dict[str, FuzzKind]:
    """Every kind of every ``fuzz_*.py`` module in ``folder`` (default: bench/)."""
    folder = folder or Path(__file__).resolve().parent
    kinds: dict[str, FuzzKind] = {}
    for path in sorted(folder.glob("fuzz_*.py")):
        module = importlib.import_module(f"{folder.name}.{path.stem}")
        for name, kind in getattr(module, "KINDS", {}).items():
            if name in kinds:
                raise SystemExit(f"fuzz kind {name!r} is declared twice ({path.name})")
            seeds, check, clean = kind  # any 3-tuple of this shape will do
            kinds[name] = FuzzKind(list(seeds), check, tuple(clean))
    return kinds


def _vm_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _serve(conn: Connection, kinds: Mapping[str, FuzzKind], base_seed: int, memory: int) -> None:
    """Worker: run the cases it is sent, under an address-space limit."""
    limit = _vm_bytes() + memory
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    while True:
        message = conn.recv()
        if message is None:
            return
        name, index = message
        kind = kinds[name]
        data = case_bytes(name, kind, index, base_seed)
        started = time.perf_counter()
        try:
            kind.check(data)
            result, detail = "accepted", ""
        except kind.clean:
            result, detail = "clean", ""
        except MemoryError:
            result, detail = "blowup", "MemoryError"
        except BaseException as err:  # noqa: BLE001 - anything else is a crash
            result, detail = "crash", f"{type(err).__name__}: {err}"[:500]
        conn.send((result, detail, time.perf_counter() - started))
        if result == "blowup":
            return  # a fresh worker for the next case


@dataclass
class Tally:
    """Outcomes of one kind."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    seconds: list[float] = field(default_factory=list)
    failures: list[tuple[int, str, str]] = field(default_factory=list)

    @property
    def cases(self) -> int:
        return sum(self.counts.values())

    def add(self, index: int, result: str, detail: str, seconds: float) -> None:
        self.counts[result] += 1
        self.seconds.append(seconds)
        if result in FAILURES:
            self.failures.append((index, result, detail))


class _Worker:
    def __init__(self, kinds: Mapping[str, FuzzKind], base_seed: int, memory: int) -> None:
        ctx = multiprocessing.get_context("fork")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child, kinds, base_seed, memory))
        self.process.start()
        child.close()
        self.case: tuple[str, int] | None = None
        self.started = 0.0

    def send(self, case: tuple[str, int]) -> None:
        self.case, self.started = case, time.monotonic()
        self.conn.send(case)

    def kill(self) -> None:
        self.process.kill()
        self.process.join()
        self.conn.close()

    def stop(self) -> None:
        with contextlib.suppress(OSError):  # the worker may be gone already
            self.conn.send(None)
        self.process.join(5)
        if self.process.is_alive():
            self.kill()


def run_cases(
    kinds: Mapping[str, FuzzKind],
    cases: int,
    *,
    base_seed: int = 0,
    time_limit_s: float = 10.0,
    memory_mb: int = 1024,
    workers: int = 2,
) -> dict[str, Tally]:
    """Run ``cases`` cases of every kind in limited worker processes."""
    memory = memory_mb << 20
    todo = [(name, i) for i in range(cases) for name in kinds]  # kinds interleaved
    todo.reverse()
    tallies = {name: Tally() for name in kinds}
    pool = [_Worker(kinds, base_seed, memory) for _ in range(max(1, workers))]
    for worker in pool:
        if todo:
            worker.send(todo.pop())
    try:
        while any(w.case for w in pool):
            ready = wait([w.conn for w in pool if w.case], timeout=0.05)
            now = time.monotonic()
            for k, worker in enumerate(pool):
                if worker.case is None:
                    continue
                name, index = worker.case
                replace = False
                if worker.conn in ready:
                    try:
                        result, detail, seconds = worker.conn.recv()
                    except (EOFError, OSError):
                        code = worker.process.exitcode
                        result, detail, seconds = "crash", f"worker died ({code})", 0.0
                        replace = True
                    replace = replace or result == "blowup"
                elif now - worker.started > time_limit_s:
                    result, detail, seconds = "hang", f"over {time_limit_s:g} s", time_limit_s
                    replace = True
                else:
                    continue
                tallies[name].add(index, result, detail, seconds)
                worker.case = None
                if replace:
                    worker.kill()
                    worker = pool[k] = _Worker(kinds, base_seed, memory)
                if todo:
                    worker.send(todo.pop())
    finally:
        for worker in pool:
            worker.stop()
    return tallies


def report(tallies: Mapping[str, Tally]) -> str:
    """A table of outcomes per kind, with totals."""
    head = f"{'kind':<16}{'cases':>7}{'accepted':>10}{'clean':>7}{'crash':>7}{'hang':>6}" \
           f"{'blowup':>8}{'median ms':>11}{'max ms':>9}"  # fmt: skip
    lines = [head, "-" * len(head)]
    total: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
    for name, tally in tallies.items():
        c = tally.counts
        for key in OUTCOMES:
            total[key] += c[key]
        median = statistics.median(tally.seconds) * 1e3 if tally.seconds else 0.0
        slowest = max(tally.seconds, default=0.0) * 1e3
        lines.append(
            f"{name:<16}{tally.cases:>7}{c['accepted']:>10}{c['clean']:>7}{c['crash']:>7}"
            f"{c['hang']:>6}{c['blowup']:>8}{median:>11.2f}{slowest:>9.1f}"
        )
    lines.append("-" * len(head))
    lines.append(
        f"{'total':<16}{sum(total.values()):>7}{total['accepted']:>10}{total['clean']:>7}"
        f"{total['crash']:>7}{total['hang']:>6}{total['blowup']:>8}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1500, help="cases per kind")
    parser.add_argument("--kinds", default="", help="comma-separated kinds (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time-limit-s", type=float, default=10.0)
    parser.add_argument("--memory-mb", type=int, default=1024)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--save", type=Path, help="write failing cases here")
    args = parser.parse_args(argv)

    kinds = discover()
    if args.kinds:
        wanted = args.kinds.split(",")
        unknown = sorted(set(wanted) - set(kinds))
        if unknown:
            parser.error(f"unknown kinds {unknown}; known: {sorted(kinds)}")
        kinds = {name: kinds[name] for name in wanted}
    started = time.perf_counter()
    tallies = run_cases(
        kinds,
        args.cases,
        base_seed=args.seed,
        time_limit_s=args.time_limit_s,
        memory_mb=args.memory_mb,
        workers=args.workers,
    )
    print(report(tallies))
    print(f"{time.perf_counter() - started:.1f} s, {args.workers} worker(s), seed {args.seed}, "
          f"time limit {args.time_limit_s:g} s, memory limit +{args.memory_mb} MiB")  # fmt: skip
    failed = 0
    for name, tally in tallies.items():
        for index, result, detail in tally.failures:
            failed += 1
            print(f"{result}: {name} case {index}: {detail}")
            if args.save:
                args.save.mkdir(parents=True, exist_ok=True)
                data = case_bytes(name, kinds[name], index, args.seed)
                (args.save / f"{name}-{index}.bin").write_bytes(data)
                (args.save / f"{name}-{index}.txt").write_text(f"{result}: {detail}\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
