"""The germline pipeline, from a run folder to a delivered report.

    validate_run (run) -> demultiplex (run) -> align -> markduplicates -> call_variants
        -> qc -> report -> deliver                                 (per sample)

Importing this module declares every stage, in dependency order, into ``pipeline``.
"""

from __future__ import annotations

# Declaration order is dependency order: a stage's upstream must exist first.
from seqoia.tasks import (
    alignment,  # noqa: F401
    calling,  # noqa: F401
    delivery,  # noqa: F401
    quality,  # noqa: F401
    runs,  # noqa: F401, I001
)
from seqoia.tasks.registry import pipeline

__all__ = ["pipeline"]
