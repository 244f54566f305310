"""Synthetic Illumina run folders, byte-exact to the instruments' formats, with their truth.

``write_run_folder`` writes what a sequencer leaves behind (RunInfo.xml, RunParameters.xml,
SampleSheet.csv, per-cycle base calls, filter and position files, then CopyComplete.txt and
RTAComplete.txt) for a :class:`RunSpec`, and returns a :class:`RunTruth` saying which
sample and PF flag every cluster got, plus the exact bases and qualities of a few clusters
per tile. Two layouts:

* ``bcl`` / ``bcl.gz`` (HiSeq/MiSeq): ``BaseCalls/L00N/C{cycle}.1/s_{lane}_{tile}.bcl[.gz]``
  (uint32 count, one byte per cluster: bits 0-1 base ACGT, bits 2-7 quality, 0 = no-call),
  ``BaseCalls/L00N/s_{lane}_{tile}.filter`` and ``Intensities/L00N/s_{lane}_{tile}.locs``.
* ``cbcl`` (NovaSeq 6000): ``BaseCalls/L00N/C{cycle}.1/L00N_{surface}.cbcl`` holding every
  tile of the surface as one gzip member each (4-bit values, low nibble first: bits 0-1
  base, bits 2-3 quality bin, 0 = no-call), the ``.filter`` files in ``L00N`` and one
  ``Intensities/s.locs`` shared by all tiles (patterned flow cell). Cycles listed in
  ``pf_excluded_cycles`` store PF clusters only (header flag 1), as RTA3 does.

Generation is cycle by cycle over one *file group* (one tile for BCL, one surface of a lane
for CBCL): the per-cluster state (sample, PF, index bases, reference anchor) is built once
per group and each cycle's column is drawn from its own seeded generator, so memory stays
at some 40 bytes per cluster of the group (plus the truth's 3 bytes per cluster of the
run) and the output is the same for the same seed.
Called-base qualities are 2..41 for BCL and bins 1..3 (Q12/Q23/Q37) for CBCL; a no-call
reads back as ``N`` with Q2. Index reads of a sample's clusters carry at most one error
(a substitution or a no-call), and undetermined clusters' indexes are at least 2 mismatches
from every sample in one index and 3 over both, so bcl2fastq's rule (1 mismatch per index)
and Picard's (1 over the concatenated barcode) assign exactly what the truth says. The
sample sheet's ``Index2`` is the i5 bases as read in the i5 cycles.
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from isal import igzip
from pydantic import BaseModel, ConfigDict, Field, model_validator

from seqoia.errors import ConfigurationError

__all__ = [
    "FastqRecord",
    "RunSpec",
    "RunTruth",
    "TruthRead",
    "TruthSample",
    "write_fastq_run_folder",
    "write_run_folder",
]

BASES = "ACGT"
NO_CALL_QUALITY = 2
CBCL_BINS: tuple[tuple[int, int], ...] = ((0, 0), (1, 12), (2, 23), (3, 37))
_COMPRESS_LEVEL = 1  # isal level 1: the files are written once and read many times
_LUT_BITS = 16


class RunSpec(BaseModel):
    """What to simulate: instrument, layout, reads, samples and error model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    instrument: str = "A00123"
    run_number: int = Field(default=42, ge=0)
    flowcell: str = "HSIMFLOWX"
    date: str = "240102"  # YYMMDD, as in the run id
    side: Literal["A", "B"] = "A"
    format: Literal["bcl", "bcl.gz", "cbcl"] = "cbcl"
    lanes: int = Field(default=1, ge=1, le=8)
    surfaces: int = Field(default=1, ge=1, le=2)
    swaths: int = Field(default=1, ge=1, le=9)
    tiles_per_swath: int = Field(default=2, ge=1, le=99)
    clusters_per_tile: int = Field(default=1000, ge=1)
    #: Cycles of read 1, index 1 (i7), index 2 (i5), read 2; zero drops a read.
    read_cycles: tuple[int, int, int, int] = (151, 8, 8, 151)
    samples: int = Field(default=4, ge=1)
    undetermined_fraction: float = Field(default=0.05, ge=0.0, le=1.0)
    pf_fraction: float = Field(default=0.9, ge=0.0, le=1.0)
    #: 1-based cycles whose CBCL stores PF clusters only (non-PF excluded flag = 1).
    pf_excluded_cycles: tuple[int, ...] = ()
    no_call_rate: float = Field(default=0.002, ge=0.0, le=0.5)
    #: Fraction of sample clusters with one index error (half substitutions, half no-calls).
    index_error_rate: float = Field(default=0.02, ge=0.0, le=1.0)
    quality_model: Literal["auto", "binned", "full"] = "auto"
    #: FASTA (optionally gzipped) the template reads of ``reference_fraction`` clusters come from.
    reference: Path | None = None
    reference_fraction: float = Field(default=0.0, ge=0.0, le=1.0)
    insert_mean: int = 350
    insert_sd: int = 60
    sample_sheet_version: Literal[1, 2] = 2
    #: Clusters per tile whose full reads are kept in the truth.
    truth_reads_per_tile: int = Field(default=8, ge=0)
    seed: int = 0

    @model_validator(mode="after")
    def _check(self) -> RunSpec:
        if self.read_cycles[0] < 1 or self.read_cycles[1] < 1:
            raise ValueError("read 1 and index 1 need at least one cycle")
        if self.pf_excluded_cycles and self.format != "cbcl":
            raise ValueError("pf_excluded_cycles applies to the cbcl format only")
        if any(not 1 <= c <= self.total_cycles for c in self.pf_excluded_cycles):
            raise ValueError("pf_excluded_cycles must be cycles of the run")
        if self.format == "cbcl" and self.quality_model == "full":
            raise ValueError("CBCL holds 2-bit quality bins only")
        if self.reference_fraction > 0 and self.reference is None:
            raise ValueError("reference_fraction needs a reference")
        return self

    @property
    def run_id(self) -> str:
        return f"{self.date}_{self.instrument}_{self.run_number:04d}_{self.side}{self.flowcell}"

    @property
    def total_cycles(self) -> int:
        return sum(self.read_cycles)

    @property
    def binned(self) -> bool:
        return self.quality_model == "binned" or (
            self.quality_model == "auto" and self.format == "cbcl"
        )

    def tile_numbers(self) -> list[int]:
        """Tile names as instruments write them: surface, swath, two-digit tile."""
        return [
            surface * 1000 + swath * 100 + tile
            for surface in range(1, self.surfaces + 1)
            for swath in range(1, self.swaths + 1)
            for tile in range(1, self.tiles_per_swath + 1)
        ]

    @property
    def read_structure(self) -> str:
        """Picard notation, e.g. ``151T8B8B151T``."""
        kinds = "TBBT"
        return "".join(f"{n}{k}" for n, k in zip(self.read_cycles, kinds, strict=True) if n)


