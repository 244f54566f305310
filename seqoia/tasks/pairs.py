"""Tumour/normal pairs in the pipeline: a pair's members over its runs, and whether it is whole.

The sample sheet's rules live in :mod:`seqoia.illumina.pairs`; here, the pair's stages
merge what the ``validate_run`` summaries of every run linked to the pair say
(:func:`pair_members`) and wait until the pair is whole (:func:`pair_waiting`): the
normal is often sequenced in another run than its tumour.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from seqoia.errors import InputError
from seqoia.illumina.pairs import PairMembers, check_members

__all__ = ["PairMembers", "pair_members", "pair_records", "pair_waiting"]


def pair_records(pair: str, run_summaries: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The sample records of ``pair`` in the ``validate_run`` summaries of its runs."""
    found = []
    for summary in run_summaries:
        for record in summary.get("samples", {}).values():
            if record.get("pair") == pair:
                found.append(dict(record))
    return found


def pair_members(pair: str, run_summaries: Iterable[Mapping[str, Any]]) -> PairMembers:
    """The pair's members over every run that named them (an InputError on a conflict).

    Two runs may each list a normal for one pair, or name two centres: each sheet alone
    was fine, together they are not, and the pair fails with both samples named.
    """
    return check_members(pair, pair_records(pair, run_summaries))


def pair_waiting(pair: str, upstream: Mapping[str, Sequence[Mapping[str, Any]]]) -> str | None:
    """Why ``pair``'s stages cannot start yet (its normal not sequenced yet), if so.

    ``upstream`` maps upstream stage names to the summaries of their committed manifests
    (the planner's view). A conflict between runs is not a reason to wait: the stage runs
    and fails with it, so that status shows it.
    """
    try:
        members = pair_members(pair, upstream.get("validate_run", ()))
    except InputError:
        return None
    if members.tumour is None:
        return f"pair {pair}: no tumour in any run yet (normal {members.normal})"
    if members.normal is None and not members.tumour_only:
        return f"pair {pair}: the normal of tumour {members.tumour} is in no run yet"
    return None
