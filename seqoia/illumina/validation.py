"""Run-folder validation: do RunInfo.xml, RunParameters.xml, the sample sheet and the files
present agree, before any demultiplexing starts?

:func:`validate_run_folder` never raises on bad input: it collects every problem as an
:class:`Issue` (file relative to the run folder, 1-based line where there is one, message)
into a :class:`ValidationReport`. Errors make the run unusable as it stands; warnings are
things a person should look at (no RunParameters.xml, copy not complete, index reads that
will be shortened). The report is what ``seqoia validate`` prints and what the
``validate_run`` stage can store.

Files are checked against RunInfo's layout when ``check_files`` is true: each lane has its
``Data/Intensities/BaseCalls/L00N`` folder; a CBCL run (NovaSeq) has every cycle folder
``C<n>.1`` with its ``.cbcl`` files and every tile's ``.filter``; a per-tile BCL run has
``C<n>.1/s_<lane>_<tile>.bcl[.gz]`` for every listed tile. A run delivered as FASTQ (no
BaseCalls, ``*_R1_001.fastq.gz`` files instead) must have R1 (and R2 for paired runs) for
every sample.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from seqoia.errors import InputError
from seqoia.illumina.models import RunInfo, SampleSheet
from seqoia.illumina.override_cycles import (
    default_read_plan,
    describe_run_reads,
    parse_override_cycles,
)
from seqoia.illumina.pairs import sheet_pairs
from seqoia.illumina.runinfo import read_run_info, read_run_parameters
from seqoia.illumina.samplesheet import load_sample_sheet
from seqoia.illumina.sheet_csv import MAX_SHEET_BYTES

BASECALLS = "Data/Intensities/BaseCalls"
_FASTQ = re.compile(r"^(?P<name>.+?)(_S\d+)?(_L\d{3})?_R(?P<read>[12])_001\.fastq\.gz$")


class Issue(BaseModel):
    """One problem, where it is."""

    model_config = ConfigDict(frozen=True)

    file: str
    line: int | None = None
    message: str

    def __str__(self) -> str:
        return f"{self.file}{f':{self.line}' if self.line else ''}: {self.message}"


class ValidationSummary(BaseModel):
    """What the run holds, as far as it could be read."""

    samples: int = 0
    lanes: int = 0
    #: RunInfo's reads in OverrideCycles notation, e.g. ``Y151;I8;I8;Y151``.
    reads: str = ""
    sample_sheet_version: int | None = None
    #: ``cbcl``, ``bcl``, ``fastq``, or None when not looked at / not found.
    data: str | None = None


class ValidationReport(BaseModel):
    """The outcome of validating a run folder or a sample sheet."""

    run_id: str | None = None
    path: str
    ok: bool
    errors: list[Issue] = []
    warnings: list[Issue] = []
    summary: ValidationSummary = ValidationSummary()


class _Collect:
    def __init__(self) -> None:
        self.errors: list[Issue] = []
        self.warnings: list[Issue] = []

    def error(self, file: str, message: str, line: int | None = None) -> None:
        self.errors.append(Issue(file=file, line=line, message=message))

    def warn(self, file: str, message: str, line: int | None = None) -> None:
        self.warnings.append(Issue(file=file, line=line, message=message))

    def failed(self, err: InputError, file: str) -> None:
        self.error(err.file or file, err.message, err.line)

    def report(
        self, path: Path, run_id: str | None, summary: ValidationSummary
    ) -> ValidationReport:
        return ValidationReport(
            run_id=run_id,
            path=str(path),
            ok=not self.errors,
            errors=self.errors,
            warnings=self.warnings,
            summary=summary,
        )


def validate_path(path: Path, *, check_files: bool = True) -> ValidationReport:
    """Validate a run folder, or a sample sheet file on its own."""
    if path.is_dir():
        return validate_run_folder(path, check_files=check_files)
    found = _Collect()
    if not path.exists():
        found.error(path.name, "no such file or folder")
        return found.report(path, None, ValidationSummary())
    sheet = _sheet(path, found, None, None)
    return found.report(path, None, _summary(None, sheet))


def validate_run_folder(path: Path, *, check_files: bool = True) -> ValidationReport:
    """Check a run folder's metadata and (with ``check_files``) its data files."""
    found = _Collect()
    run = path.name
    run_info: RunInfo | None = None
    info_path = path / "RunInfo.xml"
    fastq_folder = not (path / BASECALLS).is_dir() and any(path.rglob("*_R1_001.fastq.gz"))
    if not info_path.is_file() and fastq_folder:
        # Instruments that convert on board deliver FASTQ, and the pipeline takes them
        # without RunInfo.xml (only base calls need it): not an error here either.
        found.warn("RunInfo.xml", "missing: a FASTQ run folder; reads come from the FASTQ files")
    elif not info_path.is_file():
        found.error("RunInfo.xml", "missing: the run's reads and layout are unknown")
    else:
        try:
            run_info = read_run_info(info_path, run=run)
        except InputError as err:
            found.failed(err, "RunInfo.xml")
    if run_info is not None and run_info.run_id != path.name:
        found.warn("RunInfo.xml", f"run id {run_info.run_id} differs from the folder name")

    params = next((path / n for n in ("RunParameters.xml", "runParameters.xml")
                   if (path / n).is_file()), None)  # fmt: skip
    if params is None:
        found.warn("RunParameters.xml", "missing: instrument and chemistry are unknown")
    else:
        try:
            read_run_parameters(params, run=run)
        except InputError as err:
            found.failed(err, params.name)

    sheet_path = path / "SampleSheet.csv"
    sheet = None
    if not sheet_path.is_file():
        found.error("SampleSheet.csv", "missing: no samples to demultiplex")
    else:
        sheet = _sheet(sheet_path, found, run_info, run)
    if not any((path / n).is_file() for n in ("CopyComplete.txt", "RTAComplete.txt")):
        found.warn(
            "CopyComplete.txt",
            "neither CopyComplete.txt nor RTAComplete.txt: the run may be incomplete",
        )

    summary = _summary(run_info, sheet)
    if check_files and run_info is not None:
        summary.data = _check_files(path, run_info, sheet, found)
    elif check_files and fastq_folder:
        summary.data = _check_fastqs(path, None, sheet, found)
    return found.report(path, run_info.run_id if run_info else None, summary)


