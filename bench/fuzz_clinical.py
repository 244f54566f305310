"""Fuzz targets of the clinical inputs, discovered by ``bench/fuzz.py`` (``bench/fuzz_*.py``).

What a laboratory, a hospital or the object store hands the pipeline besides the run
folder's instrument files (those are ``bench/fuzz_illumina.py``'s):

* ``sheet_clinical``: a sample sheet with the clinical columns (Centre, Family, Role, Sex,
  Priority, Pair_ID, Analysis) through the real ``validate_run`` stage on a FASTQ run
  folder, then what the family and pair stages derive from its summary: each family's
  records, centre, pedigree and composition, each pair's members;
* ``manifest``: a ``gNNNNNN.manifest.json`` read back from the store through
  :meth:`~seqoia.storage.manifest.ManifestStore.get` (anyone with write access to the
  bucket could forge one), then its publication state and outputs as the planner uses them;
* ``release_record``: a biologist's sign-off record (``work/_releases/<sample>/g*.json``)
  through :func:`~seqoia.admin.release.read_release` and the status line it feeds;
* ``family_release``: the family sign-off record through
  :func:`~seqoia.admin.family_release.read_family_release`;
* ``override``: a per-subject override (``work/_overrides/<stage>/<subject>.json``, what
  ``seqoia reprocess --set`` writes) through the planner of the germline pipeline;
* ``lease``: a lease object (``work/_leases/...``) met by another attempt's
  :meth:`~seqoia.engine.leases.LeaseKeeper.acquire` (busy, or taken over), and read by
  the reconciler, status and gc through :func:`~seqoia.engine.leases.read_lease`; its
  clean refusal is :class:`~seqoia.errors.StageBusyError` (held by another attempt);
* ``gff3``, ``gff3_gz``: the reference area's transcript annotation through
  :func:`~seqoia.genomics.transcripts.read_gff3` against its FASTA (the tests' mini genome);
* ``panel_list``, ``panel_bed``, ``panel_bed_gz``: a gene panel (PanelApp gene list, BED,
  gzipped BED) through :func:`~seqoia.genomics.panels.read_panel` against a transcript
  model;
* ``clinvar_vcf``, ``gnomad_vcf``: a known-variant resource as the laboratory installs
  it (the mutated VCF text bgzipped and tabix-indexed; a text tabix itself refuses is not
  a resource and passes), opened against the mini genome's FASTA and looked up by allele
  as annotation does (:mod:`seqoia.genomics.known_variants`).

Clean refusals are :class:`~seqoia.errors.InputError` (and its subclasses: sample sheet,
pedigree, format, invalid key) that name where the bad input is: the run and
``SampleSheet.csv`` for a sheet, the key for a stored record, the file for a panel. An
InputError that does not is counted a crash (the house rule: a clear error naming the
run or file). Seeds are valid inputs shaped like the tests' and the demo's, so that
mutations reach the checks past the parser.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pysam

from bench.fuzzing import FuzzKind
from seqoia.admin.family_release import FamilyReleaseRecord, read_family_release
from seqoia.admin.release import ReleaseRecord, ReleaseStatus, read_release
from seqoia.engine.leases import LeaseKeeper, read_lease
from seqoia.engine.runtime import Runtime, build_runtime
from seqoia.errors import (
    InputError,
    ObjectNotFoundError,
    PreconditionFailedError,
    StageBusyError,
)
from seqoia.genomics.known_variants import ClinvarResource, PopulationResource
from seqoia.genomics.panels import read_panel
from seqoia.genomics.transcripts import read_gff3
from seqoia.settings import Settings
from seqoia.storage.layout import Layout
from seqoia.storage.manifest import FileRef, InputRef, Manifest, ManifestStore
from seqoia.tasks.family_members import (
    FamilyWaitingError,
    composition,
    family_centre,
    family_pedigree,
    family_records,
)
from seqoia.tasks.germline import pipeline
from seqoia.tasks.pairs import pair_members
from seqoia.tasks.runs import ValidateRunParams
from seqoia.tasks.stage import StageContext
from tests.unit.genomics.mini_genome import GFF3, write_mini_genome

__all__ = ["KINDS"]

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "illumina"
RUN = "261201_A00123_0050_AHCLINXXXX"
_CLEAN = (InputError,)


@contextlib.contextmanager
def _scratch() -> Iterator[Path]:
    """A fresh folder for one case; removed afterwards."""
    parent = os.environ.get("SEQOIA_FUZZ_DIR") or tempfile.gettempdir()
    folder = Path(tempfile.mkdtemp(prefix=f"seqoia-fuzz-{os.getpid()}-", dir=parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def _naming(*names: str) -> Iterator[None]:
    """An InputError raised inside must name each of ``names`` (else an AssertionError)."""
    try:
        yield
    except InputError as err:
        missing = [name for name in names if name not in str(err)]
        if missing:
            raise AssertionError(f"{type(err).__name__} names no {missing}: {err}") from err
        raise


# -- sample sheets with the clinical columns -------------------------------------------

_V2_HEADER = (
    "[Header]\nFileFormatVersion,2\nRunName,WGS_2026_12\nInstrumentPlatform,NovaSeqXSeries\n\n"
    "[Reads]\nRead1Cycles,151\nRead2Cycles,151\nIndex1Cycles,8\nIndex2Cycles,8\n\n"
    "[BCLConvert_Settings]\nSoftwareVersion,4.2.7\nBarcodeMismatchesIndex1,1\n"
    "BarcodeMismatchesIndex2,1\nAdapterRead1,CTGTCTCTTATACACATCT\n\n"
)
#: A trio with a sibling, a tumour/normal pair, a tumour-only sample and a germline
#: sample, two centres and both priorities (the columns the tests use, in their spelling).
_SHEET_V2 = _V2_HEADER + (
    "[BCLConvert_Data]\n"
    "Lane,Sample_ID,Index,Index2,Sample_Project,Centre,Family,Role,Sex,Priority,Pair_ID,Analysis\n"
    "1,SQ26-0001,GCTAAAGA,CAATTACA,WGS_2026,APHP,FAM001,proband,M,urgent,,\n"
    "1,SQ26-0002,TAACATAC,ACGTCAGC,WGS_2026,APHP,FAM001,mother,F,urgent,,\n"
    "1,SQ26-0003,ACGAAACT,TGTTGGCC,WGS_2026,APHP,FAM001,father,M,urgent,,\n"
    "1,SQ26-0004,CAGTGTGA,ATCGCTTA,WGS_2026,APHP,FAM001,sibling,F,routine,,\n"
    "2,SQ26-0005,AGGGTTAA,GTAAGTGT,ONCO_2026,CURIE,,tumour,F,routine,PAIR01,paired\n"
    "2,SQ26-0006,GATGCATA,CGCCTTTA,ONCO_2026,CURIE,,normal,F,routine,PAIR01,\n"
    "2,SQ26-0007,CTTGCTGT,CCACCCCA,ONCO_2026,CURIE,,tumor,M,urgent,,tumour_only\n"
    "2,SQ26-0008,AGAAATCG,ACATTAAC,WGS_2026,GUSTAVE-ROUSSY,,,unknown,,,\n"
)
#: Version 1 (bcl2fastq), the same columns under their other accepted names.
_SHEET_V1 = (
    "[Header]\nIEMFileVersion,5\nExperiment Name,CLIN_2026_07\nDate,2026-12-01\n\n"
    "[Reads]\n151\n151\n\n[Settings]\nAdapter,AGATCGGAAGAGCACACGTCTGAACTCCAGTCA\n\n"
    "[Data]\n"
    "Sample_ID,Sample_Name,index,index2,Center,Family_ID,Relationship,Gender,Urgency\n"
    "RD-101,,ATTACTCG,TATAGCCT,APHP,FAM-7,index,2,urgent\n"
    "RD-102,,TCCGGAGA,ATAGAGGC,APHP,FAM-7,mum,2,urgent\n"
    "RD-103,,CGCTCATT,CCTATCCT,APHP,FAM-7,dad,1,urgent\n"
    "RD-104,,GAGATTCC,GGCTCTGA,CURIE,FAM-8,proband,0,routine\n"
)
#: Two runs' worth of one family: the father comes in this run, the proband in another.
_SHEET_DUO = _V2_HEADER + (
    "[BCLConvert_Data]\nLane,Sample_ID,Index,Index2,Centre,Family,Role,Sex\n"
    "1,SQ26-0101,ACGTACGT,TTGGCCAA,APHP,FAM002,proband,F\n"
    "1,SQ26-0102,CATGCATG,GGAATTCC,APHP,FAM002,father,M\n"
    "1,SQ26-0103,GTCAGTCA,CCTTAAGG,CURIE,FAM003,mother,F\n"
)


def _umi_family_sheet() -> str:
    """The repository's UMI family sheet, its pair declared with Pair_ID as sheets now do
    and its centre spelled as the site's list has it."""
    text = (DATA / "samplesheets" / "v2_umi_family.csv").read_text()
    text = text.replace("GUSTAVE_ROUSSY", "GUSTAVE-ROUSSY")
    text = text.replace("Centre,Family,Role,Sex", "Centre,Family,Role,Sex,Pair_ID")
    for sample, role in (("SQ24-0004", "tumor"), ("SQ24-0005", "normal")):
        old = next(line for line in text.splitlines() if f",{sample}," in line)
        text = text.replace(old, old.replace(f",PAIR01,{role},F", f",,{role},F,PAIR01"))
    return text


