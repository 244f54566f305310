"""The germline pipeline, from a run folder to a delivered report.

    validate_run (run) -> demultiplex (run) -> align -> markduplicates -> call_variants
        -> qc -> report -> deliver                                 (per sample)

Importing this module declares every stage, in dependency order, into ``pipeline``.
"""

from __future__ import annotations

# Declaration order is dependency order: a stage's upstream must exist first.
from seqoia.tasks import runs  # noqa: F401, I001
from seqoia.tasks import alignment  # noqa: F401
from seqoia.tasks import calling  # noqa: F401
from seqoia.tasks import quality  # noqa: F401
from seqoia.tasks import delivery  # noqa: F401
from seqoia.tasks.registry import pipeline

__all__ = ["pipeline"]
