"""Issue 12, bad input: every parser failure is a permanent InputError naming file and
line, numbers are bounded, and ``seqoia validate`` prints it cleanly (no traceback, no
terminal escape sequence) with the "invalid" exit code."""

from __future__ import annotations

import random
import re
import shutil
import struct
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from seqoia.commands.printable import printable
from seqoia.commands.validate import EXIT_INVALID, validate
from seqoia.errors import (
    FormatError,
    InputError,
    InvalidKeyError,
    RunFolderError,
    SampleSheetError,
)
from seqoia.illumina.barcodes import IndexMatcher
from seqoia.illumina.cbcl import read_cbcl_header
from seqoia.illumina.limits import MAX_LANES, parse_count
from seqoia.illumina.override_cycles import parse_override_cycles
from seqoia.illumina.runinfo import parse_run_info
from seqoia.illumina.samplesheet import parse_sample_sheet, validate_sample_sheet
from seqoia.illumina.validation import validate_run_folder
from seqoia.vocabulary import validate_name

DATA = Path(__file__).resolve().parents[2] / "data" / "illumina"
NOVASEQ = DATA / "bcl2fastr-novaseq-cbcl"
RUNINFO = (NOVASEQ / "RunInfo.xml").read_text()


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("validate")(validate)

    @app.callback()
    def main() -> None:  # keeps "validate" a subcommand, as in seqoia.cli
        pass

    return app


def _run_info_error(text: str) -> RunFolderError:
    with pytest.raises(RunFolderError) as err:
        parse_run_info(text.encode(), run="R1")  # bytes, as read from a file
    assert err.value.permanent and err.value.file == "RunInfo.xml"
    return err.value


# -- 18: numbers Python's int() would take or choke on ----------------------------------


@pytest.mark.parametrize("text", ["²", "٣", "1_000", "+3", "-1", "1e3", "9" * 4301, " "])
def test_parse_count_reads_ascii_digits_only(text: str) -> None:
    assert parse_count(text) is None


@pytest.mark.parametrize("value", ["²", "9" * 4301, "-1", "0"])
def test_sample_sheet_reads_and_lane_numbers_are_clean_errors(value: str) -> None:
    reads = f"[Header]\n[Reads]\n{value}\n[Data]\nSample_ID,Lane,index\nS1,1,ACGT\n"
    lane = f"[Data]\nSample_ID,Lane,index\nS1,{value},ACGT\n"

    found_reads = validate_sample_sheet(reads)
    found_lane = validate_sample_sheet(lane)

    if value != "0":  # zero cycles is a (skipped) read length, not a number error
        assert [(e.line, e.permanent) for e in found_reads] == [(3, True)]
        assert "is not a number of cycles" in found_reads[0].message
        assert len(found_reads[0].message) < 200  # a 4,301-digit value is not echoed whole
    assert [(e.line, e.permanent) for e in found_lane] == [(3, True)]
    assert "is not a lane number (1 to 8)" in found_lane[0].message


@pytest.mark.parametrize(
    "old, new, line, message",
    [
        ('NumCycles="4" Number="1"', 'NumCycles="²" Number="1"', 8, "not a whole number"),
        ('NumCycles="4" Number="1"', f'NumCycles="{"9" * 4301}" Number="1"', 8, "not a whole"),
        ('Number="1" />', 'Number="-1" />', 8, "Read Number is '-1', not a whole number"),
        ('Number="1" />', 'Number="0" />', 8, "Read Number is 0; it must be from 1 to 8"),
        ("<Tile>1_1101</Tile>", "<Tile>1_²</Tile>", 16, "tile '1_²' is not '<lane>_<tile>'"),
        ("<Tile>1_1101</Tile>", "<Tile>²_1101</Tile>", 16, "is not '<lane>_<tile>'"),
        ("<Tile>1_1101</Tile>", "<Tile>1_123456</Tile>", 16, "tile 1 to 99999"),
        ("encoding='utf-8'", "encoding='I0'", 1, "unreadable XML: unknown encoding: I0"),
    ],
)
def test_runinfo_numbers_and_encodings_are_clean_errors_with_their_line(
    old: str, new: str, line: int, message: str
) -> None:
    assert old in RUNINFO
    err = _run_info_error(RUNINFO.replace(old, new))

    assert err.line == line
    assert message in err.message


