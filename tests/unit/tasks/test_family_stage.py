"""``family_analysis`` and ``deliver_family`` on files: a simulated trio with planted de novo
variants, its members split over two runs, as the runner would hand them to the stage.

One family (100 kb of autosomes, chrX, chrY; 30x) is simulated, aligned and
duplicate-marked once per module. The runs' summaries are those ``validate_run`` writes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seqoia.errors import InputError
from seqoia.genomics.align import FastqPair, ReadGroup, align_sample
from seqoia.genomics.fhir_conformance import Package, check_bundle
from seqoia.genomics.markdup import mark_duplicates
from seqoia.genomics.pedigree import PedigreeError
from seqoia.genomics.reference import prepare_reference
from seqoia.genomics.simulate import simulate_reference
from seqoia.genomics.simulate_family import FamilyTruth, simulate_family
from seqoia.tasks.germline import pipeline
from seqoia.tasks.local import run_local
from seqoia.tasks.stage import Excluded, InputSet

FAMILY = "FAM1"
IG = Path(__file__).parents[2] / "data" / "fhir-genomics-ig"


@pytest.fixture(scope="module")
def trio(tmp_path_factory) -> tuple[FamilyTruth, Path, dict[str, InputSet]]:
    work = tmp_path_factory.mktemp("trio")
    fasta = work / "genome.fa"
    simulate_reference(fasta, contigs={"chr1": 60_000, "chr2": 40_000}, seed=5,
                       sex_chromosomes=True)  # fmt: skip
    reference = prepare_reference(fasta, work / "ref", bwa=False)
    truth = simulate_family(fasta, work / "sim", family=FAMILY, seed=5, n_de_novo=8, coverage=30)
    crams: dict[str, InputSet] = {}
    for member in truth.members:
        group = ReadGroup(id=member.sample, sample=member.sample, library="L",
                          platform_unit=member.sample)  # fmt: skip
        bam = work / f"{member.sample}.bam"
        align_sample([FastqPair(r1=member.r1, r2=member.r2, read_group=group)], reference, bam,
                     threads=2)  # fmt: skip
        cram = work / f"{member.sample}.md.cram"
        mark_duplicates(bam, reference, cram, threads=2)
        files = {cram.name: cram, f"{cram.name}.crai": Path(f"{cram}.crai")}
        crams[member.sample] = InputSet("markduplicates", member.sample, files, {})
    return truth, fasta, crams


def _run(samples: dict[str, tuple[str, str]], name: str) -> InputSet:
    """A ``validate_run`` output listing ``samples`` (sample -> (role, sex)) of FAM1."""
    records = {
        s: {"sample": s, "family": FAMILY, "role": role, "sex": sex, "centre": "APHP"}
        for s, (role, sex) in samples.items()
    }
    done = {"RUN1": "2026-12-01T10:00:00+00:00", "RUN2": "2026-12-02T10:00:00+00:00"}[name]
    return InputSet("validate_run", name, {}, {"samples": records, "completed_at": done})


def _declared(truth: FamilyTruth) -> dict[str, tuple[str, str]]:
    sexes = {"XX": "female", "XY": "male"}
    return {m.sample: (m.role, sexes[m.sex]) for m in truth.members}


def _analyse(tmp_path: Path, trio, runs: list[InputSet], excluded: tuple[Excluded, ...] = ()):
    truth, fasta, crams = trio
    left_out = {e.subject for e in excluded}
    return run_local(
        pipeline["family_analysis"],
        FAMILY,
        tmp_path / "analysis",
        inputs={
            "validate_run": runs,
            "markduplicates": [c for s, c in crams.items() if s not in left_out],
        },
        reference_fasta=fasta,
        excluded=excluded,
        threads=2,
    )


def test_a_trio_split_over_two_runs_is_analysed_and_finds_the_planted_de_novo(
    tmp_path: Path, trio
) -> None:
    truth = trio[0]
    declared = _declared(truth)
    father = truth.member("father").sample
    run1 = _run({s: v for s, v in declared.items() if s != father}, "RUN1")
    run2 = _run({father: declared[father]}, "RUN2")
    out = _analyse(tmp_path, trio, [run1, run2])
    assert out.summary["composition"] == "trio"
    planted = {f"{c}:{p}:{r}>{a}" for c, p, r, a in truth.de_novo}
    called = set(out.summary["de_novo"])
    assert called <= planted and len(called) >= 5
    report = json.loads(out.files[f"{FAMILY}.family.json"].read_text())
    assert report["runs"] == ["RUN1", "RUN2"] and report["title"].startswith("Family FAM1: trio")
    assert report["pedigree"]["members"][0]["role"] == "proband"
    page = out.files[f"{FAMILY}.family.html"].read_text()
    assert "trio analysis" in page and "De novo candidates" in page

    delivered = run_local(
        pipeline["deliver_family"], FAMILY, tmp_path / "deliver", inputs={"family_analysis": [out]}
    )
    assert delivered.result.publish_to == f"APHP/{FAMILY}"
    assert sorted(delivered.files) == [
        f"{FAMILY}.family.fhir.json",
        f"{FAMILY}.family.html",
        f"{FAMILY}.family.json",
    ]
    bundle = json.loads(out.files[f"{FAMILY}.family.fhir.json"].read_text())
    resources = [e["resource"] for e in bundle["entry"]]
    report = next(r for r in resources if r["resourceType"] == "DiagnosticReport")
    assert report["issued"] == "2026-12-02T10:00:00+00:00"  # the last run's completion
    assert report["conclusion"].startswith("Family FAM1: trio analysis")
    de_novo = [
        r
        for r in resources
        if r["resourceType"] == "Observation"
        and any(c.get("valueCodeableConcept", {}).get("text") == "De novo" for c in r["component"])
    ]
    assert len(de_novo) == len(called)
    germline = {
        c["valueCodeableConcept"]["coding"][0]["code"]
        for r in de_novo
        for c in r["component"]
        if c["code"]["coding"][0]["code"] == "48002-0"
    }
    assert germline == {"LA6683-2"}
    package = Package.from_folder(IG / "definitions")
    assert [str(i) for i in check_bundle(bundle, package)] == []


def test_a_father_that_failed_for_good_leaves_a_duo_labelled_in_every_output(
    tmp_path: Path, trio
) -> None:
    truth = trio[0]
    father = truth.member("father").sample
    gone = Excluded("markduplicates", father, "align", father, "no reads aligned")
    out = _analyse(tmp_path, trio, [_run(_declared(truth), "RUN1")], excluded=(gone,))
    label = f"duo (no father) — left out: {father} (failed at align)"
    assert out.summary["composition"] == label
    assert out.summary["de_novo"] == [] and out.summary["mendelian_sites"] is None
    report = json.loads(out.files[f"{FAMILY}.family.json"].read_text())
    assert report["title"] == f"Family FAM1: {label} analysis (preliminary)"
    assert report["left_out"][0]["reason"] == "no reads aligned"
    page = out.files[f"{FAMILY}.family.html"].read_text()
    assert "duo (no father)" in page and "Members left out" in page
    assert "needs both parents" in page


def test_a_swapped_sample_blocks_the_family_naming_both_samples(tmp_path: Path, trio) -> None:
    truth = trio[0]
    proband, father = truth.member("proband").sample, truth.member("father").sample
    declared = _declared(truth)
    # The father's sample declared as the proband and the proband's as the father (both XY).
    declared[proband], declared[father] = ("father", "male"), ("proband", "male")
    with pytest.raises(PedigreeError) as caught:
        _analyse(tmp_path, trio, [_run(declared, "RUN1")])
    message = str(caught.value)
    assert "failed its pedigree checks" in message and "MISMATCH" in message
    mother = truth.member("mother").sample
    # the declared father (the real proband) and the mother: declared unrelated, observed not
    assert f"{mother} / {proband}: declared unrelated, observed parent-child" in message or (
        f"{proband} / {mother}: declared unrelated, observed parent-child" in message
    )


def test_a_proband_that_failed_for_good_fails_the_family_naming_it(tmp_path: Path, trio) -> None:
    truth = trio[0]
    proband = truth.member("proband").sample
    gone = Excluded("markduplicates", proband, "align", proband, "truncated FASTQ")
    with pytest.raises(InputError, match=f"proband {proband} failed at align"):
        _analyse(tmp_path, trio, [_run(_declared(truth), "RUN1")], excluded=(gone,))
