"""The run-folder simulator writes instrument-exact files that decode back to its truth.

The decoders here are deliberately small and independent of ``seqoia.illumina``'s readers,
so that a shared misunderstanding of a format cannot make both sides agree.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from seqoia.errors import ConfigurationError
from seqoia.illumina.simulate import RunSpec, RunTruth, write_fastq_run_folder, write_run_folder

SMALL: dict[str, Any] = {"read_cycles": (12, 8, 8, 10), "clusters_per_tile": 301, "samples": 5}


def _run(tmp_path: Path, **kw: Any) -> tuple[Path, RunTruth]:
    spec = RunSpec(**{**SMALL, **kw})
    folder = tmp_path / spec.run_id
    return folder, write_run_folder(folder, spec)


def _filter(path: Path) -> np.ndarray:
    zero, version, n = struct.unpack_from("<III", path.read_bytes())
    assert (zero, version) == (0, 3)
    data = np.frombuffer(path.read_bytes()[12:], dtype=np.uint8)
    assert data.size == n
    return data.astype(bool)


def _locs(path: Path) -> tuple[np.ndarray, np.ndarray]:
    raw = path.read_bytes()
    one, scale, n = struct.unpack_from("<ifI", raw)
    assert (one, scale) == (1, 1.0)
    xy = np.frombuffer(raw[12:], dtype="<f4").reshape(n, 2)
    return np.round(10 * xy[:, 0] + 1000).astype(int), np.round(10 * xy[:, 1] + 1000).astype(int)


def _bcl(path: Path) -> np.ndarray:
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    (n,) = struct.unpack_from("<I", raw)
    assert len(raw) == 4 + n
    return np.frombuffer(raw[4:], dtype=np.uint8)


def _cbcl(path: Path) -> tuple[dict, dict[int, np.ndarray]]:
    """Header fields and, per tile, the unpacked 4-bit values (low nibble first)."""
    raw = path.read_bytes()
    version, header_size, bits_base, bits_q, n_bins = struct.unpack_from("<HIBBI", raw)
    off = 12
    bins = [struct.unpack_from("<II", raw, off + 8 * i) for i in range(n_bins)]
    off += 8 * n_bins
    (n_tiles,) = struct.unpack_from("<I", raw, off)
    off += 4
    records = [struct.unpack_from("<IIII", raw, off + 16 * i) for i in range(n_tiles)]
    off += 16 * n_tiles
    flag = raw[off]
    assert off + 1 == header_size
    header = {"version": version, "bits": (bits_base, bits_q), "bins": bins, "flag": flag}
    tiles, pos = {}, header_size
    for tile, n, raw_size, gz_size in records:
        block = gzip.decompress(raw[pos : pos + gz_size])  # strict: one complete member
        pos += gz_size
        assert len(block) == raw_size == (n + 1) // 2
        packed = np.frombuffer(block, dtype=np.uint8)
        tiles[tile] = np.stack([packed & 15, packed >> 4], axis=1).ravel()[:n]
    assert pos == len(raw)
    return header, tiles


def _decode(values: np.ndarray, quals: list[int] | None) -> tuple[str, str]:
    seq = "".join("N" if v == 0 else "ACGT"[v & 3] for v in values.tolist())
    q = [2 if v == 0 else (quals[v >> 2] if quals else v >> 2) for v in values.tolist()]
    return seq, "".join(chr(33 + x) for x in q)


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(folder)).encode() + p.read_bytes())
    return h.hexdigest()


def test_cbcl_run_folder_has_novaseq_layout_and_markers_written_last(tmp_path: Path) -> None:
    folder, truth = _run(tmp_path, surfaces=2, swaths=2, tiles_per_swath=2, lanes=2)
    calls = folder / "Data/Intensities/BaseCalls"
    assert (folder / "Data/Intensities/s.locs").is_file()
    assert sorted(p.name for p in (calls / "L002/C1.1").iterdir()) == ["L002_1.cbcl", "L002_2.cbcl"]
    assert len(list((calls / "L001").glob("C*.1"))) == 38
    assert (calls / "L002/s_2_2202.filter").is_file()
    assert truth.tiles[:4] == ((1, 1101), (1, 1102), (1, 1201), (1, 1202))
    newest_data = max(p.stat().st_mtime_ns for p in folder.rglob("*") if p.suffix != ".txt")
    for marker in ("CopyComplete.txt", "RTAComplete.txt"):
        assert (folder / marker).stat().st_mtime_ns >= newest_data
    run_info = (folder / "RunInfo.xml").read_text()
    assert "<Tile>2_2202</Tile>" in run_info and 'SurfaceCount="2"' in run_info


def test_cbcl_header_bins_and_pf_excluded_cycles_follow_rta3(tmp_path: Path) -> None:
    folder, truth = _run(tmp_path, pf_excluded_cycles=(3, 30), tiles_per_swath=3)
    lane = folder / "Data/Intensities/BaseCalls/L001"
    header, tiles = _cbcl(lane / "C1.1/L001_1.cbcl")
    assert header == {
        "version": 1,
        "bits": (2, 2),
        "bins": [(0, 0), (1, 12), (2, 23), (3, 37)],
        "flag": 0,
    }
    assert sorted(tiles) == [1101, 1102, 1103]
    pf = {t: _filter(lane / f"s_1_{t}.filter") for t in tiles}
    excluded_header, excluded = _cbcl(lane / "C3.1/L001_1.cbcl")
    assert excluded_header["flag"] == 1
    for tile, values in tiles.items():
        assert values.size == 301
        assert excluded[tile].size == pf[tile].sum() < 301
    # the PF-only cycle holds exactly the PF clusters' values of the truth reads
    for r in truth.reads:
        if r.pf:
            rank = int(pf[r.tile][: r.cluster].sum())
            assert (
                _decode(excluded[r.tile][rank : rank + 1], [0, 12, 23, 37])[0] == r.sequences[0][2]
            )


def test_cbcl_values_and_s_locs_decode_to_the_truth_reads(tmp_path: Path) -> None:
    folder, truth = _run(tmp_path)
    lane = folder / "Data/Intensities/BaseCalls/L001"
    columns = np.stack([_cbcl(lane / f"C{c}.1/L001_1.cbcl")[1][1102] for c in range(1, 39)], 1)
    x, y = _locs(folder / "Data/Intensities/s.locs")
    checked = 0
    for r in truth.reads:
        if r.tile != 1102:
            continue
        seq, qual = _decode(columns[r.cluster], [0, 12, 23, 37])
        assert seq == "".join(r.sequences) and qual == "".join(r.qualities)
        assert (x[r.cluster], y[r.cluster]) == (r.x, r.y)
        checked += 1
    assert checked == 8
    assert set("".join(r.qualities[0] for r in truth.reads)) <= set("#-8F")


@pytest.mark.parametrize("fmt", ["bcl", "bcl.gz"])
def test_bcl_files_filters_and_locs_decode_to_the_truth_reads(tmp_path: Path, fmt: str) -> None:
    folder, truth = _run(tmp_path, format=fmt, no_call_rate=0.05)
    lane = folder / "Data/Intensities/BaseCalls/L001"
    name = "s_1_1101.bcl" + (".gz" if fmt == "bcl.gz" else "")
    columns = np.stack([_bcl(lane / f"C{c}.1" / name) for c in range(1, 39)], 1)
    pf = _filter(lane / "s_1_1101.filter")
    x, y = _locs(folder / "Data/Intensities/L001/s_1_1101.locs")
    assert columns.shape == (301, 38) and pf.size == x.size == 301
    reads = [r for r in truth.reads if r.tile == 1101]
    for r in reads:
        assert _decode(columns[r.cluster], None) == ("".join(r.sequences), "".join(r.qualities))
        assert (bool(pf[r.cluster]), x[r.cluster], y[r.cluster]) == (r.pf, r.x, r.y)
    template = columns[:, :12]
    assert 0.02 < (template == 0).mean() < 0.09  # no-call rate on template cycles
    assert ((template[template > 0] >> 2) >= 2).all() and (template >> 2).max() <= 41


def test_truth_counts_match_filters_and_requested_fractions(tmp_path: Path) -> None:
    folder, truth = _run(tmp_path, clusters_per_tile=4000, lanes=2, pf_fraction=0.8)
    lane = folder / "Data/Intensities/BaseCalls"
    pf = np.concatenate([_filter(lane / f"L00{ln}/s_{ln}_{t}.filter") for ln, t in truth.tiles])
    assert np.array_equal(pf, truth.pf)
    assert truth.clusters == 16000 and 0.77 < truth.pf_clusters / 16000 < 0.83
    counts = truth.pf_counts()
    assert sum(counts.values()) == truth.pf_clusters
    assert 0.035 < counts["Undetermined"] / truth.pf_clusters < 0.065
    by_lane = [truth.pf_counts(lane=ln) for ln in (1, 2)]
    assert all(by_lane[0][k] + by_lane[1][k] == v for k, v in counts.items())


def test_index_reads_are_decidable_under_bcl2fastq_and_picard_rules(tmp_path: Path) -> None:
    folder, truth = _run(tmp_path, format="bcl", clusters_per_tile=3000, index_error_rate=0.3)
    lane = folder / "Data/Intensities/BaseCalls/L001"
    index = np.stack([_bcl(lane / f"C{c}.1/s_1_1101.bcl") for c in range(13, 29)], 1)
    observed = np.where(index == 0, 4, index & 3)
    code = {b: i for i, b in enumerate("ACGT")}
    sheet = np.array([[code[b] for b in s.index + s.index2] for s in truth.samples])
    d7 = (observed[:, None, :8] != sheet[None, :, :8]).sum(2)
    d5 = (observed[:, None, 8:] != sheet[None, :, 8:]).sum(2)
    sample = truth.sample[:3000]
    assigned = sample >= 0
    own = (d7 + d5)[np.flatnonzero(assigned), sample[assigned]]
    assert own.max() == 1 and 0.2 < (own == 1).mean() < 0.4  # index errors, one at most
    assert ((observed == 4).sum(1) <= 1).all()
    und = ~assigned
    assert ((d7 + d5)[und] >= 3).all() and (np.maximum(d7, d5)[und] >= 2).all()
    for i, a in enumerate(sheet):
        for b in sheet[i + 1 :]:
            assert (a[:8] != b[:8]).sum() >= 3 and (a[8:] != b[8:]).sum() >= 3


def test_same_seed_writes_identical_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    a, truth_a = _run(tmp_path / "a", pf_excluded_cycles=(20,))
    b, truth_b = _run(tmp_path / "b", pf_excluded_cycles=(20,))
    c, _ = _run(tmp_path / "c", pf_excluded_cycles=(20,), seed=1)
    assert _digest(a) == _digest(b) != _digest(c)
    assert truth_a.reads == truth_b.reads and np.array_equal(truth_a.sample, truth_b.sample)


def test_reference_fraction_takes_template_reads_from_the_reference(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    genome = "".join(rng.choice(list("ACGT"), 5000))
    fasta = tmp_path / "ref.fa.gz"
    with gzip.open(fasta, "wt") as fh:
        fh.write(">chr\n" + "\n".join(genome[i : i + 60] for i in range(0, 5000, 60)) + "\n")
    _, truth = _run(tmp_path, reference=fasta, reference_fraction=1.0, no_call_rate=0.0)
    revcomp = genome[::-1].translate(str.maketrans("ACGT", "TGCA"))
    for r in truth.reads:
        r1, r2 = r.sequences[0], r.sequences[3]
        strand = genome if r1 in genome else revcomp
        assert r1 in strand
        assert r2[::-1].translate(str.maketrans("ACGT", "TGCA")) in strand


def test_sample_sheet_v1_lists_every_sample_in_every_lane(tmp_path: Path) -> None:
    folder, truth = _run(tmp_path, sample_sheet_version=1, lanes=2)
    text = (folder / "SampleSheet.csv").read_text()
    data = text.split("[Data]\n")[1].splitlines()
    assert data[0] == "Lane,Sample_ID,Sample_Name,Sample_Project,index,index2"
    assert len(data) == 1 + 2 * 5
    s = truth.samples[0]
    assert f"2,{s.sample_id},{s.sample_id},SIMPROJ,{s.index},{s.index2}" in data


def test_spec_rejects_pf_exclusion_outside_cbcl_and_cycles_outside_the_run() -> None:
    with pytest.raises(ValidationError):
        RunSpec(format="bcl", pf_excluded_cycles=(1,))
    with pytest.raises(ValidationError):
        RunSpec(read_cycles=(10, 8, 0, 0), pf_excluded_cycles=(19,))


def test_fastq_run_folder_streams_records_with_on_board_names(tmp_path: Path) -> None:
    def records(n: int, length: int) -> list[tuple[str, str, str]]:
        return [
            (f"A00123:1:HFC:1:1101:{1000 + i}:1000", "A" * length, "F" * length) for i in range(n)
        ]

    written = write_fastq_run_folder(
        tmp_path / "run",
        "240102_A00123_0001_AHFC",
        {"P1": (iter(records(3, 100)), iter(records(3, 90))), "P2": (records(2, 100), None)},
        {"P1": {"Index": "ACGTACGT", "Centre": "APHP"}, "P2": {"Index": "TTGGCCAA"}},
    )
    r1, r2 = written["P1"]
    assert r1.relative_to(tmp_path / "run").as_posix() == (
        "Analysis/1/Data/fastq/P1_S1_L001_R1_001.fastq.gz"
    )
    assert written["P2"][1] is None and written["P2"][0].name == "P2_S2_L001_R1_001.fastq.gz"
    assert r2 is not None
    with gzip.open(r2, "rt") as fh:
        lines = fh.read().splitlines()
    assert len(lines) == 12 and lines[0].startswith("@A00123:1:HFC") and len(lines[1]) == 90
    sheet = (tmp_path / "run/SampleSheet.csv").read_text()
    assert "Lane,Sample_ID,Index,Centre\n1,P1,ACGTACGT,APHP\n1,P2,TTGGCCAA,\n" in sheet
    run_info = (tmp_path / "run/RunInfo.xml").read_text()
    assert 'Id="240102_A00123_0001_AHFC"' in run_info and 'NumCycles="90"' in run_info
    assert (tmp_path / "run/CopyComplete.txt").is_file()


@pytest.mark.parametrize(
    "fmt, extra", [("cbcl", {"surfaces": 2, "pf_excluded_cycles": (1, 20, 38)}), ("bcl.gz", {})]
)
def test_seqoia_demultiplexer_recovers_the_truth_counts_and_reads(
    tmp_path: Path, fmt: str, extra: dict[str, Any]
) -> None:
    from seqoia.illumina.demux import demultiplex

    folder, truth = _run(tmp_path, format=fmt, lanes=2, index_error_rate=0.1, **extra)
    out = tmp_path / "out"
    demultiplex(folder, out, threads=1)
    numbers = {s.sample_id: s.number for s in truth.samples} | {"Undetermined": 0}
    by_name: dict[tuple[int, int, int, int], tuple[str, ...]] = {}
    for lane in (1, 2):
        for sample, expected in truth.pf_counts(lane=lane).items():
            stem = f"{sample}_S{numbers[sample]}_L00{lane}"
            with gzip.open(out / f"{stem}_R1_001.fastq.gz", "rt") as f1:
                r1 = f1.read().splitlines()
            with gzip.open(out / f"{stem}_R2_001.fastq.gz", "rt") as f2:
                r2 = f2.read().splitlines()
            assert len(r1) == len(r2) == 4 * expected, (lane, sample)
            for i in range(0, len(r1), 4):
                fields = r1[i][1:].split()[0].split(":")
                key = (int(fields[3]), int(fields[4]), int(fields[5]), int(fields[6]))
                by_name[key] = (sample, r1[i + 1], r1[i + 3], r2[i + 1], r2[i + 3])
    assert len(by_name) == truth.pf_clusters
    for r in truth.reads:
        got = by_name.get((r.lane, r.tile, r.x, r.y))
        if not r.pf:
            assert got is None
            continue
        sample = r.sample_id or "Undetermined"
        assert got == (sample, r.sequences[0], r.qualities[0], r.sequences[3], r.qualities[3])


def test_binned_single_index_bcl_run_stores_phred_values_not_bin_numbers(tmp_path: Path) -> None:
    folder, truth = _run(tmp_path, format="bcl", quality_model="binned", read_cycles=(10, 6, 0, 0))
    lane = folder / "Data/Intensities/BaseCalls/L001"
    assert sorted(int(p.name[1:-2]) for p in lane.glob("C*.1")) == list(range(1, 17))
    values = np.stack([_bcl(lane / f"C{c}.1/s_1_1101.bcl") for c in range(1, 17)], 1)
    assert set(np.unique(values[values > 0] >> 2).tolist()) == {12, 23, 37}
    assert "Index2" not in (folder / "SampleSheet.csv").read_text()
    assert all(r.sequences[2] == r.sequences[3] == "" for r in truth.reads)


def test_run_folder_is_never_written_over_an_existing_one(tmp_path: Path) -> None:
    folder, _ = _run(tmp_path, clusters_per_tile=10)
    with pytest.raises(ConfigurationError, match="not empty"):
        write_run_folder(folder, RunSpec(**SMALL))
