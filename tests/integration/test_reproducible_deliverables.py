"""Two clean runs of the same input deliver the same CRAM, VCF and index bytes.

The same FASTQ run folder goes twice through the embedded stack (memory:// + file://),
each time with its own store and scratch folder, so every attempt id and scratch path
differs. Every delivered CRAM, CRAI, VCF and TBI (and report.json) must be
byte-identical, their headers must name the reference by its store key, and the
sex chromosomes must be called with the sample's ploidy: one sample's sex is declared
in the sample sheet, the other's is predicted from read dosage.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pysam
import pytest

from seqoia.admin.refarea import reference_area, upload_reference_area
from seqoia.engine.runtime import Runtime, build_runtime
from seqoia.genomics.simulate import simulate_reads, simulate_reference, simulate_variants
from seqoia.genomics.simulate_annotation import simulate_annotation
from seqoia.settings import Settings
from seqoia.workers.embedded import EmbeddedWorkers

RUN = "261130_A00123_0043_AHREPROXXX"
FASTQ_DIR = "Analysis/1/Data/fastq"
DECLARED, PREDICTED = "MALE-01", "ANON-02"
DELIVERED = (".md.cram", ".md.cram.crai", ".bcftools.vcf.gz", ".bcftools.vcf.gz.tbi")


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reference with chrX/chrY and a FASTQ run folder of two XY samples."""
    root = tmp_path_factory.mktemp("repro")
    reference = root / "genome.fa"
    simulate_reference(reference, contigs={"chr1": 80_000, "chr2": 40_000}, seed=21,
                       sex_chromosomes=True)  # fmt: skip
    simulate_annotation(reference, root / "annotation", seed=5)  # genes for `annotate`
    fastq = root / RUN / FASTQ_DIR
    fastq.mkdir(parents=True)
    variants = simulate_variants(reference, seed=22)
    for number, sample in enumerate((DECLARED, PREDICTED), start=1):
        r1, r2 = (fastq / f"{sample}_S{number}_L001_R{r}_001.fastq.gz" for r in (1, 2))
        simulate_reads(reference, variants, r1, r2, coverage=20, seed=22 + number, sex="XY")
    (root / RUN / "SampleSheet.csv").write_text(
        "[Header]\nFileFormatVersion,2\n\n[BCLConvert_Data]\n"
        "Lane,Sample_ID,Index,Index2,Centre,Sex\n"
        f"1,{DECLARED},ACGTACGT,TTGGCCAA,APHP,M\n1,{PREDICTED},CATGCATG,GGAATTCC,APHP,U\n"
    )
    (root / RUN / "CopyComplete.txt").write_text("")
    return root


def _deliver(root: Path, work: Path) -> Runtime:
    settings = Settings(
        store_url=f"file://{work}/store", scratch_dir=work / "scratch", max_retries=0
    )
    runtime = build_runtime(settings)
    notes = root / "annotation"
    area = reference_area(
        notes / "genes.gff3",
        {"demo": notes / "panel.tsv"},
        clinvar=notes / "clinvar.vcf.gz",
        gnomad=notes / "gnomad.sites.vcf.gz",
    )
    upload_reference_area(runtime.store, runtime.layout, "demo", root / "genome.fa", area)
    run = root / RUN
    files = sorted(p for p in run.rglob("*") if p.is_file() and p.name != "CopyComplete.txt")
    for path in [*files, run / "CopyComplete.txt"]:
        key = runtime.layout.run_prefix(RUN) + path.relative_to(run).as_posix()
        runtime.store.upload_file(key, path)
    with EmbeddedWorkers(runtime, threads=2) as workers:
        workers.actors.notify(runtime.layout.run_prefix(RUN) + "CopyComplete.txt")
        workers.wait_idle(timeout_s=600)
    for sample in (DECLARED, PREDICTED):
        failures = [runtime.failures.read(*pair) for pair in runtime.failures.pairs()]
        assert runtime.manifests.latest("deliver", sample), f"{sample} not delivered: {failures}"
    return runtime


def _delivered(runtime: Runtime, sample: str) -> dict[str, bytes]:
    """The files a release sends to the hospital: CRAM/VCF as committed, reports as reviewed."""
    files = {}
    for stage in ("markduplicates", "call_variants"):
        manifest = runtime.manifests.latest(stage, sample)
        assert manifest is not None
        for ref in manifest.outputs:
            if any(ref.name == sample + suffix for suffix in DELIVERED):
                files[ref.name] = runtime.store.get_bytes(ref.key)[0]
    assert len(files) == len(DELIVERED)
    review = runtime.layout.review_prefix("APHP", sample)
    files[f"{sample}.report.json"] = runtime.store.get_bytes(review + f"{sample}.report.json")[0]
    return files


@pytest.fixture(scope="module")
def two_runs(run_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Runtime, ...]:
    first = _deliver(run_folder, tmp_path_factory.mktemp("first"))
    second = _deliver(run_folder, tmp_path_factory.mktemp("second-run-elsewhere"))
    return first, second


@pytest.mark.parametrize("sample", [DECLARED, PREDICTED])
def test_two_clean_runs_deliver_byte_identical_files(
    two_runs: tuple[Runtime, Runtime], sample: str
) -> None:
    first, second = (_delivered(runtime, sample) for runtime in two_runs)
    differing = sorted(name for name in first if first[name] != second[name])
    assert differing == []
    # The runs really were apart: their attempts wrote under different scratch folders.
    scratch = [str(r.settings.scratch_dir) for r in two_runs]
    assert scratch[0] != scratch[1]


