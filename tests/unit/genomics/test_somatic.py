"""The somatic caller, copy number, TMB and identity check: model pieces and a small real pair."""

from __future__ import annotations

import math
from pathlib import Path

import pysam
import pytest

from seqoia.errors import InputError
from seqoia.genomics.align import FastqPair, ReadGroup, align_sample
from seqoia.genomics.copynumber import CopyNumberParams, Window, binary_segments, segment
from seqoia.genomics.identity import genotype_concordance
from seqoia.genomics.markdup import mark_duplicates
from seqoia.genomics.reference import prepare_reference
from seqoia.genomics.simulate import simulate_reads, simulate_reference, simulate_variants
from seqoia.genomics.simulate_tumour import (
    CopyEvent,
    apply_copy_events,
    clone_fractions,
    draw_somatic,
    simulate_tumour_reads,
)
from seqoia.genomics.somatic import (
    SiteCounts,
    SomaticParams,
    call_somatic,
    decide,
    fisher_exact_two_sided,
    log10_binomial,
)
from seqoia.genomics.tmb import callable_mask, read_bed, tumour_mutational_burden


def site(**overrides: object) -> SiteCounts:
    values: dict[str, object] = dict(
        contig="chr1", pos=1000, ref="A", alt="G", tumour_depth=60, tumour_alt=12,
        tumour_alt_fwd=6, tumour_alt_rev=6, tumour_ref_fwd=24, tumour_ref_rev=24,
        tumour_alt_quality=35.0, normal_depth=30, normal_alt=0, bias_z=0.5,
    )  # fmt: skip
    values.update(overrides)
    return SiteCounts(**values)  # type: ignore[arg-type]


def test_log10_binomial_matches_the_closed_form() -> None:
    expected = math.log10(math.comb(10, 3) * 0.2**3 * 0.8**7)
    assert log10_binomial(3, 10, 0.2) == pytest.approx(expected)


def test_fisher_exact_two_sided_matches_known_values() -> None:
    # R: fisher.test(matrix(c(3,1,1,3),2))$p.value == 0.4857143
    assert fisher_exact_two_sided(3, 1, 1, 3) == pytest.approx(0.4857143, rel=1e-6)
    # R: fisher.test(matrix(c(10,0,0,10),2))$p.value == 1.082509e-05
    assert fisher_exact_two_sided(10, 0, 0, 10) == pytest.approx(1.082509e-05, rel=1e-5)


def test_a_clear_somatic_site_passes() -> None:
    call = decide(site(), SomaticParams(), frozenset())
    assert call.passed, call.filters
    assert call.tlod > 6.3 and call.nlod is not None and call.nlod > 2.2


def test_a_germline_heterozygous_site_is_a_germline_risk() -> None:
    call = decide(site(tumour_alt=30, normal_alt=14), SomaticParams(), frozenset())
    assert "germline_risk" in call.filters and "normal_artifact" in call.filters


def test_three_errors_at_low_quality_are_not_evidence() -> None:
    call = decide(site(tumour_alt=3, tumour_alt_quality=12.0), SomaticParams(), frozenset())
    assert "low_tlod" in call.filters


def test_alt_reads_on_one_strand_fail_the_strand_test() -> None:
    call = decide(site(tumour_alt_fwd=12, tumour_alt_rev=0), SomaticParams(), frozenset())
    assert call.filters == ("strand_bias",)


def test_panel_of_normals_and_thin_normal_are_filtered() -> None:
    panel = frozenset({("chr1", 1000, "A", "G")})
    call = decide(site(normal_depth=4), SomaticParams(), panel)
    # Four reference reads cannot rule out a heterozygous germline variant (NLOD 1.2).
    assert set(call.filters) == {"low_normal_depth", "germline_risk", "panel_of_normals"}


def test_nested_clones_give_each_set_its_fraction() -> None:
    fractions, normal = clone_fractions([0.05, 0.4, 0.1, 0.2])
    assert fractions == pytest.approx([0.4, 0.2, 0.1, 0.1])
    assert normal == pytest.approx(0.2)
    with pytest.raises(ValueError):
        clone_fractions([0.6])


def test_binary_segmentation_finds_two_steps() -> None:
    values = [0.0] * 30 + [0.5] * 20 + [0.0] * 30 + [-0.7] * 15 + [0.0] * 25
    noisy = [v + 0.03 * math.sin(i * 1.7) for i, v in enumerate(values)]
    cuts = binary_segments(noisy, min_windows=3, min_t=8.0)
    assert [start for start, _ in cuts] == [0, 30, 50, 80, 95]


def test_segments_are_called_gain_loss_and_loh() -> None:
    windows = [
        Window(contig="chr1", start=i * 1000, end=(i + 1) * 1000, log2_ratio=v)
        for i, v in enumerate([0.0] * 10 + [0.5] * 10 + [-0.7] * 10 + [0.0] * 10)
    ]
    bafs = {"chr1": [(30_500 + 50 * i, 0.9) for i in range(20)]}
    calls = [s.call for s in segment(windows, bafs, CopyNumberParams())]
    assert calls == ["neutral", "gain", "loss", "loh"]


