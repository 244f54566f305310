"""``seqoia outputs STAGE/SUBJECT``: the files a stage last committed, and a way to get them.

Hospitals read their outbox; the laboratory's own results (a run's MultiQC report, its
``Demultiplex_Stats.csv``, a sample's QC JSON) stay in the work area under attempt
prefixes that nobody should have to type. This lists the latest generation's files and,
with ``--download``, copies them into a local folder.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Annotated

import typer
from rich.table import Table

from seqoia.admin.targets import resolve_target
from seqoia.commands.admin_common import (
    DEFAULT,
    AdminInputError,
    JsonOption,
    PipelineOption,
    console,
    guarded,
    print_json,
    runtime_of,
)


@guarded
def outputs(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="STAGE/SUBJECT, e.g. multiqc/RUN or qc/SAMPLE")],
    download: Annotated[
        Path | None, typer.Option("--download", "-d", help="Copy the files into this folder")
    ] = None,
    pipeline: PipelineOption = DEFAULT,
    json_output: JsonOption = False,
) -> None:
    """The files of a stage's latest commit: name, size, key (and sha256 with --json)."""
    rt = runtime_of(ctx, pipeline)
    found = resolve_target(rt, target)
    if found.stage is None:
        raise AdminInputError(f"{target!r}: name a stage too, as STAGE/SUBJECT (e.g. multiqc/RUN)")
    manifest = rt.manifests.latest(found.stage, found.subject)
    if manifest is None:
        raise AdminInputError(f"{found} has not committed yet (see `seqoia status`)")
    written = []
    if download is not None:
        for ref in manifest.outputs:
            relative = PurePosixPath(ref.name)
            if relative.is_absolute() or ".." in relative.parts:  # never outside the folder
                raise AdminInputError(f"refusing to write {ref.name!r} outside {download}")
            local = download.joinpath(*relative.parts)
            local.parent.mkdir(parents=True, exist_ok=True)
            rt.store.download_file(ref.key, local)
            written.append(str(local))
    if json_output:
        print_json(
            {
                "stage": manifest.stage,
                "subject": manifest.subject,
                "generation": manifest.generation,
                "outputs": [ref.model_dump(mode="json") for ref in manifest.outputs],
                "downloaded": written,
            }
        )
        return
    table = Table(title=f"{found} generation {manifest.generation}")
    for column in ("file", "bytes", "key"):
        table.add_column(column, justify="right" if column == "bytes" else "left")
    for ref in manifest.outputs:
        table.add_row(ref.name, f"{ref.size:,}", ref.key)
    out = console()
    out.print(table)
    if download is not None:
        out.print(f"{len(written)} file(s) written to {download}")
