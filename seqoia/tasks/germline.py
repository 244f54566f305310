"""The germline pipeline, from a run folder to a delivered report.

    validate_run (run) -> demultiplex (per part: a lane or a tile range)
                       -> demux_stats (run)
        -> align -> markduplicates -> call_variants -> qc -> report -> deliver  (per sample)

Importing this module declares every stage, in dependency order, into ``pipeline``.
"""

from __future__ import annotations

# Each stage module imports the modules of its upstream stages, so any order works here.
from seqoia.tasks import alignment, calling, delivery, quality, run_reports, runs  # noqa: F401
from seqoia.tasks.registry import pipeline

__all__ = ["pipeline"]