_SHEETS = [_SHEET_V2, _SHEET_V1, _SHEET_DUO, _umi_family_sheet()]
#: On-board FASTQ for every sample the seeds list (a mutated id gets none: "missing").
_LISTING = tuple(
    (f"Analysis/1/Data/fastq/{sample}_S{n}_L00{lane}_R{read}_001.fastq.gz", 100)
    for n, sample in enumerate(
        [f"SQ26-{i:04d}" for i in (*range(1, 9), 101, 102, 103)]
        + [f"RD-{i}" for i in range(101, 105)]
        + [f"SQ24-{i:04d}" for i in range(1, 9)],
        start=1,
    )
    for lane in (1, 2)
    for read in (1, 2)
)
_VALIDATE = pipeline["validate_run"]


def _run_validate(data: bytes, folder: Path) -> dict[str, Any]:
    source, out, scratch = folder / "run", folder / "out", folder / "tmp"
    for path in (source, out, scratch):
        path.mkdir()
    (source / "SampleSheet.csv").write_bytes(data)
    ctx = StageContext(
        stage="validate_run",
        subject=RUN,
        kind="run",
        params=ValidateRunParams(),
        inputs={},
        out_dir=out,
        scratch=scratch,
        threads=1,
        source_dir=source,
        source_listing=_LISTING,
        completed_at=datetime(2026, 12, 1, 18, 0, tzinfo=UTC),
    )
    result = _VALIDATE.fn(ctx)
    # What the family and pair stages read back: the committed summary, as JSON.
    summary: dict[str, Any] = json.loads(json.dumps(result.summary))
    return summary


