"""When has a run folder finished arriving, and did the instrument finish the run?

NovaSeq 6000/X copy jobs write ``CopyComplete.txt`` last. Older instruments only write
``RTAComplete.txt`` when base calling ends, possibly before the copy has finished, so
that marker counts only after a grace period. ``RunCompletionStatus.xml`` says whether
the run itself completed as planned.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from seqoia.errors import RunFolderError
from seqoia.vocabulary import ObjectInfo

COPY_COMPLETE = "CopyComplete.txt"
RTA_COMPLETE = "RTAComplete.txt"
COMPLETION_STATUS = "RunCompletionStatus.xml"
#: Every completion marker, most telling first (CopyComplete is written after the copy).
COMPLETION_MARKERS = (COPY_COMPLETE, RTA_COMPLETE, COMPLETION_STATUS)
#: Markers that may be written before the copy has finished: they count after a grace.
EARLY_MARKERS = frozenset({RTA_COMPLETE})
_STATUS = re.compile(rb"<CompletionStatus>\s*([^<\s]+)\s*</CompletionStatus>")
_MESSAGE = re.compile(rb"<ErrorDescription>\s*([^<]*)</ErrorDescription>")


def run_folder_ready(listing: list[ObjectInfo], grace_s: float) -> str | None:
    """``None`` when the folder is complete, else what it is waiting for."""
    markers = {info.key.rsplit("/", 2)[-1]: info for info in listing if info.key.count("/") == 2}
    if COPY_COMPLETE in markers:
        return None
    rta = markers.get(RTA_COMPLETE)
    if rta is None:
        return f"waiting for {COPY_COMPLETE} or {RTA_COMPLETE}"
    age_s = (datetime.now(UTC) - rta.modified).total_seconds()
    if age_s >= grace_s:
        return None
    return f"{RTA_COMPLETE} is {age_s:.0f} s old; waiting {grace_s:.0f} s for the copy to finish"


def check_completion_status(data: bytes, *, run: str) -> None:
    """Raise RunFolderError when RunCompletionStatus.xml reports a failed run."""
    match = _STATUS.search(data)
    if match is None:
        raise RunFolderError("no <CompletionStatus> element", run=run, file=COMPLETION_STATUS)
    status = match.group(1).decode(errors="replace")
    if status != "CompletedAsPlanned":
        detail = _MESSAGE.search(data)
        why = f": {detail.group(1).decode(errors='replace').strip()}" if detail else ""
        raise RunFolderError(
            f"the instrument reports the run as {status}{why}", run=run, file=COMPLETION_STATUS
        )
