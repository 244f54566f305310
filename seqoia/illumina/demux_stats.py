"""Demultiplexing statistics: reads per lane and sample by index mismatches, and the most
frequent undetermined barcodes; written as BCL Convert's ``Demultiplex_Stats.csv`` and
``Top_Unknown_Barcodes.csv`` plus one JSON that :func:`DemuxStats.from_json` reads back
(so that parts of a run processed apart can be summed by ``merge``).
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DemuxStats", "UNDETERMINED"]

UNDETERMINED = "Undetermined"
#: Unknown barcodes kept per lane and tile before merging (bounds memory and pickles).
_UNKNOWN_KEEP = 10_000


@dataclass
class DemuxStats:
    """Counts per (lane, sample): [reads, perfect, one mismatch, two mismatches]."""

    counts: dict[tuple[int, str], list[int]] = field(default_factory=dict)
    #: Sample -> index as written in reports (``index+index2``).
    indexes: dict[str, str] = field(default_factory=dict)
    unknown: dict[int, Counter[str]] = field(default_factory=dict)
    clusters: int = 0
    pf_clusters: int = 0

    def add_reads(self, lane: int, sample: str, reads: int, by_mismatch: list[int]) -> None:
        row = self.counts.setdefault((lane, sample), [0, 0, 0, 0])
        row[0] += reads
        for k in range(3):
            row[1 + k] += by_mismatch[k] if k < len(by_mismatch) else 0

    def add_unknown(self, lane: int, barcodes: Counter[str]) -> None:
        self.unknown.setdefault(lane, Counter()).update(barcodes)

    def trim(self) -> None:
        for lane, counter in self.unknown.items():
            if len(counter) > _UNKNOWN_KEEP:
                self.unknown[lane] = Counter(dict(counter.most_common(_UNKNOWN_KEEP)))

    def merge(self, other: DemuxStats) -> None:
        for (lane, sample), row in other.counts.items():
            self.add_reads(lane, sample, row[0], row[1:])
        self.indexes.update(other.indexes)
        for lane, counter in other.unknown.items():
            self.add_unknown(lane, counter)
        self.clusters += other.clusters
        self.pf_clusters += other.pf_clusters

    def reads(self, sample: str, lane: int | None = None) -> int:
        return sum(r[0] for (ln, s), r in self.counts.items() if s == sample and lane in (None, ln))

    def reads_per_sample(self) -> dict[str, int]:
        """Reads of each sample (and ``Undetermined``) over every lane."""
        totals: dict[str, int] = {}
        for (_lane, sample), row in self.counts.items():
            totals[sample] = totals.get(sample, 0) + row[0]
        return totals

    # -- reports --------------------------------------------------------------------

    def to_json(self) -> dict[str, object]:
        return {
            "clusters": self.clusters,
            "pf_clusters": self.pf_clusters,
            "samples": [
                {
                    "lane": lane,
                    "sample_id": sample,
                    "index": self.indexes.get(sample, ""),
                    "reads": row[0],
                    "perfect_index_reads": row[1],
                    "one_mismatch_index_reads": row[2],
                    "two_mismatch_index_reads": row[3],
                }
                for (lane, sample), row in sorted(self.counts.items())
            ],
            "unknown_barcodes": {
                str(lane): dict(counter.most_common()) for lane, counter in self.unknown.items()
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> DemuxStats:
        clusters, pf_clusters = data["clusters"], data["pf_clusters"]
        assert isinstance(clusters, int) and isinstance(pf_clusters, int)
        stats = cls(clusters=clusters, pf_clusters=pf_clusters)
        for row in data["samples"]:  # type: ignore[attr-defined]
            stats.counts[(row["lane"], row["sample_id"])] = [
                row["reads"],
                row["perfect_index_reads"],
                row["one_mismatch_index_reads"],
                row["two_mismatch_index_reads"],
            ]
            if row["index"]:
                stats.indexes[row["sample_id"]] = row["index"]
        for lane, counter in data["unknown_barcodes"].items():  # type: ignore[attr-defined]
            stats.unknown[int(lane)] = Counter(counter)
        return stats

    def write_reports(self, folder: Path, *, top: int = 100) -> list[Path]:
        """Write ``Demultiplex_Stats.csv``, ``Top_Unknown_Barcodes.csv``, ``demux_stats.json``."""
        folder.mkdir(parents=True, exist_ok=True)
        stats_csv = folder / "Demultiplex_Stats.csv"
        lane_total: Counter[int] = Counter()
        for (lane, _), row in self.counts.items():
            lane_total[lane] += row[0]
        with open(stats_csv, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(
                [
                    "Lane",
                    "SampleID",
                    "Index",
                    "# Reads",
                    "# Perfect Index Reads",
                    "# One Mismatch Index Reads",
                    "# Two Mismatch Index Reads",
                    "% Reads",
                    "% Perfect Index Reads",
                    "% One Mismatch Index Reads",
                    "% Two Mismatch Index Reads",
                ]
            )
            for (lane, sample), row in sorted(
                self.counts.items(), key=lambda kv: (kv[0][0], kv[0][1] == UNDETERMINED)
            ):
                reads = row[0]

                def pct(v: int, whole: int) -> str:
                    return f"{v / whole:.4f}" if whole else "0.0000"

                w.writerow(
                    [
                        lane,
                        sample,
                        self.indexes.get(sample, ""),
                        reads,
                        row[1],
                        row[2],
                        row[3],
                        pct(reads, lane_total[lane]),
                        pct(row[1], reads),
                        pct(row[2], reads),
                        pct(row[3], reads),
                    ]
                )
        unknown_csv = folder / "Top_Unknown_Barcodes.csv"
        with open(unknown_csv, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["Lane", "index", "# Reads", "% of Unknown Barcodes", "% of All Reads"])
            for lane in sorted(self.unknown):
                counter = self.unknown[lane]
                total_unknown = sum(counter.values())
                for barcode, n in counter.most_common(top):
                    w.writerow(
                        [
                            lane,
                            barcode,
                            n,
                            f"{n / total_unknown:.6f}" if total_unknown else "0",
                            f"{n / lane_total[lane]:.6f}" if lane_total[lane] else "0",
                        ]
                    )
        json_path = folder / "demux_stats.json"
        json_path.write_text(json.dumps(self.to_json(), indent=1) + "\n")
        return [stats_csv, unknown_csv, json_path]