def _cbcl(
    header_size: int | None = None, bins: list[tuple[int, int]] | None = None, clusters: int = 0
) -> bytes:
    bins = bins if bins is not None else [(0, 0), (1, 7), (2, 11), (3, 22)]
    body = struct.pack("<BBI", 2, 2, len(bins))
    body += b"".join(struct.pack("<II", b, q) for b, q in bins)
    body += struct.pack("<I", 1) + struct.pack("<IIII", 1101, clusters, 0, 0) + b"\x01"
    size = header_size if header_size is not None else 6 + len(body)
    return struct.pack("<HI", 1, size) + body


def test_a_wellformed_cbcl_header_reads(tmp_path: Path) -> None:
    (tmp_path / "L001_1.cbcl").write_bytes(_cbcl())

    header = read_cbcl_header(tmp_path / "L001_1.cbcl")

    assert header.bins == (0, 7, 11, 22) and [t.tile for t in header.tiles] == [1101]


@pytest.mark.parametrize(
    "data, message",
    [
        (_cbcl(header_size=0), "CBCL header size 0 is out of range"),
        (_cbcl(header_size=5), "CBCL header size 5 is out of range"),
        (_cbcl(header_size=0xFFFFFFFF), "out of range"),
        (_cbcl(bins=[(0, 0), (1, 256)]), "quality bin 1 maps to Phred 256 (at most 93)"),
        (_cbcl(bins=[(1, 2)] * 257), "257 quality bins"),
        (_cbcl(clusters=0xFFFFFFFF), "tile 1101 declares 4294967295 clusters"),
    ],
)
def test_cbcl_header_sizes_and_qualities_out_of_range_are_format_errors(
    tmp_path: Path, data: bytes, message: str
) -> None:
    path = tmp_path / "L001_1.cbcl"
    path.write_bytes(data)

    with pytest.raises(FormatError, match=re.escape(message)) as err:
        read_cbcl_header(path, run="R1")
    assert err.value.permanent and err.value.file == str(path)


def test_override_cycles_with_huge_or_foreign_digits_is_a_sample_sheet_error() -> None:
    for text in (f"Y{'9' * 5000};I8", "Y1001;I8", "Y١٥١;I8"):
        with pytest.raises(InputError):
            parse_override_cycles(text)


# -- 19: bounds ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "old, new, message",
    [
        ('LaneCount="1"', 'LaneCount="20000000"', "LaneCount is 20000000; it must be from 1 to 8"),
        ('LaneCount="1"', 'LaneCount="0"', "LaneCount is 0; it must be from 1 to 8"),
        ('NumCycles="4" Number="1"', 'NumCycles="99999999" Number="1"', "99999999 cycles"),
        ('TileCount="3"', 'TileCount="100000"', "TileCount is 100000"),
        ('SwathCount="6"', 'SwathCount="1000"', "SwathCount is 1000"),
    ],
)
def test_runinfo_layout_and_cycles_are_bounded_and_refused_at_once(
    old: str, new: str, message: str
) -> None:
    started = time.perf_counter()
    err = _run_info_error(RUNINFO.replace(old, new))

    assert message in err.message
    assert time.perf_counter() - started < 1.0


def test_runinfo_with_too_many_reads_or_tiles_is_refused() -> None:
    reads = "".join(f'<Read Number="{n}" NumCycles="4" IsIndexedRead="N"/>' for n in range(1, 10))
    start, end = RUNINFO.index("<Reads>") + 7, RUNINFO.index("</Reads>")
    assert (
        "9 <Read> elements; a run has at most 8"
        in _run_info_error(RUNINFO[:start] + reads + RUNINFO[end:]).message
    )
    tiles = "".join(f"<Tile>1_{n}</Tile>" for n in range(1, 1602))
    start, end = RUNINFO.index("<Tiles>") + 7, RUNINFO.index("</Tiles>")
    assert (
        "lane 1 lists more than 1600 tiles"
        in _run_info_error(RUNINFO[:start] + tiles + RUNINFO[end:]).message
    )


def test_the_largest_real_layout_is_accepted() -> None:
    text = RUNINFO.replace('LaneCount="1"', f'LaneCount="{MAX_LANES}"')
    text = text.replace('SurfaceCount="1"', 'SurfaceCount="2"').replace(
        'TileCount="3"', 'TileCount="78"'
    )
    text = text.replace('NumCycles="4" Number="1"', 'NumCycles="301" Number="1"')

    info = parse_run_info(text)

    assert info.lane_count == 8 and info.reads[0].cycles == 301 and info.tile_count == 78