@dataclass(frozen=True)
class TruthSample:
    sample_id: str
    number: int  # the ``S<n>`` of FASTQ names, 1-based sheet order
    index: str
    index2: str


@dataclass(frozen=True)
class TruthRead:
    """One cluster as written: its reads in cycle order (R1, I1, I2, R2, empty if absent)."""

    lane: int
    tile: int
    cluster: int  # 0-based position in the tile (filter / locs order)
    x: int  # read-name coordinates, round(10 * locs + 1000)
    y: int
    pf: bool
    sample_id: str | None  # None: undetermined
    sequences: tuple[str, str, str, str]
    qualities: tuple[str, str, str, str]  # Phred+33


@dataclass
class RunTruth:
    """What was written: per-cluster sample (-1 = undetermined) and PF, tile by tile."""

    spec: RunSpec
    run_id: str
    samples: tuple[TruthSample, ...]
    #: (lane, tile) in the order the arrays are concatenated.
    tiles: tuple[tuple[int, int], ...]
    sample: np.ndarray  # int16 per cluster
    pf: np.ndarray  # bool per cluster
    reads: list[TruthRead] = field(default_factory=list)

    @property
    def clusters(self) -> int:
        return int(self.sample.size)

    @property
    def pf_clusters(self) -> int:
        return int(self.pf.sum())

    def lane_mask(self, lane: int) -> np.ndarray:
        n = self.spec.clusters_per_tile
        per_tile = np.array([tile_lane == lane for tile_lane, _ in self.tiles], dtype=bool)
        return np.repeat(per_tile, n)

    def pf_counts(self, lane: int | None = None) -> dict[str, int]:
        """PF clusters per sample id, plus ``"Undetermined"``; every sample is listed."""
        keep = self.pf if lane is None else self.pf & self.lane_mask(lane)
        counts = np.bincount(self.sample[keep] + 1, minlength=len(self.samples) + 1)
        out = {s.sample_id: int(counts[i + 1]) for i, s in enumerate(self.samples)}
        out["Undetermined"] = int(counts[0])
        return out


# -- barcodes, qualities, reference --------------------------------------------------


def _distinct_barcodes(rng: np.random.Generator, count: int, length: int) -> np.ndarray:
    """``count`` random barcodes (codes 0-3) pairwise at Hamming distance >= 3."""
    if length == 0:
        return np.zeros((count, 0), dtype=np.uint8)
    chosen: list[np.ndarray] = []
    for _ in range(count * 1000 + 1000):
        candidate = rng.integers(0, 4, length, dtype=np.uint8)
        # Homopolymer-free-ish: reject runs of a single base, like real index kits do.
        if len(set(candidate.tolist())) < min(3, length):
            continue
        if all(int((candidate != c).sum()) >= 3 for c in chosen):
            chosen.append(candidate)
            if len(chosen) == count:
                return np.array(chosen, dtype=np.uint8)
    raise ConfigurationError(f"cannot draw {count} barcodes of {length} nt at distance 3")


