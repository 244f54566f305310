"""Benchmark: ``seqoia demux`` against Picard IlluminaBasecallsToFastq on one simulated run.

Both tools get the same generated run folder, 2 threads, PF reads only, no EAMSS, gzip
output; Picard runs its two steps (ExtractIlluminaBarcodes, then IlluminaBasecallsToFastq
with BARCODES_DIR). Each repetition runs both tools back to back, and medians are
reported: wall time, clusters per second, CPU seconds (user + system of the whole process
tree, from wait4), and peak memory of the process tree, polled from /proc every 20 ms, as
the peak of the *sum* of RSS over the tree (what the machine had to hold; it counts pages
shared by forked workers more than once) and the peak RSS of the largest single process.
A memory check then runs seqoia alone on runs with twice the tiles and twice the tile size.

The equivalent-work check reads every R1 file of both outputs: the PF reads per sample
must agree between the tools and with the simulator's truth, or the benchmark exits 1.
Timings are printed, never asserted. ``python bench/demux.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, fields
from pathlib import Path

from isal import igzip

from seqoia.illumina.simulate import RunSpec, RunTruth, write_run_folder

PICARD_JAR = Path("/usr/share/java/picard.jar")
COMMONS_LANG_JAR = Path("/usr/share/java/commons-lang.jar")  # CBCL needs it on the classpath
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Measure:
    wall_s: float
    cpu_s: float
    tree_rss_mb: float  # peak of the summed RSS of the process tree
    max_proc_rss_mb: float  # peak RSS of the largest single process


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                kids += [int(k) for k in fh.read().split()]
    except OSError:
        pass
    return kids


def _tree_rss(root: int) -> tuple[int, int]:
    total = largest = 0
    todo = [root]
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/statm") as fh:
                rss = int(fh.read().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
        total += rss
        largest = max(largest, rss)
        todo += _children(pid)
    return total, largest


def measure(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> Measure:
    """Run ``cmd`` to completion, polling its process tree's memory; fail on non-zero exit."""
    start = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        peak_total = peak_one = 0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            total, one = _tree_rss(proc.pid)
            peak_total, peak_one = max(peak_total, total), max(peak_one, one)
            time.sleep(0.02)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-25:]
        sys.exit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n" + "\n".join(tail))
    # wait4's ru_maxrss (KiB) covers the child and its reaped descendants, one at a time.
    peak_one = max(peak_one, usage.ru_maxrss * 1024)
    return Measure(wall, usage.ru_utime + usage.ru_stime, peak_total / 2**20, peak_one / 2**20)


# -- the two tools -------------------------------------------------------------------


def seqoia_command(run: Path, out: Path, threads: int, via: str = "cli") -> list[str]:
    cli = importlib.util.find_spec("seqoia.commands.demux") and shutil.which("seqoia")
    if via == "cli" and cli:
        return ["seqoia", "demux", str(run), "--output", str(out), "--threads", str(threads)]
    # Until the CLI command lands: the same library call the command makes.
    code = (
        "import sys; from pathlib import Path; from seqoia.illumina.demux import demultiplex; "
        "demultiplex(Path(sys.argv[1]), Path(sys.argv[2]), threads=int(sys.argv[3]))"
    )
    return [sys.executable, "-c", code, str(run), str(out), str(threads)]


def picard_files(truth: RunTruth, work: Path, out: Path) -> tuple[Path, Path]:
    """Picard's BARCODE_FILE and MULTIPLEX_PARAMS for the run's samples (N row = unmatched)."""
    dual = truth.spec.read_cycles[2] > 0
    barcodes, params = work / "barcodes.txt", work / "multiplex_params.txt"
    rows = ["barcode_sequence_1\tbarcode_sequence_2\tbarcode_name\tlibrary_name"]
    mp = ["OUTPUT_PREFIX\tBARCODE_1" + ("\tBARCODE_2" if dual else "")]
    for s in truth.samples:
        rows.append(f"{s.index}\t{s.index2}\t{s.sample_id}\t{s.sample_id}")
        mp.append(f"{out / s.sample_id}\t{s.index}" + (f"\t{s.index2}" if dual else ""))
    mp.append(f"{out / 'Undetermined'}\tN" + ("\tN" if dual else ""))
    barcodes.write_text("\n".join(rows) + "\n")
    params.write_text("\n".join(mp) + "\n")
    return barcodes, params


