"""The ``annotate`` stage on files: resources of a reference area, a sample's calls, a panel.

The reference area is the annotation simulator's (genes written into a small reference,
GFF3, ClinVar, gnomAD, a gene-list panel); the sample's VCF carries demo sample 0's
planted pathogenic stop-gain. ``run_local`` gives the stage what the runner would.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seqoia.errors import InputError
from seqoia.genomics.simulate import simulate_reference
from seqoia.genomics.simulate_annotation import demo_pathogenic_variant, simulate_annotation
from seqoia.tasks.germline import pipeline
from seqoia.tasks.local import run_local
from seqoia.tasks.stage import InputSet
from tests.unit.genomics.annotation_fixture import write_tiled_cram, write_vcf_gz


@pytest.fixture(scope="module")
def area(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("refarea")
    reference = folder / "genome.fa"  # as the runner's cache names the reference
    simulate_reference(reference, contigs={"chr1": 60_000, "chr2": 50_000}, seed=4)
    files, genes = simulate_annotation(reference, folder / "res", seed=4)
    variant = demo_pathogenic_variant(genes, reference, 1)
    contigs = "".join(f"##contig=<ID={c},length=60000>\n" for c in ["chr1"])
    vcf = write_vcf_gz(
        folder / "S1.bcftools.vcf.gz",
        "##fileformat=VCFv4.2\n" + contigs + "##contig=<ID=chr2,length=50000>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\n"
        f"{variant.contig}\t{variant.pos}\t.\t{variant.ref}\t{variant.alt}\t60\tPASS\t.\tGT:AD\t0/1:14,16\n",
    )
    resources = {
        "genes.gff3": files.gff3,
        "clinvar.vcf.gz": files.clinvar,
        "clinvar.vcf.gz.tbi": Path(f"{files.clinvar}.tbi"),
        "gnomad.vcf.gz": files.gnomad,
        "gnomad.vcf.gz.tbi": Path(f"{files.gnomad}.tbi"),
        "panels/demo.txt": files.panel,
    }
    gene = genes[1]
    cram = write_tiled_cram(reference, gene.contig, gene.start, gene.end, folder / "S1.md.cram")
    return {
        "reference": reference,
        "vcf": vcf,
        "cram": cram,
        "resources": resources,
        "gene": gene,
    }


def _inputs(area: dict[str, object], record: dict[str, object]) -> dict[str, list[InputSet]]:
    vcf = area["vcf"]
    assert isinstance(vcf, Path)
    run = InputSet("validate_run", "RUN1", {}, {"samples": {"S1": record}})
    calls = InputSet(
        "call_variants",
        "S1",
        {vcf.name: vcf, f"{vcf.name}.tbi": Path(f"{vcf}.tbi")},
        {},
    )
    cram = area["cram"]
    assert isinstance(cram, Path)
    md = InputSet(
        "markduplicates", "S1", {cram.name: cram, f"{cram.name}.crai": Path(f"{cram}.crai")}, {}
    )
    return {"validate_run": [run], "markduplicates": [md], "call_variants": [calls]}


def _run(tmp_path: Path, area: dict[str, object], record: dict[str, object], **kw: object):  # type: ignore[no-untyped-def]
    return run_local(
        pipeline["annotate"],
        "S1",
        tmp_path / "annotate",
        inputs=_inputs(area, record),
        reference_fasta=area["reference"],  # type: ignore[arg-type]
        resources=area["resources"],  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def test_annotate_names_the_planted_stop_gain_tier_1_on_the_centres_default_panel(
    tmp_path: Path, area: dict[str, object]
) -> None:
    out = _run(tmp_path, area, {"centre": "APHP"})
    gene = area["gene"]
    tier1 = out.summary["tier1"]
    assert [t["gene"] for t in tier1] == [gene.symbol]  # type: ignore[attr-defined]
    assert tier1[0]["hgvs_c"].endswith("c.29G>A")
    assert tier1[0]["hgvs_p"] == "p.(Trp10Ter)"
    assert out.summary["panel"]["name"] == "Seqoia demo panel"
    written = json.loads(out.files["S1.variants.json"].read_text())
    assert written["variants"][0]["clinvar_significance"] == "Pathogenic"
    # The panel's genes: the one read end to end is covered, the others not at all.
    coverage = {c["gene"]: c["pct_bases_20x"] for c in written["coverage"]}
    assert coverage.pop(gene.symbol) == 100.0  # type: ignore[attr-defined]
    assert set(coverage.values()) == {0.0} and len(coverage) == 3


def test_a_stricter_max_af_is_a_parameter_of_the_stage(
    tmp_path: Path, area: dict[str, object]
) -> None:
    stage = pipeline["annotate"]
    strict = stage.params.model_validate({"max_af": 0.005})
    assert strict != stage.params()  # a different fingerprint: a new generation
    out = _run(tmp_path, area, {"centre": "APHP"}, params=strict)
    assert out.summary["tiers"]["1"] == 1  # ClinVar pathogenic stays tier 1


def test_an_unknown_panel_is_an_input_error_naming_the_sample_and_the_panel(
    tmp_path: Path, area: dict[str, object]
) -> None:
    with pytest.raises(InputError, match=r"sample S1: unknown panel 'cardio'.*demo") as err:
        _run(tmp_path, area, {"centre": "APHP", "panel": "cardio"})
    assert err.value.permanent


def test_the_centres_panel_applies_when_the_sheet_names_none(
    tmp_path: Path, area: dict[str, object]
) -> None:
    with pytest.raises(InputError, match="unknown panel 'neuro'"):
        _run(
            tmp_path,
            area,
            {"centre": "CURIE"},
            params={"centre_panels": {"CURIE": "neuro"}},
        )