def check_sheet_clinical(data: bytes) -> None:
    """validate_run, then the family and pair stages' view of its summary."""
    with _scratch() as folder, _naming(RUN, "SampleSheet.csv"):
        summary = _run_validate(data, folder)
    runs = {RUN: summary}
    families = {r["family"] for r in summary["samples"].values() if r.get("family")}
    for family in sorted(families):
        records = family_records(family, runs)
        family_centre(family, records)
        # A family whose proband comes in another run waits: that is normal.
        with contextlib.suppress(FamilyWaitingError):
            composition(family_pedigree(family, records))
    pairs = {r["pair"] for r in summary["samples"].values() if r.get("pair")}
    for pair in sorted(pairs):
        pair_members(pair, [summary]).name  # noqa: B018 - the pair's file stem


# -- records read back from the store --------------------------------------------------


class _OneObjectStore:
    """A store holding one object: what ManifestStore and the release readers ask of one."""

    def __init__(self, key: str, data: bytes) -> None:
        self.key, self.data = key, data

    def get_bytes(self, key: str) -> tuple[bytes, str]:
        if key != self.key:
            raise ObjectNotFoundError(key)
        return self.data, '"etag"'

    def head(self, key: str) -> object | None:
        return object() if key == self.key else None


_LAYOUT = Layout()
_T0 = datetime(2026, 12, 1, 18, 4, 11, tzinfo=UTC)


