"""The per-cluster model of a simulated run: barcodes, qualities, reference reads, positions.

For each file group of :mod:`seqoia.illumina.simulate`, the state of every cluster of a
tile (sample, PF, index bases, reference anchor, position) is drawn once from the tile's
seeded generator, and each cycle's stored values from the cycle's own generator, so the
same seed gives the same bases whatever is written around them.
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from seqoia.errors import ConfigurationError

if TYPE_CHECKING:
    from seqoia.illumina.simulate import RunSpec

BASES = "ACGT"
_LUT_BITS = 16


# -- barcodes, qualities, reference --------------------------------------------------


def distinct_barcodes(rng: np.random.Generator, count: int, length: int) -> np.ndarray:
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


def cycle_quality_lut(spec: RunSpec, position: float, no_calls: bool) -> np.ndarray:
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


def read_reference_codes(path: Path, rng: np.random.Generator) -> np.ndarray:
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
class TileState:
    """Every cluster of one tile, drawn once: what each cycle's values are computed from."""

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


def make_tile(
    spec: RunSpec,
    lane: int,
    tile: int,
    i7: np.ndarray,
    i5: np.ndarray,
    ref: np.ndarray | None,
    xy: tuple[np.ndarray, np.ndarray],
) -> TileState:
    """Draw the clusters of one tile: sample, PF, index bases, reference anchors, truth rows."""
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
    return TileState(
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
class Cycle:
    """One sequencing cycle: which read it belongs to and where in it."""

    number: int  # 1-based
    read: int  # 0..3 (R1, I1, I2, R2)
    offset: int  # 0-based within the read
    index_column: int  # column in index_codes, -1 for template cycles


def run_cycles(spec: RunSpec) -> list[Cycle]:
    """Every cycle of the run in order: read 1, index 1, index 2, read 2."""
    out: list[Cycle] = []
    for read, length in enumerate(spec.read_cycles):
        for offset in range(length):
            column = -1
            if read == 1:
                column = offset
            elif read == 2:
                column = spec.read_cycles[1] + offset
            out.append(Cycle(len(out) + 1, read, offset, column))
    return out


def cycle_values(
    spec: RunSpec, t: TileState, cyc: Cycle, lut: np.ndarray, ref: np.ndarray | None
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


# -- positions -----------------------------------------------------------------------


def patterned_coordinates(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Read-name coordinates of a hexagonal well grid (NovaSeq s.locs)."""
    cols = max(1, int(np.ceil(np.sqrt(n))))
    i = np.arange(n)
    row, col = i // cols, i % cols
    return 1000 + 18 * col + 9 * (row % 2), 1000 + 16 * row


def random_coordinates(spec: RunSpec, lane: int, tile: int) -> tuple[np.ndarray, np.ndarray]:
    """Read-name coordinates of a random (non-patterned) tile, sorted along y like RTA's."""
    rng = _tile_rng(spec, lane, tile, 1 << 20)
    n = spec.clusters_per_tile
    y = np.sort(rng.integers(1000, 21000, n))
    return rng.integers(1000, 21480, n), y
