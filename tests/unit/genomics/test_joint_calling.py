"""Joint calling of a simulated trio: GQ and PL kept, a son haploid on chrX, checks on it.

One small family (100 kb of autosomes, chrX, chrY) is simulated, aligned and
duplicate-marked once per module, at 30x: at lower depth the parents' reads cannot rule
out an inherited allele and de novo posteriors stay low, as they should. Calling runs
with the bcftools program and with pysam's bcftools.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pysam
import pytest

from seqoia.errors import InputError
from seqoia.genomics.align import FastqPair, ReadGroup, align_sample
from seqoia.genomics.family import analyse_family
from seqoia.genomics.family_sites import alt_count_matrix, read_sites
from seqoia.genomics.joint_calling import call_sexes, joint_call
from seqoia.genomics.markdup import mark_duplicates
from seqoia.genomics.mendelian import consistent, mendelian_errors
from seqoia.genomics.pedigree import PedigreeError, trio
from seqoia.genomics.ploidy import ploidy_lines
from seqoia.genomics.reference import PreparedReference, prepare_reference
from seqoia.genomics.relatedness import check_relatedness
from seqoia.genomics.sex_check import check_sex, predicted_sex
from seqoia.genomics.simulate import simulate_reference
from seqoia.genomics.simulate_family import FamilyTruth, meiosis, simulate_family


@pytest.fixture(scope="module")
def family(tmp_path_factory) -> tuple[FamilyTruth, PreparedReference, list[Path]]:
    work = tmp_path_factory.mktemp("trio")
    fasta = work / "genome.fa"
    simulate_reference(fasta, contigs={"chr1": 60_000, "chr2": 40_000}, seed=5,
                       sex_chromosomes=True)  # fmt: skip
    reference = prepare_reference(fasta, work / "ref", bwa=False)
    truth = simulate_family(fasta, work / "sim", seed=5, n_de_novo=8, coverage=30)
    crams = []
    for member in truth.members:
        group = ReadGroup(id=member.sample, sample=member.sample, library="L",
                          platform_unit=member.sample)  # fmt: skip
        bam = work / f"{member.sample}.bam"
        align_sample([FastqPair(r1=member.r1, r2=member.r2, read_group=group)], reference, bam,
                     threads=2)  # fmt: skip
        crams.append(work / f"{member.sample}.md.cram")
        mark_duplicates(bam, reference, crams[-1], threads=2)
    return truth, reference, crams


@pytest.fixture(scope="module")
def joint_vcf(family, tmp_path_factory) -> Path:
    truth, reference, crams = family
    out = tmp_path_factory.mktemp("joint") / "family.vcf.gz"
    joint_call(crams, {m.sample: m.sex for m in truth.members}, reference, out, threads=2)
    return out


def test_the_simulated_child_inherits_one_allele_from_each_parent(family) -> None:
    truth, _, _ = family
    genotypes = {}
    for member in truth.members:
        genotypes[member.role] = {s.key: s.calls[member.sample].alleles
                                  for s in read_sites(member.truth_vcf)}  # fmt: skip
    novo = set(truth.de_novo)
    assert len(novo) == 8 and novo <= set(genotypes["proband"])
    for key, child in genotypes["proband"].items():
        if key in novo:
            continue
        mother = genotypes["mother"].get(key, (0, 0))
        father = genotypes["father"].get(key, (0, 0))
        if key[0] == "chrX":  # the son's single X is his mother's: written 1|1
            assert child == (1, 1) and 1 in mother
            continue
        assert consistent(child, mother, father, None), key


def test_meiosis_switches_haplotype_at_crossovers() -> None:
    rng = np.random.default_rng(1)
    haps = np.array([[0, 1]] * 1000, dtype=np.int8)
    positions = np.arange(1, 1001) * 1000
    transmitted = meiosis(haps, positions, 1_000_000, rng, crossovers_per_mbp=10)
    switches = int(np.count_nonzero(np.diff(transmitted)))
    assert 3 <= switches <= 20  # ~10 crossovers expected


def test_ploidy_file_makes_males_haploid_on_x_outside_pars(family) -> None:
    _, reference, _ = family
    text = "\n".join(ploidy_lines(reference, pars=[(1, 2000)])) + "\n"
    assert "chrX\t2001\t15000\tM\t1" in text and "chrX\t1\t" not in text
    assert "chrY\t1\t10000\tM\t1" in text and "chrY\t1\t10000\tF\t0" in text
    assert text.endswith("*\t*\t*\tM\t2\n*\t*\t*\tF\t2\n*\t*\t*\tU\t2\n")


def test_a_sample_of_unknown_sex_is_called_as_female() -> None:
    assert call_sexes(["a", "b", "c"], {"a": "XY", "b": "XX"}) == {"a": "M", "b": "F", "c": "F"}


@pytest.mark.parametrize("use_binaries", [True, False], ids=["bcftools-binary", "pysam"])
def test_joint_call_keeps_gq_pl_and_a_haploid_son_on_x(family, tmp_path, use_binaries) -> None:
    if use_binaries and shutil.which("bcftools") is None:
        pytest.fail("bcftools is not installed (apt-get install bcftools)")
    truth, reference, crams = family
    sexes = {m.sample: m.sex for m in truth.members}
    out = tmp_path / "family.vcf.gz"
    joint_call(crams, sexes, reference, out, threads=2, use_binaries=use_binaries)
    with pysam.VariantFile(str(out)) as vcf:
        assert {"GQ", "PL", "AD", "DP"} <= set(vcf.header.formats)
        assert list(vcf.header.samples) == [m.sample for m in truth.members]
    sites = list(read_sites(out))
    proband, mother, father = (truth.member(r).sample for r in ("proband", "mother", "father"))
    x_sites = [s for s in sites if s.contig == "chrX"]
    assert x_sites
    for site in x_sites:
        assert site.calls[proband].ploidy == 1 and site.calls[father].ploidy == 1
        assert site.calls[mother].ploidy == 2
    auto = [s for s in sites if s.contig in ("chr1", "chr2")]
    assert all(c.pl is not None and c.gq is not None for s in auto for c in s.calls.values())
    # genotype accuracy against the truth
    for member in truth.members:
        wanted = {s.key: s.calls[member.sample].alleles for s in read_sites(member.truth_vcf)}
        called = {s.key: s.calls[member.sample].alt_count for s in sites
                  if s.passing and s.calls[member.sample].has_alt}  # fmt: skip
        right = sum(called.get(k) == (1 if k[0] == "chrX" and member.sex == "XY" else sum(a))
                    for k, a in wanted.items())  # fmt: skip
        assert right / len(wanted) > 0.9, member.role
    inherited = [s for s in sites if s.key not in set(truth.de_novo)]
    summary, _ = mendelian_errors(inherited, proband, mother, father)
    assert summary.sites > 100 and summary.error_rate < 0.02


def test_checks_on_the_called_trio_pass_and_catch_a_wrong_sex(family, joint_vcf) -> None:
    truth, reference, crams = family
    out = joint_vcf
    p, m, f = (truth.member(r).sample for r in ("proband", "mother", "father"))
    pedigree = trio(truth.family, p, m, f, proband_sex="male")
    sites = list(read_sites(out, pedigree.samples))
    checks = check_relatedness(pedigree, alt_count_matrix(sites, pedigree.samples))
    assert all(c.passed for c in checks), [c.message for c in checks]
    predicted = {
        s: predicted_sex(c, sites, s, reference.fasta)
        for s, c in zip(pedigree.samples, crams, strict=True)
    }
    assert predicted == {p: "XY", m: "XX", f: "XY"}
    assert all(c.passed for c in check_sex(pedigree, predicted))
    girl = trio(truth.family, p, m, f, proband_sex="female")
    failed = [c for c in check_sex(girl, predicted) if not c.passed]
    assert [c.message for c in failed] == [f"{p}: declared female, genetic XY MISMATCH"]


def test_a_sample_without_alignments_is_refused(family, tmp_path) -> None:
    truth, reference, crams = family
    with pytest.raises(InputError, match="no alignments for sample"):
        joint_call(crams[:1], {"nobody": "XX"}, reference, tmp_path / "x.vcf.gz", threads=1)


def test_family_analysis_blocks_a_swapped_father_and_passes_the_true_one(family, joint_vcf) -> None:
    truth, reference, crams = family
    out = joint_vcf
    p, m, f = (truth.member(r).sample for r in ("proband", "mother", "father"))
    pedigree = trio(truth.family, p, m, f, proband_sex="male")
    result = analyse_family(out, pedigree, alignments=dict(zip(pedigree.samples, crams,
                                                               strict=True)),
                            reference=reference.fasta)  # fmt: skip
    assert not result.blocked, result.failures
    called = {(c.contig, c.pos, c.ref, c.alt) for c in result.de_novo if c.passed}
    assert len(called & set(truth.de_novo)) >= 5 and called <= set(truth.de_novo)
    assert {v.pos for v in result.variants if "de_novo" in v.modes} == {k[1] for k in called}
    # the mother declared as the father: relatedness and sex both object
    swapped = trio(truth.family, p, f, m, proband_sex="male")
    with pytest.raises(PedigreeError):
        analyse_family(out, swapped, alignments={p: crams[0]})
    wrong = analyse_family(out, swapped, predicted={p: "XY", m: "XX", f: "XY"})
    assert wrong.blocked
    assert any(f"father {m}" in x or f"{m}: declared male, genetic XX" in x
               for x in wrong.failures)  # fmt: skip
