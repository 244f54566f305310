"""RunInfo.xml and RunParameters.xml parsing, on real files and on the older and newer forms."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from seqoia.errors import InputError, RunFolderError
from seqoia.illumina.runinfo import (
    parse_run_info,
    parse_run_parameters,
    read_run_info,
    read_run_parameters,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "illumina"
NOVASEQ = DATA / "bcl2fastr-novaseq-cbcl"
BAMBI = DATA / "picard-151T8B8B151T-cbcl" / "bambi_metadata"


def test_real_novaseq_runinfo_gives_run_reads_and_tiles() -> None:
    info = read_run_info(NOVASEQ / "RunInfo.xml")

    assert info.run_id == "190414_A00111_0296_AHJCWWDSXX"
    assert (info.run_number, info.flowcell, info.instrument) == (296, "HJCWWDSXX", "A00111")
    assert info.date == "4/14/2019 1:17:20 PM"
    assert [(r.number, r.cycles, r.is_index) for r in info.reads] == [
        (1, 4, False),
        (2, 8, True),
        (3, 8, True),
        (4, 4, False),
    ]
    assert info.total_cycles == 24
    assert (info.lane_count, info.surface_count, info.swath_count, info.tile_count) == (1, 1, 6, 3)
    assert info.tile_naming == "FourDigit"
    assert info.tiles == ("1_1101", "1_1102", "1_1103")


def test_bambi_runinfo_is_read_as_written_even_though_it_misdescribes_the_data() -> None:
    # bambi's RunInfo declares one 318-cycle read (see ORIGIN.md); the parser must report
    # what the file says, and validation is what catches the mismatch with a sample sheet.
    info = read_run_info(BAMBI / "RunInfo.xml")

    assert info.run_id == "170407_A00103_0049_AH2CLFDMXX"
    assert [(r.cycles, r.is_index) for r in info.reads] == [(318, False)]
    assert (info.lane_count, info.surface_count, info.swath_count, info.tile_count) == (2, 2, 4, 88)
    assert info.tiles == ("1_1101",)


def test_real_novaseq_6000_runparameters_give_application_rta_and_flowcell_mode() -> None:
    params = read_run_parameters(BAMBI / "RunParameters.xml")

    assert params.application == "NovaSeq Control Software"
    assert params.application_version == "1.0.0.104"
    assert params.rta_version == "v3.1.5"
    assert params.flowcell_mode == "S2"
    assert params.experiment_name == "Sanger_360pM"
    assert params.instrument_type is None
    assert params.chemistry is None


def test_miseq_runparameters_under_setup_with_upper_case_rta_tag() -> None:
    params = parse_run_parameters(
        """<?xml version="1.0"?>
<RunParameters xmlns:xsd="http://www.w3.org/2001/XMLSchema">
  <Setup>
    <ApplicationName>MiSeq Control Software</ApplicationName>
    <ApplicationVersion>2.6.2.1</ApplicationVersion>
  </Setup>
  <RTAVersion>1.18.54</RTAVersion>
  <Chemistry>Amplicon</Chemistry>
  <ExperimentName>MS_2019_07</ExperimentName>
</RunParameters>"""
    )

    assert params.application == "MiSeq Control Software"
    assert params.application_version == "2.6.2.1"
    assert params.rta_version == "1.18.54"
    assert params.chemistry == "Amplicon"
    assert params.experiment_name == "MS_2019_07"
    assert params.flowcell_mode is None


def test_novaseq_x_runparameters_give_instrument_type_and_consumable_flowcell_mode() -> None:
    params = parse_run_parameters(
        b"""<?xml version="1.0" encoding="utf-8"?>
<RunParameters>
  <InstrumentType>NovaSeqXPlus</InstrumentType>
  <Application>NovaSeqXPlus Control Software</Application>
  <ApplicationVersion>1.2.0.28691</ApplicationVersion>
  <ExperimentName>NSX_2024_0042</ExperimentName>
  <ConsumableInfo>
    <ConsumableInfo><Type>Reagent</Type><Mode>300</Mode></ConsumableInfo>
    <ConsumableInfo><Type>FlowCell</Type><Mode>10B</Mode></ConsumableInfo>
  </ConsumableInfo>
</RunParameters>"""
    )

    assert params.instrument_type == "NovaSeqXPlus"
    assert params.application == "NovaSeqXPlus Control Software"
    assert params.flowcell_mode == "10B"
    assert params.rta_version is None


def test_old_runinfo_reads_with_first_and_last_cycles_and_no_tiles() -> None:
    info = parse_run_info(
        """<?xml version="1.0"?>
<RunInfo Version="1">
  <Run Id="100317_HWI-EAS285_0001_61F8HAAXX" Number="1">
    <Flowcell>61F8HAAXX</Flowcell>
    <Instrument>HWI-EAS285</Instrument>
    <Date>100317</Date>
    <Reads>
      <Read Index="1" FirstCycle="1" LastCycle="76" />
      <Read Index="2" FirstCycle="77" LastCycle="83" IsIndexedRead="Y" />
      <Read Index="3" FirstCycle="84" LastCycle="159" />
    </Reads>
    <FlowcellLayout LaneCount="8" SurfaceCount="2" SwathCount="1" TileCount="60" />
  </Run>
