"""The germline pipeline, from a run folder to a delivered report.

    validate_run (run) -> demultiplex (run) -> align -> markduplicates -> call_variants
        -> qc -> report -> deliver                                 (per sample)

Importing this module declares every stage, in dependency order, into ``pipeline``.
"""

from __future__ import annotations

# Each stage module imports the modules of its upstream stages, so any order works here.
from seqoia.tasks import alignment, calling, delivery, quality, runs  # noqa: F401
from seqoia.tasks.registry import pipeline

__all__ = ["pipeline"]
