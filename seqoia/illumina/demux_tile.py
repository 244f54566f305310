"""Demultiplexing of one tile: the unit of work the demultiplexer spreads over processes.

A worker reads the tile in cluster chunks, drops non-PF clusters (unless kept), applies
EAMSS (Picard mode), assigns each cluster to a sample, formats the records of each
sample and read in bulk and appends them to gzip part files under the tile's own
folder. The parent concatenates those parts in tile order, so outputs do not depend on
which worker finished first.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqoia.errors import ConfigurationError
from seqoia.illumina.barcodes import IndexMatcher, PicardMatcher
from seqoia.illumina.demux_config import DemuxConfig, Segment
from seqoia.illumina.demux_stats import UNDETERMINED, DemuxStats
from seqoia.illumina.eamss import apply_eamss
from seqoia.illumina.fastq_writer import (
    GzipMemberWriter,
    format_fastq,
    illumina_fastq_name,
    picard_fastq_name,
)
from seqoia.illumina.tile_source import TileReader, TileRef

__all__ = ["DemuxSample", "OutputRead", "TilePlan", "process_tile"]


@dataclass(frozen=True)
class DemuxSample:
    """A sample to demultiplex: its indexes, lane (None = all lanes) and S number."""

    sample_id: str
    index: str = ""
    index2: str = ""
    lane: int | None = None
    number: int = 1

    @property
    def indexes(self) -> tuple[str, ...]:
        return tuple(i for i in (self.index, self.index2) if i)


@dataclass(frozen=True)
class OutputRead:
    """One output file per sample: a segment and its label (``R1``, ``I1``, ``barcode_1``)."""

    label: str
    segment: Segment
    #: Read number written in the header comment (empty for Picard's barcode/index files).
    header_number: bytes


@dataclass(frozen=True)
class TilePlan:
    """Everything a worker needs to process any tile of the run (picklable)."""

    run_dir: Path
    run_id: str
    config: DemuxConfig
    instrument: str
    run_number: str
    flowcell: str
    samples: tuple[DemuxSample, ...]

    def outputs(self) -> tuple[OutputRead, ...]:
        plan = self.config.read_plan
        reads: list[OutputRead] = []
        for k, seg in enumerate(plan.of_kind("T"), start=1):
            if self.config.picard:
                reads.append(OutputRead(str(k), seg, str(k).encode()))
            else:
                reads.append(OutputRead(f"R{k}", seg, str(k).encode()))
        if self.config.picard:
            if self.samples:
                for k, seg in enumerate(plan.of_kind("B"), start=1):
                    reads.append(OutputRead(f"barcode_{k}", seg, b""))
            umis = plan.of_kind("M")
            for k, seg in enumerate(umis, start=1):
                # Picard numbers molecular-index reads in headers only when there are several.
                reads.append(
                    OutputRead(f"index_{k}", seg, str(k).encode() if len(umis) > 1 else b"")
                )
        elif self.config.create_fastq_for_index_reads:
            for k, seg in enumerate(plan.of_kind("B"), start=1):
                reads.append(OutputRead(f"I{k}", seg, str(k).encode()))
        return tuple(reads)

    def lane_samples(self, lane: int) -> list[int]:
        return [i for i, s in enumerate(self.samples) if s.lane in (None, lane)]

    def file_name(self, group: int, lane: int, read: OutputRead) -> str:
        """Output file of a sample (position in ``samples``; -1 = undetermined)."""
        if self.config.picard:
            if group < 0:
                n_b = len(self.config.read_plan.of_kind("B"))
                prefix = "N" * n_b if self.samples else self.config.picard_output_prefix
            else:
                prefix = "".join(self.samples[group].indexes)
            return picard_fastq_name(prefix, read.label)
        out_lane = lane if self.config.lane_splitting else None
        if group < 0:
            return illumina_fastq_name(UNDETERMINED, 0, out_lane, read.label)
        s = self.samples[group]
        return illumina_fastq_name(s.sample_id, s.number, out_lane, read.label)


_MATCHERS: dict[tuple[TilePlan, int], IndexMatcher | PicardMatcher] = {}


def _matcher(plan: TilePlan, lane: int) -> IndexMatcher | PicardMatcher:
    """Build (once per process and lane) the matcher of a lane's samples."""
    key = (plan, lane)
    if key not in _MATCHERS:
        cfg = plan.config
        barcode_segs = cfg.read_plan.of_kind("B")
        members = [plan.samples[i] for i in plan.lane_samples(lane)]
        for s in members:
            lengths = tuple(len(i) for i in s.indexes)
            if s.indexes and lengths != tuple(seg.cycles for seg in barcode_segs)[: len(lengths)]:
                raise ConfigurationError(
                    f"sample {s.sample_id}: index lengths {lengths} do not fit the read plan "
                    f"{cfg.read_plan}"
                )
        if cfg.picard:
            _MATCHERS[key] = PicardMatcher(
                ["".join(s.indexes) for s in members],
                max_mismatches=cfg.picard_max_mismatches,
                min_mismatch_delta=cfg.picard_min_mismatch_delta,
                max_no_calls=cfg.picard_max_no_calls,
            )
        else:
            n_reads = max((len(s.indexes) for s in members), default=0)
            _MATCHERS[key] = IndexMatcher(
                [s.indexes for s in members], cfg.mismatches_for(n_reads), run=plan.run_id
            )
    return _MATCHERS[key]


