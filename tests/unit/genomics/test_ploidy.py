"""Sex-aware ploidy files for bcftools call."""

from __future__ import annotations

from pathlib import Path

from seqoia.genomics.ploidy import call_sex, ploidy_lines
from seqoia.genomics.reference import Contig, PreparedReference


def _reference(contigs: dict[str, int]) -> PreparedReference:
    here = Path("/nonexistent")
    return PreparedReference(
        fasta=here, fai=here, seq_dict=here, mmi=here, sha256="0" * 64,
        contigs=tuple(Contig(name=n, length=n_bp) for n, n_bp in contigs.items()),
    )  # fmt: skip


def test_grch38_males_are_haploid_on_x_outside_the_pars_and_on_y() -> None:
    lines = ploidy_lines(_reference({"chr1": 248_956_422, "chrX": 156_040_895, "chrY": 57_227_415}))
    assert lines[:5] == [
        "chrX\t1\t10000\tM\t1",
        "chrX\t2781480\t155701382\tM\t1",
        "chrX\t156030896\t156040895\tM\t1",
        "chrY\t1\t57227415\tM\t1",
        "chrY\t1\t57227415\tF\t0",
    ]
    assert "*\t*\t*\tU\t2" in lines


def test_a_reference_without_known_pars_has_whole_haploid_sex_chromosomes() -> None:
    lines = ploidy_lines(_reference({"chr1": 1000, "chrX": 300, "chrY": 100}))
    assert lines[0] == "chrX\t1\t300\tM\t1"
    assert not any(line.startswith("chr1") for line in lines)


def test_declared_sex_wins_over_the_predicted_one() -> None:
    assert call_sex("male", "XX") == "M"
    assert call_sex("female", None) == "F"
    assert call_sex(None, "XY") == "M"
    assert call_sex("unknown", "unknown") == "U"
    assert call_sex(None, None) == "U"
