"""Fuzz kinds for the Illumina parsers: sample sheets (v1, v2), RunInfo.xml,
RunParameters.xml, BCL / BCL.gz, CBCL, ``.filter``, ``.locs`` and ``.clocs``; and what
``seqoia validate`` prints of a sheet (``validate_output``: never a control character).

Seeds are the real files under ``tests/data/illumina`` (see their ``ORIGIN.md``). Each
``check`` parses the bytes the way the pipeline reads them (binary formats from a file, as
the readers take paths) and then uses the result as the next stage would: a sheet builds
the demultiplexer's samples, read plan and barcode matcher; a RunInfo its layout, read
plans and the per-lane, per-cycle loops of validation; a CBCL every tile's block. A clean
refusal is any :class:`~seqoia.errors.InputError`.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import sys
import tempfile
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script, too

from bench.fuzzing import FuzzKind  # noqa: E402
from seqoia.commands.printable import UNSAFE_CATEGORIES as UNSAFE  # noqa: E402
from seqoia.commands.validate import print_report  # noqa: E402
from seqoia.errors import InputError  # noqa: E402
from seqoia.illumina.barcodes import IndexMatcher  # noqa: E402
from seqoia.illumina.bcl import read_bcl  # noqa: E402
from seqoia.illumina.cbcl import CbclTileReader, read_cbcl_header  # noqa: E402
from seqoia.illumina.demux import RunLayout, samples_from_sheet  # noqa: E402
from seqoia.illumina.demux_config import ReadPlan  # noqa: E402
from seqoia.illumina.filters import read_filter  # noqa: E402
from seqoia.illumina.locs import read_clocs, read_locs  # noqa: E402
from seqoia.illumina.models import ReadInfo, RunInfo, SampleSheet  # noqa: E402
from seqoia.illumina.override_cycles import (  # noqa: E402
    default_read_plan,
    describe_run_reads,
)
from seqoia.illumina.runinfo import parse_run_info, parse_run_parameters  # noqa: E402
from seqoia.illumina.samplesheet import (  # noqa: E402
    parse_sample_sheet,
    sheet_plan,
    validate_sample_sheet,
)
from seqoia.illumina.validation import validate_path  # noqa: E402

__all__ = ["KINDS"]

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "illumina"
NOVASEQ_RUN = DATA / "demux" / "bcl2fastr-novaseq-cbcl" / "190414_A00111_0296_AHJCWWDSXX"
#: Clusters decoded at a time, as the demultiplexer's chunks bound memory.
_CHUNK = 1 << 16


def _files(pattern: str, limit: int = 8) -> list[bytes]:
    """Distinct real files matching ``pattern`` under tests/data/illumina, in path order."""
    out: list[bytes] = []
    for path in sorted(DATA.rglob(pattern)):
        data = path.read_bytes()
        if data not in out:
            out.append(data)
        if len(out) == limit:
            break
    return out


_RUN_INFO = parse_run_info((NOVASEQ_RUN / "RunInfo.xml").read_bytes())


@contextlib.contextmanager
def _scratch(suffix: str, data: bytes) -> Iterator[Path]:
    """The case as a file, where the readers want it; removed afterwards."""
    folder = Path(os.environ.get("SEQOIA_FUZZ_DIR") or tempfile.gettempdir())
    path = folder / f"seqoia-fuzz-{os.getpid()}{suffix}"
    path.write_bytes(data)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


# -- sample sheets -------------------------------------------------------------------


def _sheet_run(sheet: SampleSheet) -> RunInfo:
    """The run a sheet describes in its own [Reads] (v2), else the real NovaSeq run."""
    cycles = [sheet.reads.get(k, 0) for k in ("Read1Cycles", "Index1Cycles", "Index2Cycles",
                                              "Read2Cycles")]  # fmt: skip
    if not cycles[0]:
        return _RUN_INFO
    reads = [(c, k in (1, 2)) for k, c in enumerate(cycles) if c]
    return _RUN_INFO.model_copy(update={"reads": tuple(
        ReadInfo(number=n, cycles=c, is_index=i) for n, (c, i) in enumerate(reads, start=1)
    )})  # fmt: skip


def check_sample_sheet(data: bytes) -> None:
    """Parse, validate against a RunInfo, then plan demultiplexing as the demux stage does."""
    sheet = parse_sample_sheet(data)
    run_info = _sheet_run(sheet)
    validate_sample_sheet(data, run_info=run_info)  # reports, never raises
    samples = samples_from_sheet(sheet.samples)
    lengths = [max((len(s.index) for s in samples), default=0),
               max((len(s.index2) for s in samples), default=0)]  # fmt: skip
    ReadPlan.from_run_info(run_info, lengths)
    for row in sheet.samples:
        sheet_plan(sheet, row, run_info.reads)
    lanes = {s.lane for s in samples if s.lane is not None} or {1}
    for lane in sorted(lanes):
        members = [s for s in samples if s.lane in (None, lane) and s.indexes]
        # The demultiplexer matches one read plan per run: indexes of one shape (the sheet
        # refuses other shapes within a lane unless OverrideCycles differ).
        if members and len({tuple(map(len, s.indexes)) for s in members}) == 1:
            n = len(members[0].indexes)
            mismatches = (sheet.barcode_mismatches_index1, sheet.barcode_mismatches_index2)
            IndexMatcher([s.indexes for s in members], mismatches[:n],
                         owners=[s.sample_id for s in members])  # fmt: skip


def check_validate_output(data: bytes) -> None:
    """``seqoia validate SHEET`` never raises, and prints no control or format character
    (an escape sequence in a sheet could rewrite the terminal); its JSON is ASCII."""
    with _scratch("-SampleSheet.csv", data) as path:
        report = validate_path(path)
    out = io.StringIO()
    console = Console(file=out, color_system=None, highlight=False, soft_wrap=True, width=100)
    print_report(report, console)
    shown = [c for c in out.getvalue() if c != "\n" and unicodedata.category(c) in UNSAFE]
    if shown:
        raise AssertionError(f"validate printed {sorted(set(shown))!r}")
    if not json.dumps(report.model_dump(mode="json"), ensure_ascii=True).isascii():
        raise AssertionError("validate --json is not ASCII")


# -- RunInfo.xml, RunParameters.xml --------------------------------------------------


def check_run_info(data: bytes) -> None:
    """Parse, then walk what validation and demultiplexing derive from the layout."""
    info = parse_run_info(data)
    RunLayout.from_run_info(info)
    ReadPlan.from_run_info(info)
    describe_run_reads(info.reads)
    default_read_plan(info.reads, [8, 8])
    steps = 0
    for _lane in range(1, info.lane_count + 1):  # validation's loop over lanes and cycles
        for _cycle in range(1, info.total_cycles + 1):
            steps += 1


def check_run_parameters(data: bytes) -> None:
    parse_run_parameters(data)


# -- binary formats ------------------------------------------------------------------


def check_bcl(data: bytes) -> None:
    with _scratch(".bcl", data) as path:
        read_bcl(path)


def check_bcl_gz(data: bytes) -> None:
    with _scratch(".bcl.gz", data) as path:
        read_bcl(path)


def check_cbcl(data: bytes) -> None:
    """Header, then every tile's block in chunks (PF-only blocks: all clusters PF)."""
    with _scratch(".cbcl", data) as path:
        header = read_cbcl_header(path)
        for record in header.tiles:
            tile, count = record.tile, record.cluster_count
            with CbclTileReader(header, tile, cluster_count=count) as reader:
                left = count
                while left:
                    n = min(left, _CHUNK)
                    reader.read(n, np.ones(n, dtype=bool))
                    left -= n


