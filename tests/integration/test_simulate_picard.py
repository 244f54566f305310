"""Picard, the open reference reader, demultiplexes simulated run folders into their truth.

This is the proof that ``seqoia.illumina.simulate`` writes byte-exact BCL, BCL.gz and CBCL
run folders: Picard's ExtractIlluminaBarcodes + IlluminaBasecallsToFastq (PF only, no
EAMSS) must give every sample its PF read count and the exact bases and qualities of the
truth's sampled clusters. Needs Debian's picard-tools and libcommons-lang-java (CBCL).
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import pytest

from seqoia.illumina.simulate import RunSpec, RunTruth, write_run_folder

PICARD_JAR = Path("/usr/share/java/picard.jar")
COMMONS_LANG_JAR = Path("/usr/share/java/commons-lang.jar")


def _require_picard() -> None:
    missing = [str(p) for p in (PICARD_JAR, COMMONS_LANG_JAR) if not p.exists()]
    if missing or shutil.which("java") is None:
        pytest.fail(
            "Picard is required for this test: apt-get install -y picard-tools "
            f"libcommons-lang-java (missing: {', '.join(missing) or 'java'})"
        )


def _picard(tool: str, *args: str, cwd: Path) -> None:
    cmd = [
        "java",
        "-Xmx1g",
        "-XX:TieredStopAtLevel=1",
        "-XX:+UseSerialGC",
        "-jar",
        str(PICARD_JAR),
        tool,
        *args,
    ]
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{tool} failed:\n" + "\n".join(done.stderr.splitlines()[-20:])


def _demultiplex_with_picard(folder: Path, truth: RunTruth, work: Path) -> Path:
    out, bc = work / "out", work / "barcodes"
    out.mkdir()
    bc.mkdir()
    rows = ["barcode_sequence_1\tbarcode_sequence_2\tbarcode_name\tlibrary_name"]
    params = ["OUTPUT_PREFIX\tBARCODE_1\tBARCODE_2", f"{out}/Undetermined\tN\tN"]
    for s in truth.samples:
        rows.append(f"{s.index}\t{s.index2}\t{s.sample_id}\t{s.sample_id}")
        params.append(f"{out}/{s.sample_id}\t{s.index}\t{s.index2}")
    (work / "barcodes.txt").write_text("\n".join(rows) + "\n")
    (work / "params.txt").write_text("\n".join(params) + "\n")
    spec = truth.spec
    common = [
        f"BASECALLS_DIR={folder / 'Data/Intensities/BaseCalls'}",
        f"READ_STRUCTURE={spec.read_structure}",
        *(f"LANE={lane}" for lane in range(1, spec.lanes + 1)),
        "NUM_PROCESSORS=2",
    ]
    _picard("ExtractIlluminaBarcodes", *common, f"OUTPUT_DIR={bc}",
            f"BARCODE_FILE={work / 'barcodes.txt'}", f"METRICS_FILE={work / 'metrics.txt'}",
            cwd=work)  # fmt: skip
    _picard("IlluminaBasecallsToFastq", *common, f"BARCODES_DIR={bc}",
            f"MULTIPLEX_PARAMS={work / 'params.txt'}", f"RUN_BARCODE={spec.run_number}",
            f"MACHINE_NAME={spec.instrument}", f"FLOWCELL_BARCODE={spec.flowcell}",
            "INCLUDE_NON_PF_READS=false", "APPLY_EAMSS_FILTER=false", "COMPRESS_OUTPUTS=true",
            f"TMP_DIR={work}", cwd=work)  # fmt: skip
    return out


def _read_fastq(path: Path) -> list[tuple[str, str, str]]:
    with gzip.open(path, "rt") as fh:
        lines = fh.read().splitlines()
    return [(lines[i], lines[i + 1], lines[i + 3]) for i in range(0, len(lines), 4)]


@pytest.mark.parametrize(
    "fmt, extra",
    [
        ("cbcl", {"surfaces": 2, "pf_excluded_cycles": (1, 33, 64)}),
        ("bcl.gz", {"lanes": 2}),
        ("bcl", {}),
    ],
)
def test_picard_demultiplexes_a_simulated_run_into_its_truth(
    tmp_path: Path, fmt: str, extra: dict[str, object]
) -> None:
    _require_picard()
    spec = RunSpec(
        format=fmt,  # type: ignore[arg-type]
        read_cycles=(24, 8, 8, 24),
        clusters_per_tile=400,
        samples=6,
        index_error_rate=0.1,
        truth_reads_per_tile=20,
        **extra,  # type: ignore[arg-type]
    )
    folder = tmp_path / spec.run_id
    truth = write_run_folder(folder, spec)
    out = _demultiplex_with_picard(folder, truth, tmp_path)

    counts = {p.name.removesuffix(".1.fastq.gz"): p for p in out.glob("*.1.fastq.gz")}
    by_name: dict[tuple[int, int, int, int], tuple[str, str, str, str, str]] = {}
    for sample, r1_path in counts.items():
        r1 = _read_fastq(r1_path)
        r2 = _read_fastq(out / f"{sample}.2.fastq.gz")
        assert len(r1) == len(r2) == truth.pf_counts()[sample], sample
        for (name, s1, q1), (_, s2, q2) in zip(r1, r2, strict=True):
            lane, tile, x, y = (int(v) for v in name[1:].split()[0].split(":")[3:])
            by_name[(lane, tile, x, y)] = (sample, s1, q1, s2, q2)
    assert set(counts) == set(truth.pf_counts())
    assert len(by_name) == truth.pf_clusters

    pf_reads = [r for r in truth.reads if r.pf]
    assert len(pf_reads) > 30
    for r in truth.reads:
        got = by_name.get((r.lane, r.tile, r.x, r.y))
        if not r.pf:
            assert got is None, "Picard wrote a non-PF cluster"
            continue
        assert got == (
            r.sample_id or "Undetermined",
            r.sequences[0],
            r.qualities[0],
            r.sequences[3],
            r.qualities[3],
        ), (r.lane, r.tile, r.cluster)
