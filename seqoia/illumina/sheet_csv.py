"""Reading a sample sheet's CSV: bytes to text, rows, ``[Section]``s, and the issue list.

The lexical layer under :mod:`seqoia.illumina.samplesheet`: everything here knows CSV and
sections, nothing knows samples. Problems are collected in :class:`SheetIssues` (each a
:class:`SampleSheetError` with its 1-based line); :class:`FatalSheetError` stops reading a
sheet that cannot be read further.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from seqoia.errors import SampleSheetError

#: Largest sheet read: MAX_DATA_ROWS rows of 200 bytes is 0.6 MB; past 16 MiB it is not
#: a sample sheet.
MAX_SHEET_BYTES = 16 << 20


@dataclass
class CsvRow:
    line: int
    cells: list[str]


@dataclass
class Section:
    name: str
    line: int
    rows: list[CsvRow] = field(default_factory=list)


@dataclass
class SheetIssues:
    file: str
    run: str | None
    found: list[SampleSheetError] = field(default_factory=list)

    def add(self, message: str, line: int | None) -> None:
        self.found.append(SampleSheetError(message, run=self.run, file=self.file, line=line))

    def collapsed(self) -> list[SampleSheetError]:
        """In line order, one error per message: a message repeated on other lines (the
        same bad setting on every row) names them instead of being repeated."""
        by_message: dict[str, list[int | None]] = {}
        for err in sorted(self.found, key=lambda e: e.line if e.line is not None else 0):
            by_message.setdefault(err.message, []).append(err.line)
        out = []
        for message, lines in by_message.items():
            others = sorted({n for n in lines[1:] if n is not None and n != lines[0]})
            if others:
                message = f"{message} (also on line{'s' if len(others) > 1 else ''} " \
                          f"{line_ranges(others)})"  # fmt: skip
            out.append(SampleSheetError(message, run=self.run, file=self.file, line=lines[0]))
        return out


def line_ranges(lines: list[int]) -> str:
    """``[3, 4, 5, 9]`` -> ``"3-5, 9"``."""
    spans: list[list[int]] = []
    for n in lines:
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(f"{a}-{b}" if b > a else str(a) for a, b in spans)


class FatalSheetError(Exception):
    """The sheet cannot be read further (no data section, no Sample_ID column)."""


def decode_sheet(data: str | bytes, issues: SheetIssues) -> str:
    """The sheet's text; bytes that are not UTF-8 are fatal (see the module docstring)."""
    if len(data) > MAX_SHEET_BYTES:
        issues.add(f"{len(data)} bytes is too large for a sample sheet "
                   f"(at most {MAX_SHEET_BYTES >> 20} MiB)", None)  # fmt: skip
        raise FatalSheetError
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        issues.add(
            f"not UTF-8: byte 0x{data[err.start]:02X} at byte offset {err.start} (byte "
            f"{column} of the line) cannot be decoded; save the sheet as UTF-8 "
            "(Excel: 'CSV UTF-8')",
            line,
        )
        raise FatalSheetError from None


def csv_rows(text: str, issues: SheetIssues) -> list[CsvRow]:
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[CsvRow] = []
    previous = 0
    try:
        for record in reader:
            line = previous + 1
            previous = reader.line_num
            cells = [c.strip() for c in record]
            while cells and not cells[-1]:
                cells.pop()
            if cells:
                rows.append(CsvRow(line, cells))
    except csv.Error as err:  # a field past csv's size limit, a NUL byte
        issues.add(f"unreadable CSV: {err}", reader.line_num or 1)
        raise FatalSheetError from None
    return rows


def sections_of(rows: list[CsvRow], issues: SheetIssues) -> dict[str, Section]:
    """Sections by lower-case name."""
    sections: dict[str, Section] = {}
    current: Section | None = None
    for row in rows:
        first = row.cells[0]
        if first.startswith("[") and first.endswith("]"):
            name = first[1:-1].strip()
            if name.lower() in sections:
                issues.add(
                    f"section [{name}] appears twice (first at line {sections[name.lower()].line})",
                    row.line,
                )
            current = sections.setdefault(name.lower(), Section(name, row.line))
        elif first.startswith("#"):
            continue
        elif current is None:
            issues.add("data before the first [Section] line", row.line)
        else:
            current.rows.append(row)
    return sections


def key_values(section: Section | None) -> dict[str, tuple[str, str, int]]:
    """``lower-case key -> (key as written, value, line)``."""
    out: dict[str, tuple[str, str, int]] = {}
    for row in section.rows if section else []:
        value = row.cells[1] if len(row.cells) > 1 else ""
        out[row.cells[0].lower()] = (row.cells[0], value, row.line)
    return out