def test_cram_header_names_the_reference_by_its_store_key(
    two_runs: tuple[Runtime, Runtime], tmp_path: Path
) -> None:
    runtime = two_runs[0]
    cram = tmp_path / "a.cram"
    cram.write_bytes(_delivered(runtime, DECLARED)[f"{DECLARED}.md.cram"])
    reference = tmp_path / "genome.fa"
    runtime.store.download_file(runtime.layout.reference_key("demo"), reference)
    with pysam.AlignmentFile(str(cram), "rc", reference_filename=str(reference)) as aln:
        header = aln.header.to_dict()
    key = runtime.layout.reference_key("demo")
    assert {sq["UR"] for sq in header["SQ"]} == {key}
    assert all(len(sq["M5"]) == 32 for sq in header["SQ"])
    programs = header["PG"]
    assert programs[-1]["ID"] == "seqoia" and programs[-1]["VN"]
    command_lines = " ".join(pg.get("CL", "") for pg in programs)
    assert "markdup" in command_lines
    for scratch in (str(r.settings.scratch_dir) for r in two_runs):
        assert scratch not in command_lines and "/tmp" not in command_lines


def test_vcf_header_is_stable_and_declares_mq_as_float(two_runs: tuple[Runtime, Runtime]) -> None:
    data = _delivered(two_runs[0], DECLARED)[f"{DECLARED}.bcftools.vcf.gz"]
    header = [line for line in gzip.decompress(data).decode().splitlines() if line[:1] == "#"]
    key = two_runs[0].layout.reference_key("demo")
    assert f"##reference=file:///{key}" in header
    assert any(line.startswith("##source=seqoia-") for line in header)
    commands = [line for line in header if line.startswith("##bcftools") and "Command=" in line]
    assert len(commands) >= 4  # mpileup, call, concat, norm, filter: kept, with stable paths
    assert not any("Date=" in line or "/tmp" in line for line in commands)
    mq = next(line for line in header if line.startswith("##INFO=<ID=MQ,"))
    assert "Type=Float" in mq


@pytest.mark.parametrize(("sample", "source"), [(DECLARED, "declared"), (PREDICTED, "predicted")])
def test_male_samples_are_called_haploid_on_chrx_and_chry(
    two_runs: tuple[Runtime, Runtime], sample: str, source: str, tmp_path: Path
) -> None:
    runtime = two_runs[0]
    calls = runtime.manifests.latest("call_variants", sample)
    assert calls.summary["ploidy"]["sex"] == "M"
    assert calls.summary["ploidy"]["source"] == source
    vcf = tmp_path / "calls.vcf.gz"
    vcf.write_bytes(_delivered(runtime, sample)[f"{sample}.bcftools.vcf.gz"])
    ploidy: dict[str, set[int]] = {}
    with pysam.VariantFile(str(vcf)) as handle:
        for record in handle:
            ploidy.setdefault(record.chrom, set()).add(len(record.samples[sample]["GT"]))
    assert ploidy["chr1"] == {2}
    assert ploidy["chrX"] == {1}


def _sources(node: dict) -> list[str]:
    found = [s["key"] for s in node.get("sources", [])]
    for upstream in node.get("inputs", []):
        found += _sources(upstream)
    return found


def test_lineage_of_a_delivered_file_lists_its_own_sample_sources_once(
    two_runs: tuple[Runtime, Runtime],
) -> None:
    from seqoia.admin.lineage import LineageReader

    runtime = two_runs[0]
    calls = runtime.manifests.latest("call_variants", DECLARED)
    assert calls is not None
    key = calls.output(f"{DECLARED}.bcftools.vcf.gz").key
    report = LineageReader(runtime).of_key(key).to_json()
    sources = [s for root in report["produced_by"] for s in _sources(root)]
    assert len(sources) == len(set(sources))  # each run-folder object once
    names = [s.rsplit("/", 1)[-1] for s in sources]
    # Run-folder FASTQ are named by alias in manifests (their names may be patients').
    assert sum(name.endswith("_S1_L001_R1_001.fastq.gz") for name in names) == 1, names
    assert sum(name.endswith("_S1_L001_R2_001.fastq.gz") for name in names) == 1
    assert "SampleSheet.csv" in names
    assert not any("_S2_" in name for name in names)  # nothing of the other sample


@pytest.mark.parametrize("columns", [80, 100, 120])
def test_status_and_sample_fold_rather_than_cut_at_terminal_widths(
    two_runs: tuple[Runtime, Runtime], columns: int
) -> None:
    from typer.testing import CliRunner

    from seqoia.cli import app

    runtime = two_runs[0]
    env = {"SEQOIA_STORE_URL": runtime.settings.store_url, "COLUMNS": str(columns)}
    for argv in (["status"], ["status", RUN], ["sample", DECLARED]):
        result = CliRunner().invoke(app, argv, env=env)
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        assert max(len(line.rstrip()) for line in lines) <= columns, argv
        # Rich marks a cut cell with a trailing ellipsis ("…" alone is the legend's "due")
        assert not re.search(r"…\s*[│┃]", result.output), argv
        cells = "".join(ch for ch in result.output if ch.isalnum() or ch in "_-")
        assert RUN.replace("_", "") in cells.replace("_", ""), argv  # folded, never cut