def _manifest_seeds() -> list[bytes]:
    """A validate_run manifest (the seed sheet's real summary and relations) and an align
    manifest with inputs, sources, a reference and outputs, both as the runner writes them."""
    with _scratch() as folder:
        summary = _run_validate(_SHEET_V2.encode(), folder)
        source = folder / "run"
        source.mkdir(exist_ok=True)
        (source / "SampleSheet.csv").write_text(_SHEET_V2)
    common: dict[str, Any] = {"started_at": _T0, "finished_at": _T0, "worker": "worker-7f3a"}
    run_manifest = Manifest(
        stage="validate_run",
        stage_version="4",
        subject=RUN,
        subject_kind="run",
        fingerprint="9" * 64,
        generation=1,
        attempt="a1b2c3d4",
        sources=[
            FileRef(
                name="SampleSheet.csv",
                key=f"inbox/{RUN}/SampleSheet.csv",
                size=1234,
                etag='"5d41402abc4b2a76b9719d911017c592"',
                modified=_T0,
            ),
        ],
        outputs=[
            FileRef(
                name="run.json",
                key=f"work/validate_run/{RUN}/a1b2c3d4/run.json",
                size=2048,
                sha256="ab" * 32,
            )
        ],
        summary=summary,
        **common,
    )
    sample = "SQ26-0001"
    align = Manifest(
        stage="align",
        stage_version="7",
        subject=sample,
        subject_kind="sample",
        fingerprint="f" * 64,
        generation=3,
        attempt="e5f6a7b8",
        inputs=[
            InputRef(
                stage="demultiplex",
                subject=f"{RUN}.L1",
                generation=1,
                attempt="0badcafe",
                fingerprint="1" * 64,
            )
        ],
        reference=FileRef(
            name="genome.fa", key="refs/GRCh38/genome.fa", size=3_100_000_000, sha256="cd" * 32
        ),
        resources=[
            FileRef(
                name="genes.gff3", key="refs/GRCh38/genes.gff3", size=51_000_000, sha256="ef" * 32
            )
        ],
        parameters={"threads": 8, "markdup": True},
        tools={"bwa-mem2": "2.2.1", "samtools": "1.19"},
        outputs=[
            FileRef(
                name=f"{sample}.cram",
                key=f"work/align/{sample}/e5f6a7b8/{sample}.cram",
                size=12_345_678_901,
                sha256="01" * 32,
                subject=sample,
            ),
            FileRef(
                name=f"qc/{sample}.flagstat.txt",
                key=f"work/align/{sample}/e5f6a7b8/qc/{sample}.flagstat.txt",
                size=512,
                sha256="23" * 32,
            ),
        ],
        summary={"reads": 812_000_000, "mapped": 0.998},
        reason="event",
        published_to=f"review/APHP/{sample}/",
        marks_publication=True,
        **common,
    )
    return [run_manifest.to_json(), align.to_json()]


def check_manifest(data: bytes) -> None:
    """Read through ManifestStore.get, then use it as the planner and runner do."""
    key = _LAYOUT.manifest_key("align", "SQ26-0001", 3)
    manifests = ManifestStore(_OneObjectStore(key, data), _LAYOUT)  # type: ignore[arg-type]
    with _naming(key):
        manifest = manifests.get(key)
    manifest.publication_complete(True)
    manifest.duration_s  # noqa: B018
    for ref in manifest.outputs:
        manifest.output(ref.name)
    manifest.to_json()


def _runtime(key: str, data: bytes) -> Any:
    return SimpleNamespace(store=_OneObjectStore(key, data), layout=_LAYOUT)


def _release_seeds() -> list[bytes]:
    sample = "SQ26-0001"
    outbox = f"outbox/APHP/{sample}/g000002/"
    records = [
        ReleaseRecord(sample=sample, centre="APHP", generation=2, report_attempt="e5f6a7b8",
                      by="dr.martin", reason="reviewed, variants confirmed by Sanger", at=_T0,
                      qc_passed=True, qc_override=False, outbox=outbox,
                      files=(f"{sample}.clinical.json", f"{sample}.clinical.pdf",
                             f"{sample}.report.html")),
        ReleaseRecord(sample=sample, centre="APHP", generation=2, report_attempt="e5f6a7b8",
                      by="dr.durand", reason="coverage below 30x on 2 genes; accepted: "
                      "not in the panel's scope", at=_T0, qc_passed=False, qc_override=True,
                      outbox=outbox, files=(f"{sample}.clinical.json",)),
    ]  # fmt: skip
    return [r.model_dump_json(indent=1).encode() for r in records]