def picard_commands(
    truth: RunTruth, run: Path, work: Path, out: Path, threads: int, java_opts: list[str]
) -> list[list[str]]:
    spec = truth.spec
    calls = run / "Data" / "Intensities" / "BaseCalls"
    bc_dir, tmp = work / "picard_barcodes", work / "picard_tmp"
    for d in (bc_dir, tmp, out):
        d.mkdir(parents=True, exist_ok=True)
    barcodes, params = picard_files(truth, work, out)
    java = ["java", f"-Djava.io.tmpdir={tmp}", *java_opts, "-jar", str(PICARD_JAR)]
    lanes = [f"LANE={lane}" for lane in range(1, spec.lanes + 1)]
    common = [f"BASECALLS_DIR={calls}", f"READ_STRUCTURE={spec.read_structure}", *lanes]
    return [
        java + ["ExtractIlluminaBarcodes", *common, f"OUTPUT_DIR={bc_dir}",
                f"BARCODE_FILE={barcodes}", f"METRICS_FILE={work / 'barcode_metrics.txt'}",
                f"NUM_PROCESSORS={threads}"],
        java + ["IlluminaBasecallsToFastq", *common, f"BARCODES_DIR={bc_dir}",
                f"MULTIPLEX_PARAMS={params}", f"RUN_BARCODE={spec.run_number}",
                f"MACHINE_NAME={spec.instrument}", f"FLOWCELL_BARCODE={spec.flowcell}",
                f"NUM_PROCESSORS={threads}", "INCLUDE_NON_PF_READS=false",
                "APPLY_EAMSS_FILTER=false", "COMPRESS_OUTPUTS=true", f"TMP_DIR={tmp}"],
    ]  # fmt: skip


def check_picard() -> None:
    missing = [str(p) for p in (PICARD_JAR, COMMONS_LANG_JAR) if not p.exists()]
    if missing or not shutil.which("java"):
        sys.exit(
            "Picard is needed: apt-get install -y picard-tools libcommons-lang-java "
            f"(missing: {', '.join(missing) or 'java'})"
        )


# -- outputs -------------------------------------------------------------------------

_SEQOIA_R1 = re.compile(r"^(?P<sample>.+)_S\d+(?:_L\d{3})?_R1_001\.fastq\.gz$")


def count_reads(path: Path) -> int:
    lines = 0
    with igzip.open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            lines += chunk.count(b"\n")
    return lines // 4


def seqoia_counts(out: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for p in out.glob("*_R1_001.fastq.gz"):
        m = _SEQOIA_R1.match(p.name)
        if m:
            counts[m["sample"]] = counts.get(m["sample"], 0) + count_reads(p)
    return counts


def picard_counts(out: Path) -> dict[str, int]:
    return {p.name.removesuffix(".1.fastq.gz"): count_reads(p) for p in out.glob("*.1.fastq.gz")}


def _nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in counts.items() if v}


# -- the benchmark -------------------------------------------------------------------


def make_spec(fmt: str, tiles: int, clusters: int, seed: int) -> RunSpec:
    """``tiles`` tiles of one lane: two surfaces for CBCL (two files per cycle)."""
    surfaces = 2 if fmt == "cbcl" and tiles % 2 == 0 else 1
    return RunSpec(
        format=fmt,  # type: ignore[arg-type]
        surfaces=surfaces,
        tiles_per_swath=tiles // surfaces,
        clusters_per_tile=clusters,
        samples=12,
        pf_excluded_cycles=(302, 303, 318) if fmt == "cbcl" else (),
        seed=seed,
    )


