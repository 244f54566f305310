"""Tumour/normal pairs in the sample sheet: ``validate_run`` links them or refuses the sheet."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqoia.errors import InputError, SampleSheetError
from seqoia.tasks.germline import pipeline
from seqoia.tasks.local import LocalOutput, run_local
from seqoia.tasks.pairs import pair_members, pair_waiting

VALIDATE = pipeline["validate_run"]
RUN = "261201_A00123_0050_AHPAIRXXXX"
HEADER = "[Header]\nFileFormatVersion,2\n\n[BCLConvert_Data]\n"


def _validate(tmp: Path, rows: str, run: str = RUN) -> LocalOutput:
    """validate_run over a FASTQ run folder whose sheet has ``rows`` (and files for each)."""
    folder = tmp / run
    fastq = folder / "Analysis/1/Data/fastq"
    fastq.mkdir(parents=True)
    lines = rows.strip().splitlines()
    for number, line in enumerate(lines[1:], start=1):
        sample = line.split(",")[lines[0].split(",").index("Sample_ID")]
        for read in (1, 2):
            (fastq / f"{sample}_S{number}_L001_R{read}_001.fastq.gz").write_bytes(b"")
    (folder / "SampleSheet.csv").write_text(HEADER + rows.strip() + "\n")
    return run_local(VALIDATE, run, tmp / f"v-{run}", source_dir=folder)


def _refused(tmp: Path, rows: str) -> SampleSheetError:
    with pytest.raises(SampleSheetError) as caught:
        _validate(tmp, rows)
    return caught.value


def test_a_pair_links_run_to_pair_and_pair_to_both_samples_with_their_roles(
    tmp_path: Path,
) -> None:
    out = _validate(
        tmp_path,
        "Lane,Sample_ID,Index,Index2,Centre,Pair_ID,Role\n"
        "1,T-01,ACGTACGT,TTGGCCAA,CURIE,P-01,tumour\n"
        "1,N-01,CATGCATG,GGAATTCC,CURIE,P-01,normal\n"
        "1,G-01,GTCAGTCA,CCTTAAGG,APHP,,\n",
    )
    assert out.related("pair") == ["P-01"]
    links = {(r.kind, r.subject, r.other) for r in out.result.relations if r.other_kind == "sample"}
    assert {("pair", "P-01", "T-01"), ("pair", "P-01", "N-01")} <= links
    assert not any(r.other == "G-01" for r in out.result.relations if r.kind == "pair")
    assert out.related("family") == []  # Pair_ID is no longer an alias of Family
    samples = out.summary["samples"]
    assert (samples["T-01"]["role"], samples["N-01"]["role"]) == ("tumour", "normal")
    members = pair_members("P-01", [out.summary])
    assert (members.tumour, members.normal, members.centre, members.name) == (
        "T-01", "N-01", "CURIE", "T-01_vs_N-01",
    )  # fmt: skip
    assert pair_waiting("P-01", {"validate_run": [out.summary]}) is None


def test_a_tumour_without_pair_id_is_refused_naming_its_line(tmp_path: Path) -> None:
    err = _refused(
        tmp_path,
        "Lane,Sample_ID,Index,Index2,Role\n"
        "1,G-01,GTCAGTCA,CCTTAAGG,\n"
        "1,T-01,ACGTACGT,TTGGCCAA,tumour\n",
    )
    assert "tumour T-01 has no Pair_ID" in str(err) and "Analysis=tumour_only" in str(err)
    assert (err.run, err.file, err.line) == (RUN, "SampleSheet.csv", 7)


def test_two_normals_in_one_pair_are_refused(tmp_path: Path) -> None:
    err = _refused(
        tmp_path,
        "Lane,Sample_ID,Index,Index2,Pair_ID,Role\n"
        "1,T-01,ACGTACGT,TTGGCCAA,P-01,tumour\n"
        "1,N-01,CATGCATG,GGAATTCC,P-01,normal\n"
        "1,N-02,GTCAGTCA,CCTTAAGG,P-01,normal\n",
    )
    assert "pair P-01 has two normals: N-01 and N-02" in str(err)
    assert err.line == 8


def test_two_tumours_in_one_pair_are_refused(tmp_path: Path) -> None:
    err = _refused(
        tmp_path,
        "Lane,Sample_ID,Index,Index2,Pair_ID,Role\n"
        "1,T-01,ACGTACGT,TTGGCCAA,P-01,tumour\n"
        "1,T-02,GTCAGTCA,CCTTAAGG,P-01,tumor\n",
    )
    assert "pair P-01 has two tumours: T-01 and T-02" in str(err)


def test_a_pair_whose_members_name_two_centres_is_refused(tmp_path: Path) -> None:
    err = _refused(
        tmp_path,
        "Lane,Sample_ID,Index,Index2,Centre,Pair_ID,Role\n"
        "1,T-01,ACGTACGT,TTGGCCAA,CURIE,P-01,tumour\n"
        "1,N-01,CATGCATG,GGAATTCC,APHP,P-01,normal\n",
    )
    assert "pair P-01 names two centres: N-01 at APHP, T-01 at CURIE" in str(err)


def test_a_pair_id_on_a_row_without_tumour_or_normal_role_is_refused(tmp_path: Path) -> None:
    err = _refused(
        tmp_path,
        "Lane,Sample_ID,Index,Index2,Pair_ID,Role\n1,T-01,ACGTACGT,TTGGCCAA,P-01,proband\n",
    )
    assert "Pair_ID P-01 needs Role tumour or normal, not proband" in str(err)


def test_a_tumour_only_pair_listing_a_normal_is_refused(tmp_path: Path) -> None:
    err = _refused(
        tmp_path,
        "Lane,Sample_ID,Index,Index2,Pair_ID,Role,Analysis\n"
        "1,T-01,ACGTACGT,TTGGCCAA,P-01,tumour,tumour_only\n"
        "1,N-01,CATGCATG,GGAATTCC,P-01,normal,\n",
    )
    assert "asks for Analysis=tumour_only but lists normal N-01" in str(err)


def test_a_tumour_only_sample_without_pair_id_forms_a_pair_of_its_own(tmp_path: Path) -> None:
    out = _validate(
        tmp_path,
        "Lane,Sample_ID,Index,Index2,Role,Analysis\n1,T-09,ACGTACGT,TTGGCCAA,tumour,Tumour_Only\n",
    )
    assert out.related("pair") == ["T-09"]
    members = pair_members("T-09", [out.summary])
    assert (members.tumour, members.normal, members.tumour_only) == ("T-09", None, True)
    assert members.name == "T-09_tumour_only"
    assert pair_waiting("T-09", {"validate_run": [out.summary]}) is None


def test_a_pair_split_over_two_runs_waits_for_its_normal_then_is_whole(tmp_path: Path) -> None:
    first = _validate(
        tmp_path,
        "Lane,Sample_ID,Index,Index2,Pair_ID,Role\n1,T-01,ACGTACGT,TTGGCCAA,P-01,tumour\n",
    )
    why = pair_waiting("P-01", {"validate_run": [first.summary]})
    assert why == "pair P-01: the normal of tumour T-01 is in no run yet"
    second = _validate(
        tmp_path,
        "Lane,Sample_ID,Index,Index2,Pair_ID,Role\n1,N-01,CATGCATG,GGAATTCC,P-01,normal\n",
        run="261202_A00123_0051_BHPAIRXXXX",
    )
    assert pair_waiting("P-01", {"validate_run": [first.summary, second.summary]}) is None
    assert pair_members("P-01", [first.summary, second.summary]).normal == "N-01"


def test_two_runs_each_naming_a_normal_of_one_pair_fail_the_pair_by_name(tmp_path: Path) -> None:
    summaries = [
        _validate(tmp_path, f"Lane,Sample_ID,Index,Index2,Pair_ID,Role\n{row}\n", run=run).summary
        for run, row in (
            ("261201_A00123_0050_AHPAIRXXXX", "1,T-01,ACGTACGT,TTGGCCAA,P-01,tumour"),
            ("261202_A00123_0051_BHPAIRXXXX", "1,N-01,CATGCATG,GGAATTCC,P-01,normal"),
            ("261203_A00123_0052_CHPAIRXXXX", "1,N-02,GTCAGTCA,CCTTAAGG,P-01,normal"),
        )
    ]
    with pytest.raises(InputError, match="pair P-01 has two normals: N-01 and N-02"):
        pair_members("P-01", summaries)
    # A conflict is not a reason to wait: the pair's stage runs and fails with it.
    assert pair_waiting("P-01", {"validate_run": summaries}) is None


@pytest.mark.parametrize("pair", ["P" * 200, ".P1", "PAIR 1", "PAIRé"])
def test_a_pair_id_that_is_no_safe_name_is_refused_naming_the_line(
    tmp_path: Path, pair: str
) -> None:
    # Found with bench/fuzz.py's sheet_clinical kind: an InvalidKeyError naming neither
    # the run nor the sheet's line.
    err = _refused(
        tmp_path,
        "Lane,Sample_ID,Index,Index2,Pair_ID,Role\n"
        f"1,T-01,ACGTACGT,TTGGCCAA,{pair},tumour\n"
        f"1,N-01,CATGCATG,GGAATTCC,{pair},normal\n",
    )
    assert "column Pair_ID" in str(err) and err.line == 6  # the first row under HEADER
    assert (err.run, err.file) == (RUN, "SampleSheet.csv")


def test_an_unknown_analysis_is_refused_naming_the_run_and_line(tmp_path: Path) -> None:
    # Found by bench/fuzz.py's sheet_clinical kind: the error named the line, not the run.
    err = _refused(
        tmp_path,
        "Lane,Sample_ID,Index,Index2,Role,Analysis\n1,T-09,ACGTACGT,TTGGCCAA,tumour,tumdour_only\n",
    )
    assert "unknown Analysis 'tumdour_only'" in str(err) and err.line == 6
    assert (err.run, err.file) == (RUN, "SampleSheet.csv")
