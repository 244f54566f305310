"""The small in-process fuzz run of the parser tests (``bench/fuzz.py`` runs the large one)."""

from __future__ import annotations

from bench.fuzzing import FuzzKind, case_bytes, outcome


def check_mutants(name: str, kind: FuzzKind, cases: int, *, refuses: bool = True) -> None:
    """Run ``cases`` seeded mutants of ``kind``: none may crash, both sides must be reached.

    ``refuses``: the kind must refuse more than a tenth of them (a parser that may refuse
    nothing, or whose bad input is taken over rather than refused, passes False).
    """
    results: dict[str, list[tuple[int, str]]] = {"accepted": [], "clean": [], "crash": []}
    for index in range(cases):
        result, detail = outcome(kind, case_bytes(name, kind, index))
        results[result].append((index, detail))

    assert results["crash"] == [], f"{name}: crashes {results['crash'][:3]}"
    # The seeds are valid, and the mutator reaches both sides of the parser.
    refused_seeds = [index for index, _ in results["clean"] if index < len(kind.seeds)]
    assert refused_seeds == [], f"{name}: valid seeds refused {refused_seeds}"
    if refuses:
        assert len(results["clean"]) > cases // 10, f"{name}: {len(results['clean'])} refused"
    assert len(results["accepted"]) > len(kind.seeds), f"{name}: too few accepted"
