"""The files of a simulated run folder, byte for byte as instruments write them.

Base calls (BCL, BCL.gz, CBCL), filter and locs files, and the metadata beside them
(RunInfo.xml, RunParameters.xml, SampleSheet.csv); :mod:`seqoia.illumina.simulate`
describes the layouts and decides what goes where.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from isal import igzip

from seqoia.illumina.simulate_clusters import BASES, Cycle, TileState, cycle_values

if TYPE_CHECKING:
    from seqoia.illumina.simulate import RunSpec, TruthSample

CBCL_BINS: tuple[tuple[int, int], ...] = ((0, 0), (1, 12), (2, 23), (3, 37))
COMPRESS_LEVEL = 1  # isal level 1: the files are written once and read many times


# -- binary files --------------------------------------------------------------------


def _gzip(data: bytes) -> bytes:
    return igzip.compress(data, COMPRESS_LEVEL, mtime=0)  # mtime 0: same bytes per seed


def filter_bytes(pf: np.ndarray) -> bytes:
    """A ``.filter`` file: uint32 0, version 3, count, then one PF byte per cluster."""
    return struct.pack("<III", 0, 3, pf.size) + pf.astype(np.uint8).tobytes()


def locs_bytes(x: np.ndarray, y: np.ndarray) -> bytes:
    """LOCS: int32 1, float32 1.0, uint32 count, then float32 (x, y) per cluster."""
    xy = np.empty((x.size, 2), dtype="<f4")
    # name coordinate = round(10 * v + 1000); +0.2 keeps rounding away from ties
    xy[:, 0] = (x - 1000 + 0.2) / 10
    xy[:, 1] = (y - 1000 + 0.2) / 10
    return struct.pack("<ifI", 1, 1.0, x.size) + xy.tobytes()


def _pack_nibbles(values: np.ndarray) -> bytes:
    """Two 4-bit values per byte, the first cluster in the low nibble."""
    if values.size % 2:
        values = np.append(values, np.uint8(0))
    return (values[0::2] | (values[1::2] << 4)).tobytes()


def _cbcl_bytes(blocks: Sequence[tuple[int, int, int, bytes]], pf_excluded: bool) -> bytes:
    """A CBCL file: header (version 1, 2+2 bits, bins, tile records, flag) then the blocks."""
    parts = [struct.pack("<BBI", 2, 2, len(CBCL_BINS))]
    parts += [struct.pack("<II", f, t) for f, t in CBCL_BINS]
    parts.append(struct.pack("<I", len(blocks)))
    parts += [struct.pack("<IIII", tile, n, raw, len(gz)) for tile, n, raw, gz in blocks]
    parts.append(bytes([1 if pf_excluded else 0]))
    body = b"".join(parts)
    return struct.pack("<HI", 1, 6 + len(body)) + body + b"".join(b[3] for b in blocks)


def write_cycle(
    spec: RunSpec,
    cycle_dir: Path,
    lane: int,
    surface: int,
    states: Sequence[TileState],
    cyc: Cycle,
    lut: np.ndarray,
    ref: np.ndarray | None,
) -> None:
    """Write one cycle of a file group (BCL per tile, or one CBCL per surface) into
    ``cycle_dir``, and keep the truth rows' values."""
    pf_excluded = cyc.number in spec.pf_excluded_cycles
    blocks: list[tuple[int, int, int, bytes]] = []
    for t in states:
        values = cycle_values(spec, t, cyc, lut, ref)
        t.truth_values[:, cyc.number - 1] = values[t.truth_rows]
        if spec.format == "cbcl":
            kept = values[t.pf] if pf_excluded else values
            raw = _pack_nibbles(kept)
            blocks.append((t.tile, kept.size, len(raw), _gzip(raw)))
            continue
        data = struct.pack("<I", values.size) + values.tobytes()
        name = f"s_{lane}_{t.tile}.bcl"
        if spec.format == "bcl.gz":
            (cycle_dir / (name + ".gz")).write_bytes(_gzip(data))
        else:
            (cycle_dir / name).write_bytes(data)
    if blocks:
        (cycle_dir / f"L{lane:03d}_{surface}.cbcl").write_bytes(_cbcl_bytes(blocks, pf_excluded))


# -- metadata ------------------------------------------------------------------------


def decode_bases(codes: np.ndarray) -> str:
    """Base codes 0-3 as the letters ACGT."""
    return "".join(BASES[c] for c in codes.tolist())


def _us_date(yymmdd: str) -> str:
    return f"{int(yymmdd[2:4])}/{int(yymmdd[4:6])}/20{yymmdd[:2]} 10:00:00 AM"


def run_info_xml(spec: RunSpec) -> str:
    """RunInfo.xml of the simulated run: flow cell, reads and tiles."""
    novaseq = spec.format == "cbcl"
    reads, number = [], 0
    for i, cycles in enumerate(spec.read_cycles):
        if cycles:
            number += 1
            rc = ' IsReverseComplement="N"' if novaseq else ""
            idx = "Y" if i in (1, 2) else "N"
            reads.append(
                f'\t\t\t<Read Number="{number}" NumCycles="{cycles}" IsIndexedRead="{idx}"{rc} />'
            )
    tiles = [f"\t\t\t\t\t<Tile>{lane}_{t}</Tile>" for lane in range(1, spec.lanes + 1)
             for t in spec.tile_numbers()]  # fmt: skip
    return "\n".join([
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<RunInfo Version="{5 if novaseq else 2}">',
        f'\t<Run Id="{spec.run_id}" Number="{spec.run_number}">',
        f"\t\t<Flowcell>{spec.flowcell}</Flowcell>",
        f"\t\t<Instrument>{spec.instrument}</Instrument>",
        f"\t\t<Date>{_us_date(spec.date) if novaseq else spec.date}</Date>",
        "\t\t<Reads>", *reads, "\t\t</Reads>",
        f'\t\t<FlowcellLayout LaneCount="{spec.lanes}" SurfaceCount="{spec.surfaces}" '
        f'SwathCount="{spec.swaths}" TileCount="{spec.tiles_per_swath}">',
        '\t\t\t<TileSet TileNamingConvention="FourDigit">',
        "\t\t\t\t<Tiles>", *tiles, "\t\t\t\t</Tiles>",
        "\t\t\t</TileSet>",
        "\t\t</FlowcellLayout>",
        "\t</Run>",
        "</RunInfo>",
        "",
    ])  # fmt: skip


