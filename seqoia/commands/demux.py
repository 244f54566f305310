"""``seqoia demux``: demultiplex a BCL/CBCL run folder into per-sample gzip FASTQ.

Defaults follow bcl2fastq / BCL Convert; ``--picard-compat`` reproduces Picard
IlluminaBasecallsToFastq (EAMSS, non-PF reads kept, Picard barcode rule and names).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from seqoia.errors import ConfigurationError
from seqoia.illumina.demux import demultiplex
from seqoia.illumina.demux_config import DemuxConfig, ReadPlan


def parse_tiles(text: str) -> tuple[int, ...]:
    """``"1101-1112,1201"`` -> every tile number in those inclusive ranges."""
    tiles: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        first, sep, last = part.partition("-")
        try:
            lo, hi = int(first), int(last) if sep else int(first)
        except ValueError as err:
            raise ConfigurationError(f"not a tile or tile range: {part!r}") from err
        if hi < lo:
            raise ConfigurationError(f"empty tile range: {part!r}")
        tiles.extend(range(lo, hi + 1))
    return tuple(tiles)


def demux(
    run_folder: Annotated[Path, typer.Argument(help="The run folder (RunInfo.xml, Data/).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output folder.")],
    sample_sheet: Annotated[
        Path | None, typer.Option(help="Sample sheet (default: the run folder's).")
    ] = None,
    barcode_mismatches: Annotated[
        int | None, typer.Option(help="Mismatches allowed per index read (default: sheet's).")
    ] = None,
    lanes: Annotated[
        list[int] | None, typer.Option("--lane", help="Lane to process (repeat); default all.")
    ] = None,
    tiles: Annotated[
        str | None, typer.Option(help="Tiles to process, e.g. '1101-1112,1201'.")
    ] = None,
    threads: Annotated[int, typer.Option(help="Worker processes (0 = all cores).")] = 0,
    no_lane_splitting: Annotated[
        bool,
        typer.Option("--no-lane-splitting", metavar="", help="One file per sample for all lanes."),
    ] = False,
    include_non_pf: Annotated[
        bool,
        typer.Option("--include-non-pf", metavar="", help="Write clusters that failed the filter."),
    ] = False,
    picard_compat: Annotated[
        bool,
        typer.Option(
            "--picard-compat", metavar="", help="Reproduce Picard IlluminaBasecallsToFastq."
        ),
    ] = False,
    read_structure: Annotated[
        str | None, typer.Option(help="Read structure, e.g. 151T8B8B151T (default: RunInfo).")
    ] = None,
) -> None:
    """Demultiplex a run folder into per-sample FASTQ files and statistics."""
    options: dict[str, object] = {"picard": picard_compat}
    if barcode_mismatches is not None:
        options["barcode_mismatches"] = (barcode_mismatches,)
    if lanes:
        options["lanes"] = tuple(lanes)
    if tiles:
        options["tiles"] = parse_tiles(tiles)
    if no_lane_splitting:
        options["lane_splitting"] = False
    if include_non_pf:
        options["include_non_pf"] = True
    if read_structure:
        options["read_plan"] = ReadPlan.parse(read_structure)
    config = DemuxConfig(**options)  # type: ignore[arg-type]
    workers = threads if threads > 0 else (os.cpu_count() or 1)
    result = demultiplex(run_folder, output, config, workers, sample_sheet=sample_sheet)
    stats = result.stats
    typer.echo(
        f"{len(result.fastqs)} FASTQ files, {stats.pf_clusters} of {stats.clusters} clusters "
        f"passed filter; statistics in {output / 'Reports'}"
    )
