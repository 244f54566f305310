"""SampleSheet.csv, version 1 (bcl2fastq) and version 2 (BCL Convert): parse and validate.

A sheet is a CSV file cut into ``[Section]``s. Version 1 has ``[Header]``, ``[Reads]``
(template read lengths, one a line), ``[Settings]`` and ``[Data]``; version 2 says
``FileFormatVersion,2`` in ``[Header]`` and has ``[Reads]`` as ``Read1Cycles,151``...,
``[BCLConvert_Settings]`` and ``[BCLConvert_Data]``. Other application sections
(``[Cloud_Data]``, ``[DragenGermline_Settings]``...) are ignored. Sheets come out of
spreadsheets and LIMSes, so a byte-order mark, CRLF, blank lines, quoted fields and the
trailing ``,,,,`` that spreadsheets pad rows with are all accepted.

Every problem is a :class:`SampleSheetError` with the 1-based line it is on.
:func:`parse_sample_sheet` raises the first; :func:`validate_sample_sheet` returns them all,
with one message repeated on several lines collapsed into one error naming the lines.
A sheet must be UTF-8 (a byte-order mark is fine): guessing another encoding would turn
valid names elsewhere in the file into mojibake, so undecodable bytes are an error naming
their line and byte offset. Numbers are ASCII digits within :mod:`~seqoia.illumina.limits`.

One sample may take several rows of one lane with different indexes (10x Genomics
four-oligo sets, a sample spread over index pairs): as bcl2fastq and BCL Convert do, the
rows make one sample with several barcodes. The same Sample_ID twice with the same index
in one lane is a duplicate.
Besides the sheet's own rules (sample ids safe as file names and object keys, no
duplicates within a lane, ACGTN indexes of one length per lane), the indexes are checked
against the run's index reads and against each other: two samples of a lane *collide*
when a read could match both within the allowed mismatches, i.e. when both their i7 and
their i5 are at Hamming distance <= 2m (bcl2fastq's rule; with per-sample tolerances,
m_a + m_b).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from seqoia.errors import SampleSheetError
from seqoia.illumina.limits import MAX_CYCLES_PER_READ, MAX_LANES, parse_count
from seqoia.illumina.models import ReadInfo, RunInfo, SampleRow, SampleSheet
from seqoia.illumina.override_cycles import (
    ReadPlan,
    check_read_plan,
    parse_override_cycles,
)
from seqoia.illumina.sheet_csv import (
    MAX_SHEET_BYTES,
    CsvRow,
    FatalSheetError,
    Section,
    SheetIssues,
    csv_rows,
    decode_sheet,
    key_values,
    sections_of,
)
from seqoia.vocabulary import NAME_PATTERN

_SAMPLE_ID = re.compile(r"[A-Za-z0-9_-]+")
_BASES = re.compile(r"[ACGTN]*")
_ADAPTER = re.compile(r"[ACGTN]+(\+[ACGTN]+)*")

#: Data column (lower case) -> SampleRow field. Everything else goes to ``extra``.
_COLUMNS: dict[str, str] = {
    "sample_id": "sample_id", "sampleid": "sample_id",
    "sample_name": "sample_name", "samplename": "sample_name",
    "sample_project": "project", "project": "project", "sampleproject": "project",
    "lane": "lane",
    "index": "index", "index1": "index",
    "index2": "index2",
    "overridecycles": "override_cycles",
    "centre": "centre", "center": "centre", "site": "centre",
    "family": "family", "family_id": "family", "familyid": "family",
    "pair_id": "pair", "pairid": "pair", "analysis": "analysis",
    "role": "role", "relationship": "role",
    "sex": "sex", "gender": "sex",
    "panel": "panel", "gene_panel": "panel", "genepanel": "panel",
    "priority": "priority", "urgency": "priority",
}  # fmt: skip
_ROLES: dict[str, str] = {
    "proband": "proband", "index": "proband", "patient": "proband", "affected": "proband",
    "mother": "mother", "mum": "mother", "mom": "mother",
    "father": "father", "dad": "father",
    "sibling": "sibling", "sib": "sibling", "brother": "sibling", "sister": "sibling",
    "tumour": "tumour", "tumor": "tumour",
    "normal": "normal", "germline": "normal",
}  # fmt: skip
_SEXES: dict[str, Literal["male", "female", "unknown"]] = {
    "m": "male", "male": "male", "1": "male",
    "f": "female", "female": "female", "2": "female",
    "u": "unknown", "unknown": "unknown", "0": "unknown",
}  # fmt: skip
_MISMATCH_KEYS = ("barcodemismatchesindex1", "barcodemismatchesindex2")
#: Written by production sheet generators for "no such index read" on single-index rows.
_NOT_APPLICABLE = {"na", "n/a"}

#: Most data rows: 384 samples in each of 8 lanes (or 96 four-oligo 10x sets per lane).
#: Index collisions are checked pairwise within a lane, so this bounds that check's time.
MAX_DATA_ROWS = 384 * 8
#: Index collisions reported per lane: past this the sheet's indexes are wrong wholesale
#: (a swapped column, no index at all) and the rest are counted, not listed.
MAX_COLLISIONS_REPORTED = 20


# -- public API ----------------------------------------------------------------------


def parse_sample_sheet(
    text: str | bytes,
    *,
    file: str = "SampleSheet.csv",
    run: str | None = None,
    run_info: RunInfo | None = None,
) -> SampleSheet:
    """Parse and validate a sample sheet; raise the first :class:`SampleSheetError`.

    With ``run_info``, lanes, index lengths and OverrideCycles are checked against the
    run; without it, against the sheet's own ``[Reads]`` where it has them.
    """
    sheet, errors = _parse(text, file=file, run=run, run_info=run_info)
    if errors:
        raise errors[0]
    assert sheet is not None
    return sheet


def validate_sample_sheet(
    text: str | bytes,
    *,
    file: str = "SampleSheet.csv",
    run: str | None = None,
    run_info: RunInfo | None = None,
) -> list[SampleSheetError]:
    """Every problem of the sheet, in line order (empty when it is valid)."""
    return _parse(text, file=file, run=run, run_info=run_info)[1]


def load_sample_sheet(
    text: str | bytes,
    *,
    file: str = "SampleSheet.csv",
    run: str | None = None,
    run_info: RunInfo | None = None,
) -> tuple[SampleSheet | None, list[SampleSheetError]]:
    """The sheet as far as it could be read (None when it lists no samples at all) and
    every problem, in line order: for reports that want both."""
    return _parse(text, file=file, run=run, run_info=run_info)


def read_sample_sheet(
    path: Path, *, run: str | None = None, run_info: RunInfo | None = None
) -> SampleSheet:
    """Read, parse and validate a SampleSheet.csv file."""
    return parse_sample_sheet(_read(path, run), file=path.name, run=run, run_info=run_info)


def _read(path: Path, run: str | None) -> bytes:
    try:
        with path.open("rb") as fh:
            # One byte past the bound is enough for the parser to refuse the size.
            return fh.read(MAX_SHEET_BYTES + 1)
    except OSError as err:
        raise SampleSheetError(f"cannot read: {err.strerror}", run=run, file=path.name) from err


def sheet_plan(
    sheet: SampleSheet, sample: SampleRow, run_reads: Sequence[ReadInfo]
) -> ReadPlan | None:
    """The OverrideCycles plan for ``sample`` (its own, else the sheet's), or None."""
    text = sample.override_cycles or sheet.override_cycles
    return parse_override_cycles(text, run_reads=run_reads) if text else None


# -- the sheet -----------------------------------------------------------------------


def _parse(
    data: str | bytes, *, file: str, run: str | None, run_info: RunInfo | None
) -> tuple[SampleSheet | None, list[SampleSheetError]]:
    issues = SheetIssues(file=file, run=run)
    sheet: SampleSheet | None = None
    try:
        text = decode_sheet(data, issues)
        rows = csv_rows(text, issues)
        sheet = _build(rows, text, issues, run_info)
        _check_samples(sheet, issues, run_info)
    except FatalSheetError:
        sheet = None
    return sheet, issues.collapsed()


def _build(
    rows: list[CsvRow], text: str, issues: SheetIssues, run_info: RunInfo | None
) -> SampleSheet:
    sections = sections_of(rows, issues)
    header = key_values(sections.get("header"))
    version_text = header.get("fileformatversion", ("", "1", 0))[1] or "1"
    version: Literal[1, 2] = (
        2 if "bclconvert_data" in sections or version_text.strip() == "2" else 1
    )
    data_name = "bclconvert_data" if version == 2 else "data"
    if data_name not in sections:
        last_line = max(1, text.count("\n") + (0 if text.endswith("\n") else 1))
        expected = "[BCLConvert_Data]" if version == 2 else "[Data]"
        issues.add(f"no {expected} section: the sheet lists no samples", last_line)
        raise FatalSheetError

    reads = _reads(sections.get("reads"), version, issues)
    settings_rows = key_values(sections.get("settings"))
    settings_rows.update(key_values(sections.get("bclconvert_settings")))
    settings = {key: value for key, value, _ in settings_rows.values()}

    def setting(*names: str) -> tuple[str, int] | None:
        for name in names:
            if name in settings_rows and settings_rows[name][1]:
                return settings_rows[name][1], settings_rows[name][2]
        return None

    mismatches = []
    not_applicable: tuple[str, int] | None = None
    for key in _MISMATCH_KEYS:
        found = setting(key)
        if found and key == _MISMATCH_KEYS[1] and found[0].strip().lower() in _NOT_APPLICABLE:
            not_applicable = found  # fine while no sample has an index2: checked below
            found = None
        mismatches.append(_mismatches(found[0], key, found[1], issues) if found else 1)

    override = setting("overridecycles")
    if override:
        _check_override(override[0], override[1], issues, run_info, reads)
    adapters: list[str | None] = []
    # v1's ``Adapter`` trims both reads unless ``AdapterRead2`` is given.
    for names in (("adapterread1", "adapter"), ("adapterread2", "adapter")):
        found = setting(*names)
        bad = found and not _ADAPTER.fullmatch(found[0].upper())
        if found and bad and not adapters.count(found[0].upper()):
            issues.add(f"adapter {found[0]!r} has characters other than ACGTN", found[1])
        adapters.append(found[0].upper() if found else None)

    samples = _samples(sections[data_name], issues, run_info, reads)
    if not_applicable and any(s.index2 for s in samples):
        issues.add(f"BarcodeMismatchesIndex2 is {not_applicable[0]!r}, but samples have an "
                   "index2; allowed values are 0, 1 and 2", not_applicable[1])  # fmt: skip
    return SampleSheet(
        version=version,
        header={key: value for key, value, _ in header.values()},
        reads=reads,
        settings=settings,
        samples=tuple(samples),
        barcode_mismatches_index1=mismatches[0],
        barcode_mismatches_index2=mismatches[1],
        override_cycles=override[0] if override else None,
        create_fastq_for_index_reads=_flag(setting("createfastqforindexreads"), issues),
        no_lane_splitting=_flag(setting("nolanesplitting"), issues),
        adapter_read1=adapters[0],
        adapter_read2=adapters[1],
    )


def _reads(section: Section | None, version: int, issues: SheetIssues) -> dict[str, int]:
    """v2: ``Read1Cycles,151``...; v1: one template read length a line, stored under the
    same names (``Read1Cycles``, ``Read2Cycles``) so that users need not care."""
    reads: dict[str, int] = {}
    for number, row in enumerate(section.rows if section else [], start=1):
        if version == 1 and len(row.cells) == 1:
            key, value = f"Read{number}Cycles", row.cells[0]
        else:
            key, value = row.cells[0], row.cells[1] if len(row.cells) > 1 else ""
        cycles = parse_count(value)
        if cycles is None:
            issues.add(f"[Reads] {key}: {value[:40]!r} is not a number of cycles", row.line)
            continue
        if cycles > MAX_CYCLES_PER_READ:
            issues.add(f"[Reads] {key}: {cycles} cycles; a read has at most "
                       f"{MAX_CYCLES_PER_READ}", row.line)  # fmt: skip
            continue
        reads[key] = cycles
    return reads


def _mismatches(value: str, key: str, line: int, issues: SheetIssues) -> int:
    if value.strip() in {"0", "1", "2"}:
        return int(value)
    issues.add(f"{_spelled(key)} is {value!r}; allowed values are 0, 1 and 2", line)
    return 1


def _spelled(key: str) -> str:
    return {"barcodemismatchesindex1": "BarcodeMismatchesIndex1",
            "barcodemismatchesindex2": "BarcodeMismatchesIndex2"}.get(key, key)  # fmt: skip


def _flag(found: tuple[str, int] | None, issues: SheetIssues) -> bool:
    if found is None:
        return False
    value = found[0].strip().lower()
    if value in {"1", "true", "yes", "y"}:
        return True
    if value not in {"0", "false", "no", "n"}:
        issues.add(f"{value!r} is not a yes/no value (use 1/0 or true/false)", found[1])
    return False


def _sheet_reads(reads: dict[str, int]) -> list[ReadInfo] | None:
    """The run's reads as a v2 ``[Reads]`` section describes them, or None if incomplete."""
    if "Read1Cycles" not in reads:
        return None
    parts = [
        (reads.get("Read1Cycles", 0), False),
        (reads.get("Index1Cycles", 0), True),
        (reads.get("Index2Cycles", 0), True),
        (reads.get("Read2Cycles", 0), False),
    ]
    kept = [(c, i) for c, i in parts if c]
    return [ReadInfo(number=n, cycles=c, is_index=i) for n, (c, i) in enumerate(kept, start=1)]


def _run_reads(run_info: RunInfo | None, reads: dict[str, int]) -> list[ReadInfo] | None:
    if run_info is not None:
        return list(run_info.reads)
    if "Index1Cycles" in reads or "Index2Cycles" in reads:  # only v2 names index reads
        return _sheet_reads(reads)
    return None


def _check_override(
    text: str, line: int, issues: SheetIssues, run_info: RunInfo | None, reads: dict[str, int]
) -> ReadPlan | None:
    run_reads = _run_reads(run_info, reads)
    try:
        plan = parse_override_cycles(text, run_reads=run_reads)
    except SampleSheetError as err:
        issues.add(err.message, line)
        return None
    if run_reads is not None:
        source = "RunInfo.xml" if run_info is not None else "[Reads]"
        for problem in check_read_plan(plan, run_reads):
            issues.add(problem.replace("RunInfo.xml", source), line)
    return plan


def _samples(
    section: Section, issues: SheetIssues, run_info: RunInfo | None, reads: dict[str, int]
) -> list[SampleRow]:
    if not section.rows:
        issues.add(f"[{section.name}] has no column header and no samples", section.line)
        raise FatalSheetError
    head = section.rows[0]
    columns = [c.lower() for c in head.cells]
    if "sample_id" not in columns and "sampleid" not in columns:
        fix = ""
        if "sample_name" in columns or "samplename" in columns:
            fix = ("; every sample needs a Sample_ID (it names the FASTQ files): add a "
                   "Sample_ID column, or rename Sample_Name to Sample_ID if those names are "
                   "the laboratory's sample ids")  # fmt: skip
        issues.add(f"[{section.name}] has no Sample_ID column (columns: "
                   f"{', '.join(head.cells)}){fix}", head.line)  # fmt: skip
        raise FatalSheetError
    if len(section.rows) - 1 > MAX_DATA_ROWS:
        issues.add(f"[{section.name}] has {len(section.rows) - 1} rows; a sheet has at most "
                   f"{MAX_DATA_ROWS}", section.rows[MAX_DATA_ROWS + 1].line)  # fmt: skip
        raise FatalSheetError
    for i, name in enumerate(columns):
        if name and name in columns[:i]:
            issues.add(f"column {head.cells[i]!r} appears twice", head.line)
        elif not name:
            issues.add(f"column {i + 1} of the [{section.name}] header is empty", head.line)
    if len(section.rows) == 1:
        issues.add(f"[{section.name}] lists no samples", head.line)
    samples = []
    for row in section.rows[1:]:
        sample = _sample(row, head.cells, issues, run_info, reads)
        if sample is not None:
            samples.append(sample)
    return samples


def _sample(
    row: CsvRow,
    head: list[str],
    issues: SheetIssues,
    run_info: RunInfo | None,
    reads: dict[str, int],
) -> SampleRow | None:
    if len(row.cells) > len(head):
        issues.add(f"{len(row.cells)} values for {len(head)} columns", row.line)
    values: dict[str, object] = {"line": row.line}
    extra: dict[str, str] = {}
    for name, cell in zip(head, row.cells + [""] * (len(head) - len(row.cells)), strict=False):
        target = _COLUMNS.get(name.lower())
        if target is None:
            extra[name] = cell
        elif cell:
            values[target] = cell
    values["extra"] = extra

    sample_id = str(values.get("sample_id", ""))
    if not sample_id:
        issues.add("empty Sample_ID", row.line)
        return None
    if not _SAMPLE_ID.fullmatch(sample_id):
        bad = sorted({c for c in sample_id if not _SAMPLE_ID.fullmatch(c)})
        # Not the value: a sheet with Sample_ID and Sample_Name swapped holds a name here.
        issues.add(
            "column Sample_ID has characters other than letters, digits, '-' and '_' "
            f"({' '.join(repr(c) for c in bad)}); it becomes file names and object keys "
            "(were Sample_ID and Sample_Name swapped?)",
            row.line,
        )
        sample_id = "Sample_ID"  # names the row in the messages below, not the value
    elif not NAME_PATTERN.match(sample_id):  # what the pipeline's keys accept
        issues.add("column Sample_ID must start with a letter or digit and have at most 128 "
                   "characters; it becomes file names and object keys",
                   row.line)  # fmt: skip
    for key in ("index", "index2"):
        bases = str(values.get(key, "")).upper()
        values[key] = bases
        if not _BASES.fullmatch(bases):
            issues.add(f"{sample_id}: {key} {bases!r} has bases other than ACGTN", row.line)
    if "lane" in values:
        lane = parse_count(str(values["lane"]))
        if lane is None or not 1 <= lane <= MAX_LANES:
            issues.add(f"{sample_id}: Lane {str(values['lane'])[:40]!r} is not a lane number "
                       f"(1 to {MAX_LANES})", row.line)  # fmt: skip
            values.pop("lane")
        else:
            values["lane"] = lane
            if run_info is not None and lane > run_info.lane_count:
                issues.add(f"{sample_id}: lane {lane}, but RunInfo.xml has "
                           f"{run_info.lane_count} lane(s)", row.line)  # fmt: skip
    if "role" in values:
        role = _ROLES.get(str(values["role"]).lower())
        if role is None:
            issues.add(f"{sample_id}: unknown Role {values['role']!r} (expected one of "
                       "proband, mother, father, sibling, tumour, normal)", row.line)  # fmt: skip
        values["role"] = role
    if "sex" in values:
        sex = _SEXES.get(str(values["sex"]).lower())
        if sex is None:
            issues.add(f"{sample_id}: unknown Sex {values['sex']!r} (expected M, F or "
                       "unknown)", row.line)  # fmt: skip
        values["sex"] = sex
    if "priority" in values:
        priority = str(values["priority"]).lower()
        if priority not in ("routine", "urgent"):
            issues.add(f"{sample_id}: unknown Priority {values['priority']!r} (expected "
                       "routine or urgent)", row.line)  # fmt: skip
        values["priority"] = priority if priority in ("routine", "urgent") else None
    for name, cell in extra.items():
        if name.lower() in _MISMATCH_KEYS and cell:
            if name.lower() == _MISMATCH_KEYS[1] and cell.lower() in _NOT_APPLICABLE:
                if values.get("index2"):
                    issues.add(f"{sample_id}: BarcodeMismatchesIndex2 is {cell!r}, but the "
                               "sample has an index2", row.line)  # fmt: skip
                continue
            _mismatches(cell, name.lower(), row.line, issues)
    if values.get("override_cycles"):
        _check_override(str(values["override_cycles"]), row.line, issues, run_info, reads)
    return SampleRow(**values)  # type: ignore[arg-type]


# -- checks across samples -----------------------------------------------------------


def _check_samples(sheet: SampleSheet, issues: SheetIssues, run_info: RunInfo | None) -> None:
    run_reads = _run_reads(run_info, sheet.reads)
    for sample in sheet.samples:
        _check_index_lengths(sheet, sample, run_reads, issues)
    for lane, rows in _by_lane(sheet.samples, run_info).items():
        where = f"lane {lane}" if lane is not None else "the run"
        # One sample over several rows with different indexes is one sample with several
        # barcodes; the same index twice is a duplicate.
        seen: dict[tuple[str, str, str], SampleRow] = {}
        for sample in rows:
            first = seen.setdefault((sample.sample_id, sample.index, sample.index2), sample)
            if first is not sample:
                same = " with the same index" if sample.index or sample.index2 else ""
                issues.add(f"Sample_ID {sample.sample_id!r} appears twice in {where}{same} "
                           f"(first at line {first.line})", sample.line)  # fmt: skip
        groups: dict[str | None, list[SampleRow]] = {}
        for sample in rows:
            groups.setdefault(sample.override_cycles or sheet.override_cycles, []).append(sample)
        for group in groups.values():
            if _same_lengths(group, where, issues):
                _check_collisions(sheet, group, where, issues)


def _by_lane(
    samples: Iterable[SampleRow], run_info: RunInfo | None
) -> dict[int | None, list[SampleRow]]:
    """Samples of each lane; a sample without a lane is in every lane."""
    samples = list(samples)
    lanes = {s.lane for s in samples if s.lane is not None}
    if run_info is not None and any(s.lane is None for s in samples):
        lanes |= set(range(1, run_info.lane_count + 1))
    if not lanes:
        return {None: samples}
    return {lane: [s for s in samples if s.lane in (lane, None)] for lane in sorted(lanes)}


def _check_index_lengths(
    sheet: SampleSheet, sample: SampleRow, run_reads: list[ReadInfo] | None, issues: SheetIssues
) -> None:
    text = sample.override_cycles or sheet.override_cycles
    plan = None
    if text:
        try:
            plan = parse_override_cycles(text, run_reads=run_reads)
        except SampleSheetError:
            return  # already reported where OverrideCycles is written
    lengths = (len(sample.index), len(sample.index2))
    if plan is not None:
        # BCL Convert reads exactly the I cycles: the index must be that long.
        wanted = plan.index_lengths() + (0, 0)
        for k, (have, want) in enumerate(zip(lengths, wanted[:2], strict=True), start=1):
            if have != want:
                issues.add(f"{sample.sample_id}: index{'' if k == 1 else '2'} has {have} bases, "
                           f"but OverrideCycles {text!r} reads {want} index-{k} cycles",
                           sample.line)  # fmt: skip
        return
    if run_reads is None:
        return
    cycles = [r.cycles for r in run_reads if r.is_index] + [0, 0]
    for k, (have, can) in enumerate(zip(lengths, cycles[:2], strict=True), start=1):
        if have > can:
            issues.add(f"{sample.sample_id}: index{'' if k == 1 else '2'} has {have} bases, "
                       f"but index read {k} has {can} cycles", sample.line)  # fmt: skip


def _same_lengths(rows: list[SampleRow], where: str, issues: SheetIssues) -> bool:
    if not rows:
        return True
    first = rows[0]
    for sample in rows[1:]:
        for key in ("index", "index2"):
            a, b = getattr(first, key), getattr(sample, key)
            if len(a) != len(b):
                issues.add(f"{sample.sample_id}: {key} has {len(b)} bases, but "
                           f"{first.sample_id} (line {first.line}) in {where} has {len(a)}; "
                           "indexes of one lane must have one length", sample.line)  # fmt: skip
                return False
    return True


def _tolerance(sheet: SampleSheet, sample: SampleRow, k: int) -> int:
    own = next((v for n, v in sample.extra.items() if n.lower() == _MISMATCH_KEYS[k - 1]), "")
    if own.strip() in {"0", "1", "2"}:
        return int(own)
    return sheet.barcode_mismatches_index1 if k == 1 else sheet.barcode_mismatches_index2


def _index_matrix(rows: list[SampleRow], key: str) -> np.ndarray:
    """One row of code points per sample (indexes of one length)."""
    width = len(getattr(rows[0], key)) if rows else 0
    codes = (ord(c) for r in rows for c in getattr(r, key))
    return np.fromiter(codes, dtype=np.uint32, count=len(rows) * width).reshape(len(rows), width)


def _check_collisions(
    sheet: SampleSheet, rows: list[SampleRow], where: str, issues: SheetIssues
) -> None:
    """Pairs of samples a read could match both of (see the module docstring)."""
    # A row repeating another's sample and index is reported as a duplicate, not again here.
    first: dict[tuple[str, str, str], SampleRow] = {}
    for row in rows:
        first.setdefault((row.sample_id, row.index, row.index2), row)
    rows = list(first.values())
    # The pair test is quadratic (3,072 rows: 4.7 million pairs), so each row is compared
    # with all earlier ones at once; indexes of one group have one length (checked before).
    tol1 = np.array([_tolerance(sheet, r, 1) for r in rows], dtype=np.int64)
    tol2 = np.array([_tolerance(sheet, r, 2) for r in rows], dtype=np.int64)
    m1, m2 = _index_matrix(rows, "index"), _index_matrix(rows, "index2")
    owners: dict[str, int] = {}
    owner = np.array([owners.setdefault(r.sample_id, len(owners)) for r in rows])
    listed = hidden = 0

    def collide(message: str, line: int) -> None:
        nonlocal listed, hidden
        if listed < MAX_COLLISIONS_REPORTED:
            issues.add(message, line)
            listed += 1
        else:
            hidden += 1

    for j in range(1, len(rows)):
        d1s = (m1[:j] != m1[j]).sum(axis=1)
        close = (d1s <= tol1[:j] + tol1[j]) & (owner[:j] != owner[j])  # same sample: fine
        if not close.any():
            continue
        d2s = (m2[:j] != m2[j]).sum(axis=1)
        close &= d2s <= tol2[:j] + tol2[j]
        b = rows[j]
        for i in np.flatnonzero(close).tolist():
            a, d1, d2 = rows[i], int(d1s[i]), int(d2s[i])
            pair_a = "+".join(x for x in (a.index, a.index2) if x) or "no index"
            pair_b = "+".join(x for x in (b.index, b.index2) if x) or "no index"
            head = (f"index collision in {where}: {a.sample_id} (line {a.line}, {pair_a}) and "
                    f"{b.sample_id} (line {b.line}, {pair_b})")  # fmt: skip
            if d1 == 0 and d2 == 0:
                collide(f"{head} have the same index; no mismatch setting can tell them "
                        "apart", b.line)  # fmt: skip
                continue
            fixes = []
            if d1:
                fixes.append(f"BarcodeMismatchesIndex1 to {(d1 - 1) // 2}")
            if d2:
                fixes.append(f"BarcodeMismatchesIndex2 to {(d2 - 1) // 2}")
            collide(f"{head} differ by {d1} base(s) in index 1 and {d2} in index 2, so a "
                    f"read within the allowed mismatches could match both; lower "
                    f"{' or '.join(fixes)}", b.line)  # fmt: skip
    if hidden:
        issues.add(f"index collision in {where}: {hidden} more pair(s) not listed", rows[-1].line)
