"""The demultiplexer reproduces, read for read and byte for byte, the FASTQ that
bcl2fastq-like tools and Picard wrote for real run folders (tests/data/illumina/demux)."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from seqoia.commands.demux import demux, parse_tiles
from seqoia.errors import FormatError
from seqoia.illumina.demux import (
    DemuxSample,
    RunLayout,
    demultiplex,
    demultiplex_layout,
    merge_parts,
)
from seqoia.illumina.demux_config import DemuxConfig, ReadPlan

DATA = Path(__file__).parents[2] / "data" / "illumina" / "demux"
BCL2FASTR = DATA / "bcl2fastr-novaseq-cbcl" / "190414_A00111_0296_AHJCWWDSXX"
PICARD_LAYOUT = dict(
    run_id="picard", instrument="machine1", run_number="HiMom", flowcell="abcdeACXX"
)
#: x of each cluster of picard-151T8B8B151T-cbcl, from its ORIGIN.md (s.locs is missing);
#: the non-PF clusters 3, 8 and 25 are never written, so their values are arbitrary.
CBCL_151_X = [1000, 1018, 1036, 1054, 1072, 1090, 1108, 1127, 1145, 1163, 1181, 1199, 1217,
              1235, 1253, 1271, 1289, 1307, 1325, 1344, 1362, 1380, 1398, 1416, 1434, 1452,
              1470, 1488]  # fmt: skip


def gunzip(path: Path) -> bytes:
    return gzip.decompress(Path(path).read_bytes())


def picard_samples(params: Path) -> list[DemuxSample]:
    """Samples of a Picard MULTIPLEX_PARAMS file (the all-N row is the unmatched bucket)."""
    lines = [line.rstrip("\n").split("\t") for line in params.read_text().splitlines()]
    n_barcodes = sum(1 for h in lines[0] if h.startswith("BARCODE_"))
    samples = []
    for row in lines[1:]:
        barcodes = row[:n_barcodes]
        if all(set(b) == {"N"} for b in barcodes):
            continue
        samples.append(
            DemuxSample(row[n_barcodes], barcodes[0], barcodes[1] if n_barcodes > 1 else "")
        )
    return samples


def assert_same_fastqs(expected: dict[str, Path], out: Path) -> int:
    """Every expected file equals ours; every non-empty file of ours is expected."""
    records = 0
    for name, path in sorted(expected.items()):
        want = path.read_bytes() if path.suffix == ".fastq" else gunzip(path)
        ours = out / name
        got = gunzip(ours) if ours.exists() else b""
        assert got == want, f"{name} differs from {path.name}"
        records += want.count(b"\n") // 4
    ours_nonempty = {p.name for p in out.glob("*.fastq.gz") if gunzip(p)}
    assert ours_nonempty <= set(expected), sorted(ours_nonempty - set(expected))
    return records


def run_picard(
    run_dir: Path, out: Path, structure: str, lanes: dict[int, tuple[int, ...]], **config: object
) -> list[DemuxSample]:
    params = config.pop("params", None)
    samples = picard_samples(params) if isinstance(params, Path) else []
    layout = RunLayout(lanes=tuple(lanes), tiles=lanes, **PICARD_LAYOUT)
    cfg = DemuxConfig(read_plan=ReadPlan.parse(structure), picard=True, **config)  # type: ignore[arg-type]
    demultiplex_layout(run_dir, out, layout, samples, cfg, threads=1)
    return samples


@pytest.mark.parametrize(
    ("structure", "folder", "suffixes", "expected_records"),
    [
        ("25T8B25T", "fastq", ("1", "2", "barcode_1"), 540),
        ("25T8B4M21T", "fastq_with_4M", ("1", "2", "barcode_1", "index_1"), 720),
        ("25T8B4M4M17T", "fastq_with_4M4M", ("1", "2", "barcode_1", "index_1", "index_2"), 900),
    ],
)
def test_picard_mode_reproduces_picard_25T8B25T_demultiplexed_fastqs(
    tmp_path: Path, structure: str, folder: str, suffixes: tuple[str, ...], expected_records: int
) -> None:
    ds = DATA / "picard-25T8B25T"
    samples = run_picard(
        ds, tmp_path, structure, {1: (1101, 1201, 2101)}, params=ds / "fastq" / "mp_barcode.params"
    )
    prefixes = [s.index for s in samples] + ["N"]
    expected = {
        f"{p}.{s}.fastq.gz": ds / folder / f"{p}.{s}.fastq" for p in prefixes for s in suffixes
    }
    # 180 clusters, PF or not, with EAMSS-masked tails, in name order, 5 of them unmatched.
    assert assert_same_fastqs(expected, tmp_path) == expected_records
    assert gunzip(tmp_path / "N.1.fastq.gz").count(b"\n") == 4 * 5


def test_picard_mode_without_samples_reproduces_non_barcoded_fastqs(tmp_path: Path) -> None:
    ds = DATA / "picard-25T8B25T"
    run_picard(ds, tmp_path, "25T8B25T", {1: (1101, 1201, 2101)})
    expected = {f"nonBarcoded.{r}.fastq.gz": ds / "fastq" / f"nonBarcoded.{r}.fastq" for r in "12"}
    assert assert_same_fastqs(expected, tmp_path) == 360


@pytest.mark.parametrize("multilane", [False, True])
def test_picard_mode_reproduces_dual_index_non_pf_fastqs_per_lane_and_multilane(
    tmp_path: Path, multilane: bool
) -> None:
    ds = DATA / "picard-25T8B8B25T"
    lanes = {1: (1101,), 2: (1201,)} if multilane else {1: (1101,)}
    samples = run_picard(
        ds, tmp_path, "25T8B8B25T", lanes, params=ds / "fastq" / "barcode_double.params"
    )
    tag = ".multilane" if multilane else ""
    expected = {
        f"{p}.{s}.fastq.gz": ds / "fastq" / f"{p}{tag}.{s}.fastq"
        for p in [s.index + s.index2 for s in samples] + ["NN"]
        for s in ("1", "2", "barcode_1", "barcode_2")
    }
    # Every cluster failed the filter; Picard writes them all with flag Y.
    assert assert_same_fastqs(expected, tmp_path) == (480 if multilane else 240)
    assert b":Y:0:" in gunzip(tmp_path / "AACTTGACGCTCTCTT.1.fastq.gz")


def test_picard_mode_reproduces_cbcl_151T8B8B151T_fastqs_with_pf_only_and_no_eamss(
    tmp_path: Path,
) -> None:
    ds = DATA / "picard-151T8B8B151T-cbcl"
    run_dir = tmp_path / "run"
    (run_dir / "Data" / "Intensities").mkdir(parents=True)
    (run_dir / "Data" / "Intensities" / "BaseCalls").symlink_to(ds / "Data/Intensities/BaseCalls")
    # The dataset lacks s.locs: rebuild it from the coordinates its read names carry.
    xy = np.zeros((28, 2), dtype="<f4")
    xy[:, 0] = (np.asarray(CBCL_151_X, dtype=np.float32) - 1000) / 10
    header = np.array([1], "<u4").tobytes() + np.array([1.0], "<f4").tobytes()
    (run_dir / "Data" / "Intensities" / "s.locs").write_bytes(
        header + np.array([28], "<u4").tobytes() + xy.tobytes()
    )
    out = tmp_path / "out"
    samples = run_picard(
        run_dir, out, "151T8B8B151T", {1: ()}, params=ds / "fastq" / "barcode_double.params"
    )
    expected = {
        f"{p}.{s}.fastq.gz": ds / "fastq" / f"{p}.{s}.fastq"
        for p in [s.index + s.index2 for s in samples] + ["NN"]
        for s in ("1", "2", "barcode_1", "barcode_2")
    }
    assert assert_same_fastqs(expected, out) == 200  # 2 tiles x 25 PF clusters x 4 reads


def bcl2fastr_expected() -> dict[str, Path]:
    """Expected files under our names (bcl2fastr's lack the ``_S<n>`` part)."""
    lines = (BCL2FASTR / "SampleSheet.csv").read_text().splitlines()[2:]
    numbers = {line.split(",")[0]: n for n, line in enumerate(lines, start=1)}
    expected = {}
    for path in (BCL2FASTR / "fastqs").glob("*.fastq.gz"):
        sample, rest = path.name.split("_", 1)
        expected[f"{sample}_S{numbers[sample]}_{rest}"] = path
    return expected


def test_demultiplex_reproduces_bcl2fastr_novaseq_fastqs_from_runinfo_and_sample_sheet(
    tmp_path: Path,
) -> None:
    cfg = DemuxConfig(write_sample_sheet_index=True, flowcell="AHJCWWDSXX", write_undetermined=True)
    result = demultiplex(BCL2FASTR, tmp_path, cfg, threads=1)
    for p in tmp_path.glob("Undetermined_*"):
        p.unlink()  # bcl2fastr wrote no Undetermined file; its reads are checked below
    assert assert_same_fastqs(bcl2fastr_expected(), tmp_path) == 444  # 222 pairs, PF only
    stats = result.stats
    assert (stats.clusters, stats.pf_clusters) == (300, 245)
    assert stats.reads("Undetermined") == 23
    # bcl2fastr's barcode report: 6 reads, 4 with an exact index, 2 with one mismatch.
    assert stats.counts[(1, "8034210937")][:3] == [6, 4, 2]
    report = (tmp_path / "Reports" / "Demultiplex_Stats.csv").read_text().splitlines()
    assert report[0].startswith("Lane,SampleID,Index,# Reads,# Perfect Index Reads")
    assert any(line.startswith("1,8034210937,") and ",6,4,2,0," in line for line in report)
    assert (tmp_path / "Reports" / "Top_Unknown_Barcodes.csv").read_text().count("\n") > 1


def test_parallel_and_split_runs_give_the_same_bytes_as_one_run(tmp_path: Path) -> None:
    cfg = DemuxConfig(write_sample_sheet_index=True, flowcell="AHJCWWDSXX")
    single = demultiplex(BCL2FASTR, tmp_path / "one", cfg, threads=1)
    demultiplex(BCL2FASTR, tmp_path / "pool", cfg, threads=2)
    parts = []
    for k in range(2):
        part_cfg = cfg.model_copy(update={"part": (k, 2)})
        demultiplex(BCL2FASTR, tmp_path / f"part{k}", part_cfg, threads=1)
        parts.append(tmp_path / f"part{k}")
    merged = merge_parts(parts, tmp_path / "merged")
    for f in single.fastqs:
        assert (tmp_path / "pool" / f.name).read_bytes() == f.read_bytes()
        assert (tmp_path / "merged" / f.name).read_bytes() == f.read_bytes()
    assert merged.stats.counts == single.stats.counts


def test_demux_command_writes_fastqs_and_reports(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command("demux")(demux)
    app.command("other")(lambda: None)  # two commands, so "demux" is a subcommand
    result = CliRunner().invoke(
        app,
        [
            "demux",
            str(BCL2FASTR),
            "--output",
            str(tmp_path),
            "--threads",
            "1",
            "--no-lane-splitting",
            "--tiles",
            "1101-1102",
        ],  # fmt: skip
    )
    assert result.exit_code == 0, result.output
    assert "of 200 clusters" in result.output
    assert (tmp_path / "8034210937_S21_R1_001.fastq.gz").exists()
    header = gunzip(tmp_path / "8034210937_S21_R1_001.fastq.gz").split(b"\n")[0]
    assert header.startswith(b"@A00111:296:HJCWWDSXX:1:110")
    assert (tmp_path / "Reports" / "Demultiplex_Stats.csv").exists()


def test_parse_tiles_expands_ranges() -> None:
    assert parse_tiles("1101-1103,1201") == (1101, 1102, 1103, 1201)


def test_missing_cycle_file_is_a_format_error_naming_it(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(DATA / "picard-25T8B8B25T" / "Data", run_dir / "Data")
    missing = run_dir / "Data/Intensities/BaseCalls/L001/C30.1/s_1_1101.bcl"
    missing.unlink()
    layout = RunLayout(lanes=(1,), tiles={1: (1101,)}, **PICARD_LAYOUT)
    cfg = DemuxConfig(read_plan=ReadPlan.parse("25T8B8B25T"), picard=True)
    with pytest.raises(FormatError) as info:
        demultiplex_layout(run_dir, tmp_path / "out", layout, [], cfg)
    assert info.value.file == str(missing)


def test_cluster_count_mismatch_between_files_is_a_format_error(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(DATA / "picard-25T8B8B25T" / "Data", run_dir / "Data")
    bcl = run_dir / "Data/Intensities/BaseCalls/L001/C5.1/s_1_1101.bcl"
    data = bcl.read_bytes()
    bcl.write_bytes((59).to_bytes(4, "little") + data[4:-1])
    layout = RunLayout(lanes=(1,), tiles={1: (1101,)}, **PICARD_LAYOUT)
    cfg = DemuxConfig(read_plan=ReadPlan.parse("25T8B8B25T"), picard=True)
    with pytest.raises(FormatError, match="59 clusters") as info:
        demultiplex_layout(run_dir, tmp_path / "out", layout, [], cfg)
    assert info.value.file == str(bcl)
