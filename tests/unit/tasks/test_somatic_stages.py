"""The pair stages on files: a simulated tumour/normal pair from FASTQ to the delivery.

One run folder holds a tumour (planted somatic variants at 20-40 % VAF and a copy gain,
~50x) and its normal (30x) on a 200 kb genome; a second normal comes from another
genome (another patient). Each stage runs through ``run_local`` as a worker would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pysam
import pytest

from seqoia.errors import IdentityMismatchError
from seqoia.genomics.simulate import simulate_reference
from seqoia.genomics.simulate_pair import PairTruth, simulate_pair_fastq
from seqoia.genomics.simulate_tumour import CopyEvent
from seqoia.tasks.germline import pipeline
from seqoia.tasks.local import LocalOutput, run_local
from seqoia.tasks.stage import InputSet

RUN = "261201_A00123_0050_AHPAIRXXXX"
SHEET = (
    "[Header]\nFileFormatVersion,2\n\n[BCLConvert_Data]\n"
    "Lane,Sample_ID,Index,Index2,Centre,Pair_ID,Role\n"
    "1,T-01,ACGTACGT,TTGGCCAA,CURIE,P-01,tumour\n"
    "1,N-01,CATGCATG,GGAATTCC,CURIE,P-01,normal\n"
    "1,X-02,GTCAGTCA,CCTTAAGG,CURIE,P-02,normal\n"
    "1,T-02,TGCATGCA,AACCGGTT,CURIE,P-02,tumour\n"
)
GAIN = CopyEvent("chr1", 30_000, 80_000, "gain")
#: Twelve windows of chr1 are fewer than the defaults are tuned for (a Mbp genome): the
#: segmentation's t threshold is lowered for this 200 kb genome.
SMALL_GENOME = {"min_t": 4.0}


@dataclass(frozen=True)
class PairRun:
    reference: Path
    truth: PairTruth
    validated: LocalOutput
    crams: dict[str, LocalOutput]


@pytest.fixture(scope="module")
def pair_run(tmp_path_factory: pytest.TempPathFactory) -> PairRun:
    root = tmp_path_factory.mktemp("pair")
    reference = root / "genome.fa"
    simulate_reference(reference, contigs={"chr1": 120_000, "chr2": 80_000}, seed=5)
    fastq = root / RUN / "Analysis/1/Data/fastq"
    truth = simulate_pair_fastq(
        reference, fastq, tumour=("T-01", 1), normal=("N-01", 2), scratch=root / "s1",
        events=[GAIN], seed=16,
    )  # fmt: skip
    # P-02: the same patient's tumour, with the normal of somebody else.
    simulate_pair_fastq(
        reference, fastq, tumour=("T-02", 4), normal=("X-02", 3), scratch=root / "s2",
        seed=16, other_patient=True, tumour_depth=30, per_vaf=2,
    )  # fmt: skip
    (root / RUN / "SampleSheet.csv").write_text(SHEET)
    validated = run_local(pipeline["validate_run"], RUN, root / "v", source_dir=root / RUN)
    parts = [
        run_local(pipeline["demultiplex"], part, root / part, source_dir=root / RUN,
                  inputs={"validate_run": [validated]})
        for part in validated.related("part")
    ]  # fmt: skip
    crams = {}
    for sample in ("T-01", "N-01", "T-02", "X-02"):
        aligned = run_local(
            pipeline["align"], sample, root / f"a-{sample}", reference_fasta=reference,
            inputs={"validate_run": [validated], "demultiplex": parts}, cache_dir=root / "c",
        )  # fmt: skip
        crams[sample] = run_local(
            pipeline["markduplicates"], sample, root / f"m-{sample}", reference_fasta=reference,
            inputs={"align": [aligned]}, cache_dir=root / "c",
        )  # fmt: skip
    return PairRun(reference, truth, validated, crams)


def _somatic(pair_run: PairRun, pair: str, samples: list[str], work: Path) -> LocalOutput:
    return run_local(
        pipeline["somatic"], pair, work, reference_fasta=pair_run.reference,
        inputs={"validate_run": [pair_run.validated],
                "markduplicates": [pair_run.crams[s] for s in samples]},
        cache_dir=work.parent / "c",
    )  # fmt: skip


def test_a_pair_is_called_segmented_reported_and_delivered_to_its_centre(
    pair_run: PairRun, tmp_path: Path
) -> None:
    calls = _somatic(pair_run, "P-01", ["T-01", "N-01"], tmp_path / "somatic")
    assert sorted(calls.files) == [
        "T-01_vs_N-01.pileup.bcf", "T-01_vs_N-01.pileup.bcf.csi",
        "T-01_vs_N-01.somatic.vcf.gz", "T-01_vs_N-01.somatic.vcf.gz.tbi",
    ]  # fmt: skip
    planted = {(s.variant.contig, s.variant.pos) for s in pair_run.truth.somatic}
    with pysam.VariantFile(str(calls.files["T-01_vs_N-01.somatic.vcf.gz"])) as vcf:
        assert list(vcf.header.samples) == ["T-01", "N-01"]
        found = {(r.contig, r.pos) for r in vcf if "PASS" in r.filter}
    assert len(found & planted) >= 0.85 * len(planted)
    assert len(found - planted) <= 2
    summary = calls.summary
    assert summary["identity"]["passed"] and summary["mode"] == "tumour/normal"
    assert summary["tmb"]["territory"] == "whole callable genome"
    assert summary["tmb"]["mutations"] == summary["somatic"]["passed"] or (
        summary["tmb"]["mutations"] < summary["somatic"]["passed"]
    )
    assert 100 < summary["tmb"]["per_mb"] < 300  # ~36 planted over ~0.2 Mb

    cnv = run_local(
        pipeline["copy_number"], "P-01", tmp_path / "cnv", reference_fasta=pair_run.reference,
        inputs={"somatic": [calls], "markduplicates": [pair_run.crams["T-01"],
                                                      pair_run.crams["N-01"]]},
        cache_dir=tmp_path / "c", params=SMALL_GENOME,
    )  # fmt: skip
    gains = [s for s in cnv.summary["called"] if s["call"] == "gain"]
    assert len(gains) == 1 and gains[0]["contig"] == "chr1"
    assert abs(gains[0]["start"] - GAIN.start) <= 10_000
    assert abs(gains[0]["end"] - GAIN.end) <= 10_000
    seg = cnv.files["T-01_vs_N-01.cnv.seg"].read_text().splitlines()
    assert seg[0].startswith("ID\tchrom\tloc.start\tloc.end\tnum.mark\tseg.mean")
    assert any(line.endswith("\tgain") for line in seg[1:])

    report = run_local(
        pipeline["pair_report"], "P-01", tmp_path / "report",
        inputs={"somatic": [calls], "copy_number": [cnv]},
    )  # fmt: skip
    data = json.loads(report.files["T-01_vs_N-01.report.json"].read_text())
    assert (data["tumour"], data["normal"], data["mode"]) == ("T-01", "N-01", "tumour/normal")
    assert len(data["variants"]) == summary["somatic"]["passed"]
    html = report.files["T-01_vs_N-01.report.html"].read_text()
    assert "<svg" in html and 'class="segment gain"' in html and "Tumour-only" not in html
    assert html.count('class="window"') > 15
    bundle = json.loads(report.files["T-01_vs_N-01.fhir.json"].read_text())
    variants = [
        e["resource"] for e in bundle["entry"]
        if e["resource"].get("code", {}).get("coding", [{}])[0].get("code") == "69548-6"
    ]  # fmt: skip
    assert len(variants) == len(data["variants"])
    source = variants[0]["component"][0]
    assert source["code"]["coding"][0]["code"] == "48002-0"
    assert source["valueCodeableConcept"]["coding"][0]["code"] == "LA6684-0"

    delivered = run_local(
        pipeline["deliver_pair"], "P-01", tmp_path / "deliver",
        inputs={"pair_report": [report], "somatic": [calls], "copy_number": [cnv]},
    )  # fmt: skip
    assert delivered.result.publish_to == "CURIE/T-01_vs_N-01"
    assert sorted(delivered.files) == sorted(
        f"T-01_vs_N-01.{tag}"
        for tag in ("report.json", "report.html", "fhir.json", "somatic.vcf.gz",
                    "somatic.vcf.gz.tbi", "cnv.seg", "cnv.json")
    )  # fmt: skip


def test_a_normal_of_another_patient_fails_the_identity_check_naming_both_samples(
    pair_run: PairRun, tmp_path: Path
) -> None:
    with pytest.raises(IdentityMismatchError) as caught:
        _somatic(pair_run, "P-02", ["T-02", "X-02"], tmp_path / "somatic")
    message = str(caught.value)
    assert "T-02 and X-02 do not come from the same patient" in message
    assert caught.value.permanent


def test_a_tumour_only_analysis_is_labelled_in_every_output(
    pair_run: PairRun, tmp_path: Path
) -> None:
    record = {"sample": "T-01", "role": "tumour", "pair": "T-01", "analysis": "tumour_only",
              "centre": "CURIE"}  # fmt: skip
    validated = InputSet("validate_run", RUN, {}, {"samples": {"T-01": record}})
    calls = run_local(
        pipeline["somatic"], "T-01", tmp_path / "somatic", reference_fasta=pair_run.reference,
        inputs={"validate_run": [validated], "markduplicates": [pair_run.crams["T-01"]]},
        cache_dir=tmp_path / "c",
    )  # fmt: skip
    assert calls.summary["mode"] == "tumour-only" and calls.summary["identity"] is None
    vcf = calls.files["T-01_tumour_only.somatic.vcf.gz"]
    with pysam.VariantFile(str(vcf)) as records:
        assert list(records.header.samples) == ["T-01"]
        assert "##seqoia_somatic_mode=tumour-only" in str(records.header)
    cnv = run_local(
        pipeline["copy_number"], "T-01", tmp_path / "cnv", reference_fasta=pair_run.reference,
        inputs={"somatic": [calls], "markduplicates": [pair_run.crams["T-01"]]},
        cache_dir=tmp_path / "c",
    )  # fmt: skip
    assert cnv.summary["note"].startswith("tumour-only")
    report = run_local(
        pipeline["pair_report"], "T-01", tmp_path / "report",
        inputs={"somatic": [calls], "copy_number": [cnv]},
    )  # fmt: skip
    data = json.loads(report.files["T-01_tumour_only.report.json"].read_text())
    assert (data["mode"], data["normal"]) == ("tumour-only", None)
    assert "Tumour-only analysis" in report.files["T-01_tumour_only.report.html"].read_text()
    bundle = json.loads(report.files["T-01_tumour_only.fhir.json"].read_text())
    diagnostic = next(
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "DiagnosticReport"
    )
    assert diagnostic["conclusion"].startswith("TUMOUR-ONLY")


GFF3 = """##gff-version 3
chr1\ttest\tgene\t20001\t50000\t.\t+\t.\tID=gene:G1;Name=G1;biotype=protein_coding
chr1\ttest\tmRNA\t20001\t50000\t.\t+\t.\tID=transcript:T1;Parent=gene:G1;biotype=protein_coding
chr1\ttest\texon\t20001\t50000\t.\t+\t.\tParent=transcript:T1
chr1\ttest\tCDS\t20001\t50000\t.\t+\t0\tID=CDS:T1;Parent=transcript:T1
"""


def test_tmb_counts_coding_bases_only_when_the_reference_area_has_a_gff3(
    pair_run: PairRun, tmp_path: Path
) -> None:
    gff3 = tmp_path / "cached-genes"  # the worker's cache names files as it likes
    gff3.write_text(GFF3)
    calls = run_local(
        pipeline["somatic"], "P-01", tmp_path / "somatic", reference_fasta=pair_run.reference,
        inputs={"validate_run": [pair_run.validated],
                "markduplicates": [pair_run.crams["T-01"], pair_run.crams["N-01"]]},
        cache_dir=tmp_path / "c", resources={"genes.gff3": gff3},
    )  # fmt: skip
    tmb = calls.summary["tmb"]
    assert tmb["territory"] == "coding"
    assert 25_000 < tmb["callable_bp"] <= 30_000  # chr1:20001-50000, where callable
    with pysam.VariantFile(str(calls.files["T-01_vs_N-01.somatic.vcf.gz"])) as vcf:
        inside = sum(
            1 for r in vcf if "PASS" in r.filter and r.contig == "chr1" and 20_000 < r.pos <= 50_000
        )
    assert tmb["mutations"] == inside > 0
    genome = calls.summary["tmb_genome"]
    assert genome["territory"] == "whole callable genome"
    assert genome["callable_bp"] > 150_000 and genome["mutations"] > tmb["mutations"]
