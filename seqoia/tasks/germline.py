"""The germline pipeline, from a run folder to a delivered report.

    validate_run (run) -> demultiplex (per part: a lane or a tile range)
                       -> demux_stats (run)
        -> align -> markduplicates -> call_variants -> qc  (per sample)
        -> annotate -> report -> deliver (review area)  -> seqoia release -> outbox
        markduplicates (tumour + normal) -> somatic -> copy_number -> pair_report
                                         -> deliver_pair                   (per pair)
    markduplicates of every family member (any run) -> family_analysis (family: joint
        call, pedigree checks, de novo, inheritance) -> deliver_family (review area)

Importing this module declares every stage into ``pipeline`` and checks the graph they
form, so that an unknown upstream stage or a cycle fails here, at import.
"""

from __future__ import annotations

# Stage modules declare in any order: the graph is checked once all of them are imported.
from seqoia.tasks import (  # noqa: F401
    alignment,
    annotation,
    calling,
    delivery,
    family,  # rare-disease families
    pair_delivery,  # tumour/normal pairs
    quality,
    run_reports,
    runs,
    somatic,  # tumour/normal pairs
)
from seqoia.tasks.registry import pipeline

pipeline.check()

__all__ = ["pipeline"]