# -- 20: terminal escapes ------------------------------------------------------------


def test_printable_escapes_controls_c1_and_bidi_overrides_only() -> None:
    assert printable("S1 Élodie 王") == "S1 Élodie 王"
    assert printable("\x1b[2J\x9b31m\u202evalid\n") == "\\x1b[2J\\x9b31m\\u202evalid\\x0a"


def test_validate_escapes_what_a_sheet_would_print_to_the_terminal(tmp_path: Path) -> None:
    sheet = tmp_path / "SampleSheet.csv"
    fake = "\x1b[2J\x1b[H\x1b[32mvalid\x1b[0m\x9b2J\u202e"
    sheet.write_text(f"[Data]\nSample_ID,index\n{fake},ACGT\nS2,ACGT\n", encoding="utf-8")

    for args in (["validate", str(sheet)], ["validate", "--json", str(sheet)]):
        result = CliRunner().invoke(_app(), args)

        assert result.exit_code == EXIT_INVALID, result.output
        assert not any(c in result.output for c in "\x1b\x9b\u202e"), repr(result.output)
    assert "\\x1b[2J" in CliRunner().invoke(_app(), ["validate", str(sheet)]).output


# -- 18 (the command): bad input is "invalid", never a traceback ----------------------


@pytest.mark.parametrize(
    "name, old, new",
    [
        ("RunInfo.xml", "encoding='utf-8'", "encoding='I0'"),
        ("RunInfo.xml", 'Number="1" />', 'Number="-1" />'),
        ("RunInfo.xml", 'LaneCount="1"', 'LaneCount="20000000"'),
        ("SampleSheet.csv", "[Data]", "[Reads]\n²\n[Data]"),
    ],
)
def test_validate_reports_bad_run_files_and_exits_invalid_without_a_traceback(
    tmp_path: Path, name: str, old: str, new: str
) -> None:
    run = tmp_path / "190414_A00111_0296_AHJCWWDSXX"
    run.mkdir()
    for file in ("RunInfo.xml", "SampleSheet.csv"):
        shutil.copy(NOVASEQ / file, run / file)
    text = (run / name).read_text()
    assert old in text
    (run / name).write_text(text.replace(old, new))

    result = CliRunner().invoke(_app(), ["validate", str(run)])

    assert result.exit_code == EXIT_INVALID
    assert isinstance(result.exception, SystemExit)  # typer.Exit, not an escaped error
    assert "Traceback" not in result.output
    assert f"{name}:" in result.output


# -- 21: names -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["S01\n", "S01\r\n", "S01\n\n"])
def test_validate_name_refuses_a_trailing_newline(name: str) -> None:
    with pytest.raises(InvalidKeyError):
        validate_name(name, "sample")


# -- 23: 'na' and collapsed errors ----------------------------------------------------


def _rows(n: int, mm2: str, index2: str = "") -> str:
    rows = "\n".join(
        f"S{i},{'ACGT'[i % 4] * 4}{'ACGT'[i // 4 % 4] * 4},{index2},1,{mm2}" for i in range(n)
    )
    return (
        "[Header]\nFileFormatVersion,2\n[BCLConvert_Data]\n"
        f"Sample_ID,Index,Index2,BarcodeMismatchesIndex1,BarcodeMismatchesIndex2\n{rows}\n"
    )


def test_na_mismatches_for_index2_on_single_index_rows_are_accepted() -> None:
    sheet = parse_sample_sheet(_rows(16, "na"))

    assert len(sheet.samples) == 16
    text = "[Settings]\nBarcodeMismatchesIndex2,na\n[Data]\nSample_ID,index\nS1,ACGTACGT\n"
    assert validate_sample_sheet(text) == []


def test_na_mismatches_beside_an_index2_is_refused() -> None:
    found = validate_sample_sheet(_rows(1, "na", index2="TTGGCCAA"))

    assert [(e.line, e.message) for e in found] == [
        (5, "S0: BarcodeMismatchesIndex2 is 'na', but the sample has an index2")
    ]


