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

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from isal import igzip
from pydantic import BaseModel, ConfigDict, Field, model_validator

from seqoia.errors import ConfigurationError
from seqoia.illumina.simulate_clusters import (
    BASES,
    TileState,
    cycle_quality_lut,
    distinct_barcodes,
    make_tile,
    patterned_coordinates,
    random_coordinates,
    read_reference_codes,
    run_cycles,
)
from seqoia.illumina.simulate_files import (
    CBCL_BINS,
    COMPRESS_LEVEL,
    decode_bases,
    filter_bytes,
    locs_bytes,
    run_info_xml,
    run_parameters_xml,
    sample_sheet_csv,
    write_cycle,
)

__all__ = [
    "FastqRecord",
    "RunSpec",
    "RunTruth",
    "TruthRead",
    "TruthSample",
    "write_fastq_run_folder",
    "write_run_folder",
]

NO_CALL_QUALITY = 2


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


# -- the run folder ------------------------------------------------------------------


def write_run_folder(path: Path, spec: RunSpec) -> RunTruth:
    """Write a complete run folder for ``spec`` into ``path`` (new or empty); return its truth."""
    path = Path(path)
    if path.exists() and any(path.iterdir()):
        raise ConfigurationError(f"{path} is not empty: a run folder is written from scratch")
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([spec.seed, 0xBA5E])
    i7 = distinct_barcodes(rng, spec.samples, spec.read_cycles[1])
    i5 = distinct_barcodes(rng, spec.samples, spec.read_cycles[2])
    samples = tuple(
        TruthSample(f"SIM{i + 1:03d}", i + 1, decode_bases(i7[i]), decode_bases(i5[i]))
        for i in range(spec.samples)
    )
    ref = None
    if spec.reference is not None and spec.reference_fraction > 0:
        ref = read_reference_codes(spec.reference, rng)
    (path / "RunInfo.xml").write_text(run_info_xml(spec))
    (path / "RunParameters.xml").write_text(run_parameters_xml(spec))
    (path / "SampleSheet.csv").write_text(sample_sheet_csv(spec, samples))

    cycles = run_cycles(spec)
    luts = [
        cycle_quality_lut(spec, c.offset / max(1, spec.read_cycles[c.read] - 1), c.index_column < 0)
        for c in cycles
    ]
    intensities = path / "Data" / "Intensities"
    patterned = patterned_coordinates(spec.clusters_per_tile)
    if spec.format == "cbcl":
        intensities.mkdir(parents=True, exist_ok=True)
        (intensities / "s.locs").write_bytes(locs_bytes(*patterned))
    tiles, sample_arrays, pf_arrays, reads = [], [], [], []
    for lane in range(1, spec.lanes + 1):
        lane_dir = intensities / "BaseCalls" / f"L{lane:03d}"
        lane_dir.mkdir(parents=True, exist_ok=True)
        for group in _file_groups(spec):
            states = []
            for tile in group:
                xy = patterned if spec.format == "cbcl" else random_coordinates(spec, lane, tile)
                t = make_tile(spec, lane, tile, i7, i5, ref, xy)
                (lane_dir / f"s_{lane}_{tile}.filter").write_bytes(filter_bytes(t.pf))
                if spec.format != "cbcl":
                    locs_dir = intensities / f"L{lane:03d}"
                    locs_dir.mkdir(parents=True, exist_ok=True)
                    (locs_dir / f"s_{lane}_{tile}.locs").write_bytes(locs_bytes(*xy))
                states.append(t)
            for cyc, lut in zip(cycles, luts, strict=True):
                cycle_dir = lane_dir / f"C{cyc.number}.1"
                cycle_dir.mkdir(exist_ok=True)
                write_cycle(spec, cycle_dir, lane, group[0] // 1000, states, cyc, lut, ref)
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


def _truth_read(spec: RunSpec, t: TileState, row: int, samples: Sequence[TruthSample]) -> TruthRead:
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
    (path / "RunInfo.xml").write_text(run_info_xml(spec).replace(spec.run_id, run_id, 1))
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
    with igzip.open(path, "wb", compresslevel=COMPRESS_LEVEL) as fh:
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