def _sheet(
    path: Path, found: _Collect, run_info: RunInfo | None, run: str | None
) -> SampleSheet | None:
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_SHEET_BYTES + 1)  # past the bound, the sheet is refused
    except OSError as err:
        found.error(path.name, f"cannot read: {err.strerror}")
        return None
    sheet, errors = load_sample_sheet(data, file=path.name, run=run, run_info=run_info)
    for problem in errors:
        found.failed(problem, path.name)
    if sheet is not None:  # tumour/normal pairs: the first problem, with its line
        try:
            sheet_pairs(sheet.samples, run=run)
        except InputError as err:
            found.failed(err, path.name)
    if sheet is not None and run_info is not None:
        _sheet_warnings(sheet, run_info, found, path.name)
    return sheet


def _sheet_warnings(sheet: SampleSheet, run_info: RunInfo, found: _Collect, file: str) -> None:
    """What bcl2fastq/BCL Convert would do silently and a person should know about."""
    templates = [r.cycles for r in run_info.reads if not r.is_index] + [0, 0]
    indexes = [r.cycles for r in run_info.reads if r.is_index] + [0, 0]
    if sheet.version == 2:
        run_values = {"Read1Cycles": templates[0], "Read2Cycles": templates[1],
                      "Index1Cycles": indexes[0], "Index2Cycles": indexes[1]}  # fmt: skip
        for key, value in sheet.reads.items():
            if key in run_values and value != run_values[key]:
                found.warn(file, f"[Reads] {key} is {value}, RunInfo.xml says {run_values[key]}")
    for sample in sheet.samples:
        if sample.override_cycles or sheet.override_cycles:
            continue
        for k, bases in enumerate((sample.index, sample.index2)):
            if bases and len(bases) < indexes[k]:
                plan = default_read_plan(run_info.reads, [len(sample.index), len(sample.index2)])
                found.warn(
                    file,
                    f"{sample.sample_id}: index{'' if k == 0 else '2'} has {len(bases)} bases "
                    f"for {indexes[k]} index cycles; the rest are skipped ({plan})",
                    sample.line,
                )
                break


def _summary(run_info: RunInfo | None, sheet: SampleSheet | None) -> ValidationSummary:
    return ValidationSummary(
        samples=len({s.sample_id for s in sheet.samples}) if sheet else 0,
        lanes=run_info.lane_count
        if run_info
        else len({s.lane for s in sheet.samples if s.lane})
        if sheet
        else 0,
        reads=describe_run_reads(run_info.reads) if run_info else "",
        sample_sheet_version=sheet.version if sheet else None,
    )