def run_parameters_xml(spec: RunSpec) -> str:
    """RunParameters.xml as the instrument family of ``spec.format`` writes it."""
    r1, i1, i2, r2 = spec.read_cycles
    if spec.format == "cbcl":
        body = [
            f"  <Side>{spec.side}</Side>",
            "  <Application>NovaSeq Control Software</Application>",
            "  <ApplicationVersion>1.7.5</ApplicationVersion>",
            "  <RtaVersion>v3.4.4</RtaVersion>",
            f"  <RunId>{spec.run_id}</RunId>",
            f"  <ExperimentName>{spec.run_id}</ExperimentName>",
            "  <InstrumentType>NovaSeq 6000</InstrumentType>",
            f"  <RunNumber>{spec.run_number}</RunNumber>",
            f"  <RunStartDate>{spec.date}</RunStartDate>",
            f"  <RfidsInfo><FlowCellSerialBarcode>{spec.flowcell}</FlowCellSerialBarcode>"
            "<FlowCellMode>S4</FlowCellMode></RfidsInfo>",
            "  <Chemistry>NovaSeq_v1.5</Chemistry>",
            f"  <Read1NumberOfCycles>{r1}</Read1NumberOfCycles>",
            f"  <Read2NumberOfCycles>{r2}</Read2NumberOfCycles>",
            f"  <IndexRead1NumberOfCycles>{i1}</IndexRead1NumberOfCycles>",
            f"  <IndexRead2NumberOfCycles>{i2}</IndexRead2NumberOfCycles>",
        ]
    else:
        body = [
            "  <Setup>",
            "    <ApplicationName>HiSeq Control Software</ApplicationName>",
            "    <ApplicationVersion>3.4.0.38</ApplicationVersion>",
            f"    <RunID>{spec.run_id}</RunID>",
            f"    <ExperimentName>{spec.run_id}</ExperimentName>",
            f"    <FCPosition>{spec.side}</FCPosition>",
            f"    <Read1>{r1}</Read1><IndexRead1>{i1}</IndexRead1>"
            f"<IndexRead2>{i2}</IndexRead2><Read2>{r2}</Read2>",
            "    <Sbs>HiSeq SBS Kit v4</Sbs>",
            "  </Setup>",
            "  <RTAVersion>1.18.66.3</RTAVersion>",
        ]
    return "\n".join([
        '<?xml version="1.0"?>',
        '<RunParameters xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">',
        *body,
        "</RunParameters>",
        "",
    ])  # fmt: skip


def sample_sheet_csv(spec: RunSpec, samples: Sequence[TruthSample]) -> str:
    """SampleSheet.csv (v1 or v2, ``spec.sample_sheet_version``) listing ``samples``."""
    r1, i1, i2, r2 = spec.read_cycles
    i5 = [",Index2", ",BarcodeMismatchesIndex2,1", f",Index2Cycles,{i2}"] if i2 else [""] * 3
    rows = [
        (lane, s.sample_id, s.index + (f",{s.index2}" if i2 else ""))
        for lane in range(1, spec.lanes + 1)
        for s in samples
    ]
    if spec.sample_sheet_version == 2:
        platform = "NovaSeq6000" if spec.format == "cbcl" else "HiSeq"
        text = (
            f"[Header]\nFileFormatVersion,2\nRunName,{spec.run_id}\nInstrumentPlatform,{platform}\n"
            f"\n[Reads]\nRead1Cycles,{r1}\n"
            + (f"Read2Cycles,{r2}\n" if r2 else "")
            + f"Index1Cycles,{i1}\n{i5[2][1:]}\n"
            + "\n[BCLConvert_Settings]\nSoftwareVersion,3.9.3\nBarcodeMismatchesIndex1,1\n"
            + f"{i5[1][1:]}\n\n[BCLConvert_Data]\nLane,Sample_ID,Index{i5[0]}\n"
        )
        body = "".join(f"{lane},{sid},{idx}\n" for lane, sid, idx in rows)
    else:
        text = (
            f"[Header]\nIEMFileVersion,5\nExperiment Name,{spec.run_id}\n"
            f"Date,20{spec.date[:2]}-{spec.date[2:4]}-{spec.date[4:]}\n"
            "Workflow,GenerateFASTQ\nApplication,FASTQ Only\n"
            f"\n[Reads]\n{r1}\n" + (f"{r2}\n" if r2 else "") + "\n[Settings]\n\n[Data]\n"
            f"Lane,Sample_ID,Sample_Name,Sample_Project,index{i5[0].lower()}\n"
        )
        body = "".join(f"{lane},{sid},{sid},SIMPROJ,{idx}\n" for lane, sid, idx in rows)
    return text.replace("\n\n\n", "\n\n") + body
