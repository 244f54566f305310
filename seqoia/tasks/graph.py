"""The dependency order of a pipeline's stages, checked once every stage is declared.

Stages may be declared in any order (one module per stage family, imported in any
order); the graph they form is checked when the pipeline is complete: every upstream
stage must be declared and no stage may depend on itself, directly or through others.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from seqoia.errors import DeclarationError


def dependency_order(needs: Mapping[str, Sequence[str]], pipeline: str) -> list[str]:
    """Stage names with every stage after its upstream stages.

    ``needs`` maps each declared stage to its upstream stages, in declaration order. The
    order is stable: a pipeline declared upstream first keeps its declaration order, so
    that listings and reprocessing plans read as they are written. Raises
    :class:`DeclarationError` naming every unknown upstream stage, or one cycle.
    """
    unknown = [
        f"stage {name!r} of pipeline {pipeline!r}: unknown upstream stage {upstream!r}"
        for name, upstreams in needs.items()
        for upstream in upstreams
        if upstream not in needs
    ]
    if unknown:
        declared = ", ".join(needs) or "none"
        raise DeclarationError("; ".join(unknown) + f" (declared stages: {declared})")

    order: list[str] = []
    placed: set[str] = set()
    for root in needs:
        if root in placed:
            continue
        # Depth-first with an explicit stack: the path from ``root`` is what a cycle shows.
        path: list[str] = [root]
        pending: list[list[str]] = [list(needs[root])]
        while path:
            if not pending[-1]:
                name = path.pop()
                pending.pop()
                placed.add(name)
                order.append(name)
                continue
            upstream = pending[-1].pop(0)
            if upstream in placed:
                continue
            if upstream in path:
                cycle = [*path[path.index(upstream) :], upstream]
                raise DeclarationError(
                    f"pipeline {pipeline!r}: stages depend on each other in a cycle: "
                    + " -> ".join(reversed(cycle))
                )
            path.append(upstream)
            pending.append(list(needs[upstream]))
    return order
