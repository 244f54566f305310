"""Demultiplexing of one tile: the unit of work the demultiplexer spreads over processes.

A worker reads the tile in cluster chunks, drops non-PF clusters (unless kept), applies
EAMSS (Picard mode), assigns each cluster to a sample, formats the records of each
sample and read in bulk and appends them to gzip part files under the tile's own
folder. The parent concatenates those parts in tile order, so outputs do not depend on
which worker finished first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
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


def process_tile(plan: TilePlan, ref: TileRef, part_dir: Path) -> DemuxStats:
    """Demultiplex one tile into gzip parts under ``part_dir``; return its statistics."""
    cfg = plan.config
    rp = cfg.read_plan
    outputs = plan.outputs()
    barcode_segs = rp.of_kind("B")
    umi_segs = rp.of_kind("M") if not cfg.picard else ()
    used = [s for s in rp.segments if s.kind != "S"]
    cycles = [c + 1 for s in used for c in s.cycle_range]
    keep_non_pf = cfg.keeps_non_pf(ref.format)
    eamss = cfg.applies_eamss(ref.format)
    sort_by_name = cfg.picard
    stats = DemuxStats()
    writers: dict[str, GzipMemberWriter] = {}
    try:
        with TileReader(plan.run_dir, ref, cycles, run=plan.run_id) as reader:
            stats.clusters += reader.cluster_count
            stats.pf_clusters += int(reader.pf.sum())
            assert reader.x is not None and reader.y is not None
            chunk_clusters = reader.cluster_count if sort_by_name else cfg.chunk_clusters
            capacity = max(1, min(chunk_clusters, reader.cluster_count))
            matrix = _ClusterMajor(used, capacity)
            index_texts = [
                _group_index(plan, g, bool(barcode_segs)) for g in range(-1, len(plan.samples))
            ]
            observed_width = sum(s.cycles for s in barcode_segs) + max(len(barcode_segs) - 1, 0)
            headers = _Headers(
                plan,
                ref,
                outputs,
                _text_width(reader.x),
                _text_width(reader.y),
                umi_segs,
                max([observed_width] + [len(t) for t in index_texts if t is not None]),
                capacity,
            )
            recs = [RecordMatrix(headers.width, r.segment.cycles, capacity) for r in outputs]
            base_pairs = qual_pairs = None
            for chunk in reader.chunks(chunk_clusters):
                if base_pairs is None:
                    base_pairs = pair_table(chunk.base_lut)
                    qual_pairs = pair_table(chunk.qual_lut, 33)
                pf = reader.pf[chunk.start : chunk.stop]
                rows = np.arange(len(pf)) if keep_non_pf else np.flatnonzero(pf)
                if len(rows) == 0:
                    continue
                codes, base_lut, qual_lut = chunk.codes, chunk.base_lut, chunk.qual_lut
                observed = [
                    np.ascontiguousarray(
                        base_lut[codes[matrix.rows[s] : matrix.rows[s] + s.cycles][:, rows].T]
                    )
                    for s in barcode_segs
                ]
                group, mism = _assign(plan, ref.lane, observed, len(rows))
                # Records of a group become one contiguous slice of the output order.
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
                k = len(final)
                cm = matrix.build(codes, final)

                h = headers.rows
                digits(
                    x_all[final],
                    headers.x_width,
                    h[:k, headers.x_col : headers.x_col + headers.x_width],
                )
                digits(
                    y_all[final],
                    headers.y_width,
                    h[:k, headers.y_col : headers.y_col + headers.y_width],
                )
                h[:k, headers.flag_col] = np.where(pf[final], ord("N"), ord("Y"))
                for seg, c in headers.umi_cols:
                    h[:k, c : c + seg.cycles] = base_lut[matrix.segment(cm, seg)]
                for a, b in zip(bounds[:-1], bounds[1:], strict=True):
                    if a < b:
                        headers.put_index(slice(a, b), index_texts[int(group[a]) + 1], observed)

                for read, rec in zip(outputs, recs, strict=True):
                    headers.write_read(rec, k, read.header_number)
                    if eamss:
                        # Picard masks every read it outputs: template, barcode and UMI.
                        seg_codes = matrix.segment(cm, read.segment)
                        bases, quals = base_lut[seg_codes], qual_lut[seg_codes]
                        apply_eamss(bases, quals)
                        rec.put(k, bases, quals)
                    else:
                        rec.fill(k, cm, matrix.cols[read.segment] // 2, base_pairs, qual_pairs)

                for a, b in zip(bounds[:-1], bounds[1:], strict=True):
                    if a == b:
                        continue
                    g = int(group[a])
                    if g >= 0 or cfg.write_undetermined:
                        for read, rec in zip(outputs, recs, strict=True):
                            _writer(plan, ref, read, g, writers, part_dir).write(
                                fastq_text(rec.rows[a:b]), b - a
                            )
                    _count(stats, plan, ref.lane, g, slice(a, b), mism, observed)
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
