"""Seeded fuzzing of the clinical inputs at a small size (``bench/fuzz.py`` runs the large
one): every mutated sample sheet with clinical columns (through ``validate_run`` and the
family and pair stages), manifest, release record, override and lease read back from the
store, and gene panel is either accepted or refused with an InputError naming the run, key
or file (a lease: taken over, or found busy)."""

from __future__ import annotations

import pytest

from bench.fuzz import discover
from bench.fuzz_clinical import KINDS
from tests.fuzz_checks import check_mutants

CASES_PER_KIND = 200
#: A corrupt lease is not refused but taken over (as expired): it is "clean" (busy) only
#: when a mutant happens to move its expiry into the future.
TAKEN_OVER = {"lease"}


@pytest.mark.parametrize("name", sorted(KINDS))
def test_mutated_clinical_inputs_are_accepted_or_refused_cleanly(name: str) -> None:
    check_mutants(name, KINDS[name], CASES_PER_KIND, refuses=name not in TAKEN_OVER)


def test_the_clinical_kinds_are_discovered() -> None:
    assert set(KINDS) <= set(discover())
