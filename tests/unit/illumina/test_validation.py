"""Run-folder validation and the ``seqoia validate`` command, on folders laid out in tmp."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from seqoia.commands.validate import validate
from seqoia.illumina.validation import ValidationReport, validate_path, validate_run_folder

DATA = Path(__file__).resolve().parents[2] / "data" / "illumina"
NOVASEQ = DATA / "bcl2fastr-novaseq-cbcl"
BAMBI = DATA / "picard-151T8B8B151T-cbcl" / "bambi_metadata"
RUN_ID = "190414_A00111_0296_AHJCWWDSXX"
BASECALLS = "Data/Intensities/BaseCalls"


@pytest.fixture
def cbcl_run(tmp_path: Path) -> Path:
    """The real NovaSeq metadata with the CBCL layout of its data (empty files): 24 cycle
    folders with ``L001_1.cbcl``, one ``.filter`` per tile, and ``CopyComplete.txt``."""
    run = tmp_path / RUN_ID
    lane = run / BASECALLS / "L001"
    lane.mkdir(parents=True)
    for name in ("RunInfo.xml", "SampleSheet.csv"):
        shutil.copy(NOVASEQ / name, run / name)
    for cycle in range(1, 25):
        (lane / f"C{cycle}.1").mkdir()
        (lane / f"C{cycle}.1" / "L001_1.cbcl").write_bytes(b"")
    for tile in (1101, 1102, 1103):
        (lane / f"s_1_{tile}.filter").write_bytes(b"")
    (run / "CopyComplete.txt").write_text("")
    return run


def messages(report: ValidationReport) -> list[str]:
    return [str(issue) for issue in report.errors]


def test_complete_cbcl_run_is_valid_with_a_summary(cbcl_run: Path) -> None:
    report = validate_run_folder(cbcl_run)

    assert report.ok, messages(report)
    assert report.run_id == RUN_ID
    assert report.summary.samples == 93
    assert report.summary.lanes == 1
    assert report.summary.reads == "Y4;I8;I8;Y4"
    assert report.summary.sample_sheet_version == 1
    assert report.summary.data == "cbcl"
    assert [w.file for w in report.warnings] == ["RunParameters.xml"]


def test_runparameters_is_read_when_present(cbcl_run: Path) -> None:
    shutil.copy(BAMBI / "RunParameters.xml", cbcl_run / "RunParameters.xml")

    report = validate_run_folder(cbcl_run)

    assert report.ok and report.warnings == []


def test_missing_cycle_folders_and_filter_files_are_errors(cbcl_run: Path) -> None:
    lane = cbcl_run / BASECALLS / "L001"
    for cycle in (21, 22, 23, 7):
        shutil.rmtree(lane / f"C{cycle}.1")
    (lane / "s_1_1102.filter").unlink()

    report = validate_run_folder(cbcl_run)

    assert not report.ok
    assert messages(report) == [
        f"{BASECALLS}/L001: missing base calls for cycle(s) 7, 21-23 of 24",
        f"{BASECALLS}/L001: tile(s) 1102 have no .filter file",
    ]


def test_file_checks_can_be_turned_off(cbcl_run: Path) -> None:
    shutil.rmtree(cbcl_run / BASECALLS / "L001")

    assert validate_run_folder(cbcl_run, check_files=False).ok
    assert messages(validate_run_folder(cbcl_run)) == [
        f"{BASECALLS}/L001: missing: lane 1 has no base calls"
    ]


def test_sheet_errors_carry_their_line_and_lanes_beyond_runinfo_are_refused(
    cbcl_run: Path,
) -> None:
    sheet = cbcl_run / "SampleSheet.csv"
    lines = sheet.read_text().splitlines()
    lines[4] = lines[4].replace(",1", ",2")  # line 5: lane 2 of a one-lane run
    sheet.write_text("\n".join(lines) + "\n")

    report = validate_run_folder(cbcl_run)

    assert not report.ok
    assert [(e.file, e.line) for e in report.errors] == [("SampleSheet.csv", 5)]
    assert "lane 2, but RunInfo.xml has 1 lane(s)" in report.errors[0].message


def test_bambi_metadata_declaring_no_index_read_refuses_a_dual_indexed_sheet(
    tmp_path: Path,
) -> None:
    # bambi's RunInfo says one 318-cycle template read (ORIGIN.md): a sheet with 8+8
    # indexes cannot be demultiplexed against it, and validation must say so.
    run = tmp_path / "170407_A00103_0049_AH2CLFDMXX"
    shutil.copytree(BAMBI, run)
    (run / "SampleSheet.csv").write_text(
        "[Data]\nSample_ID,Lane,index,index2\nS1,1,CACCTAGT,ACTCGAGT\nS2,1,TTGCGGCC,GGTTTAAC\n"
    )

    report = validate_run_folder(run, check_files=False)

    assert not report.ok
    assert [str(e) for e in report.errors] == [
        "SampleSheet.csv:3: S1: index has 8 bases, but index read 1 has 0 cycles",
        "SampleSheet.csv:3: S1: index2 has 8 bases, but index read 2 has 0 cycles",
        "SampleSheet.csv:4: S2: index has 8 bases, but index read 1 has 0 cycles",
        "SampleSheet.csv:4: S2: index2 has 8 bases, but index read 2 has 0 cycles",
    ]
    assert report.summary.reads == "Y318"


def test_shorter_indexes_are_a_warning_with_the_cycles_that_will_be_read(cbcl_run: Path) -> None:
    sheet = cbcl_run / "SampleSheet.csv"
    sheet.write_text("[Data]\nSample_ID,Lane,index,index2\nS1,1,ACTGCG,GATTGTCC\n")

    report = validate_run_folder(cbcl_run)

    assert report.ok
    assert "S1: index has 6 bases for 8 index cycles; the rest are skipped (Y4;I6N2;I8;Y4)" in [
        w.message for w in report.warnings
    ]


def test_missing_or_malformed_runinfo_is_an_error_with_its_line(tmp_path: Path) -> None:
    run = tmp_path / "RUN"
    run.mkdir()
    assert "RunInfo.xml: missing: the run's reads and layout are unknown" in messages(
        validate_run_folder(run)
    )

    (run / "RunInfo.xml").write_text("<RunInfo>\n<Run Id='RUN'>\n</RunInfo>\n")
    report = validate_run_folder(run)
    assert report.errors[0].file == "RunInfo.xml" and report.errors[0].line == 3
    assert "SampleSheet.csv: missing: no samples to demultiplex" in messages(report)


def test_fastq_delivered_run_needs_r1_and_r2_for_every_sample(tmp_path: Path) -> None:
    run = tmp_path / RUN_ID
    fastqs = run / "Analysis" / "1" / "Data" / "fastq"
    fastqs.mkdir(parents=True)
    shutil.copy(NOVASEQ / "RunInfo.xml", run / "RunInfo.xml")
    (run / "SampleSheet.csv").write_text(
        "[Data]\nSample_ID,Sample_Name,Lane,index,index2\n"
        "S1,,1,ACTGCGAA,GATTGTCC\nS2,lib2,1,TAGTCTCG,AGTGGCAA\nS3,,1,TGAGCTGT,CCAACTTC\n"
    )
    for name in (
        "S1_S1_L001_R1_001.fastq.gz",
        "S1_S1_L001_R2_001.fastq.gz",
        "lib2_S2_L001_R1_001.fastq.gz",  # bcl2fastq names files after Sample_Name
        "lib2_S2_L001_R2_001.fastq.gz",
        "S3_S3_L001_R1_001.fastq.gz",
    ):
        (fastqs / name).write_bytes(b"")

    report = validate_run_folder(run)

    assert report.summary.data == "fastq"
    assert messages(report) == [
        "SampleSheet.csv:5: S3: no S3_*R2_001.fastq.gz in the run folder",
    ]


def test_run_without_base_calls_or_fastqs_is_an_error(cbcl_run: Path) -> None:
    shutil.rmtree(cbcl_run / "Data")

    assert messages(validate_run_folder(cbcl_run)) == [
        f"{BASECALLS}: missing, and the run folder has no *_R1_001.fastq.gz files either"
    ]


def test_per_tile_bcl_run_checks_each_tiles_bcl_in_each_cycle(tmp_path: Path) -> None:
    run = tmp_path / "R25"
    lane = run / BASECALLS / "L001"
    lane.mkdir(parents=True)
    (run / "RunInfo.xml").write_text(
        "<RunInfo><Run Id='R25' Number='1'><Flowcell>abcdeACXX</Flowcell>"
        "<Instrument>machine1</Instrument><Reads>"
        "<Read Number='1' NumCycles='25' IsIndexedRead='N'/>"
        "<Read Number='2' NumCycles='8' IsIndexedRead='Y'/>"
        "<Read Number='3' NumCycles='25' IsIndexedRead='N'/></Reads>"
        "<FlowcellLayout LaneCount='1'><TileSet TileNamingConvention='FourDigit'><Tiles>"
        "<Tile>1_1101</Tile><Tile>1_1201</Tile></Tiles></TileSet></FlowcellLayout>"
        "</Run></RunInfo>"
    )
    (run / "SampleSheet.csv").write_text("[Data]\nSample_ID,index\nS1,ACGTACGT\n")
    for cycle in range(1, 59):
        (lane / f"C{cycle}.1").mkdir()
        (lane / f"C{cycle}.1" / "s_1_1101.bcl").write_bytes(b"")
        if cycle != 40:
            (lane / f"C{cycle}.1" / "s_1_1201.bcl.gz").write_bytes(b"")
    for tile in (1101, 1201):
        (lane / f"s_1_{tile}.filter").write_bytes(b"")

    report = validate_run_folder(run)

    assert report.summary.data == "bcl"
    assert messages(report) == [f"{BASECALLS}/L001: tile(s) 1201 lack .bcl files in some cycles"]


def test_a_sample_sheet_alone_can_be_validated(tmp_path: Path) -> None:
    report = validate_path(NOVASEQ / "SampleSheet.csv")
    assert report.ok and report.summary.samples == 93 and report.summary.reads == ""

    bad = tmp_path / "SampleSheet.csv"
    bad.write_text("[Data]\nSample_ID,index\nS/1,ACGT\n")
    report = validate_path(bad)
    assert not report.ok and report.errors[0].line == 3

    assert messages(validate_path(tmp_path / "nope")) == ["nope: no such file or folder"]


# -- the command ---------------------------------------------------------------------


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("validate")(validate)

    @app.callback()
    def main() -> None:  # a callback keeps "validate" a subcommand, as in seqoia.cli
        pass

    return app


def test_validate_command_exits_zero_and_prints_the_summary_for_a_valid_run(
    cbcl_run: Path,
) -> None:
    result = CliRunner().invoke(_app(), ["validate", str(cbcl_run)])

    assert result.exit_code == 0, result.output
    assert f"{RUN_ID}: valid" in result.output
    assert "Y4;I8;I8;Y4" in result.output
    assert "RunParameters.xml: missing" in result.output


def test_validate_command_exits_one_and_lists_file_line_messages(tmp_path: Path) -> None:
    sheet = tmp_path / "SampleSheet.csv"
    sheet.write_text("[Data]\nSample_ID,index\nS1,ACGTACGT\nS1,ACGTACGT\n[Settings]\n[x]\n")

    result = CliRunner().invoke(_app(), ["validate", str(sheet)])

    assert result.exit_code == 1
    assert "NOT valid" in result.output
    assert (
        "SampleSheet.csv:4: Sample_ID 'S1' appears twice in the run with the same index "
        "(first at line 3)" in result.output
    )


def test_validate_command_json_output_is_the_report(cbcl_run: Path) -> None:
    (cbcl_run / "RunInfo.xml").unlink()

    result = CliRunner().invoke(_app(), ["validate", "--json", str(cbcl_run)])

    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["ok"] is False
    assert report["errors"][0] == {
        "file": "RunInfo.xml",
        "line": None,
        "message": "missing: the run's reads and layout are unknown",
    }
    assert report["summary"]["samples"] == 93


def _fastq_run(tmp_path: Path, samples: dict[str, tuple[str, ...]]) -> Path:
    """A FASTQ run folder as ``seqoia demo`` drops it: no RunInfo.xml, no base calls."""
    run = tmp_path / "261129_A00123_0042_AHDEMOXXXX"
    fastq = run / "Analysis/1/Data/fastq"
    fastq.mkdir(parents=True)
    rows = []
    for number, (sample, reads) in enumerate(samples.items(), start=1):
        for read in reads:
            (fastq / f"{sample}_S{number}_L001_{read}_001.fastq.gz").write_bytes(b"")
        rows.append(f"1,{sample},{('ACGTACGT', 'TGCATGCA', 'CATGCATG')[number]}")
    (run / "SampleSheet.csv").write_text(
        "[Header]\nFileFormatVersion,2\n\n[BCLConvert_Data]\nLane,Sample_ID,Index\n"
        + "\n".join(rows) + "\n"
    )  # fmt: skip
    (run / "CopyComplete.txt").write_text("")
    return run


def test_a_fastq_run_folder_without_runinfo_is_valid_with_a_warning(tmp_path: Path) -> None:
    run = _fastq_run(tmp_path, {"DEMO-001": ("R1", "R2"), "DEMO-002": ("R1", "R2")})

    report = validate_run_folder(run)

    assert report.ok, messages(report)
    assert report.summary.data == "fastq" and report.summary.samples == 2
    assert "RunInfo.xml: missing: a FASTQ run folder; reads come from the FASTQ files" in [
        f"{w.file}: {w.message}" for w in report.warnings
    ]


def test_a_fastq_run_folder_still_needs_each_samples_r2(tmp_path: Path) -> None:
    run = _fastq_run(tmp_path, {"DEMO-001": ("R1", "R2"), "DEMO-002": ("R1",)})

    report = validate_run_folder(run)

    assert not report.ok
    assert any("DEMO-002: no DEMO-002_*R2_001.fastq.gz" in m for m in messages(report))


def test_a_sample_sheet_alone_reports_a_pair_with_two_normals_at_its_line(tmp_path: Path) -> None:
    sheet = tmp_path / "SampleSheet.csv"
    sheet.write_text(
        "[Header]\nFileFormatVersion,2\n\n[BCLConvert_Data]\n"
        "Lane,Sample_ID,Index,Index2,Pair_ID,Role\n"
        "1,T-01,ACGTACGT,TTGGCCAA,P-01,tumour\n"
        "1,N-01,CATGCATG,GGAATTCC,P-01,normal\n"
        "1,N-02,GTCAGTCA,CCTTAAGG,P-01,normal\n"
    )
    report = validate_path(sheet)
    assert not report.ok
    assert [(e.file, e.line) for e in report.errors] == [("SampleSheet.csv", 8)]
    assert "pair P-01 has two normals: N-01 and N-02" in report.errors[0].message