</RunInfo>"""
    )

    assert [(r.number, r.cycles, r.is_index) for r in info.reads] == [
        (1, 76, False),
        (2, 7, True),
        (3, 76, False),
    ]
    assert info.lane_count == 8 and info.tiles == ()


def test_nextseq_runinfo_with_sections_five_digit_tiles_and_reverse_complement_i5() -> None:
    info = parse_run_info(
        """\ufeff<?xml version="1.0"?>
<RunInfo Version="4">
  <Run Id="200101_NB501234_0042_AHXXXXBGXB" Number="42">
    <Flowcell>HXXXXBGXB</Flowcell><Instrument>NB501234</Instrument><Date>200101</Date>
    <Reads>
      <Read Number="2" NumCycles="8" IsIndexedRead="Y" />
      <Read Number="1" NumCycles="75" IsIndexedRead="N" />
      <Read Number="3" NumCycles="8" IsIndexedRead="Y" IsReverseComplement="Y" />
    </Reads>
    <FlowcellLayout LaneCount="4" SurfaceCount="2" SwathCount="3" TileCount="12"
                    SectionPerLane="3" LanePerSection="2">
      <TileSet TileNamingConvention="FiveDigit">
        <Tiles><Tile>1_11101</Tile><Tile>4_23612</Tile></Tiles>
      </TileSet>
    </FlowcellLayout>
  </Run>
</RunInfo>"""
    )

    assert [r.number for r in info.reads] == [1, 2, 3]  # sorted by number
    assert info.reads[2].is_reverse_complement and not info.reads[1].is_reverse_complement
    assert (info.section_per_lane, info.lane_per_section) == (3, 2)
    assert info.tile_naming == "FiveDigit"
    assert info.tiles == ("1_11101", "4_23612")


def test_malformed_runinfo_names_run_file_and_line(tmp_path: Path) -> None:
    folder = tmp_path / "190414_A00111_0296_AHJCWWDSXX"
    folder.mkdir()
    text = (NOVASEQ / "RunInfo.xml").read_text().replace("</Flowcell>", "</Flowcel>")
    (folder / "RunInfo.xml").write_text(text)

    with pytest.raises(RunFolderError) as err:
        read_run_info(folder / "RunInfo.xml")

    assert err.value.line == 4
    assert err.value.file == "RunInfo.xml"
    assert str(err.value).startswith(
        "run 190414_A00111_0296_AHJCWWDSXX, RunInfo.xml:4: malformed XML: mismatched tag"
    )


def test_billion_laughs_is_refused_before_any_entity_is_expanded() -> None:
    levels = "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    bomb = f'<?xml version="1.0"?>\n<!DOCTYPE RunInfo [<!ENTITY lol0 "lol">{levels}]>\n'
    bomb += "<RunInfo><Run Id='x'><Flowcell>&lol9;</Flowcell></Run></RunInfo>"

    started = time.monotonic()
    with pytest.raises(InputError, match="DTD or entity declarations is refused") as err:
        parse_run_info(bomb)
    assert time.monotonic() - started < 1.0
    assert err.value.line == 2


def test_external_entity_documents_are_refused() -> None:
    xxe = (
        '<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
        "<RunParameters><ExperimentName>&x;</ExperimentName></RunParameters>"
    )
    with pytest.raises(RunFolderError, match="refused"):
        parse_run_parameters(xxe)


@pytest.mark.parametrize(
    ("edit", "message", "line"),
    [
        (("<Flowcell>HJCWWDSXX</Flowcell>", ""), "<Run> has no <Flowcell>", 3),
        (('NumCycles="8" Number="2"', 'NumCycles="eight" Number="2"'), "not a whole number", 9),
        (('TileNamingConvention="FourDigit"', 'TileNamingConvention="Six"'), "Six", 14),
        (("<Tile>1_1102</Tile>", "<Tile>3_1102</Tile>"), "LaneCount is 1", 17),
        (('LaneCount="1" ', ""), "no LaneCount", 13),
    ],
)
def test_invalid_runinfo_fields_are_reported_at_their_element(
    edit: tuple[str, str], message: str, line: int
) -> None:
    text = (NOVASEQ / "RunInfo.xml").read_text()
    assert edit[0] in text

    with pytest.raises(RunFolderError, match=message) as err:
        parse_run_info(text.replace(*edit))

    assert err.value.line == line
    assert err.value.run == "190414_A00111_0296_AHJCWWDSXX"


def test_a_document_that_is_not_runinfo_is_refused() -> None:
    with pytest.raises(RunFolderError, match="expected <RunInfo><Run"):
        parse_run_info(b"<RunParameters/>")
    with pytest.raises(RunFolderError, match="expected <RunParameters>"):
        parse_run_parameters(b"<RunInfo/>")


def test_missing_file_is_a_run_folder_error(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match="cannot read"):
        read_run_info(tmp_path / "RunInfo.xml")
