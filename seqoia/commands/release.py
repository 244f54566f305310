"""``seqoia release``: a biologist signs off a sample's reviewed report (see admin/release.py)."""

from __future__ import annotations

from typing import Annotated

import typer

from seqoia.admin.release import release_json, release_sample
from seqoia.admin.targets import resolve_subject
from seqoia.commands.admin_common import (
    DEFAULT,
    JsonOption,
    PipelineOption,
    guarded,
    require_reason,
    runtime_of,
)


@guarded
def release(
    ctx: typer.Context,
    sample_id: Annotated[str, typer.Argument(metavar="SAMPLE", help="Sample id")],
    by: Annotated[str, typer.Option("--by", help="Who signs the report off (a biologist)")],
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why it may go out (written to the audit log)")
    ] = None,
    override_qc: Annotated[
        bool,
        typer.Option(
            "--override-qc", metavar="", help="Release a sample that failed the QC gate anyway"
        ),
    ] = False,
    pipeline: PipelineOption = DEFAULT,
    json_output: JsonOption = False,
) -> None:
    """Release the latest reviewed report of SAMPLE, final, into the centre's outbox.

    Refuses a QC-failed sample without --override-qc, and a generation already released.
    """
    why = require_reason(reason)
    rt = runtime_of(ctx, pipeline)
    record = release_sample(
        rt, resolve_subject(rt, "sample", sample_id), by=by, reason=why, override_qc=override_qc
    )
    if json_output:
        typer.echo(release_json(record))
        return
    override = " (QC failed: released with --override-qc)" if record.qc_override else ""
    typer.echo(
        f"released {record.sample} report g{record.generation} by {record.by}{override}: "
        f"{len(record.files)} files in {rt.store.url}/{record.outbox}"
    )