def test_a_loss_drops_haplotype_one_alleles_in_the_region(tmp_path: Path) -> None:
    fasta = tmp_path / "g.fa"
    simulate_reference(fasta, contigs={"chr1": 60_000}, seed=3)
    germline = simulate_variants(fasta, seed=3, snv_rate=2e-3)
    event = CopyEvent("chr1", 20_000, 30_000, "loss")
    out = apply_copy_events(fasta, germline, [event])
    inside = [v for v in out if 20_000 < v.pos <= 30_000 and len(v.ref) < 1000]
    assert inside and all(v.genotype[1] == 0 for v in inside)
    deletion = [v for v in out if len(v.ref) == 10_001]
    assert len(deletion) == 1 and deletion[0].genotype == (0, 1)


def test_bed_errors_name_the_line(tmp_path: Path) -> None:
    bed = tmp_path / "coding.bed"
    bed.write_text("chr1\t0\t100\nchr1\tten\t20\n")
    with pytest.raises(InputError, match="coding.bed:2"):
        read_bed(bed)


def test_a_tumour_without_its_normal_needs_tumour_only(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="tumour-only"):
        call_somatic(
            tmp_path / "t.cram", None, None, tmp_path / "out.vcf.gz",  # type: ignore[arg-type]
            tumour_name="T1", normal_name=None,
        )  # fmt: skip


@pytest.fixture(scope="module")
def small_pair(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A 150 kb genome: a normal at 25x and a tumour at 40x with 30 somatic variants at 40 %."""
    work = tmp_path_factory.mktemp("pair")
    fasta = work / "genome.fa"
    simulate_reference(fasta, contigs={"chr1": 150_000}, seed=21)
    reference = prepare_reference(fasta, work / "ref")
    germline = simulate_variants(fasta, seed=21)
    somatic = draw_somatic(fasta, germline, vafs=[0.4], per_vaf=30, seed=21)
    n1, n2 = work / "n_R1.fq.gz", work / "n_R2.fq.gz"
    simulate_reads(fasta, germline, n1, n2, coverage=25, seed=5, read_name_prefix="N:1:FC")
    pairs, truth, _ = simulate_tumour_reads(fasta, germline, somatic, [], work / "t", coverage=40)
    crams = {}
    for name, fastqs in (("N1", [(n1, n2)]), ("T1", pairs)):
        groups = [
            FastqPair(
                r1=a,
                r2=b,
                read_group=ReadGroup(
                    id=f"{name}.{i}", sample=name, library=name, platform_unit=f"FC.{i}"
                ),
            )
            for i, (a, b) in enumerate(fastqs)
        ]
        align_sample(groups, reference, work / f"{name}.bam", threads=2)
        crams[name] = work / f"{name}.cram"
        mark_duplicates(work / f"{name}.bam", reference, crams[name], threads=2)
    return {"reference": reference, "crams": crams, "truth": truth, "work": work,
            "germline": germline}  # fmt: skip


def test_the_caller_finds_planted_somatic_variants_and_no_germline(
    small_pair: dict[str, object],
) -> None:
    crams, reference = small_pair["crams"], small_pair["reference"]
    work: Path = small_pair["work"]  # type: ignore[assignment]
    out, pileup = work / "pair.vcf.gz", work / "pair.bcf"
    stats = call_somatic(
        crams["T1"], crams["N1"], reference, out,  # type: ignore[index, arg-type]
        tumour_name="T1", normal_name="N1", keep_pileup=pileup,
    )  # fmt: skip
    with pysam.VariantFile(str(out)) as vcf:
        assert list(vcf.header.samples) == ["T1", "N1"]
        called = {(r.contig, r.pos, r.ref, r.alts[0]) for r in vcf}
    truth = {(s.variant.contig, s.variant.pos, s.variant.ref, s.variant.alt)
             for s in small_pair["truth"].somatic}  # type: ignore[attr-defined]  # fmt: skip
    germline = {(v.contig, v.pos, v.ref, v.alt) for v in small_pair["germline"]}  # type: ignore[attr-defined]
    assert len(called & truth) >= 27, (stats, truth - called)
    assert not called & germline
    assert len(called - truth) <= 2
    identity = genotype_concordance(pileup, "T1", "N1")
    assert identity.passed, identity.message
    mask = callable_mask(crams["T1"], crams["N1"], reference)  # type: ignore[index, arg-type]
    burden = tumour_mutational_burden(out, mask, coding=False)
    assert burden.mutations == len(called) and burden.callable_bp > 140_000


def test_a_normal_from_another_person_fails_the_identity_check(
    small_pair: dict[str, object], tmp_path: Path
) -> None:
    reference = small_pair["reference"]
    work: Path = small_pair["work"]  # type: ignore[assignment]
    fasta = work / "genome.fa"
    stranger = simulate_variants(fasta, seed=99)
    r1, r2 = tmp_path / "s_R1.fq.gz", tmp_path / "s_R2.fq.gz"
    simulate_reads(fasta, stranger, r1, r2, coverage=25, seed=7, read_name_prefix="S:1:FC")
    group = [
        FastqPair(
            r1=r1,
            r2=r2,
            read_group=ReadGroup(id="S1.0", sample="S1", library="S1", platform_unit="FC.0"),
        )
    ]
    align_sample(group, reference, tmp_path / "s.bam", threads=2)  # type: ignore[arg-type]
    pileup = tmp_path / "pair.bcf"
    call_somatic(
        small_pair["crams"]["T1"], tmp_path / "s.bam", reference,  # type: ignore[index, arg-type]
        tmp_path / "x.vcf.gz", tumour_name="T1", normal_name="S1", keep_pileup=pileup,
    )  # fmt: skip
    identity = genotype_concordance(pileup, "T1", "S1")
    assert not identity.passed
    assert "T1" in identity.message and "S1" in identity.message
