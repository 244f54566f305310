"""Sample sheets v1 and v2: what is accepted, and every error with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqoia.errors import SampleSheetError
from seqoia.illumina.models import ReadInfo, RunInfo
from seqoia.illumina.runinfo import read_run_info
from seqoia.illumina.samplesheet import (
    load_sample_sheet,
    parse_sample_sheet,
    read_sample_sheet,
    validate_sample_sheet,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "illumina"
NOVASEQ = DATA / "bcl2fastr-novaseq-cbcl"


def run_info(*reads: str, lanes: int = 2) -> RunInfo:
    return RunInfo(
        run_id="R1",
        flowcell="FC",
        instrument="I",
        lane_count=lanes,
        reads=tuple(
            ReadInfo(number=n, cycles=int(r[1:]), is_index=r[0] == "I")
            for n, r in enumerate(reads, start=1)
        ),
    )


RUN_8_8 = run_info("Y151", "I8", "I8", "Y151")


def sheet_v1(*data: str, settings: str = "") -> str:
    """A v1 sheet whose ``[Data]`` header is on line 8 and first sample on line 9; the
    ``[Settings]`` section, when given, comes after the samples."""
    text = (
        "[Header]\nIEMFileVersion,4\n\n[Reads]\n151\n151\n"
        "[Data]\nSample_ID,Sample_Name,Sample_Project,Lane,index,index2\n" + "\n".join(data)
    )
    return text + (f"\n[Settings]{settings}\n" if settings else "\n")


def sheet_v2(*data: str, settings: str = "", reads: str = "") -> str:
    """A v2 sheet: settings start on line 4, the data header is on line 6 + settings rows."""
    return (
        f"[Header]\nFileFormatVersion,2\n[BCLConvert_Settings]\n{settings}"
        f"[BCLConvert_Data]\nLane,Sample_ID,Index,Index2\n" + "\n".join(data) + f"\n{reads}"
    )


def errors_of(text: str, run: RunInfo | None = None) -> list[tuple[int | None, str]]:
    return [(e.line, e.message) for e in validate_sample_sheet(text, run_info=run)]


# -- accepted ------------------------------------------------------------------------


def test_real_bcl2fastr_sheet_is_valid_against_its_runinfo() -> None:
    info = read_run_info(NOVASEQ / "RunInfo.xml")

    sheet = read_sample_sheet(NOVASEQ / "SampleSheet.csv", run_info=info)

    assert sheet.version == 1
    assert len(sheet.samples) == 93
    first, last = sheet.samples[0], sheet.samples[-1]
    assert (first.sample_id, first.project, first.lane, first.line) == (
        "8034211010",
        "project_1",
        1,
        3,
    )
    assert (first.index, first.index2) == ("ACTGCGAA", "GATTGTCC")
    assert (last.sample_id, last.line) == ("Neg", 95)
    assert sheet.barcode_mismatches_index1 == 1


def test_real_sheet_collides_when_two_mismatches_are_allowed() -> None:
    text = (NOVASEQ / "SampleSheet.csv").read_text()
    text = text.replace(
        "[Data]", "[Settings]\nBarcodeMismatchesIndex1,2\nBarcodeMismatchesIndex2,2\n[Data]"
    )

    found = validate_sample_sheet(text)

    assert found, "8-base indexes 4 apart collide with 2 mismatches allowed"
    assert all("index collision in lane 1" in e.message for e in found)
    assert "BarcodeMismatchesIndex1 to 1" in found[0].message


def test_bom_crlf_trailing_commas_blank_lines_and_quotes_are_accepted() -> None:
    text = (
        '\ufeff[Header],,,,,\r\nIEMFileVersion,4,,,,\r\nExperiment Name,"Run, 42",,,,\r\n,,,,,\r\n'
        "[Reads],,,,,\r\n101,,,,,\r\n101,,,,,\r\n\r\n[Settings],,,,,\r\n"
        "Adapter,CTGTCTCTTATACACATCT,,,,\r\nAdapterRead2,ctgtctcttatacacatct,,,,\r\n"
        "[Data],,,,,\r\nSample_ID,Sample_Name,Sample_Project,index,index2,Description\r\n"
        'S1,,P,acgtacgt,TTGGCCAA,"first, with comma"\r\n,,,,,\r\n'
        "S2,,P,CCAATTGG,GGTTAACC,\r\n"
    ).encode("utf-8")

    sheet = parse_sample_sheet(text, run_info=run_info("Y101", "I8", "I8", "Y101", lanes=1))

    assert sheet.header["Experiment Name"] == "Run, 42"
    assert sheet.reads == {"Read1Cycles": 101, "Read2Cycles": 101}
    assert sheet.adapter_read1 == "CTGTCTCTTATACACATCT"
    assert sheet.adapter_read2 == "CTGTCTCTTATACACATCT"
    assert [(s.sample_id, s.index, s.line) for s in sheet.samples] == [
        ("S1", "ACGTACGT", 14),
        ("S2", "CCAATTGG", 16),
    ]
    assert sheet.samples[0].extra == {"Description": "first, with comma"}
    assert sheet.samples[0].sample_name is None


def test_cp1252_sheet_is_refused_with_its_line_and_byte_offset() -> None:
    # Guessing cp1252 would turn valid UTF-8 names elsewhere in the sheet into mojibake.
    text = sheet_v1("S1,Élodie-lib,P,1,ACGTACGT,TTGGCCAA").encode("cp1252")

    found = errors_of(text)  # type: ignore[arg-type]

    offset = text.index(b"\xc9")
    assert found == [
        (
            9,
            f"not UTF-8: byte 0xC9 at byte offset {offset} (byte 4 of the line) cannot be "
            "decoded; save the sheet as UTF-8 (Excel: 'CSV UTF-8')",
        )
    ]
    with pytest.raises(SampleSheetError) as err:
        parse_sample_sheet(text)
    assert err.value.line == 9 and err.value.permanent


def test_utf8_names_and_a_byte_order_mark_are_read() -> None:
    text = "\ufeff" + sheet_v1("S1,Élodie-lib,P,1,ACGTACGT,TTGGCCAA")

    sheet = parse_sample_sheet(text.encode("utf-8"))

    assert sheet.samples[0].sample_name == "Élodie-lib"


def test_realistic_v2_sheet_with_umis_override_cycles_families_and_app_sections() -> None:
    sheet = read_sample_sheet(DATA / "samplesheets" / "v2_umi_family.csv")

    assert sheet.version == 2
    assert sheet.header["InstrumentType"] == "NovaSeqXPlus"
    assert sheet.reads == {
        "Read1Cycles": 151,
        "Read2Cycles": 151,
        "Index1Cycles": 10,
        "Index2Cycles": 10,
    }
    assert sheet.override_cycles == "U8Y143;I8N2;I8N2;U8Y143"
    assert (sheet.barcode_mismatches_index1, sheet.barcode_mismatches_index2) == (1, 1)
    assert not sheet.create_fastq_for_index_reads and not sheet.no_lane_splitting
    assert sheet.settings["TrimUMI"] == "1"
    by_id = {(s.sample_id, s.lane): s for s in sheet.samples}
    assert len(sheet.samples) == 9  # Cloud_Data / DragenGermline_Data rows are not samples
    proband = by_id["SQ24-0001", 1]
    assert (proband.centre, proband.family, proband.role, proband.sex, proband.line) == (
        "APHP",
        "FAM001",
        "proband",
        "male",
        30,
    )
    assert by_id["SQ24-0004", 2].role == "tumour"  # written "tumor"
    assert by_id["SQ24-0006", 2].sex == "unknown"
    assert by_id["SQ24-0007", 2].override_cycles == "Y151;I10;I10;Y151"
    assert len(by_id["SQ24-0007", 2].index) == 10
    assert {lane for sid, lane in by_id if sid == "SQ24-0008"} == {1, 2}


def test_realistic_v2_sheet_is_valid_against_a_matching_runinfo() -> None:
    text = (DATA / "samplesheets" / "v2_umi_family.csv").read_bytes()

    assert validate_sample_sheet(text, run_info=run_info("Y151", "I10", "I10", "Y151")) == []
    found = errors_of(text.decode(), run_info("Y151", "I8", "I8", "Y151"))
    assert found and all("OverrideCycles" in m for _, m in found)
    assert (21, "OverrideCycles read 2 (I8N2) has 10 cycles, but RunInfo.xml read 2 has 8") in found


def test_same_sample_in_several_lanes_and_shorter_index_than_the_read_are_fine() -> None:
    text = sheet_v1(
        "S1,,P,1,ACGTAC,TTGGCC",
        "S1,,P,2,ACGTAC,TTGGCC",
        "S2,,P,1,CCAATT,GGTTAA",
    )
    assert errors_of(text, RUN_8_8) == []


def test_column_names_are_case_insensitive_and_roles_and_sexes_normalised() -> None:
    text = (
        "[Data]\nsample_id,SAMPLE_PROJECT,INDEX,Index2,center,Family_ID,Relationship,Gender\n"
        "S1,P,ACGTACGT,,CHU_Lille,F1,Mother,f\nS2,P,TTGGCCAA,,CHU_Lille,F1,index,1\n"
    )
    s1, s2 = parse_sample_sheet(text).samples

    assert (s1.project, s1.centre, s1.family, s1.role, s1.sex) == (
        "P",
        "CHU_Lille",
        "F1",
        "mother",
        "female",
    )
    assert (s2.role, s2.sex) == ("proband", "male")


# -- errors, each with its line ------------------------------------------------------


def test_missing_data_section_is_reported_at_the_end_of_the_file() -> None:
    assert errors_of("[Header]\nIEMFileVersion,4\n[Reads]\n151\n") == [
        (4, "no [Data] section: the sheet lists no samples")
    ]
    v2 = "[Header]\nFileFormatVersion,2\n[BCLConvert_Settings]\nBarcodeMismatchesIndex1,1\n"
    assert errors_of(v2) == [(4, "no [BCLConvert_Data] section: the sheet lists no samples")]


def test_missing_sample_id_column_is_reported_on_the_header_line() -> None:
    found = errors_of("[Header]\n\n[Data]\nSample_Name,index\nA,ACGT\n")

    assert found == [
        (
            4,
            "[Data] has no Sample_ID column (columns: Sample_Name, index); every sample needs "
            "a Sample_ID (it names the FASTQ files): add a Sample_ID column, or rename "
            "Sample_Name to Sample_ID if those names are the laboratory's sample ids",
        )
    ]
    assert errors_of("[Data]\nName,index\nA,ACGT\n") == [
        (2, "[Data] has no Sample_ID column (columns: Name, index)")
    ]
    with pytest.raises(SampleSheetError) as err:
        parse_sample_sheet("[Header]\n\n[Data]\nSample_Name,index\nA,ACGT\n", run="R1")
    assert str(err.value).startswith("run R1, SampleSheet.csv:4:")


def test_empty_and_unsafe_sample_ids_are_reported_on_their_lines() -> None:
    found = errors_of(
        sheet_v1(
            "S1,,P,1,ACGTACGT,TTGGCCAA",
            ",name,P,1,CCAATTGG,GGTTAACC",
            "S 3/x,,P,1,GGGGAAAA,CCCCTTTT",
        )
    )

    assert found[0] == (10, "empty Sample_ID")
    assert found[1][0] == 11
    assert "column Sample_ID has characters other than letters, digits" in found[1][1]
    assert "S 3/x" not in found[1][1]  # the value may be a patient's name (issue 12)
    assert "' ' '/'" in found[1][1]
    assert len(found) == 2


def test_duplicate_sample_in_one_lane_names_the_first_line() -> None:
    found = errors_of(
        sheet_v1(
            "S1,,P,1,ACGTACGT,TTGGCCAA", "S2,,P,1,CCAATTGG,GGTTAACC", "S1,,P,1,ACGTACGT,TTGGCCAA"
        )
    )

    assert found == [
        (11, "Sample_ID 'S1' appears twice in lane 1 with the same index (first at line 9)")
    ]


def test_duplicate_without_lane_column_is_reported_for_the_run() -> None:
    text = "[Data]\nSample_ID,index\nS1,ACGTACGT\nS1,ACGTACGT\n"

    assert errors_of(text) == [
        (4, "Sample_ID 'S1' appears twice in the run with the same index (first at line 3)")
    ]


def test_one_sample_on_several_rows_with_different_indexes_is_one_sample() -> None:
    # A 10x Genomics single-index set: four oligos, one sample (bcl2fastq merges them).
    oligos = ["GTAATCTT", "TCCGGAAG", "AGGCCTGA", "CATTAGCC"]
    rows = [f"1,S1,{o}," for o in oligos] + ["1,S2,CAGTACTG,", "2,S1,GTAATCTT,"]
    text = sheet_v2(*rows)

    sheet = parse_sample_sheet(text, run_info=run_info("Y28", "I8", "Y91"))

    assert [(s.sample_id, s.lane, s.index) for s in sheet.samples[:4]] == [
        ("S1", 1, o) for o in oligos
    ]
    assert validate_sample_sheet(text) == []


def test_index_bases_other_than_acgtn_are_refused() -> None:
    found = errors_of(sheet_v1("S1,,P,1,ACGTACGU,TTGGCCAA", "S2,,P,1,CCAATTGG,GG-TAACC"))

    assert (9, "S1: index 'ACGTACGU' has bases other than ACGTN") in found
    assert (10, "S2: index2 'GG-TAACC' has bases other than ACGTN") in found


def test_indexes_of_different_lengths_in_one_lane_are_refused() -> None:
    found = errors_of(
        sheet_v1("S1,,P,1,ACGTACGT,TTGGCCAA", "S2,,P,2,CCAATT,GGTTAACC", "S3,,P,1,CCAATT,GGTTAACC")
    )

    assert found == [
        (
            11,
            "S3: index has 6 bases, but S1 (line 9) in lane 1 has 8; "
            "indexes of one lane must have one length",
        )
    ]


def test_missing_index2_beside_dual_indexed_samples_is_a_length_difference() -> None:
    found = errors_of(sheet_v1("S1,,P,1,ACGTACGT,TTGGCCAA", "S2,,P,1,CCAATTGG,"))

    assert [line for line, _ in found] == [10]
    assert "index2 has 0 bases" in found[0][1]


def test_index_longer_than_the_index_read_is_refused_against_runinfo() -> None:
    found = errors_of(sheet_v1("S1,,P,1,ACGTACGTAC,TTGGCCAA"), RUN_8_8)

    assert found == [(9, "S1: index has 10 bases, but index read 1 has 8 cycles")]


def test_index2_without_a_second_index_read_is_refused() -> None:
    found = errors_of(sheet_v1("S1,,P,1,ACGTACGT,TTGGCCAA"), run_info("Y151", "I8", "Y151"))

    assert found == [(9, "S1: index2 has 8 bases, but index read 2 has 0 cycles")]


def test_index_longer_than_v2_reads_section_is_refused_without_runinfo() -> None:
    text = sheet_v2(
        "1,S1,ACGTACGTAC,TTGGCCAA",
        reads="[Reads]\nRead1Cycles,151\nIndex1Cycles,8\nIndex2Cycles,8\n",
    )

    assert errors_of(text) == [(6, "S1: index has 10 bases, but index read 1 has 8 cycles")]


def test_index_shorter_than_override_cycles_index_is_refused() -> None:
    text = sheet_v2("1,S1,ACGTAC,TTGGCCAA", settings="OverrideCycles,Y151;I8;I8;Y151\n")

    assert errors_of(text, RUN_8_8) == [
        (7, "S1: index has 6 bases, but OverrideCycles 'Y151;I8;I8;Y151' reads 8 index-1 cycles")
    ]


def test_index_collision_within_the_mismatch_tolerance_names_both_samples() -> None:
    # i7 2 apart and i5 2 apart: with 1 mismatch each, one read can be 1 away from both.
    found = errors_of(
        sheet_v1(
            "S1,,P,1,ACGTACGT,TTGGCCAA", "S2,,P,1,CCAATTGG,GGTTAACC", "S3,,P,1,ACGTACCA,TTGGCCTT"
        )
    )

    assert len(found) == 1
    line, message = found[0]
    assert line == 11
    assert message.startswith(
        "index collision in lane 1: S1 (line 9, ACGTACGT+TTGGCCAA) and "
        "S3 (line 11, ACGTACCA+TTGGCCTT)"
    )
    assert "lower BarcodeMismatchesIndex1 to 0 or BarcodeMismatchesIndex2 to 0" in message


def test_no_collision_when_mismatches_are_lowered_or_one_index_is_far_enough() -> None:
    close = ("S1,,P,1,ACGTACGT,TTGGCCAA", "S3,,P,1,ACGTACCA,TTGGCCTT")
    zero = "\nBarcodeMismatchesIndex1,0\nBarcodeMismatchesIndex2,0"
    assert errors_of(sheet_v1(*close, settings=zero)) == []
    only_i7_close = ("S1,,P,1,ACGTACGT,TTGGCCAA", "S3,,P,1,ACGTACCA,GGTTAACC")
    assert errors_of(sheet_v1(*only_i7_close)) == []
    # Different lanes never collide.
    assert errors_of(sheet_v1("S1,,P,1,ACGTACGT,TTGGCCAA", "S3,,P,2,ACGTACCA,TTGGCCTT")) == []


def test_identical_index_pairs_and_unindexed_samples_sharing_a_lane_collide() -> None:
    found = errors_of(sheet_v1("S1,,P,1,ACGTACGT,TTGGCCAA", "S2,,P,1,ACGTACGT,TTGGCCAA"))
    assert found[0][0] == 10 and "have the same index; no mismatch setting" in found[0][1]

    unindexed = errors_of("[Data]\nSample_ID,Lane\nS1,1\nS2,1\n")
    assert unindexed == [
        (
            4,
            "index collision in lane 1: S1 (line 3, no index) and S2 (line 4, no index) have "
            "the same index; no mismatch setting can tell them apart",
        )
    ]


def test_per_sample_mismatch_columns_count_for_collisions() -> None:
    text = sheet_v2("1,S1,ACGTACGT,TTGGCCAA,0,0", "1,S2,ACGTACCA,TTGGCCTT,0,0").replace(
        "Lane,Sample_ID,Index,Index2",
        "Lane,Sample_ID,Index,Index2,BarcodeMismatchesIndex1,BarcodeMismatchesIndex2",
    )
    assert errors_of(text) == []
    assert (
        len(
            errors_of(
                text.replace(",0,0\n1,S2", ",1,1\n1,S2").replace("TTGGCCTT,0,0", "TTGGCCTT,1,1")
            )
        )
        == 1
    )


def test_barcode_mismatches_outside_zero_to_two_are_refused_on_their_line() -> None:
    text = sheet_v2(
        "1,S1,ACGTACGT,TTGGCCAA",
        settings="BarcodeMismatchesIndex1,3\nBarcodeMismatchesIndex2,one\n",
    )

    assert errors_of(text) == [
        (4, "BarcodeMismatchesIndex1 is '3'; allowed values are 0, 1 and 2"),
        (5, "BarcodeMismatchesIndex2 is 'one'; allowed values are 0, 1 and 2"),
    ]


def test_malformed_override_cycles_are_reported_where_they_are_written() -> None:
    text = sheet_v2(
        "1,S1,ACGTACGT,TTGGCCAA,Y151;I8;Q8;Y151", settings="OverrideCycles,Y151;I8;;Y151\n"
    ).replace("Index2\n", "Index2,OverrideCycles\n")

    found = errors_of(text)

    assert [line for line, _ in found] == [4, 7]
    assert "empty read" in found[0][1]
    assert "read 3: unexpected 'Q8'" in found[1][1]


def test_override_cycles_that_disagree_with_runinfo_are_refused() -> None:
    text = sheet_v2("1,S1,ACGTACGT,TTGGCCAA", settings="OverrideCycles,Y151;I8;I8\n")

    assert errors_of(text, RUN_8_8) == [
        (4, "OverrideCycles 'Y151;I8;I8' has 3 reads, but RunInfo.xml has 4 (Y151;I8;I8;Y151)")
    ]


def test_lane_beyond_runinfo_and_bad_lane_values_are_refused() -> None:
    found = errors_of(sheet_v1("S1,,P,3,ACGTACGT,TTGGCCAA", "S2,,P,x,CCAATTGG,GGTTAACC"), RUN_8_8)

    assert found == [
        (9, "S1: lane 3, but RunInfo.xml has 2 lane(s)"),
        (10, "S2: Lane 'x' is not a lane number (1 to 8)"),
    ]


def test_unknown_role_and_sex_are_refused() -> None:
    text = "[Data]\nSample_ID,index,Role,Sex\nS1,ACGTACGT,cousin,M\nS2,CCAATTGG,father,X\n"

    assert [line for line, _ in errors_of(text)] == [3, 4]
    assert "unknown Role 'cousin'" in errors_of(text)[0][1]
    assert "unknown Sex 'X'" in errors_of(text)[1][1]


def test_more_values_than_columns_and_bad_settings_are_refused() -> None:
    text = sheet_v1(
        "S1,,P,1,ACGTACGT,TTGGCCAA,extra",
        settings="\nAdapter,CTGTCTCTTATACACATCX\nCreateFastqForIndexReads,maybe",
    )

    assert errors_of(text) == [
        (9, "7 values for 6 columns"),
        (11, "adapter 'CTGTCTCTTATACACATCX' has characters other than ACGTN"),
        (12, "'maybe' is not a yes/no value (use 1/0 or true/false)"),
    ]


def test_validate_returns_every_error_in_line_order_and_parse_raises_the_first() -> None:
    text = sheet_v1(
        "S1,,P,1,ACGTACGT,TTGGCCAA",
        "S 2,,P,1,CCAATTGG,GGTTAACC",
        "S1,,P,1,ACGTACGT,TTGGCCAA",
        "S4,,P,1,ACGTACCA,TTGGCCTT",
        settings="\nBarcodeMismatchesIndex1,5",
    )

    found = validate_sample_sheet(text, file="SS.csv", run="R9")

    assert [e.line for e in found] == sorted(e.line or 0 for e in found)
    assert [e.line for e in found] == [10, 11, 12, 14]
    assert all(
        isinstance(e, SampleSheetError) and e.file == "SS.csv" and e.run == "R9" for e in found
    )
    with pytest.raises(SampleSheetError) as err:
        parse_sample_sheet(text, file="SS.csv", run="R9")
    assert err.value.line == 10
    sheet, errors = load_sample_sheet(text)
    assert sheet is not None and len(sheet.samples) == 4 and len(errors) == 4


def test_plate_of_384_distinct_dual_indexes_validates_and_one_close_pair_is_found() -> None:
    import random

    rng = random.Random(384)
    pairs: list[tuple[str, str]] = []
    while len(pairs) < 384:
        i7 = "".join(rng.choice("ACGT") for _ in range(8))
        i5 = "".join(rng.choice("ACGT") for _ in range(8))
        if all(sum(map(str.__ne__, i7, a)) >= 3 for a, _ in pairs):
            pairs.append((i7, i5))
    rows = [f"S{n},,P,1,{i7},{i5}" for n, (i7, i5) in enumerate(pairs)]
    assert validate_sample_sheet(sheet_v1(*rows)) == []

    i7, i5 = pairs[100]
    close = f"X1,,P,1,{i7[:-1]}{'A' if i7[-1] != 'A' else 'C'},{i5}"
    found = errors_of(sheet_v1(*rows, close))
    assert len(found) == 1
    assert found[0][0] == 9 + 384 and "S100 (line 109" in found[0][1]


def test_priority_column_is_normalised_empty_means_unset_and_unknown_values_are_refused() -> None:
    text = (
        "[Data]\nSample_ID,index,Priority\nS1,ACGTACGT,URGENT\nS2,CCAATTGG,routine\nS3,GGTTAACC,\n"
    )
    s1, s2, s3 = parse_sample_sheet(text).samples

    assert (s1.priority, s2.priority, s3.priority) == ("urgent", "routine", None)
    bad = "[Data]\nSample_ID,index,Urgency\nS1,ACGTACGT,stat\n"
    assert errors_of(bad) == [(3, "S1: unknown Priority 'stat' (expected routine or urgent)")]
