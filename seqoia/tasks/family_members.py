"""Family membership: who belongs to a rare-disease family, from the sample sheets.

A family is declared by the sample sheets' ``Family``, ``Role`` and ``Sex`` columns; its
members may come from several runs. Two checks use these rules:

* :func:`check_sheet_families`, at ``validate_run``: what one sheet alone shows to be
  wrong (two probands, a father declared female, a mother declared male, two mothers or
  fathers, one family id for two centres) fails the run with the sheet line, before any
  compute.
* :func:`family_pedigree`, at ``family_analysis``: the pedigree from every run that
  lists a member, with the checks across runs (a family id reused by another centre, a
  sample given two roles), and the composition of the analysis (trio, duo without the
  father, ...).
* :func:`family_waiting`, the family stages' ``members_ready``: a family no run has given
  a proband yet *waits* (a reason in ``seqoia status``), it does not fail.

Rows whose role is ``tumour`` or ``normal`` are a tumour/normal pair, not a family.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from seqoia.errors import InputError, SampleSheetError
from seqoia.genomics.pedigree import Member, Pedigree, PedigreeError, validate_pedigree
from seqoia.illumina.models import SampleRow

#: Roles of a rare-disease family (the sample sheet's ``Role`` column, normalised).
FAMILY_ROLES = ("proband", "mother", "father", "sibling")
#: Roles of a tumour/normal pair: such rows are no family's members.
PAIR_ROLES = ("tumour", "normal")
#: A family id: one segment of an object key (``vocabulary.NAME_PATTERN``) that a
#: :class:`~seqoia.genomics.pedigree.Pedigree` accepts too (no ``+``).
FAMILY_ID = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")


class FamilyWaitingError(InputError):
    """A family cannot be analysed yet: no run has listed its proband.

    The planner does not start the stage then (:func:`family_waiting`); this guards a
    direct call. A later run that lists the proband links a new member and wakes it.
    """


def is_family_row(role: str | None) -> bool:
    """Whether a sample-sheet row with ``role`` belongs to a rare-disease family."""
    return role not in PAIR_ROLES


def check_sheet_families(rows: Sequence[SampleRow], run: str) -> None:
    """Refuse a sheet whose families no analysis can use; the error names the line."""
    families: dict[str, list[SampleRow]] = defaultdict(list)
    seen: set[tuple[str, str]] = set()
    for row in rows:
        if row.family and not FAMILY_ID.match(row.family):
            # Not the value: a family id may have been filled in with a surname.
            raise SampleSheetError(
                "column Family is not a family id (letters, digits, '.', '_', '-'; at most "
                "128, starting with a letter or digit)",
                run=run,
                file="SampleSheet.csv",
                line=row.line,
            )
        if row.family and is_family_row(row.role) and (row.family, row.sample_id) not in seen:
            seen.add((row.family, row.sample_id))  # a sample on two lanes is one member
            families[row.family].append(row)
    for family, members in families.items():
        first = members[0]
        for row in members[1:]:
            if (row.centre or "default") != (first.centre or "default"):
                raise SampleSheetError(
                    f"family {family} is listed for centre {first.centre or 'default'!r} "
                    f"(line {first.line}) and centre {row.centre or 'default'!r}: one family "
                    "id cannot be used by two centres",
                    run=run,
                    file="SampleSheet.csv",
                    line=row.line,
                )
        for role in ("proband", "mother", "father"):
            holders = [row for row in members if row.role == role]
            if len(holders) > 1:
                names = ", ".join(f"{r.sample_id} (line {r.line})" for r in holders)
                raise SampleSheetError(
                    f"family {family} has {len(holders)} members with role {role}: {names}",
                    run=run,
                    file="SampleSheet.csv",
                    line=holders[1].line,
                )
        for row in members:
            wrong = {"father": "female", "mother": "male"}.get(row.role or "")
            if wrong is not None and row.sex == wrong:
                raise SampleSheetError(
                    f"family {family}: {row.role} {row.sample_id} is declared {wrong}",
                    run=run,
                    file="SampleSheet.csv",
                    line=row.line,
                )


def family_records(
    family: str, runs: Mapping[str, Mapping[str, Any]]
) -> dict[str, tuple[str, dict[str, Any]]]:
    """Sample -> (run, its record) for every member of ``family`` in the runs' summaries.

    ``runs`` maps a run id to its ``validate_run`` summary. A sample listed by two runs
    (re-sequenced) must keep its role, sex and centre.
    """
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for run in sorted(runs):
        for sample, record in runs[run].get("samples", {}).items():
            if record.get("family") != family or not is_family_row(record.get("role")):
                continue
            if sample in found:
                before_run, before = found[sample]
                for key in ("role", "sex", "centre"):
                    if before.get(key) != record.get(key):
                        raise PedigreeError(
                            f"family {family}: sample {sample} has {key} "
                            f"{before.get(key)!r} in run {before_run} and "
                            f"{record.get(key)!r} in run {run}"
                        )
                continue
            found[sample] = (run, dict(record))
    return found


def family_centre(family: str, records: Mapping[str, tuple[str, dict[str, Any]]]) -> str:
    """The one centre of the family's members; two centres mean a reused family id."""
    centres: dict[str, str] = {}
    for _sample, (run, record) in sorted(records.items()):
        centres.setdefault(record.get("centre") or "default", run)
    if len(centres) > 1:
        listed = " and ".join(f"centre {c!r} (run {r})" for c, r in sorted(centres.items()))
        raise PedigreeError(
            f"family id {family} is used by {listed}: one family id cannot be used by two "
            "centres; give one of them a new family id"
        )
    return next(iter(centres), "default")


