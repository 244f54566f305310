"""Demultiplexing of one tile: the unit of work the demultiplexer spreads over processes.

A worker reads the tile in cluster chunks, drops non-PF clusters (unless kept), applies
EAMSS (Picard mode), assigns each cluster to a sample, formats the records of each
sample and read in bulk and appends them to gzip part files under the tile's own
folder. The parent concatenates those parts in tile order, so outputs do not depend on
which worker finished first.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqoia.errors import ConfigurationError
from seqoia.illumina.barcodes import IndexMatcher, PicardMatcher
from seqoia.illumina.demux_config import DemuxConfig, ReadPlan, Segment
from seqoia.illumina.demux_stats import UNDETERMINED, DemuxStats
from seqoia.illumina.eamss import apply_eamss
from seqoia.illumina.fastq_writer import (
    GzipMemberWriter,
    RecordMatrix,
    digits,
    fastq_text,
    illumina_fastq_name,
    pair_table,
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

    @property
    def read_plan(self) -> ReadPlan:
        if self.config.read_plan is None:
            raise ConfigurationError("a tile plan needs a read plan")
        return self.config.read_plan

    def outputs(self) -> tuple[OutputRead, ...]:
        plan = self.read_plan
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

    @functools.cached_property
    def output_groups(self) -> np.ndarray:
        """Matched row + 1 (0: undetermined) -> the row whose output takes its reads.

        Rows of one Sample_ID in one lane (several barcodes of one sample) write to that
        sample's files, in cluster order, as bcl2fastq does; Picard names files by barcode,
        so there each row keeps its own.
        """
        # Keyed by Sample_ID alone: a tile is in one lane, so rows matched there are in it.
        first: dict[str, int] = {}
        out = [-1]
        for i, s in enumerate(self.samples):
            out.append(i if self.config.picard else first.setdefault(s.sample_id, i))
        return np.asarray(out, dtype=np.int64)

    def file_name(self, group: int, lane: int, read: OutputRead) -> str:
        """Output file of a sample (position in ``samples``; -1 = undetermined)."""
        if self.config.picard:
            if group < 0:
                n_b = len(self.read_plan.of_kind("B"))
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
        barcode_segs = plan.read_plan.of_kind("B")
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
                [s.indexes for s in members],
                cfg.mismatches_for(n_reads),
                run=plan.run_id,
                owners=[s.sample_id for s in members],
            )
    return _MATCHERS[key]


def _assign(
    plan: TilePlan, lane: int, observed: list[np.ndarray], n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sample position per cluster (-1 undetermined) and mismatches to the chosen index."""
    members = np.asarray(plan.lane_samples(lane), dtype=np.int64)
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
        chosen = np.maximum(local, 0)
        for j, expected in enumerate(matcher.index_matrices()):
            best_mm += (observed[j] != expected[chosen]).sum(axis=1)
        best_mm[local < 0] = 0
    return np.where(local >= 0, members[np.maximum(local, 0)], -1), best_mm


