"""The test pipelines' run folder: complete once ``CopyComplete.txt`` is in it.

One definition for every test pipeline whose first stage reads a run folder (toy,
observed, prioritised, loadsim), as the real pipeline has one in ``seqoia.illumina``, and
the declaration of that first stage.
"""

from __future__ import annotations

from collections.abc import Callable

from seqoia.tasks.stage import Pipeline, RunFolderMarkers, StageFunction
from seqoia.vocabulary import ObjectInfo

MARKER = "CopyComplete.txt"
#: The object whose arrival routes the run's first stage.
MARKERS = RunFolderMarkers((MARKER,))


def copy_complete(listing: list[ObjectInfo], grace_s: float) -> str | None:
    """None once the folder holds ``CopyComplete.txt``, else why it waits (no grace)."""
    names = {info.key.rsplit("/", 1)[-1] for info in listing}
    return None if MARKER in names else f"waiting for {MARKER}"


def run_folder_stage(pipeline: Pipeline, name: str) -> Callable[[StageFunction], StageFunction]:
    """Declare ``name`` as ``pipeline``'s first stage: it reads the run folder, inline."""
    return pipeline.stage(
        name,
        kind="run",
        version="1",
        source=True,
        isolation="inline",
        source_ready=copy_complete,
        markers=MARKERS,
        queue="runs",
    )
