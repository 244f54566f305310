"""Tumour/normal pairs as the sample sheet declares them: ``Pair_ID``, ``Role``, ``Analysis``.

A pair is a tumour and its matched normal from the same patient, grouped by column
``Pair_ID`` with ``Role`` ``tumour`` or ``normal``. Column ``Analysis`` set to
``tumour_only`` on the tumour's row asks for the tumour's analysis without a normal (then
labelled so in every output). :func:`sheet_pairs` checks what one sheet says (used by
``seqoia validate`` and by the pipeline's ``validate_run``); :func:`check_members` judges
the members that one or several sheets name (a pair's members may come in two runs).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from seqoia.errors import InputError, SampleSheetError
from seqoia.illumina.models import SampleRow
from seqoia.vocabulary import NAME_PATTERN

#: ``Analysis`` value asking for a tumour's analysis without a matched normal.
TUMOUR_ONLY = "tumour_only"
_ANALYSES = {"tumour_only": TUMOUR_ONLY, "tumor_only": TUMOUR_ONLY, "paired": "paired", "": ""}


class PairMembers(BaseModel):
    """The members of one pair as the sample sheets of its runs name them."""

    model_config = ConfigDict(frozen=True)

    pair: str
    tumour: str | None = None
    normal: str | None = None
    tumour_only: bool = False
    centre: str = "default"

    @property
    def name(self) -> str:
        """``<tumour>_vs_<normal>`` (or ``<tumour>_tumour_only``): the pair's file stem."""
        if self.normal is None:
            return f"{self.tumour}_tumour_only"
        return f"{self.tumour}_vs_{self.normal}"

    @property
    def samples(self) -> list[str]:
        return [s for s in (self.tumour, self.normal) if s is not None]


def analysis_of(row: SampleRow, *, run: str | None = None) -> str:
    """The row's ``Analysis`` value, normalised (``tumour_only``, ``paired`` or empty)."""
    value = (row.analysis or "").strip().lower()
    if value not in _ANALYSES:
        raise SampleSheetError(
            f"{row.sample_id}: unknown Analysis {row.analysis!r} (expected tumour_only or paired)",
            run=run,
            file="SampleSheet.csv",
            line=row.line,
        )
    return _ANALYSES[value]


def sheet_pairs(rows: Sequence[SampleRow], *, run: str | None = None) -> dict[str, list[SampleRow]]:
    """Pair id -> its rows in one sample sheet, after checking what the sheet says.

    Refused, naming the line: a tumour or normal without ``Pair_ID`` (a tumour may not
    wait for a normal nobody named, unless ``Analysis=tumour_only``), a ``Pair_ID`` on a
    row without role tumour/normal, two tumours or two normals in one pair, a pair whose
    rows name two centres, and a tumour-only pair that lists a normal. A pair with a
    tumour only (or a normal only) is accepted: its other member may come in another run.
    """
    pairs: dict[str, list[SampleRow]] = {}
    seen: set[str] = set()
    for row in rows:
        if row.sample_id in seen:  # one row per lane: judge a sample once
            continue
        seen.add(row.sample_id)
        analysis = analysis_of(row, run=run)
        where: dict[str, Any] = {"run": run, "file": "SampleSheet.csv", "line": row.line}
        if row.pair is None:
            if row.role == "tumour" and analysis != TUMOUR_ONLY:
                raise SampleSheetError(
                    f"tumour {row.sample_id} has no Pair_ID naming its matched normal "
                    f"(set Analysis={TUMOUR_ONLY} for a tumour-only analysis)",
                    **where,
                )
            if row.role == "normal":
                raise SampleSheetError(
                    f"normal {row.sample_id} has no Pair_ID naming its tumour", **where
                )
            if row.role == "tumour":  # tumour-only without a pair id: a pair of its own
                pairs[row.sample_id] = [row]
            continue
        if row.role not in ("tumour", "normal"):
            raise SampleSheetError(
                f"{row.sample_id}: Pair_ID {row.pair} needs Role tumour or normal, "
                f"not {row.role or 'none'}",
                **where,
            )
        if not NAME_PATTERN.match(row.pair):  # it names the pair's keys and files
            raise SampleSheetError(
                "column Pair_ID is not an identifier (letters, digits, '.', '_', '+', '-'; "
                "at most 128, starting with a letter or digit)",
                **where,
            )
        pairs.setdefault(row.pair, []).append(row)
    for pair, members in pairs.items():
        check_members(
            pair,
            [_record(row) for row in members],
            run=run,
            line_of={row.sample_id: row.line for row in members},
        )
    return pairs


def _record(row: SampleRow) -> dict[str, Any]:
    return {
        "sample": row.sample_id,
        "role": row.role,
        "centre": row.centre or "default",
        "analysis": analysis_of(row),
    }


def check_members(
    pair: str,
    records: Iterable[Mapping[str, Any]],
    *,
    run: str | None = None,
    line_of: Mapping[str, int] | None = None,
) -> PairMembers:
    """The pair's members from sample records (``sample``, ``role``, ``centre``,
    ``analysis``), or an InputError naming the conflict (a SampleSheetError with the line
    when ``line_of`` is given)."""
    by_role: dict[str, list[str]] = {"tumour": [], "normal": []}
    centres: dict[str, str] = {}
    tumour_only = False
    for record in records:
        sample = record["sample"]
        role = record.get("role")
        if role in by_role and sample not in by_role[role]:
            by_role[role].append(sample)
        centres[sample] = record.get("centre") or "default"
        tumour_only = tumour_only or record.get("analysis") == TUMOUR_ONLY

    def refuse(message: str, sample: str) -> InputError:
        line = (line_of or {}).get(sample)
        cls = SampleSheetError if line_of is not None else InputError
        return cls(message, run=run, file="SampleSheet.csv", line=line)

    for role, samples in by_role.items():
        if len(samples) > 1:
            raise refuse(
                f"pair {pair} has two {role}s: {' and '.join(samples)} (one tumour and one "
                "normal per Pair_ID)",
                samples[1],
            )
    if len(set(centres.values())) > 1:
        named = ", ".join(f"{s} at {c}" for s, c in sorted(centres.items()))
        raise refuse(f"pair {pair} names two centres: {named}", sorted(centres)[-1])
    tumour = by_role["tumour"][0] if by_role["tumour"] else None
    normal = by_role["normal"][0] if by_role["normal"] else None
    if tumour_only and normal is not None:
        raise refuse(
            f"pair {pair} asks for Analysis={TUMOUR_ONLY} but lists normal {normal}", normal
        )
    return PairMembers(
        pair=pair,
        tumour=tumour,
        normal=normal,
        tumour_only=tumour_only,
        centre=next(iter(centres.values()), "default"),
    )