def _name_order(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Order as Picard's SORT=true does: by read name, i.e. the ``x:y`` string."""
    keys = [f"{a}:{b}" for a, b in zip(x.tolist(), y.tolist(), strict=True)]
    return np.argsort(np.array(keys, dtype=object), kind="stable")


def _text_width(values: np.ndarray) -> int:
    """Characters of the widest decimal number among ``values``."""
    if len(values) == 0:
        return 1
    lo, hi = int(values.min()), int(values.max())
    return max(len(str(lo)), len(str(hi)))


class _ClusterMajor:
    """A chunk's codes turned cluster-major, in output order, segments at even columns.

    The transposition runs over blocks of clusters in file order, small enough to stay
    in cache; each block's rows are then scattered to their places in the output order.
    (Gathering columns of the cycle-major buffer in output order directly is several
    times slower, a full transposition followed by a gather about a quarter slower.)
    """

    _BLOCK = 2048

    def __init__(self, used: Sequence[Segment], capacity: int) -> None:
        self.rows: dict[Segment, int] = {}
        self.cols: dict[Segment, int] = {}
        r = c = 0
        for seg in used:
            self.rows[seg], self.cols[seg] = r, c
            r += seg.cycles
            c += seg.cycles + (seg.cycles & 1)  # a spare column keeps the next one even
        self.width = max(c, 2)
        self._block = np.empty((self._BLOCK, self.width), dtype=np.uint8)
        self.codes = np.empty((capacity, self.width), dtype=np.uint8)

    def build(self, codes: np.ndarray, final: np.ndarray) -> np.ndarray:
        """``codes``: (cycles, n) cycle-major; returns (len(final), width) in output order."""
        n = codes.shape[1]
        dest = np.full(n, -1, dtype=np.int64)
        dest[final] = np.arange(len(final))
        for a in range(0, n, self._BLOCK):
            b = min(a + self._BLOCK, n)
            block = self._block[: b - a]
            for seg, r in self.rows.items():
                c = self.cols[seg]
                block[:, c : c + seg.cycles] = codes[r : r + seg.cycles, a:b].T
            d = dest[a:b]
            kept = d >= 0
            if kept.all():
                self.codes[d] = block
            elif kept.any():
                self.codes[d[kept]] = block[kept]
        return self.codes[: len(final)]

    def segment(self, cm: np.ndarray, seg: Segment) -> np.ndarray:
        c = self.cols[seg]
        return cm[:, c : c + seg.cycles]


class _Headers:
    """Read-name headers of a chunk's records as a zero-padded matrix, built once per chunk.

    ``@{instrument}:{run}:{flowcell}:{lane}:{tile}:{x}:{y}[:{umi}[+{umi}]] {read}:{Y|N}:0:{index}``;
    the read number differs per output file and is written by :meth:`write_read`.
    """

    def __init__(
        self,
        plan: TilePlan,
        ref: TileRef,
        outputs: Sequence[OutputRead],
        x_width: int,
        y_width: int,
        umi_segs: Sequence[Segment],
        index_width: int,
        capacity: int,
    ) -> None:
        prefix = f"{plan.instrument}:{plan.run_number}:{plan.flowcell}:{ref.lane}:{ref.tile}:"
        consts: list[tuple[int, bytes]] = []
        col = 0

        def const(text: bytes) -> None:
            nonlocal col
            consts.append((col, text))
            col += len(text)

        def field(width: int) -> int:
            nonlocal col
            col += width
            return col - width

        const(b"@" + prefix.encode())
        self.x_col, self.x_width = field(x_width), x_width
        const(b":")
        self.y_col, self.y_width = field(y_width), y_width
        self.umi_cols: list[tuple[Segment, int]] = []
        for k, seg in enumerate(umi_segs):
            const(b":" if k == 0 else b"+")
            self.umi_cols.append((seg, field(seg.cycles)))
        const(b" ")
        self.number_width = max((len(r.header_number) for r in outputs), default=0)
        self.number_col = field(self.number_width)
        const(b":")
        self.flag_col = field(1)
        const(b":0:")
        self.index_col, self.index_width = field(index_width), index_width
        const(b"\n")
        self.width = col
        self.rows = np.zeros((capacity, self.width), dtype=np.uint8)
        for c, text in consts:
            self.rows[:, c : c + len(text)] = np.frombuffer(text, dtype=np.uint8)

    def put_index(self, sel: slice, text: bytes | None, observed: Sequence[np.ndarray]) -> None:
        """Index part of rows ``sel``: ``text``, or the observed index bases joined by ``+``."""
        c0, end = self.index_col, self.index_col + self.index_width
        r = self.rows
        if text is not None:
            r[sel, c0 : c0 + len(text)] = np.frombuffer(text, dtype=np.uint8)
            r[sel, c0 + len(text) : end] = 0
            return
        c = c0
        for j, obs in enumerate(observed):
            if j:
                r[sel, c] = ord("+")
                c += 1
            r[sel, c : c + obs.shape[1]] = obs[sel]
            c += obs.shape[1]
        r[sel, c:end] = 0

    def write_read(self, rec: RecordMatrix, n: int, number: bytes) -> None:
        """Copy the headers of rows ``[0, n)`` into ``rec`` with this read's number."""
        rec.rows[:n, : self.width] = self.rows[:n]
        c = self.number_col
        rec.rows[:n, c : c + self.number_width] = 0
        if number:
            rec.rows[:n, c : c + len(number)] = np.frombuffer(number, dtype=np.uint8)


def _group_index(plan: TilePlan, g: int, has_observed: bool) -> bytes | None:
    """The index part of a group's headers; None: each read's observed index bases."""
    cfg = plan.config
    if cfg.picard:
        return "".join(plan.samples[g].indexes).encode() if g >= 0 else b""
    if g >= 0 and (cfg.write_sample_sheet_index or not has_observed):
        return "+".join(plan.samples[g].indexes).encode()
    return None if has_observed else b""


@dataclass
class _Chunk:
    """A chunk's clusters in output order: groups are contiguous slices ``bounds[i]:[i+1]``."""

    final: np.ndarray  #: cluster positions in the chunk, in output order
    group: np.ndarray  #: sample position per output row (-1 undetermined)
    mism: np.ndarray  #: index mismatches per output row
    observed: list[np.ndarray]  #: ASCII bases per index read, per output row
    bounds: list[int]

    def groups(self) -> list[tuple[int, slice]]:
        return [
            (int(self.group[a]), slice(a, b))
            for a, b in zip(self.bounds[:-1], self.bounds[1:], strict=True)
            if a < b
        ]


def _order_chunk(
    plan: TilePlan,
    ref: TileRef,
    codes: np.ndarray,
    base_lut: np.ndarray,
    rows: np.ndarray,
    index_rows: Sequence[tuple[int, int]],
    x: np.ndarray,
    y: np.ndarray,
) -> _Chunk:
    """Assign the clusters ``rows`` of a chunk to samples and put them in output order."""
    observed = [np.ascontiguousarray(base_lut[codes[r : r + n][:, rows].T]) for r, n in index_rows]
    group, mism = _assign(plan, ref.lane, observed, len(rows))
    group = plan.output_groups[group + 1]
    order = np.argsort(group, kind="stable")
    bounds = [0, *(np.flatnonzero(np.diff(group[order])) + 1).tolist(), len(order)]
    if plan.config.picard:
        order = np.concatenate(
            [
                order[a:b][_name_order(x[rows[order[a:b]]], y[rows[order[a:b]]])]
                for a, b in zip(bounds[:-1], bounds[1:], strict=True)
            ]
        )
    return _Chunk(rows[order], group[order], mism[order], [o[order] for o in observed], bounds)


class _Formatter:
    """Turns ordered chunks of one tile into FASTQ record rows, one matrix per output read."""

    def __init__(
        self, plan: TilePlan, ref: TileRef, reader: TileReader, used: Sequence[Segment]
    ) -> None:
        assert reader.x is not None and reader.y is not None
        cfg = plan.config
        self.outputs = plan.outputs()
        self.eamss = cfg.applies_eamss(ref.format)
        self.chunk_clusters = reader.cluster_count if cfg.picard else cfg.chunk_clusters
        capacity = max(1, min(self.chunk_clusters, reader.cluster_count))
        self.matrix = _ClusterMajor(used, capacity)
        barcode_segs = plan.read_plan.of_kind("B")
        self.index_texts = [
            _group_index(plan, g, bool(barcode_segs)) for g in range(-1, len(plan.samples))
        ]
        observed_width = sum(s.cycles for s in barcode_segs) + max(len(barcode_segs) - 1, 0)
        self.headers = _Headers(
            plan,
            ref,
            self.outputs,
            _text_width(reader.x),
            _text_width(reader.y),
            plan.read_plan.of_kind("M") if not cfg.picard else (),
            max([observed_width] + [len(t) for t in self.index_texts if t is not None]),
            capacity,
        )
        self.recs = [
            RecordMatrix(self.headers.width, r.segment.cycles, capacity) for r in self.outputs
        ]
        self.base_lut, self.qual_lut = reader.base_lut, reader.qual_lut
        self.base_pairs = pair_table(reader.base_lut)
        self.qual_pairs = pair_table(reader.qual_lut, 33)

    def format(
        self, codes: np.ndarray, chunk: _Chunk, pf: np.ndarray, x: np.ndarray, y: np.ndarray
    ) -> None:
        """Fill rows ``[0, len(chunk.final))`` of every output read's record matrix."""
        final, hd, matrix = chunk.final, self.headers, self.matrix
        k = len(final)
        cm = matrix.build(codes, final)
        h = hd.rows
        digits(x[final], hd.x_width, h[:k, hd.x_col : hd.x_col + hd.x_width])
        digits(y[final], hd.y_width, h[:k, hd.y_col : hd.y_col + hd.y_width])
        h[:k, hd.flag_col] = np.where(pf[final], ord("N"), ord("Y"))
        for seg, c in hd.umi_cols:
            h[:k, c : c + seg.cycles] = self.base_lut[matrix.segment(cm, seg)]
        for g, sel in chunk.groups():
            hd.put_index(sel, self.index_texts[g + 1], chunk.observed)
        for read, rec in zip(self.outputs, self.recs, strict=True):
            hd.write_read(rec, k, read.header_number)
            if self.eamss:
                # Picard masks every read it outputs: template, barcode and UMI.
                seg_codes = matrix.segment(cm, read.segment)
                bases, quals = self.base_lut[seg_codes], self.qual_lut[seg_codes]
                apply_eamss(bases, quals)
                rec.put(k, bases, quals)
            else:
                rec.fill(k, cm, matrix.cols[read.segment] // 2, self.base_pairs, self.qual_pairs)


def process_tile(plan: TilePlan, ref: TileRef, part_dir: Path) -> DemuxStats:
    """Demultiplex one tile into gzip parts under ``part_dir``; return its statistics."""
    cfg = plan.config
    used = [s for s in plan.read_plan.segments if s.kind != "S"]
    cycles = [c + 1 for s in used for c in s.cycle_range]
    keep_non_pf = cfg.keeps_non_pf(ref.format)
    stats = DemuxStats()
    writers: dict[str, GzipMemberWriter] = {}
    try:
        with TileReader(plan.run_dir, ref, cycles, run=plan.run_id) as reader:
            assert reader.x is not None and reader.y is not None
            stats.clusters += reader.cluster_count
            stats.pf_clusters += int(reader.pf.sum())
            fmt = _Formatter(plan, ref, reader, used)
            index_rows = [(fmt.matrix.rows[s], s.cycles) for s in plan.read_plan.of_kind("B")]
            for chunk in reader.chunks(fmt.chunk_clusters):
                pf = reader.pf[chunk.start : chunk.stop]
                rows = np.arange(len(pf)) if keep_non_pf else np.flatnonzero(pf)
                if len(rows) == 0:
                    continue
                x = reader.x[chunk.start : chunk.stop]
                y = reader.y[chunk.start : chunk.stop]
                ordered = _order_chunk(
                    plan, ref, chunk.codes, chunk.base_lut, rows, index_rows, x, y
                )
                fmt.format(chunk.codes, ordered, pf, x, y)
                for g, sel in ordered.groups():
                    if g >= 0 or cfg.write_undetermined:
                        for read, rec in zip(fmt.outputs, fmt.recs, strict=True):
                            _writer(plan, ref, read, g, writers, part_dir).write(
                                fastq_text(rec.rows[sel]), sel.stop - sel.start
                            )
                    _count(stats, plan, ref.lane, g, sel, ordered.mism, ordered.observed)
    finally:
        for w in writers.values():
            w.close()
    stats.trim()
    return stats


def _writer(
    plan: TilePlan,
    ref: TileRef,
    read: OutputRead,
    g: int,
    writers: dict[str, GzipMemberWriter],
    part_dir: Path,
) -> GzipMemberWriter:
    fname = plan.file_name(g, ref.lane, read)
    writer = writers.get(fname)
    if writer is None:
        writer = writers[fname] = GzipMemberWriter(
            part_dir / fname, level=plan.config.compression_level
        )
    return writer


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
            # The "+" goes in before np.unique, so each distinct barcode is decoded once
            # and no Python loop splits it (same sort order: "+" is at one column in all).
            m = sel.stop - sel.start
            parts: list[np.ndarray] = []
            for j, o in enumerate(observed):
                if j:
                    parts.append(np.full((m, 1), ord("+"), dtype=np.uint8))
                parts.append(o[sel])
            joined = np.ascontiguousarray(np.concatenate(parts, axis=1))
            values, counts = np.unique(
                joined.view(f"S{joined.shape[1]}").ravel(), return_counts=True
            )
            named: Counter[str] = Counter(
                dict(zip([v.decode() for v in values.tolist()], counts.tolist(), strict=True))
            )
            stats.add_unknown(lane, named)
        return
    sample = plan.samples[g]
    stats.indexes[sample.sample_id] = "+".join(sample.indexes)
    by_mm = np.bincount(np.minimum(mism[sel], 3), minlength=4)
    stats.add_reads(lane, sample.sample_id, (sel.stop - sel.start), by_mm[:3].tolist())
