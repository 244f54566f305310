"""Realistic clinical reports for the renderers' tests (HTML, PDF, FHIR).

Three cases: a preliminary report whose QC passed, with variants in all three tiers; a
preliminary report whose QC failed (two checks missed, a low-coverage gene); and the
first one released by a biologist. Values that come from files (gene names, HGVS, ClinVar
text) include characters an HTML page must escape.
"""

from __future__ import annotations

from datetime import UTC, datetime

from seqoia.genomics.clinical_report import (
    ClinicalReport,
    GeneCoverage,
    Laboratory,
    PanelInfo,
    ReferenceGenome,
    Release,
)
from seqoia.genomics.qc_gate import QCCheck, QCFailure, QCVerdict
from seqoia.genomics.report import FileChecksum
from seqoia.genomics.tiering import ReportedVariant

EFFECTIVE = datetime(2026, 11, 30, 14, 5, 12, tzinfo=UTC)
RELEASED_AT = datetime(2026, 12, 1, 9, 30, 0, tzinfo=UTC)


def _variant(**fields: object) -> ReportedVariant:
    base: dict[str, object] = {
        "contig": "chr17",
        "pos": 43_094_464,
        "ref": "C",
        "alt": "T",
        "gene": "BRCA1",
        "transcript": "NM_007294.4",
        "hgvs_c": "NM_007294.4:c.1067A>G",
        "hgvs_p": "NP_009225.1:p.(Gln356Arg)",
        "hgvs_g": "NC_000017.11:g.43094464C>T",
        "consequence": "missense_variant",
        "zygosity": "heterozygous",
        "depth": 41,
        "vaf": 0.488,
        "clinvar_significance": None,
        "clinvar_review_status": None,
        "population_af": None,
        "tier": 3,
    }
    base.update(fields)
    return ReportedVariant.model_validate(base)


VARIANTS: tuple[ReportedVariant, ...] = (
    _variant(
        contig="chr7",
        pos=117_559_590,
        ref="ATCT",
        alt="A",
        gene="CFTR",
        transcript="NM_000492.4",
        hgvs_c="NM_000492.4:c.1521_1523del",
        hgvs_p="NP_000483.3:p.(Phe508del)",
        hgvs_g="NC_000007.14:g.117559593_117559595del",
        consequence="inframe_deletion",
        zygosity="homozygous",
        depth=57,
        vaf=0.982,
        clinvar_significance="Pathogenic",
        clinvar_review_status="criteria_provided,_multiple_submitters,_no_conflicts",
        population_af=0.0071,
        tier=1,
    ),
    _variant(
        gene="BRCA1",
        hgvs_c="NM_007294.4:c.5266dup",
        hgvs_p="NP_009225.1:p.(Gln1756ProfsTer74)",
        hgvs_g="NC_000017.11:g.43057063dup",
        pos=43_057_062,
        ref="G",
        alt="GG",
        consequence="frameshift_variant",
        depth=38,
        vaf=0.447,
        tier=2,
    ),
    _variant(
        contig="chrX",
        pos=31_478_245,
        gene="DMD",
        transcript="NM_004006.3",
        hgvs_c="NM_004006.3:c.9361+5G>A",
        hgvs_p=None,
        hgvs_g="NC_000023.11:g.31478245C>T",
        consequence="splice_region_variant&intron_variant",
        zygosity="hemizygous",
        depth=19,
        vaf=1.0,
        clinvar_significance="Uncertain_significance",
        clinvar_review_status="criteria_provided,_single_submitter",
        population_af=0.00004,
        tier=3,
    ),
    # A gene name from an untrusted file: it must come out escaped.
    _variant(
        pos=43_045_700,
        gene="<b>TP53</b>&",
        hgvs_c="NM_007294.4:c.4987-12T>C",
        hgvs_p=None,
        consequence="intron_variant",
        tier=3,
        vaf=0.51,
        population_af=0.0021,
    ),
)

PASSED_QC = QCVerdict(
    passed=True,
    failures=(),
    checks=(
        QCCheck(
            metric="mean_coverage",
            value=34.2,
            threshold="≥ 25.00",
            passed=True,
            message="Mean coverage (×) 34.20 meets ≥ 25.00",
        ),
        QCCheck(
            metric="pct_20x",
            value=93.1,
            threshold="≥ 85.00",
            passed=True,
            message="Bases ≥ 20× (%) 93.10 meets ≥ 85.00",
        ),
    ),
)