def check_release_record(data: bytes) -> None:
    """``read_release`` as status and ``seqoia release`` call it, and the status line."""
    sample = "SQ26-0001"
    key = _LAYOUT.release_key(sample, 2)
    with _naming(key):
        record = read_release(_runtime(key, data), sample, 2)
    status = ReleaseStatus(sample=sample, generation=2, centre="APHP", qc_passed=True,
                           record=record)  # fmt: skip
    status.describe()


def _family_release_seeds() -> list[bytes]:
    record = FamilyReleaseRecord(
        family="FAM001", centre="APHP", composition="trio + 1 sibling(s)", generation=1,
        analysis_attempt="0f1e2d3c", by="dr.martin", reason="de novo in KMT2D confirmed",
        at=_T0, outbox="outbox/APHP/_family/FAM001/g000001/",
        files=("FAM001.family.json", "FAM001.family.html", "FAM001.family.fhir.json"),
    )  # fmt: skip
    return [record.model_dump_json(indent=1).encode()]


def check_family_release(data: bytes) -> None:
    key = _LAYOUT.family_release_key("FAM001", 1)
    with _naming(key):
        read_family_release(_runtime(key, data), "FAM001", 1)


_PART = f"{RUN}.L1"


def _runtime_for_overrides(folder: Path) -> Runtime:
    """The germline pipeline's runtime on a local store in ``folder`` (a few ms each)."""
    return build_runtime(
        Settings(store_url=f"file://{folder / 'store'}", scratch_dir=folder / "scratch",
                 worker_id="fuzz")
    )  # fmt: skip


def _override_seeds() -> list[bytes]:
    """Overrides as ``seqoia reprocess`` writes them: parameters, a salt, or both."""
    bodies = [
        {"params": {"barcode_mismatches": 0}},
        {"salt": "reprocess-20261203T103000"},
        {"params": {"barcode_mismatches": 2, "include_non_pf": True}, "salt": "force-2"},
    ]
    return [json.dumps(body).encode() for body in bodies]


def check_override(data: bytes) -> None:
    """The planner reads the override of demultiplex for one part, and fingerprints it."""
    with _scratch() as folder:
        rt = _runtime_for_overrides(folder)
        key = rt.layout.override_key("demultiplex", _PART)
        rt.store.put_bytes(key, data)
        with _naming(key):
            rt.planner.plan("demultiplex", _PART).fingerprint  # noqa: B018


class _LeaseStore(_OneObjectStore):
    """A lease exists at the key: a create is refused, a compare-and-swap succeeds."""

    def put_bytes(self, key: str, data: bytes, **conditions: Any) -> str:
        if conditions.get("if_none_match"):
            raise PreconditionFailedError(key)
        return '"etag2"'


_LEASE_KEY = "work/_leases/align/SQ26-0001"


def _lease_seeds() -> list[bytes]:
    """Leases as LeaseKeeper writes them, expired (a dead holder's) so that mutants reach
    the takeover, and one of the attempt that asks again (its create's answer lost)."""
    bodies = [
        {"attempt": "20261201T180411-7f3a", "worker": "worker-7f3a", "started": 1764612251.5,
         "expires": 1764612371.5},
        {"attempt": "20261201T180000-0001", "worker": "seqoia-worker-6d9c8b7f5-x2x9q",
         "started": 1764612000.0, "expires": 1764612120.0},
        {"attempt": "20261203T103000-ours", "worker": "worker-1", "started": 1764757800.0,
         "expires": 1764757920.0},
    ]  # fmt: skip
    return [json.dumps(body).encode() for body in bodies]