def _quality_lut(values: Sequence[int], probs: Sequence[float]) -> np.ndarray:
    """A 2**16 table mapping a uniform uint16 to ``values`` with ``probs``."""
    p = np.asarray(probs, dtype=np.float64)
    edges = np.round(np.cumsum(p / p.sum()) * (1 << _LUT_BITS)).astype(np.int64)
    counts = np.diff(np.concatenate([[0], edges]))
    return np.repeat(np.asarray(values, dtype=np.uint8), counts)


def _cycle_lut(spec: RunSpec, position: float, no_calls: bool) -> np.ndarray:
    """Shifted quality codes (``q << 2``, 0 = no-call) for one cycle at read ``position``."""
    nc = spec.no_call_rate if no_calls else 0.0
    if spec.binned:  # Q12/Q23/Q37 (CBCL bins 1..3), quality dropping along the read
        high = 0.92 - 0.17 * position
        mid = (1 - high) * 0.65
        values = [0, 1, 2, 3] if spec.format == "cbcl" else [0, 12, 23, 37]
        probs = [nc, (1 - nc) * (1 - high - mid), (1 - nc) * mid, (1 - nc) * high]
    else:  # Q2..Q41, most in 30..41
        good = 0.9 - 0.25 * position
        qs = np.arange(2, 42)
        w = np.where(qs >= 30, good / 12, (1 - good) / 28)
        values, probs = [0, *qs.tolist()], [nc, *((1 - nc) * w).tolist()]
    return (_quality_lut(values, probs).astype(np.uint16) << 2).astype(np.uint8)


def _read_reference(path: Path, rng: np.random.Generator) -> np.ndarray:
    """Base codes 0-3 of all records of a FASTA, concatenated; other letters drawn at random."""
    opener = gzip.open if path.suffix == ".gz" else open
    table = np.full(256, 255, dtype=np.uint8)
    for code, base in enumerate(BASES):
        table[ord(base)] = table[ord(base.lower())] = code
    chunks: list[np.ndarray] = []
    with opener(path, "rb") as fh:
        for line in fh:
            if not line.startswith(b">"):
                chunks.append(table[np.frombuffer(line.rstrip(), dtype=np.uint8)])
    codes = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.uint8)
    bad = codes == 255
    codes[bad] = rng.integers(0, 4, int(bad.sum()), dtype=np.uint8)
    return codes


# -- per-tile state ------------------------------------------------------------------


@dataclass
class _Tile:
    lane: int
    tile: int
    sample: np.ndarray  # int16, -1 undetermined
    pf: np.ndarray  # bool
    index_codes: np.ndarray  # (clusters, i7+i5) uint8, 4 = no-call
    ref_rows: np.ndarray  # clusters whose template reads come from the reference
    anchors: np.ndarray  # (2, len(ref_rows)) start of R1 / R2 on the reference
    steps: np.ndarray  # (2, len(ref_rows)) +1 / -1
    masks: np.ndarray  # (2, len(ref_rows)) 0 or 3 (xor complements a code)
    truth_rows: np.ndarray  # clusters kept in full in the truth
    truth_values: np.ndarray  # (len(truth_rows), cycles) stored value per cycle
    x: np.ndarray  # read-name coordinates
    y: np.ndarray


def _tile_rng(spec: RunSpec, lane: int, tile: int, cycle: int = 0) -> np.random.Generator:
    return np.random.default_rng([spec.seed, lane, tile, cycle])


def _make_tile(
    spec: RunSpec,
    lane: int,
    tile: int,
    i7: np.ndarray,
    i5: np.ndarray,
    ref: np.ndarray | None,
    xy: tuple[np.ndarray, np.ndarray],
) -> _Tile:
    rng = _tile_rng(spec, lane, tile)
    n = spec.clusters_per_tile
    n_samples = i7.shape[0]
    sample = rng.integers(0, n_samples, n).astype(np.int16)
    sample[rng.random(n) < spec.undetermined_fraction] = -1
    pf = rng.random(n) < spec.pf_fraction
    barcodes = np.concatenate([i7, i5], axis=1)
    index_codes = barcodes[np.maximum(sample, 0)]
    und = np.flatnonzero(sample < 0)
    index_codes[und] = _undetermined_indexes(rng, len(und), i7, i5)
    err = np.flatnonzero((sample >= 0) & (rng.random(n) < spec.index_error_rate))
    pos = rng.integers(0, barcodes.shape[1], len(err))
    shift = rng.integers(1, 4, len(err)).astype(np.uint8)
    no_call = rng.random(len(err)) < 0.5
    index_codes[err, pos] = np.where(no_call, 4, (index_codes[err, pos] + shift) % 4)

    ref_rows = np.zeros(0, dtype=np.int64)
    anchors = steps = masks = np.zeros((2, 0), dtype=np.int64)
    if ref is not None and spec.reference_fraction > 0:
        ref_rows = np.flatnonzero(rng.random(n) < spec.reference_fraction)
        longest = max(spec.read_cycles[0], spec.read_cycles[3])
        ins = np.clip(
            rng.normal(spec.insert_mean, spec.insert_sd, len(ref_rows)), longest, None
        ).astype(np.int64)
        if ref.size <= int(ins.max(initial=0)):
            raise ConfigurationError(f"reference {spec.reference} is shorter than an insert")
        start = (rng.random(len(ref_rows)) * (ref.size - ins)).astype(np.int64)
        end = start + ins - 1
        rev = rng.random(len(ref_rows)) < 0.5
        anchors = np.stack([np.where(rev, end, start), np.where(rev, start, end)])
        steps = np.stack([np.where(rev, -1, 1), np.where(rev, 1, -1)])
        masks = np.stack([np.where(rev, 3, 0), np.where(rev, 0, 3)])
    k = min(spec.truth_reads_per_tile, n)
    truth_rows = np.sort(rng.choice(n, k, replace=False)) if k else np.zeros(0, dtype=np.int64)
    return _Tile(
        lane, tile, sample, pf, index_codes, ref_rows, anchors, steps, masks, truth_rows,
        np.zeros((k, spec.total_cycles), dtype=np.uint8), xy[0], xy[1],
    )  # fmt: skip