def check_filter(data: bytes) -> None:
    with _scratch(".filter", data) as path:
        read_filter(path)


def check_locs(data: bytes) -> None:
    with _scratch(".locs", data) as path:
        read_locs(path)


def check_clocs(data: bytes) -> None:
    with _scratch(".clocs", data) as path:
        read_clocs(path)


_CLEAN = (InputError,)
_BCL = _files("*.bcl", 4)

KINDS: dict[str, FuzzKind] = {
    "samplesheet_v1": FuzzKind(_files("SampleSheet.csv"), check_sample_sheet, _CLEAN),
    "samplesheet_v2": FuzzKind(_files("samplesheets/*.csv"), check_sample_sheet, _CLEAN),
    "validate_output": FuzzKind(
        _files("SampleSheet.csv") + _files("samplesheets/*.csv"), check_validate_output, ()
    ),
    "runinfo": FuzzKind(_files("RunInfo.xml"), check_run_info, _CLEAN),
    "runparameters": FuzzKind(_files("RunParameters.xml"), check_run_parameters, _CLEAN),
    "bcl": FuzzKind(_BCL, check_bcl, _CLEAN),
    "bcl_gz": FuzzKind([gzip.compress(b, mtime=0) for b in _BCL], check_bcl_gz, _CLEAN),
    "cbcl": FuzzKind(_files("*.cbcl", 6), check_cbcl, _CLEAN),
    "filter": FuzzKind(_files("*.filter", 4), check_filter, _CLEAN),
    "locs": FuzzKind(_files("*.locs", 3), check_locs, _CLEAN),
    "clocs": FuzzKind(_files("*.clocs", 3), check_clocs, _CLEAN),
}