def check_lease(data: bytes) -> None:
    """Another attempt meets the lease, then the reconciler's, status's and gc's reads."""
    store = _LeaseStore(_LEASE_KEY, data)
    keeper = LeaseKeeper(store, ttl_s=120.0, worker="worker-2")  # type: ignore[arg-type]
    keeper.acquire(_LEASE_KEY, "20261203T103000-ours")
    lease = read_lease(store, _LEASE_KEY)  # type: ignore[arg-type]
    expires = lease.get("expires", 0.0) if lease is not None else None
    if not isinstance(expires, float | int) or not math.isfinite(expires):
        raise AssertionError(f"read_lease gave {lease!r}")
    expires > time.time()  # noqa: B015 - as the reconciler, status and gc compare it


# -- gene panels -----------------------------------------------------------------------

_MODEL_DIR = Path(tempfile.mkdtemp(prefix="seqoia-fuzz-model-"))
_MODEL = read_gff3(*reversed(write_mini_genome(_MODEL_DIR)))
shutil.rmtree(_MODEL_DIR, ignore_errors=True)

_GENE_LISTS = [
    "#name=Cardiac arrhythmia\n# version: 2.3\n\nGPLUS\n# a comment\nGMINUS\n",
    # As the demo writes them (simulate_annotation.write_gene_panel), with a CRLF variant.
    "#name=Seqoia demo panel\n#version=1.0\nGPLUS\nGMINUS\n",
    "## PanelApp export\r\n#name=Intellectual disability\r\n#version=5.172\r\nGMINUS\r\n",
]
_BEDS = [
    'track name="exome-lite"\nchrT\t30\t50\tGPLUS_exon1\nchrN\t150\t180\tGMINUS\n',
    "#name=Hotspots\n#version=2026-11\nchrT\t20\t50\tGPLUS_exon1\nchrT\t70\t100\tGPLUS_exon2\n"
    "chrT\t120\t160\tGPLUS_exon3\nchrN\t40\t80\tGMINUS|NM_0001.1\nchrN\t100\t130\n",
    'browser position chrT:1-200\ntrack name=regions description="CNV targets"\n'
    "chrT\t0\t200\nchrN\t0\t200\tGMINUS:all\n",
]


def _panel_check(suffix: str) -> Callable[[bytes], None]:
    def check(data: bytes) -> None:
        with _scratch() as folder:
            path = folder / f"panel{suffix}"
            path.write_bytes(data)
            with _naming(path.name):
                panel = read_panel(path, _MODEL)
        for contig, _start, end in panel.regions:  # what the tiering asks of it
            panel.covers(contig, end, _MODEL.transcripts.get("TXP"))

    check.__name__ = f"check_panel{suffix.replace('.', '_')}"
    return check


# -- transcript annotation (GFF3) --------------------------------------------------------

#: The mini genome's GFF3 as Ensembl writes its files: a header, comments, a ``##FASTA``
#: tail, gene_name instead of Name, URL-escaped attributes, CRLF line ends.
_GFF3S = [
    GFF3,
    "##gff-version 3\n##sequence-region chrT 1 200\n#!genome-build mini 1\n"
    + GFF3.replace("##gff-version 3\n", "").replace("Name=GPLUS", "gene_name=GPLUS%3Bv2")
    + "###\n##FASTA\n>chrT\nACGT\n",
    GFF3.replace("\n", "\r\n")
    .replace("ID=gene:GM;Name=GMINUS", "ID=GM;Name=GMINUS")
    .replace("Parent=gene:GM", "Parent=GM"),
]


def _gff3_check(suffix: str) -> Callable[[bytes], None]:
    def check(data: bytes) -> None:
        with _scratch() as folder:
            fasta, _ = write_mini_genome(folder)
            path = folder / f"genes{suffix}"
            path.write_bytes(data)
            with _naming(path.name):
                model = read_gff3(path, fasta)
        for transcript in model.transcripts.values():  # what annotation asks of it
            transcript.gene  # noqa: B018

    check.__name__ = f"check_gff3{suffix.replace('.', '_')}"
    return check