def _undetermined_indexes(
    rng: np.random.Generator, count: int, i7: np.ndarray, i5: np.ndarray
) -> np.ndarray:
    """Index pairs that no demultiplexing rule in use assigns to any sample."""
    l7 = i7.shape[1]
    out = rng.integers(0, 4, (count, l7 + i5.shape[1]), dtype=np.uint8)
    for _ in range(1000):
        d7 = (out[:, None, :l7] != i7[None]).sum(axis=2)
        d5 = (out[:, None, l7:] != i5[None]).sum(axis=2)
        bad = ((d7 + d5 < 3) | (np.maximum(d7, d5) < 2)).any(axis=1)
        if not bad.any():
            return out
        out[bad] = rng.integers(0, 4, (int(bad.sum()), out.shape[1]), dtype=np.uint8)
    raise ConfigurationError("cannot draw undetermined indexes far enough from the samples")


@dataclass(frozen=True)
class _Cycle:
    number: int  # 1-based
    read: int  # 0..3 (R1, I1, I2, R2)
    offset: int  # 0-based within the read
    index_column: int  # column in index_codes, -1 for template cycles


def _cycles(spec: RunSpec) -> list[_Cycle]:
    out: list[_Cycle] = []
    for read, length in enumerate(spec.read_cycles):
        for offset in range(length):
            column = -1
            if read == 1:
                column = offset
            elif read == 2:
                column = spec.read_cycles[1] + offset
            out.append(_Cycle(len(out) + 1, read, offset, column))
    return out


def _cycle_values(
    spec: RunSpec, t: _Tile, cyc: _Cycle, lut: np.ndarray, ref: np.ndarray | None
) -> np.ndarray:
    """One cycle's stored value per cluster: ``(quality << 2) | base``, 0 for a no-call."""
    n = t.sample.size
    rng = _tile_rng(spec, t.lane, t.tile, cyc.number)
    raw = np.frombuffer(rng.bytes(3 * n), dtype=np.uint8)
    values = lut[raw[: 2 * n].view(np.uint16)]
    if cyc.index_column >= 0:
        bases = t.index_codes[:, cyc.index_column]
        values = np.where(bases == 4, 0, values | (bases & 3)).astype(np.uint8)
        return values
    bases = raw[2 * n :] & 3
    if t.ref_rows.size and ref is not None:
        r = 0 if cyc.read == 0 else 1
        bases[t.ref_rows] = ref[t.anchors[r] + t.steps[r] * cyc.offset] ^ t.masks[r]
    np.bitwise_or(values, bases, out=values, where=values != 0)
    return values


# -- binary files --------------------------------------------------------------------


def _gzip(data: bytes) -> bytes:
    return igzip.compress(data, _COMPRESS_LEVEL, mtime=0)  # mtime 0: same bytes per seed


def _filter_bytes(pf: np.ndarray) -> bytes:
    return struct.pack("<III", 0, 3, pf.size) + pf.astype(np.uint8).tobytes()


def _locs_bytes(x: np.ndarray, y: np.ndarray) -> bytes:
    """LOCS: int32 1, float32 1.0, uint32 count, then float32 (x, y) per cluster."""
    xy = np.empty((x.size, 2), dtype="<f4")
    # name coordinate = round(10 * v + 1000); +0.2 keeps rounding away from ties
    xy[:, 0] = (x - 1000 + 0.2) / 10
    xy[:, 1] = (y - 1000 + 0.2) / 10
    return struct.pack("<ifI", 1, 1.0, x.size) + xy.tobytes()