_FAILED_CHECKS = (
    QCCheck(
        metric="mean_coverage",
        value=18.4,
        threshold="≥ 25.00",
        passed=False,
        message="Mean coverage (×) 18.40 misses ≥ 25.00",
    ),
    QCCheck(
        metric="duplicate_pct",
        value=27.9,
        threshold="≤ 20.00",
        passed=False,
        message="Duplicate reads (%) 27.90 misses ≤ 20.00",
    ),
    QCCheck(
        metric="ti_tv",
        value=None,
        threshold="1.80–2.40",
        passed=None,
        message="Ti/Tv was not measured",
    ),
)
FAILED_QC = QCVerdict(
    passed=False,
    failures=tuple(
        QCFailure(metric=c.metric, value=c.value, threshold=c.threshold, message=c.message)
        for c in _FAILED_CHECKS
        if c.passed is False
    ),
    checks=_FAILED_CHECKS,
)

LAB = Laboratory(
    name="Laboratoire SeqOIA (Paris)",
    identifier="750100000",
    address="Hôpital Pitié-Salpêtrière, 47-83 boulevard de l'Hôpital, 75013 Paris",
)


def preliminary_report(**update: object) -> ClinicalReport:
    """A preliminary germline report with QC passed and variants in tiers 1, 2 and 3."""
    report = ClinicalReport(
        laboratory=LAB,
        centre="APHP-NECKER",
        sample="S-7Q2K9",
        runs=("261130_A01234_0042_BHXYZDSXY3", "261130_A01234_0043_AHXYZDSXY3"),
        effective=EFFECTIVE,
        pipeline_version="seqoia 0.1.0",
        tools={"samtools": "1.16.1", "bcftools": "1.16", "minimap2": "2.28-r1209"},
        reference=ReferenceGenome(
            name="GRCh38",
            sha256="a" * 64,
            assembly="GRCh38.p14",
        ),
        panel=PanelInfo(
            name="Hereditary cancer & CF",
            version="2026-09",
            genes=("BRCA1", "CFTR", "DMD", "TP53"),
        ),
        qc=PASSED_QC,
        variants=VARIANTS,
        coverage=(
            GeneCoverage(gene="BRCA1", pct_bases_20x=99.2),
            GeneCoverage(gene="CFTR", pct_bases_20x=97.8),
            GeneCoverage(
                gene="DMD",
                pct_bases_20x=88.5,
                low_coverage_exons=("DMD exon 45 (62 %)", "DMD exon 52 (71 %)"),
            ),
            GeneCoverage(gene="TP53", pct_bases_20x=100.0),
        ),
        files=(
            FileChecksum(name="S-7Q2K9.md.cram", sha256="b" * 64, size=18_234_567_890),
            FileChecksum(name="S-7Q2K9.bcftools.vcf.gz", sha256="c" * 64, size=123_456_789),
        ),
    )
    return report.model_copy(update=update) if update else report


def qc_failed_report() -> ClinicalReport:
    """A preliminary report whose QC gate failed on two checks."""
    return preliminary_report(qc=FAILED_QC)


def final_report() -> ClinicalReport:
    """The preliminary report released by a biologist."""
    return preliminary_report().released(
        Release(by="Dr A. Martin", reason="reviewed tier 1-2 variants", at=RELEASED_AT)
    )


def long_report() -> ClinicalReport:
    """A final report that spans pages: 40 variants, a 120-base insertion's HGVS (one long
    word), long ClinVar words and many low-coverage exons, to test wrapping on A4."""
    inserted = "ACGT" * 30
    long_one = _variant(
        pos=43_047_700,
        ref="A",
        alt="A" + inserted,
        gene="BRCA1",
        hgvs_c=f"NM_007294.4:c.4986_4987ins{inserted}",
        hgvs_p="NP_009225.1:p.(Ser1662_Val1663insThrTyrValArgThrTyrValArgThrTyrValArgThrTyr)",
        hgvs_g=f"NC_000017.11:g.43047700_43047701ins{inserted}",
        consequence="inframe_insertion&splice_region_variant&NMD_transcript_variant",
        clinvar_significance="Conflicting_classifications_of_pathogenicity",
        clinvar_review_status="criteria_provided,_conflicting_classifications",
        tier=2,
    )
    many = tuple(
        _variant(
            pos=43_100_000 + i * 17,
            hgvs_c=f"NM_007294.4:c.{100 + i}C>T",
            hgvs_p=f"NP_009225.1:p.(Arg{34 + i}Cys)",
            hgvs_g=f"NC_000017.11:g.{43_100_000 + i * 17}C>T",
            tier=3,
            population_af=0.0001 * i,
        )
        for i in range(38)
    )
    coverage = (
        GeneCoverage(
            gene="DMD",
            pct_bases_20x=71.0,
            low_coverage_exons=tuple(f"DMD exon {n} ({40 + n} %)" for n in range(1, 40)),
        ),
    )
    return final_report().model_copy(
        update={"variants": (*VARIANTS[:1], long_one, *many), "coverage": coverage}
    )