def family_pedigree(
    family: str,
    records: Mapping[str, tuple[str, dict[str, Any]]],
    *,
    without: Iterable[str] = (),
) -> Pedigree:
    """The validated pedigree of ``family``'s members, less the samples ``without``.

    Raises :class:`FamilyWaitingError` when no run lists a proband yet (naming the members
    it has), and :class:`PedigreeError` for an inconsistent family.
    """
    left_out = set(without)
    members = [
        Member.model_validate(
            {
                "sample": sample,
                "role": record.get("role") if record.get("role") in FAMILY_ROLES else "other",
                "sex": record.get("sex") or "unknown",
                "affected": record.get("role") == "proband",
            }
        )
        for sample, (_run, record) in records.items()
        if sample not in left_out
    ]
    if not any(m.role == "proband" for m in members):
        have = ", ".join(f"{m.sample} ({m.role})" for m in members) or "no member"
        runs = ", ".join(sorted({run for run, _ in records.values()}))
        raise FamilyWaitingError(
            f"family {family} waits for its proband: run(s) {runs} list {have}; the family "
            "is analysed once a run lists the proband"
        )
    # Proband first, then mother and father: the joint VCF's and the report's order.
    order = {role: i for i, role in enumerate(FAMILY_ROLES)}
    members.sort(key=lambda m: (order.get(m.role, len(order)), m.sample))
    return validate_pedigree(Pedigree(family=family, members=tuple(members)))


def family_waiting(family: str, upstream: Mapping[str, Sequence[Mapping[str, Any]]]) -> str | None:
    """Why ``family``'s stages cannot start yet (no run lists its proband), if so.

    ``upstream`` maps upstream stage names to the summaries of their committed manifests
    (the planner's view). Conflicts between runs are not a reason to wait: the stage runs
    and fails with them, naming the samples.
    """
    summaries = upstream.get("validate_run", ())
    try:  # keyed by position: summaries carry no run id, and the message names none
        records = family_records(family, {f"{i:06d}": s for i, s in enumerate(summaries)})
    except InputError:
        return None
    if any(record.get("role") == "proband" for _run, record in records.values()):
        return None
    have = ", ".join(f"{sample} ({record.get('role')})" for sample, (_r, record) in
                     sorted(records.items())) or "no member"  # fmt: skip
    return f"family {family}: no run lists its proband yet (sequenced: {have})"


def composition(pedigree: Pedigree) -> str:
    """What the analysis is, as every output labels it: ``trio``, ``duo (no father)``..."""
    parents = [r for r in ("mother", "father") if pedigree.role(r) is not None]
    siblings = sum(1 for m in pedigree.members if m.role == "sibling")
    if len(parents) == 2:
        label = "trio" if siblings == 0 else f"trio + {siblings} sibling(s)"
    elif len(parents) == 1:
        missing = "father" if parents == ["mother"] else "mother"
        label = f"duo (no {missing})"
    else:
        label = "proband only (no parent)"
    return label