def _patterned_coordinates(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Read-name coordinates of a hexagonal well grid (NovaSeq s.locs)."""
    cols = max(1, int(np.ceil(np.sqrt(n))))
    i = np.arange(n)
    row, col = i // cols, i % cols
    return 1000 + 18 * col + 9 * (row % 2), 1000 + 16 * row


def _random_coordinates(spec: RunSpec, lane: int, tile: int) -> tuple[np.ndarray, np.ndarray]:
    """Read-name coordinates of a random (non-patterned) tile, sorted along y like RTA's."""
    rng = _tile_rng(spec, lane, tile, 1 << 20)
    n = spec.clusters_per_tile
    y = np.sort(rng.integers(1000, 21000, n))
    return rng.integers(1000, 21480, n), y


def _pack_nibbles(values: np.ndarray) -> bytes:
    """Two 4-bit values per byte, the first cluster in the low nibble."""
    if values.size % 2:
        values = np.append(values, np.uint8(0))
    return (values[0::2] | (values[1::2] << 4)).tobytes()


def _cbcl_bytes(blocks: Sequence[tuple[int, int, int, bytes]], pf_excluded: bool) -> bytes:
    """A CBCL file: header (version 1, 2+2 bits, bins, tile records, flag) then the blocks."""
    parts = [struct.pack("<BBI", 2, 2, len(CBCL_BINS))]
    parts += [struct.pack("<II", f, t) for f, t in CBCL_BINS]
    parts.append(struct.pack("<I", len(blocks)))
    parts += [struct.pack("<IIII", tile, n, raw, len(gz)) for tile, n, raw, gz in blocks]
    parts.append(bytes([1 if pf_excluded else 0]))
    body = b"".join(parts)
    return struct.pack("<HI", 1, 6 + len(body)) + body + b"".join(b[3] for b in blocks)


def _truth_read(spec: RunSpec, t: _Tile, row: int, samples: Sequence[TruthSample]) -> TruthRead:
    values = t.truth_values[list(t.truth_rows).index(row)]
    quals = np.array([q for _, q in CBCL_BINS]) if spec.format == "cbcl" else np.arange(64)
    seqs: list[str] = []
    qual_strs: list[str] = []
    start = 0
    for length in spec.read_cycles:
        v = values[start : start + length]
        start += length
        seqs.append("".join("N" if c == 0 else BASES[c & 3] for c in v.tolist()))
        q = np.where(v == 0, NO_CALL_QUALITY, quals[v >> 2])
        qual_strs.append("".join(chr(33 + int(c)) for c in q))
    s = int(t.sample[row])
    return TruthRead(
        lane=t.lane, tile=t.tile, cluster=row, x=int(t.x[row]), y=int(t.y[row]),
        pf=bool(t.pf[row]), sample_id=samples[s].sample_id if s >= 0 else None,
        sequences=(seqs[0], seqs[1], seqs[2], seqs[3]),
        qualities=(qual_strs[0], qual_strs[1], qual_strs[2], qual_strs[3]),
    )  # fmt: skip


# -- metadata ------------------------------------------------------------------------


def _decode(codes: np.ndarray) -> str:
    return "".join(BASES[c] for c in codes.tolist())


def _us_date(yymmdd: str) -> str:
    return f"{int(yymmdd[2:4])}/{int(yymmdd[4:6])}/20{yymmdd[:2]} 10:00:00 AM"


def _run_info_xml(spec: RunSpec) -> str:
    novaseq = spec.format == "cbcl"
    reads, number = [], 0
    for i, cycles in enumerate(spec.read_cycles):
        if cycles:
            number += 1
            rc = ' IsReverseComplement="N"' if novaseq else ""
            idx = "Y" if i in (1, 2) else "N"
            reads.append(
                f'\t\t\t<Read Number="{number}" NumCycles="{cycles}" IsIndexedRead="{idx}"{rc} />'
            )
    tiles = [f"\t\t\t\t\t<Tile>{lane}_{t}</Tile>" for lane in range(1, spec.lanes + 1)
             for t in spec.tile_numbers()]  # fmt: skip
    return "\n".join([
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<RunInfo Version="{5 if novaseq else 2}">',
        f'\t<Run Id="{spec.run_id}" Number="{spec.run_number}">',
        f"\t\t<Flowcell>{spec.flowcell}</Flowcell>",
        f"\t\t<Instrument>{spec.instrument}</Instrument>",
        f"\t\t<Date>{_us_date(spec.date) if novaseq else spec.date}</Date>",
        "\t\t<Reads>", *reads, "\t\t</Reads>",
        f'\t\t<FlowcellLayout LaneCount="{spec.lanes}" SurfaceCount="{spec.surfaces}" '
        f'SwathCount="{spec.swaths}" TileCount="{spec.tiles_per_swath}">',
        '\t\t\t<TileSet TileNamingConvention="FourDigit">',
        "\t\t\t\t<Tiles>", *tiles, "\t\t\t\t</Tiles>",
        "\t\t\t</TileSet>",
        "\t\t</FlowcellLayout>",
        "\t</Run>",
        "</RunInfo>",
        "",
    ])  # fmt: skip


def _run_parameters_xml(spec: RunSpec) -> str:
    r1, i1, i2, r2 = spec.read_cycles
    if spec.format == "cbcl":
        body = [
            f"  <Side>{spec.side}</Side>",
            "  <Application>NovaSeq Control Software</Application>",
            "  <ApplicationVersion>1.7.5</ApplicationVersion>",
            "  <RtaVersion>v3.4.4</RtaVersion>",
            f"  <RunId>{spec.run_id}</RunId>",
            f"  <ExperimentName>{spec.run_id}</ExperimentName>",
            "  <InstrumentType>NovaSeq 6000</InstrumentType>",
            f"  <RunNumber>{spec.run_number}</RunNumber>",
            f"  <RunStartDate>{spec.date}</RunStartDate>",
            f"  <RfidsInfo><FlowCellSerialBarcode>{spec.flowcell}</FlowCellSerialBarcode>"
            "<FlowCellMode>S4</FlowCellMode></RfidsInfo>",
            "  <Chemistry>NovaSeq_v1.5</Chemistry>",
            f"  <Read1NumberOfCycles>{r1}</Read1NumberOfCycles>",
            f"  <Read2NumberOfCycles>{r2}</Read2NumberOfCycles>",
            f"  <IndexRead1NumberOfCycles>{i1}</IndexRead1NumberOfCycles>",
            f"  <IndexRead2NumberOfCycles>{i2}</IndexRead2NumberOfCycles>",
        ]
    else:
        body = [
            "  <Setup>",
            "    <ApplicationName>HiSeq Control Software</ApplicationName>",
            "    <ApplicationVersion>3.4.0.38</ApplicationVersion>",
            f"    <RunID>{spec.run_id}</RunID>",
            f"    <ExperimentName>{spec.run_id}</ExperimentName>",
            f"    <FCPosition>{spec.side}</FCPosition>",
            f"    <Read1>{r1}</Read1><IndexRead1>{i1}</IndexRead1>"
            f"<IndexRead2>{i2}</IndexRead2><Read2>{r2}</Read2>",
            "    <Sbs>HiSeq SBS Kit v4</Sbs>",
            "  </Setup>",
            "  <RTAVersion>1.18.66.3</RTAVersion>",
        ]
    return "\n".join([
        '<?xml version="1.0"?>',
        '<RunParameters xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">',
        *body,
        "</RunParameters>",
        "",
    ])  # fmt: skip


def _sample_sheet(spec: RunSpec, samples: Sequence[TruthSample]) -> str:
    r1, i1, i2, r2 = spec.read_cycles
    i5 = [",Index2", ",BarcodeMismatchesIndex2,1", f",Index2Cycles,{i2}"] if i2 else [""] * 3
    rows = [
        (lane, s.sample_id, s.index + (f",{s.index2}" if i2 else ""))
        for lane in range(1, spec.lanes + 1)
        for s in samples
    ]
    if spec.sample_sheet_version == 2:
        platform = "NovaSeq6000" if spec.format == "cbcl" else "HiSeq"
        text = (
            f"[Header]\nFileFormatVersion,2\nRunName,{spec.run_id}\nInstrumentPlatform,{platform}\n"
            f"\n[Reads]\nRead1Cycles,{r1}\n"
            + (f"Read2Cycles,{r2}\n" if r2 else "")
            + f"Index1Cycles,{i1}\n{i5[2][1:]}\n"
            + "\n[BCLConvert_Settings]\nSoftwareVersion,3.9.3\nBarcodeMismatchesIndex1,1\n"
            + f"{i5[1][1:]}\n\n[BCLConvert_Data]\nLane,Sample_ID,Index{i5[0]}\n"
        )
        body = "".join(f"{lane},{sid},{idx}\n" for lane, sid, idx in rows)
    else:
        text = (
            f"[Header]\nIEMFileVersion,5\nExperiment Name,{spec.run_id}\n"
            f"Date,20{spec.date[:2]}-{spec.date[2:4]}-{spec.date[4:]}\n"
            "Workflow,GenerateFASTQ\nApplication,FASTQ Only\n"
            f"\n[Reads]\n{r1}\n" + (f"{r2}\n" if r2 else "") + "\n[Settings]\n\n[Data]\n"
            f"Lane,Sample_ID,Sample_Name,Sample_Project,index{i5[0].lower()}\n"
        )
        body = "".join(f"{lane},{sid},{sid},SIMPROJ,{idx}\n" for lane, sid, idx in rows)
    return text.replace("\n\n\n", "\n\n") + body


# -- the run folder ------------------------------------------------------------------


def write_run_folder(path: Path, spec: RunSpec) -> RunTruth:
    """Write a complete run folder for ``spec`` into ``path`` (new or empty); return its truth."""
    path = Path(path)
    if path.exists() and any(path.iterdir()):
        raise ConfigurationError(f"{path} is not empty: a run folder is written from scratch")
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([spec.seed, 0xBA5E])
    i7 = _distinct_barcodes(rng, spec.samples, spec.read_cycles[1])
    i5 = _distinct_barcodes(rng, spec.samples, spec.read_cycles[2])
    samples = tuple(
        TruthSample(f"SIM{i + 1:03d}", i + 1, _decode(i7[i]), _decode(i5[i]))
        for i in range(spec.samples)
    )
    ref = None
    if spec.reference is not None and spec.reference_fraction > 0:
        ref = _read_reference(spec.reference, rng)
    (path / "RunInfo.xml").write_text(_run_info_xml(spec))
    (path / "RunParameters.xml").write_text(_run_parameters_xml(spec))
    (path / "SampleSheet.csv").write_text(_sample_sheet(spec, samples))

    cycles = _cycles(spec)
    luts = [
        _cycle_lut(spec, c.offset / max(1, spec.read_cycles[c.read] - 1), c.index_column < 0)
        for c in cycles
    ]
    intensities = path / "Data" / "Intensities"
    patterned = _patterned_coordinates(spec.clusters_per_tile)
    if spec.format == "cbcl":
        intensities.mkdir(parents=True, exist_ok=True)
        (intensities / "s.locs").write_bytes(_locs_bytes(*patterned))
    tiles, sample_arrays, pf_arrays, reads = [], [], [], []
    for lane in range(1, spec.lanes + 1):
        lane_dir = intensities / "BaseCalls" / f"L{lane:03d}"
        lane_dir.mkdir(parents=True, exist_ok=True)
        for group in _file_groups(spec):
            states = []
            for tile in group:
                xy = patterned if spec.format == "cbcl" else _random_coordinates(spec, lane, tile)
                t = _make_tile(spec, lane, tile, i7, i5, ref, xy)
                (lane_dir / f"s_{lane}_{tile}.filter").write_bytes(_filter_bytes(t.pf))
                if spec.format != "cbcl":
                    locs_dir = intensities / f"L{lane:03d}"
                    locs_dir.mkdir(parents=True, exist_ok=True)
                    (locs_dir / f"s_{lane}_{tile}.locs").write_bytes(_locs_bytes(*xy))
                states.append(t)
            for cyc, lut in zip(cycles, luts, strict=True):
                cycle_dir = lane_dir / f"C{cyc.number}.1"
                cycle_dir.mkdir(exist_ok=True)
                _write_cycle(spec, cycle_dir, lane, group[0] // 1000, states, cyc, lut, ref)
            for t in states:
                tiles.append((lane, t.tile))
                sample_arrays.append(t.sample)
                pf_arrays.append(t.pf)
                reads += [_truth_read(spec, t, int(r), samples) for r in t.truth_rows]
    (path / "CopyComplete.txt").write_text("")
    (path / "RTAComplete.txt").write_text("RTA 3.4.4 completed\n")
    return RunTruth(
        spec=spec,
        run_id=spec.run_id,
        samples=samples,
        tiles=tuple(tiles),
        sample=np.concatenate(sample_arrays),
        pf=np.concatenate(pf_arrays),
        reads=reads,
    )


def _file_groups(spec: RunSpec) -> list[list[int]]:
    """Tiles that share a file per cycle: one tile (BCL) or one surface (CBCL)."""
    tiles = spec.tile_numbers()
    if spec.format != "cbcl":
        return [[t] for t in tiles]
    return [[t for t in tiles if t // 1000 == s] for s in range(1, spec.surfaces + 1)]


def _write_cycle(
    spec: RunSpec,
    cycle_dir: Path,
    lane: int,
    surface: int,
    states: Sequence[_Tile],
    cyc: _Cycle,
    lut: np.ndarray,
    ref: np.ndarray | None,
) -> None:
    pf_excluded = cyc.number in spec.pf_excluded_cycles
    blocks: list[tuple[int, int, int, bytes]] = []
    for t in states:
        values = _cycle_values(spec, t, cyc, lut, ref)
        t.truth_values[:, cyc.number - 1] = values[t.truth_rows]
        if spec.format == "cbcl":
            kept = values[t.pf] if pf_excluded else values
            raw = _pack_nibbles(kept)
            blocks.append((t.tile, kept.size, len(raw), _gzip(raw)))
            continue
        data = struct.pack("<I", values.size) + values.tobytes()
        name = f"s_{lane}_{t.tile}.bcl"
        if spec.format == "bcl.gz":
            (cycle_dir / (name + ".gz")).write_bytes(_gzip(data))
        else:
            (cycle_dir / name).write_bytes(data)
    if blocks:
        (cycle_dir / f"L{lane:03d}_{surface}.cbcl").write_bytes(_cbcl_bytes(blocks, pf_excluded))


# -- FASTQ-delivered run folders -----------------------------------------------------

#: One FASTQ record: name (without ``@``), sequence, quality (Phred+33).
FastqRecord = tuple[str, str, str]

_FASTQ_DIRS = {
    # NovaSeq X / NextSeq 2000 on-board DRAGEN BCL Convert.
    "novaseqx": Path("Analysis") / "1" / "Data" / "fastq",
    # MiSeq Local Run Manager (GenerateFASTQ), one timestamped analysis folder.
    "miseq": Path("Alignment_1") / "20240102_120000" / "Fastq",
}


def write_fastq_run_folder(
    path: Path,
    run_id: str,
    samples: Mapping[str, tuple[Iterable[FastqRecord], Iterable[FastqRecord] | None]],
    sample_sheet_columns: Mapping[str, Mapping[str, str]] | None = None,
    *,
    lane: int = 1,
    index_cycles: tuple[int, int] = (8, 8),
    layout: Literal["novaseqx", "miseq"] = "novaseqx",
) -> dict[str, tuple[Path, Path | None]]:
    """Write a run folder whose instrument already converted to FASTQ.

    Files are ``<layout dir>/{Sample}_S{n}_L00{lane}_R{1,2}_001.fastq.gz`` (``n`` = sheet
    order), next to RunInfo.xml (read lengths = longest record seen), a v2 SampleSheet.csv
    (``Lane,Sample_ID`` then the union of ``sample_sheet_columns``, e.g. ``Index``,
    ``Index2``, ``Centre``) and, last, CopyComplete.txt and RTAComplete.txt. Records are
    streamed. Returns each sample's (R1, R2) paths.
    """
    path = Path(path)
    fastq_dir = path / _FASTQ_DIRS[layout]
    fastq_dir.mkdir(parents=True, exist_ok=True)
    for marker in ("CopyComplete.txt", "RTAComplete.txt"):
        (path / marker).unlink(missing_ok=True)
    longest = [0, 0]
    written: dict[str, tuple[Path, Path | None]] = {}
    for n, (sample_id, (r1, r2)) in enumerate(samples.items(), start=1):
        stem = f"{sample_id}_S{n}_L{lane:03d}"
        p1 = fastq_dir / f"{stem}_R1_001.fastq.gz"
        longest[0] = max(longest[0], _write_fastq(p1, r1))
        p2 = None
        if r2 is not None:
            p2 = fastq_dir / f"{stem}_R2_001.fastq.gz"
            longest[1] = max(longest[1], _write_fastq(p2, r2))
        written[sample_id] = (p1, p2)
    if layout == "novaseqx":
        (fastq_dir.parent / "Secondary_Analysis_Complete.txt").write_text("")
    parts = run_id.split("_")
    spec = RunSpec(
        date=parts[0] if len(parts) == 4 and len(parts[0]) == 6 else "240102",
        instrument=parts[1] if len(parts) == 4 else "SIM",
        run_number=int(parts[2]) if len(parts) == 4 and parts[2].isdigit() else 1,
        flowcell=parts[3] if len(parts) == 4 else "FLOWCELL",
        format="cbcl",
        lanes=lane,
        read_cycles=(max(1, longest[0]), max(1, index_cycles[0]), index_cycles[1], longest[1]),
    )
    (path / "RunInfo.xml").write_text(_run_info_xml(spec).replace(spec.run_id, run_id, 1))
    columns = sample_sheet_columns or {}
    extra = list(dict.fromkeys(k for cols in columns.values() for k in cols))
    r1c, i1c, i2c, r2c = spec.read_cycles
    lines = ["[Header]", "FileFormatVersion,2", f"RunName,{run_id}", "", "[Reads]",
             f"Read1Cycles,{r1c}"] + ([f"Read2Cycles,{r2c}"] if r2c else [])  # fmt: skip
    lines += [f"Index1Cycles,{i1c}"] + ([f"Index2Cycles,{i2c}"] if i2c else [])
    lines += ["", "[BCLConvert_Settings]", "SoftwareVersion,4.2.7", "", "[BCLConvert_Data]"]
    lines.append(",".join(["Lane", "Sample_ID", *extra]))
    for sample_id in samples:
        row = [str(lane), sample_id] + [columns.get(sample_id, {}).get(k, "") for k in extra]
        lines.append(",".join(row))
    (path / "SampleSheet.csv").write_text("\n".join(lines) + "\n")
    (path / "CopyComplete.txt").write_text("")
    (path / "RTAComplete.txt").write_text("")
    return written


def _write_fastq(path: Path, records: Iterable[FastqRecord]) -> int:
    """Stream records into a gzipped FASTQ; returns the longest sequence length."""
    longest = 0
    with igzip.open(path, "wb", compresslevel=_COMPRESS_LEVEL) as fh:
        for batch in _batches(records, 4096):
            fh.write("".join(f"@{n}\n{s}\n+\n{q}\n" for n, s, q in batch).encode())
            longest = max(longest, max(len(s) for _, s, _ in batch))
    return longest


def _batches(records: Iterable[FastqRecord], size: int) -> Iterator[list[FastqRecord]]:
    batch: list[FastqRecord] = []
    for record in records:
        batch.append(record)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