def test_one_bad_value_on_every_row_is_one_error_naming_the_lines() -> None:
    found = validate_sample_sheet(_rows(16, "x"))

    assert [(e.line, e.message) for e in found] == [
        (
            5,
            "BarcodeMismatchesIndex2 is 'x'; allowed values are 0, 1 and 2 (also on lines 6-20)",
        )
    ]


# -- bounds on what a sheet makes the checks do ----------------------------------------


def test_collisions_are_listed_up_to_a_bound_then_counted() -> None:
    # A sheet whose index column went missing: every pair of its 30 samples collides.
    rows = "\n".join(f"S{i}," for i in range(30))
    found = validate_sample_sheet(f"[Data]\nSample_ID,index\n{rows}\n")

    collisions = [e for e in found if e.message.startswith("index collision")]
    assert len(collisions) == 21  # 20 listed, then the count
    assert found[-1].message == "index collision in the run: 415 more pair(s) not listed"
    assert found[-1].line == 32


def test_a_sheet_with_more_rows_than_eight_full_lanes_is_refused() -> None:
    rows = "\n".join(f"S{i},ACGTACGT" for i in range(3073))

    found = validate_sample_sheet(f"[Data]\nSample_ID,index\n{rows}\n")

    assert [(e.line, e.message) for e in found] == [
        (3075, "[Data] has 3073 rows; a sheet has at most 3072")
    ]


def test_the_largest_sheet_is_checked_for_collisions_in_seconds() -> None:
    # 3,072 dual-indexed samples with no Lane column: 4.7 million pairs (25 s pair by pair).
    rng = random.Random(1)
    rows = "\n".join(
        f"S{i},{''.join(rng.choices('ACGT', k=10))},{''.join(rng.choices('ACGT', k=10))}"
        for i in range(3072)
    )

    started = time.perf_counter()
    found = validate_sample_sheet(f"[Data]\nSample_ID,index,index2\n{rows}\n")

    assert time.perf_counter() - started < 5.0
    assert all(e.message.startswith("index collision in the run: ") for e in found)


@pytest.mark.parametrize("sample_id", ["-S1", "_S1", "S" * 129])
def test_sample_ids_the_pipeline_keys_would_refuse_are_reported_on_their_line(
    sample_id: str,
) -> None:
    found = validate_sample_sheet(f"[Data]\nSample_ID,index\n{sample_id},ACGT\n")

    assert [e.line for e in found] == [3]
    assert "must start with a letter or digit and have at most 128 characters" in (found[0].message)
    with pytest.raises(InvalidKeyError):
        validate_name(sample_id, "Sample_ID")


def test_matcher_refuses_indexes_longer_than_it_compares_before_enumerating_variants() -> None:
    with pytest.raises(SampleSheetError, match="an index of 1000 bases is longer than the 21"):
        IndexMatcher([("A" * 1000,), ("C" * 1000,)], [2])


def test_validate_says_in_one_line_when_the_check_itself_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bug in seqoia (simulated: nothing in the parsers raises this any more) is not a
    # verdict on the run: exit 2 and one line, no traceback.
    def broken(path: Path) -> None:
        raise RuntimeError("unexpected \x1b[2J state")

    monkeypatch.setattr("seqoia.commands.validate.validate_path", broken)
    sheet = tmp_path / "SampleSheet.csv"
    sheet.write_text("[Data]\nSample_ID,index\nS1,ACGT\n")

    result = CliRunner().invoke(_app(), ["validate", str(sheet)])

    assert result.exit_code == 2
    assert "the check failed (RuntimeError: unexpected \\x1b[2J state)" in result.output
    assert "Traceback" not in result.output and "\x1b" not in result.output


def test_oversized_metadata_files_are_refused_without_reading_them_whole(tmp_path: Path) -> None:
    run = tmp_path / "RUN1"
    run.mkdir()
    with (run / "RunInfo.xml").open("wb") as fh:  # sparse: 17 MiB that take no disk
        fh.truncate(17 << 20)
    with (run / "SampleSheet.csv").open("wb") as fh:
        fh.truncate(17 << 20)

    report = validate_run_folder(run, check_files=False)

    assert [(e.file, e.message) for e in report.errors] == [
        ("RunInfo.xml", "17825792 bytes is too large for an instrument's XML file"),
        ("SampleSheet.csv", "16777217 bytes is too large for a sample sheet (at most 16 MiB)"),
    ]