def run_seqoia(run: Path, out: Path, threads: int, log: Path, via: str) -> Measure:
    shutil.rmtree(out, ignore_errors=True)
    return measure(seqoia_command(run, out, threads, via), log)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--format", choices=["cbcl", "bcl", "bcl.gz"], default="cbcl")
    ap.add_argument("--quick", action="store_true", help="small run, one repetition")
    ap.add_argument("--repeats", type=int, default=None, help="repetitions (default 3)")
    ap.add_argument("--tiles", type=int, default=None, help="tiles (default 4, quick 2)")
    ap.add_argument("--clusters-per-tile", type=int, default=None, help="default 50k, quick 10k")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--java-opt", action="append", default=[], help="e.g. -Xmx2g (repeatable)")
    ap.add_argument("--workdir", type=Path, default=None, help="default: a temporary folder")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--skip-memory-check", action="store_true")
    ap.add_argument(
        "--seqoia-via",
        choices=["cli", "library"],
        default="cli",
        help="run `seqoia demux` (default) or the same demultiplex() call in a child Python",
    )
    args = ap.parse_args(argv)
    check_picard()
    repeats = args.repeats or (1 if args.quick else 3)
    tiles = args.tiles or (2 if args.quick else 4)
    clusters = args.clusters_per_tile or (10_000 if args.quick else 50_000)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="seqoia-bench-demux-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        return _bench(args, work, repeats, tiles, clusters)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def _bench(args: argparse.Namespace, work: Path, repeats: int, tiles: int, clusters: int) -> int:
    spec = make_spec(args.format, tiles, clusters, seed=1)
    run = work / "runs" / spec.run_id
    t0 = time.perf_counter()
    truth = write_run_folder(run, spec)
    gen_s = time.perf_counter() - t0
    n = truth.clusters
    print(f"run {spec.run_id}: {args.format}, {tiles} tiles x {clusters} clusters = {n} clusters, "
          f"{spec.read_structure}, {len(truth.samples)} samples, {truth.pf_clusters} PF; "
          f"generated in {gen_s:.1f} s", flush=True)  # fmt: skip
    seqoia_runs: list[Measure] = []
    picard_runs: list[Measure] = []
    for rep in range(1, repeats + 1):
        sq_out = work / "seqoia_out"
        seqoia_runs.append(
            run_seqoia(run, sq_out, args.threads, work / "seqoia.log", args.seqoia_via)
        )
        pc_work = work / "picard"
        shutil.rmtree(pc_work, ignore_errors=True)
        steps = [
            measure(cmd, work / f"picard_step{i}.log")
            for i, cmd in enumerate(
                picard_commands(truth, run, pc_work, pc_work / "out", args.threads, args.java_opt)
            )
        ]
        picard_runs.append(
            Measure(
                sum(s.wall_s for s in steps),
                sum(s.cpu_s for s in steps),
                max(s.tree_rss_mb for s in steps),
                max(s.max_proc_rss_mb for s in steps),
            )
        )
        split = f"{steps[0].wall_s:.1f} + {steps[1].wall_s:.1f}"
        print(f"  repetition {rep}: seqoia {seqoia_runs[-1].wall_s:.1f} s, "
              f"picard {picard_runs[-1].wall_s:.1f} s ({split})", flush=True)  # fmt: skip
    expected = _nonzero(truth.pf_counts())
    got_sq = _nonzero(seqoia_counts(work / "seqoia_out"))
    got_pc = _nonzero(picard_counts(work / "picard" / "out"))
    same = got_sq == got_pc == expected

    sq, pc = _median(seqoia_runs), _median(picard_runs)
    print(f"\nmedians of {repeats} repetition(s), {args.threads} threads, {n} clusters")
    print(f"{'tool':<8} {'wall s':>8} {'clusters/s':>12} {'CPU s':>8} "
          f"{'peak tree RSS MB':>17} {'peak process RSS MB':>20}")  # fmt: skip
    for name, m in (("seqoia", sq), ("picard", pc)):
        print(f"{name:<8} {m.wall_s:>8.1f} {n / m.wall_s:>12,.0f} {m.cpu_s:>8.1f} "
              f"{m.tree_rss_mb:>17.0f} {m.max_proc_rss_mb:>20.0f}")  # fmt: skip
    speedup = pc.wall_s / sq.wall_s
    print(f"throughput seqoia/picard: {speedup:.2f}x (wall), {pc.cpu_s / sq.cpu_s:.2f}x (CPU)")
    print(f"peak memory seqoia/picard: {sq.tree_rss_mb / pc.tree_rss_mb:.2f}x (tree RSS)")
    print(f"goal >= 5x throughput: {'met' if speedup >= 5 else 'not met'}; "
          f"goal peak < 1 GB: {'met' if sq.tree_rss_mb < 1024 else 'not met'}")  # fmt: skip

    print("\nPF reads per sample:", "seqoia == picard == truth" if same else "MISMATCH")
    for k in [] if same else sorted(set(expected) | set(got_sq) | set(got_pc)):
        print(f"  {k}: truth {expected.get(k, 0)} seqoia {got_sq.get(k, 0)} "
              f"picard {got_pc.get(k, 0)}")  # fmt: skip

    if not args.skip_memory_check:
        print("\nseqoia memory check (one run each):")
        print(f"{'run':<22} {'clusters':>10} {'wall s':>8} {'peak tree RSS MB':>17} "
              f"{'peak process RSS MB':>20}")  # fmt: skip
        print(f"{'base':<22} {n:>10} {sq.wall_s:>8.1f} {sq.tree_rss_mb:>17.0f} "
              f"{sq.max_proc_rss_mb:>20.0f}")  # fmt: skip
        for label, t, c in (
            ("2x tiles", 2 * tiles, clusters),
            ("2x tile size", tiles, 2 * clusters),
        ):
            big = make_spec(args.format, t, c, seed=2)
            big_run = work / "runs" / f"{label.replace(' ', '_')}" / big.run_id
            big_truth = write_run_folder(big_run, big)
            m = run_seqoia(
                big_run, work / "seqoia_big", args.threads, work / "seqoia_big.log", args.seqoia_via
            )
            print(f"{label:<22} {big_truth.clusters:>10} {m.wall_s:>8.1f} {m.tree_rss_mb:>17.0f} "
                  f"{m.max_proc_rss_mb:>20.0f}")  # fmt: skip
            shutil.rmtree(big_run, ignore_errors=True)

    return 0 if same else 1


def _median(runs: list[Measure]) -> Measure:
    return Measure(*(statistics.median(getattr(r, f.name) for r in runs) for f in fields(Measure)))


if __name__ == "__main__":
    sys.exit(main())