# -- files ---------------------------------------------------------------------------


def _ranges(numbers: list[int]) -> str:
    """``[1, 2, 3, 7]`` -> ``"1-3, 7"``."""
    out: list[str] = []
    for n in sorted(numbers):
        if out and n == int(out[-1].split("-")[-1]) + 1:
            out[-1] = f"{out[-1].split('-')[0]}-{n}"
        else:
            out.append(str(n))
    return ", ".join(out)


def _check_files(
    path: Path, run_info: RunInfo, sheet: SampleSheet | None, found: _Collect
) -> str | None:
    basecalls = path / BASECALLS
    if not basecalls.is_dir():
        return _check_fastqs(path, run_info, sheet, found)
    kinds: set[str] = set()
    for lane in range(1, run_info.lane_count + 1):
        lane_dir = basecalls / f"L{lane:03d}"
        where = f"{BASECALLS}/L{lane:03d}"
        if not lane_dir.is_dir():
            found.error(where, f"missing: lane {lane} has no base calls")
            continue
        tiles = [t.split("_", 1)[1] for t in run_info.tiles if t.split("_", 1)[0] == str(lane)]
        cbcl = next(lane_dir.glob("C*.1/*.cbcl"), None) is not None
        kinds.add("cbcl" if cbcl else "bcl")
        missing_cycles, missing_tiles = [], set()
        for cycle in range(1, run_info.total_cycles + 1):
            folder = lane_dir / f"C{cycle}.1"
            if not folder.is_dir():
                missing_cycles.append(cycle)
            elif cbcl:
                if next(folder.glob(f"L{lane:03d}_*.cbcl"), None) is None:
                    missing_cycles.append(cycle)
            else:
                for tile in tiles:
                    stem = folder / f"s_{lane}_{tile}.bcl"
                    if not (stem.is_file() or stem.with_suffix(".bcl.gz").is_file()):
                        missing_tiles.add(tile)
        if missing_cycles:
            found.error(where, f"missing base calls for cycle(s) {_ranges(missing_cycles)} "
                        f"of {run_info.total_cycles}")  # fmt: skip
        if missing_tiles:
            found.error(where, f"tile(s) {', '.join(sorted(missing_tiles))} lack .bcl files "
                        "in some cycles")  # fmt: skip
        no_filter = [t for t in tiles if not (lane_dir / f"s_{lane}_{t}.filter").is_file()]
        if no_filter:
            found.error(where, f"tile(s) {', '.join(no_filter)} have no .filter file")
    return "cbcl" if kinds == {"cbcl"} else "bcl" if kinds else None


def _check_fastqs(
    path: Path, run_info: RunInfo | None, sheet: SampleSheet | None, found: _Collect
) -> str | None:
    reads_by_name: dict[str, set[str]] = {}
    for fastq in path.rglob("*_R[12]_001.fastq.gz"):
        m = _FASTQ.match(fastq.name)
        if m:
            reads_by_name.setdefault(m.group("name"), set()).add(m.group("read"))
    if not reads_by_name:
        found.error(BASECALLS, "missing, and the run folder has no *_R1_001.fastq.gz files either")
        return None
    if sheet is None:
        return "fastq"
    seen: set[str] = set()
    for sample in sheet.samples:
        if sample.sample_id in seen:
            continue
        seen.add(sample.sample_id)
        plan = None
        text = sample.override_cycles or sheet.override_cycles
        if text and run_info is not None:
            with contextlib.suppress(InputError):  # reported with the sheet
                plan = parse_override_cycles(text, run_reads=run_info.reads)
        if plan:
            paired = len(plan.template_reads()) >= 2
        elif run_info is not None:
            paired = sum(not r.is_index for r in run_info.reads) >= 2
        else:  # no RunInfo.xml: the folder's own files say whether reads are paired
            paired = any("2" in reads for reads in reads_by_name.values())
        have = reads_by_name.get(sample.sample_id) or reads_by_name.get(
            sample.sample_name or "", set()
        )
        wanted = ["1", "2"] if paired else ["1"]
        missing = [f"R{r}" for r in wanted if r not in have]
        if missing:
            names = " or ".join(f"{sample.sample_id}_*{r}_001.fastq.gz" for r in missing)
            found.error("SampleSheet.csv", f"{sample.sample_id}: no {names} in the run "
                        "folder", sample.line)  # fmt: skip
    return "fastq"
