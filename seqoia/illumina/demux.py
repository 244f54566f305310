"""The demultiplexer: BCL/CBCL run folder -> per-sample gzip FASTQ and statistics.

Tiles are the unit of work. Each tile is demultiplexed by a worker (a process pool when
``threads > 1``) into its own gzip parts; the parent appends the parts to the final files
in tile order, so outputs are the same whatever the number of workers, and memory stays
at one chunk of clusters per worker. A run can also be cut into contiguous tile shares
(``DemuxConfig.part``) processed apart and joined by :func:`merge_parts`, which gives
the same bytes as one run (every tile is its own gzip member).

Defaults follow bcl2fastq / BCL Convert (PF only, mismatches per index read, Illumina
names); ``DemuxConfig.picard`` reproduces Picard ``IlluminaBasecallsToFastq``.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import shutil
from collections.abc import Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from seqoia.errors import ConfigurationError, RunFolderError
from seqoia.illumina.demux_config import DemuxConfig, ReadPlan
from seqoia.illumina.demux_stats import DemuxStats
from seqoia.illumina.demux_tile import DemuxSample, TilePlan, process_tile
from seqoia.illumina.models import RunInfo, SampleRow
from seqoia.illumina.runinfo import read_run_info
from seqoia.illumina.samplesheet import read_sample_sheet, sheet_plan
from seqoia.illumina.tile_source import TileRef, discover_tiles

__all__ = [
    "DemuxResult",
    "DemuxSample",
    "RunLayout",
    "demultiplex",
    "demultiplex_layout",
    "merge_parts",
    "samples_from_sheet",
]

log = logging.getLogger(__name__)

_PARTS = ".parts"
_REPORTS = "Reports"


@dataclass(frozen=True)
class RunLayout:
    """What the demultiplexer needs to know of a run beyond its files."""

    run_id: str
    instrument: str
    run_number: str
    flowcell: str
    lanes: tuple[int, ...]
    #: Tiles per lane as RunInfo lists them; missing lanes are discovered from files.
    tiles: dict[int, tuple[int, ...]] = field(default_factory=dict)

    @classmethod
    def from_run_info(cls, run_info: RunInfo) -> RunLayout:
        tiles: dict[int, list[int]] = {}
        for name in run_info.tiles:
            lane, _, tile = name.partition("_")
            tiles.setdefault(int(lane), []).append(int(tile))
        return cls(
            run_id=run_info.run_id,
            instrument=run_info.instrument,
            run_number=str(run_info.run_number) if run_info.run_number is not None else "0",
            flowcell=run_info.flowcell,
            lanes=tuple(range(1, run_info.lane_count + 1)),
            tiles={lane: tuple(t) for lane, t in tiles.items()},
        )


@dataclass(frozen=True)
class DemuxResult:
    """Files written (FASTQ and reports) and the statistics of the run."""

    output_dir: Path
    fastqs: tuple[Path, ...]
    reports: tuple[Path, ...]
    stats: DemuxStats


def samples_from_sheet(rows: Sequence[SampleRow]) -> tuple[DemuxSample, ...]:
    """Sample-sheet rows -> samples, numbered S1.. by first appearance of their Sample_ID."""
    numbers: dict[str, int] = {}
    out = []
    for row in rows:
        number = numbers.setdefault(row.sample_id, len(numbers) + 1)
        out.append(DemuxSample(row.sample_id, row.index, row.index2, row.lane, number))
    return tuple(out)


def _select_tiles(run_dir: Path, layout: RunLayout, config: DemuxConfig) -> list[TileRef]:
    basecalls = Path(run_dir) / "Data" / "Intensities" / "BaseCalls"
    if not basecalls.is_dir():
        raise RunFolderError(
            "no Data/Intensities/BaseCalls folder", run=layout.run_id, file=str(basecalls)
        )
    lanes = config.lanes or layout.lanes
    refs: list[TileRef] = []
    for lane in lanes:
        refs += discover_tiles(basecalls, lane, run=layout.run_id, tiles=layout.tiles.get(lane, ()))
    if config.tiles:
        wanted = set(config.tiles)
        refs = [r for r in refs if r.tile in wanted]
    if config.picard:
        # SORT=true orders records by name, i.e. by lane, then tile as text, then x:y.
        refs.sort(key=lambda r: (r.lane, str(r.tile)))
    if config.part is not None:
        k, n = config.part
        if not 0 <= k < n:
            raise ConfigurationError(f"part {k} of {n} does not exist")
        size, extra = divmod(len(refs), n)
        start = k * size + min(k, extra)
        refs = refs[start : start + size + (k < extra)]
    if not refs:
        raise RunFolderError("no tiles to demultiplex", run=layout.run_id, file=str(basecalls))
    return refs


def _append_file(src: Path, dst: Path, mode: str) -> None:
    """Append (``ab``) or copy (``wb``) ``src`` to ``dst``, in the kernel where it can."""
    # Not opened in append mode: sendfile refuses an O_APPEND target.
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if mode == "wb" else 0)
    out_fd = os.open(dst, flags, 0o644)
    try:
        with open(src, "rb") as fin, open(out_fd, "wb", closefd=False) as fout:
            fout.seek(0, os.SEEK_END)
            size = os.fstat(fin.fileno()).st_size
            done = 0
            try:
                while done < size:
                    sent = os.sendfile(out_fd, fin.fileno(), done, size - done)
                    if sent == 0:
                        break
                    done += sent
            except OSError:
                pass  # not supported between these files: copy the rest in user space
            if done < size:
                fin.seek(done)
                shutil.copyfileobj(fin, fout, 1 << 20)
    finally:
        os.close(out_fd)


def _append_parts(part_dir: Path, output_dir: Path, started: set[str]) -> None:
    for part in sorted(part_dir.iterdir()):
        mode = "ab" if part.name in started else "wb"
        started.add(part.name)
        _append_file(part, output_dir / part.name, mode)
    shutil.rmtree(part_dir)


def demultiplex_layout(
    run_dir: Path,
    output_dir: Path,
    layout: RunLayout,
    samples: Sequence[DemuxSample],
    config: DemuxConfig,
    threads: int = 1,
) -> DemuxResult:
    """Demultiplex a run folder given its parsed layout and samples."""
    if config.read_plan is None:
        raise ConfigurationError("demultiplex_layout needs a read plan")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    plan = TilePlan(
        run_dir=Path(run_dir),
        run_id=layout.run_id,
        config=config,
        instrument=config.instrument or layout.instrument,
        run_number=config.run_number or layout.run_number,
        flowcell=config.flowcell or layout.flowcell,
        samples=tuple(samples),
    )
    refs = _select_tiles(Path(run_dir), layout, config)
    parts_root = output_dir / _PARTS
    shutil.rmtree(parts_root, ignore_errors=True)
    stats = DemuxStats()
    started: set[str] = set()
    log.info("demultiplexing %d tiles of run %s with %d workers", len(refs), layout.run_id, threads)
    pool: Executor | None = None
    try:
        if threads > 1 and len(refs) > 1:
            pool = ProcessPoolExecutor(
                max_workers=min(threads, len(refs)),
                mp_context=multiprocessing.get_context("fork"),
            )
            futures: list[Future[DemuxStats]] = [
                pool.submit(process_tile, plan, ref, parts_root / f"{i:06d}")
                for i, ref in enumerate(refs)
            ]
            for i, fut in enumerate(futures):
                stats.merge(fut.result())
                part_dir = parts_root / f"{i:06d}"
                if part_dir.exists():
                    _append_parts(part_dir, output_dir, started)
        else:
            for i, ref in enumerate(refs):
                part_dir = parts_root / f"{i:06d}"
                stats.merge(process_tile(plan, ref, part_dir))
                if part_dir.exists():
                    _append_parts(part_dir, output_dir, started)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        shutil.rmtree(parts_root, ignore_errors=True)
    stats.trim()
    reports = stats.write_reports(output_dir / _REPORTS, top=config.top_unknown_barcodes)
    fastqs = tuple(sorted(output_dir / name for name in started))
    return DemuxResult(output_dir, fastqs, tuple(reports), stats)


def demultiplex(
    run_dir: Path,
    output_dir: Path,
    config: DemuxConfig | None = None,
    threads: int = 1,
    *,
    sample_sheet: Path | None = None,
) -> DemuxResult:
    """Demultiplex a run folder, reading its RunInfo.xml and SampleSheet.csv."""
    run_dir = Path(run_dir)
    config = config or DemuxConfig()
    run_info = read_run_info(run_dir / "RunInfo.xml")
    sheet = read_sample_sheet(sample_sheet or run_dir / "SampleSheet.csv", run_info=run_info)
    samples = samples_from_sheet(sheet.samples)
    update: dict[str, object] = {}
    overrides = {row.override_cycles or sheet.override_cycles for row in sheet.samples}
    if config.read_plan is None and overrides - {None}:
        if len(overrides) > 1:
            raise ConfigurationError(
                "samples with different OverrideCycles need separate demultiplexing runs"
            )
        cycles_plan = sheet_plan(sheet, sheet.samples[0], run_info.reads)
        if cycles_plan is not None:
            update["read_plan"] = ReadPlan.from_reads(cycles_plan.as_tuples())
    if config.read_plan is None and "read_plan" not in update:
        lengths = [
            max((len(s.index) for s in samples), default=0),
            max((len(s.index2) for s in samples), default=0),
        ]
        update["read_plan"] = ReadPlan.from_run_info(run_info, lengths)
    if "barcode_mismatches" not in config.model_fields_set:
        update["barcode_mismatches"] = (
            sheet.barcode_mismatches_index1,
            sheet.barcode_mismatches_index2,
        )
    if "lane_splitting" not in config.model_fields_set and sheet.no_lane_splitting:
        update["lane_splitting"] = False
    if "create_fastq_for_index_reads" not in config.model_fields_set:
        update["create_fastq_for_index_reads"] = sheet.create_fastq_for_index_reads
    config = config.model_copy(update=update)
    n_index = len(config.read_plan.of_kind("B")) if config.read_plan else 0
    if len(config.barcode_mismatches) > 1 and n_index != len(config.barcode_mismatches):
        config = config.model_copy(
            update={"barcode_mismatches": config.barcode_mismatches[:n_index] or (1,)}
        )
    layout = RunLayout.from_run_info(run_info)
    return demultiplex_layout(run_dir, output_dir, layout, samples, config, threads)


def merge_parts(parts: Sequence[Path], output_dir: Path) -> DemuxResult:
    """Join the outputs of runs over contiguous tile shares, in share order."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    stats = DemuxStats()
    started: set[str] = set()
    for part in parts:
        for fq in sorted(Path(part).glob("*.fastq.gz")):
            mode = "ab" if fq.name in started else "wb"
            started.add(fq.name)
            _append_file(fq, output_dir / fq.name, mode)
        report = Path(part) / _REPORTS / "demux_stats.json"
        if report.exists():
            stats.merge(DemuxStats.from_json(json.loads(report.read_text())))
    reports = stats.write_reports(output_dir / _REPORTS)
    return DemuxResult(
        output_dir, tuple(sorted(output_dir / n for n in started)), tuple(reports), stats
    )