def _assign(plan: TilePlan, lane: int, observed: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Sample position per cluster (-1 undetermined) and mismatches to the chosen index."""
    members = np.asarray(plan.lane_samples(lane), dtype=np.int64)
    n = observed[0].shape[0] if observed else 0
    if len(members) == 0:
        return np.full(n, -1, dtype=np.int64), np.zeros(n, dtype=np.int64)
    if not observed or not plan.samples[members[0]].indexes:
        if len(members) > 1:
            raise ConfigurationError(
                f"lane {lane}: several samples and no index to tell them apart"
            )
        return np.full(n, members[0], dtype=np.int64), np.zeros(n, dtype=np.int64)
    matcher = _matcher(plan, lane)
    if isinstance(matcher, PicardMatcher):
        local, best_mm = matcher.match(np.concatenate(observed, axis=1))
    else:
        local = matcher.match(observed[: matcher.n_reads])
        best_mm = np.zeros(n, dtype=np.int64)
        for j in range(matcher.n_reads):
            expected = np.frombuffer(
                b"".join(matcher.indexes[i][j] for i in range(len(matcher.indexes))),
                dtype=np.uint8,
            ).reshape(len(matcher.indexes), -1)
            ok = local >= 0
            best_mm[ok] += (observed[j][ok] != expected[local[ok]]).sum(axis=1)
    return np.where(local >= 0, members[np.maximum(local, 0)], -1), best_mm


def _name_order(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Order as Picard's SORT=true does: by read name, i.e. the ``x:y`` string."""
    keys = [f"{a}:{b}" for a, b in zip(x.tolist(), y.tolist(), strict=True)]
    return np.argsort(np.array(keys, dtype=object), kind="stable")


def process_tile(plan: TilePlan, ref: TileRef, part_dir: Path) -> DemuxStats:
    """Demultiplex one tile into gzip parts under ``part_dir``; return its statistics."""
    cfg = plan.config
    rp = cfg.read_plan
    outputs = plan.outputs()
    barcode_segs = rp.of_kind("B")
    umi_segs = rp.of_kind("M")
    used = [s for s in rp.segments if s.kind != "S"]
    cycles = [c + 1 for s in used for c in s.cycle_range]
    column: dict[Segment, int] = {}
    offset = 0
    for seg in used:
        column[seg] = offset
        offset += seg.cycles
    keep_non_pf = cfg.keeps_non_pf(ref.format)
    eamss = cfg.applies_eamss(ref.format)
    sort_by_name = cfg.picard
    chunk_clusters = 1 << 62 if sort_by_name else cfg.chunk_clusters
    prefix = f"{plan.instrument}:{plan.run_number}:{plan.flowcell}:{ref.lane}:{ref.tile}:".encode()
    stats = DemuxStats()
    writers: dict[str, GzipMemberWriter] = {}
    try:
        with TileReader(plan.run_dir, ref, cycles, run=plan.run_id) as reader:
            stats.clusters += reader.cluster_count
            stats.pf_clusters += int(reader.pf.sum())
            assert reader.x is not None and reader.y is not None
            for chunk in reader.chunks(chunk_clusters):
                pf = reader.pf[chunk.start : chunk.stop]
                rows = np.arange(len(pf)) if keep_non_pf else np.flatnonzero(pf)
                if len(rows) == 0:
                    continue

                # Cycle-major buffers: gathering clusters from them reads whole rows.
                cm_bases, cm_quals = chunk.bases.T, chunk.quals.T

                def gather(cm: np.ndarray, seg: Segment, idx: np.ndarray) -> np.ndarray:
                    c0 = column[seg]
                    return np.ascontiguousarray(cm[c0 : c0 + seg.cycles][:, idx].T)

                observed = [gather(cm_bases, s, rows) for s in barcode_segs]
                group, mism = _assign(plan, ref.lane, observed)
                # One gather per segment in output order; groups become contiguous slices.
                order = np.argsort(group, kind="stable")
                bounds = [0, *(np.flatnonzero(np.diff(group[order])) + 1).tolist(), len(order)]
                x_all = reader.x[chunk.start : chunk.stop]
                y_all = reader.y[chunk.start : chunk.stop]
                if sort_by_name:
                    order = np.concatenate(
                        [
                            order[a:b][
                                _name_order(x_all[rows[order[a:b]]], y_all[rows[order[a:b]]])
                            ]
                            for a, b in zip(bounds[:-1], bounds[1:], strict=True)
                        ]
                    )
                final = rows[order]
                group, mism = group[order], mism[order]
                observed = [o[order] for o in observed]
                seqs = {
                    seg: (gather(cm_bases, seg, final), gather(cm_quals, seg, final))
                    for seg in used
                }
                if eamss:
                    # Picard masks every read it outputs: template, barcode and UMI.
                    for seg in used:
                        apply_eamss(*seqs[seg])
                x, y = x_all[final], y_all[final]
                flag = np.where(pf[final], ord("N"), ord("Y")).astype(np.uint8)[:, None]
                for a, b in zip(bounds[:-1], bounds[1:], strict=True):
                    if a == b:
                        continue
                    sel = slice(a, b)
                    g = int(group[a])
                    _write_group(
                        plan,
                        ref,
                        prefix,
                        outputs,
                        writers,
                        part_dir,
                        g,
                        sel,
                        seqs,
                        observed,
                        umi_segs,
                        x,
                        y,
                        flag,
                    )
                    _count(stats, plan, ref.lane, g, sel, mism, observed)
    finally:
        for w in writers.values():
            w.close()
    stats.trim()
    return stats


def _count(
    stats: DemuxStats,
    plan: TilePlan,
    lane: int,
    g: int,
    sel: slice,
    mism: np.ndarray,
    observed: list[np.ndarray],
) -> None:
    if g < 0:
        stats.add_reads(lane, UNDETERMINED, (sel.stop - sel.start), [0, 0, 0])
        if observed:
            joined = np.concatenate([o[sel] for o in observed], axis=1)
            width = joined.shape[1]
            values, counts = np.unique(joined.view(f"S{width}").ravel(), return_counts=True)
            lens = [len(o[0]) for o in observed] if (sel.stop - sel.start) else []
            named: Counter[str] = Counter()
            for v, c in zip(values.tolist(), counts.tolist(), strict=True):
                text = v.decode()
                parts, pos = [], 0
                for n in lens:
                    parts.append(text[pos : pos + n])
                    pos += n
                named["+".join(parts)] += c
            stats.add_unknown(lane, named)
        return
    sample = plan.samples[g]
    stats.indexes[sample.sample_id] = "+".join(sample.indexes)
    by_mm = np.bincount(np.minimum(mism[sel], 3), minlength=4)
    stats.add_reads(lane, sample.sample_id, (sel.stop - sel.start), by_mm[:3].tolist())


def _write_group(
    plan: TilePlan,
    ref: TileRef,
    prefix: bytes,
    outputs: tuple[OutputRead, ...],
    writers: dict[str, GzipMemberWriter],
    part_dir: Path,
    g: int,
    sel: slice,
    seqs: dict[Segment, tuple[np.ndarray, np.ndarray]],
    observed: list[np.ndarray],
    umi_segs: tuple[Segment, ...],
    x: np.ndarray,
    y: np.ndarray,
    flag: np.ndarray,
) -> None:
    cfg = plan.config
    if g < 0 and not cfg.write_undetermined:
        return
    name: list[bytes | np.ndarray] = [prefix, x[sel], b":", y[sel]]
    if not cfg.picard and umi_segs:
        for k, seg in enumerate(umi_segs):
            name += [b":" if k == 0 else b"+", seqs[seg][0][sel]]
    if cfg.picard:
        index_part: list[bytes | np.ndarray] = [
            "".join(plan.samples[g].indexes).encode() if g >= 0 else b""
        ]
    elif g >= 0 and (cfg.write_sample_sheet_index or not observed):
        index_part = ["+".join(plan.samples[g].indexes).encode()]
    else:
        index_part = []
        for k, obs in enumerate(observed):
            index_part += ([b"+"] if k else []) + [obs[sel]]
    for read in outputs:
        bases, quals = seqs[read.segment]
        header = [*name, b" " + read.header_number + b":", flag[sel], b":0:", *index_part]
        text = format_fastq(header, bases[sel], quals[sel])
        fname = plan.file_name(g, ref.lane, read)
        writer = writers.get(fname)
        if writer is None:
            writer = writers[fname] = GzipMemberWriter(
                part_dir / fname, level=cfg.compression_level
            )
        writer.write(text, (sel.stop - sel.start))