_CLINVAR = (
    "##fileformat=VCFv4.1\n##reference=GRCh38\n"
    '##INFO=<ID=CLNSIG,Number=.,Type=String,Description="significance">\n'
    '##INFO=<ID=CLNREVSTAT,Number=.,Type=String,Description="review status">\n'
    '##INFO=<ID=GENEINFO,Number=1,Type=String,Description="genes">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    "chrT\t10\t1001\tG\tA\t.\t.\tCLNSIG=Pathogenic;"
    "CLNREVSTAT=criteria_provided,_single_submitter;GENEINFO=GPLUS:1\n"
    "chrT\t50\t1002\tC\tT,G\t.\t.\tCLNSIG=Benign;CLNREVSTAT=reviewed_by_expert_panel;"
    "GENEINFO=GPLUS:1|GMINUS:2\n"
    "chrN\t100\t1003\tC\tA\t.\t.\tCLNSIG=Likely_pathogenic\n"
)
_GNOMAD = (
    "##fileformat=VCFv4.2\n##contig=<ID=chrT,length=200>\n##contig=<ID=chrN,length=200>\n"
    "##contig=<ID=chr1,length=248956422>\n"
    '##INFO=<ID=AF,Number=A,Type=Float,Description="allele frequency">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    "chrT\t10\t.\tG\tA\t.\tPASS\tAF=0.001\n"
    "chrT\t50\t.\tC\tT,G\t.\tPASS\tAF=0.2,.\n"
)
#: What annotation asks: alleles present in the seeds, one absent, one on an absent contig.
_LOOKUPS = (("chrT", 10, "G", "A"), ("chrT", 50, "C", "G"), ("chrN", 100, "C", "A"),
            ("chrT", 150, "A", "C"), ("chr1", 5, "A", "C"))  # fmt: skip


def _resource_check(population: bool) -> Callable[[bytes], None]:
    def check(data: bytes) -> None:
        with _scratch() as folder:
            fasta, _ = write_mini_genome(folder)
            text, path = folder / "resource.vcf", folder / "resource.vcf.gz"
            text.write_bytes(data)
            try:  # the laboratory's install step: bgzip, then tabix
                pysam.tabix_compress(str(text), str(path))
                pysam.tabix_index(str(path), preset="vcf")
            except (OSError, ValueError):
                return
            with _naming(path.name):
                if population:
                    with PopulationResource(path, fasta, "GRCh38") as gnomad:
                        for allele in _LOOKUPS:
                            gnomad.allele_frequency(*allele)
                else:
                    with ClinvarResource(path, fasta, "GRCh38") as clinvar:
                        for allele in _LOOKUPS:
                            found = clinvar.lookup(*allele)
                            if found is not None:
                                found.is_pathogenic  # noqa: B018

    check.__name__ = "check_gnomad_vcf" if population else "check_clinvar_vcf"
    return check


KINDS: dict[str, FuzzKind] = {
    "sheet_clinical": FuzzKind([s.encode() for s in _SHEETS], check_sheet_clinical, _CLEAN),
    "manifest": FuzzKind(_manifest_seeds(), check_manifest, _CLEAN),
    "release_record": FuzzKind(_release_seeds(), check_release_record, _CLEAN),
    "family_release": FuzzKind(_family_release_seeds(), check_family_release, _CLEAN),
    "override": FuzzKind(_override_seeds(), check_override, _CLEAN),
    "lease": FuzzKind(_lease_seeds(), check_lease, (StageBusyError,)),
    "gff3": FuzzKind([g.encode() for g in _GFF3S], _gff3_check(".gff3"), _CLEAN),
    "gff3_gz": FuzzKind(
        [gzip.compress(g.encode(), mtime=0) for g in _GFF3S], _gff3_check(".gff3.gz"), _CLEAN
    ),
    "panel_list": FuzzKind([p.encode() for p in _GENE_LISTS], _panel_check(".tsv"), _CLEAN),
    "panel_bed": FuzzKind([b.encode() for b in _BEDS], _panel_check(".bed"), _CLEAN),
    "panel_bed_gz": FuzzKind(
        [gzip.compress(b.encode(), mtime=0) for b in _BEDS], _panel_check(".bed.gz"), _CLEAN
    ),
    "clinvar_vcf": FuzzKind([_CLINVAR.encode()], _resource_check(population=False), _CLEAN),
    "gnomad_vcf": FuzzKind([_GNOMAD.encode()], _resource_check(population=True), _CLEAN),
}
