"""``seqoia release``: a biologist signs off a reviewed report, a sample's or a family's.

``seqoia release SAMPLE`` (admin/release.py) or ``seqoia release family:F``
(admin/family_release.py).
"""

from __future__ import annotations

from typing import Annotated

import typer

from seqoia.admin.family_release import family_release_json, release_family
from seqoia.admin.release import release_json, release_sample
from seqoia.admin.targets import resolve_subject
from seqoia.commands.admin_common import (
    DEFAULT,
    AdminInputError,
    JsonOption,
    PipelineOption,
    guarded,
    require_reason,
    runtime_of,
)


@guarded
def release(
    ctx: typer.Context,
    sample_id: Annotated[
        str, typer.Argument(metavar="SAMPLE|family:FAMILY", help="Sample id, or family:<id>")
    ],
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
    """Release the latest reviewed report of SAMPLE (or family:FAMILY), final, into the outbox.

    Refuses a QC-failed sample (unless --override-qc), a failed family, a released generation.
    """
    why = require_reason(reason)
    rt = runtime_of(ctx, pipeline)
    kind, sep, family = sample_id.partition(":")
    if sep and kind == "family":
        if override_qc:
            raise AdminInputError("--override-qc is for a sample's QC gate, not a family report")
        done = release_family(rt, resolve_subject(rt, "family", family), by=by, reason=why)
        if json_output:
            typer.echo(family_release_json(done))
            return
        typer.echo(
            f"released family {done.family} ({done.composition}) report g{done.generation} by "
            f"{done.by}: {len(done.files)} files in {rt.store.url}/{done.outbox}"
        )
        return
    if sep and kind == "sample":
        sample_id = family
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
