"""No patient identity leaves the sample sheet (invariant 6, issue 12).

A whole run on the embedded defaults (local-folder store, memory broker), whose
Sample_Names are recognisable fake patient names and whose on-board FASTQ are named
after them (as bcl2fastq names them when Sample_Name is filled). Afterwards every object
in the store (decompressed where it is gzip, BGZF, CRAM or zip), every log line at every
level and the ``/metrics`` text are searched for the names: only the inbox's sample
sheet, and the inbox keys the sequencer chose, may hold them.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import zipfile
from pathlib import Path

import pysam
import pytest
from prometheus_client import generate_latest

from seqoia.admin.lineage import LineageReader
from seqoia.admin.refarea import reference_area, upload_reference_area
from seqoia.engine.runtime import Runtime, build_runtime
from seqoia.genomics.simulate import simulate_reads, simulate_reference, simulate_variants
from seqoia.genomics.simulate_annotation import simulate_annotation
from seqoia.metrics import local_registry
from seqoia.settings import Settings
from seqoia.vocabulary import is_source_alias
from seqoia.workers.embedded import EmbeddedWorkers

RUN = "261202_A00123_0077_AHPHITESTX"
FASTQ_DIR = "Alignment_1/Fastq/Project1"  # on-board conversion, MiSeq-style
#: Sample_ID (pseudonymous), Sample_Name (a patient), file-name form of the Sample_Name.
PATIENTS = [
    ("PHI-001", "DUPONT^Marie", "DUPONT_Marie"),
    ("PHI-002", "MARTIN-Jean", "MARTIN-Jean"),
    ("PHI-003", "LEFEBVRE^Zoe", "LEFEBVRE_Zoe"),  # her R1 is truncated: she fails
]
#: FASTQ in the run folder of nobody in the sheet.
STRAY = "GARNIER_Paul"
#: Surnames long enough not to occur by chance (minified JavaScript holds a ``Zoe``).
NEEDLES = [b"DUPONT", b"MARTIN-Jean", b"LEFEBVRE", b"GARNIER"]


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("phi")
    reference = root / "genome.fa"
    simulate_reference(reference, contigs={"chr1": 60_000, "chr2": 40_000}, seed=21)
    simulate_annotation(reference, root / "annotation", seed=21)  # genes for `annotate`
    variants = simulate_variants(reference, seed=22)
    fastq = root / RUN / FASTQ_DIR
    fastq.mkdir(parents=True)
    for number, (_sid, _name, file_name) in enumerate(PATIENTS, start=1):
        r1, r2 = _pair(fastq, file_name, number)
        simulate_reads(reference, variants, r1, r2, coverage=8, seed=30 + number)
    broken = _pair(fastq, PATIENTS[2][2], 3)[0]
    broken.write_bytes(broken.read_bytes()[:-3000])
    simulate_reads(reference, variants, *_pair(fastq, STRAY, 9), coverage=1, seed=40)
    rows = "\n".join(
        f"{sid},{name},Project1,1,{index},{index2},APHP"
        for (sid, name, _), index, index2 in zip(
            PATIENTS,
            ("ACGTACGT", "CATGCATG", "GTCAGTCA"),
            ("TTGGCCAA", "GGAATTCC", "CCTTAAGG"),
            strict=True,
        )
    )
    (root / RUN / "SampleSheet.csv").write_text(
        "[Header]\nIEMFileVersion,4\n\n[Reads]\n100\n100\n\n[Data]\n"
        "Sample_ID,Sample_Name,Sample_Project,Lane,index,index2,Centre\n" + rows + "\n"
    )
    (root / RUN / "CopyComplete.txt").write_text("")
    return root


def _pair(folder: Path, name: str, number: int) -> tuple[Path, Path]:
    return tuple(folder / f"{name}_S{number}_L001_R{r}_001.fastq.gz" for r in (1, 2))  # type: ignore[return-value]


def _drop(runtime: Runtime, root: Path) -> str:
    notes = root / "annotation"
    area = reference_area(notes / "genes.gff3", {"demo": notes / "panel.tsv"})
    upload_reference_area(runtime.store, runtime.layout, "demo", root / "genome.fa", area)
    run = root / RUN
    files = sorted(p for p in run.rglob("*") if p.is_file() and p.name != "CopyComplete.txt")
    for path in [*files, run / "CopyComplete.txt"]:
        runtime.store.upload_file(
            runtime.layout.run_prefix(RUN) + path.relative_to(run).as_posix(), path
        )
    return runtime.layout.run_prefix(RUN) + "CopyComplete.txt"


def _gunzip(data: bytes) -> bytes:
    """As much as decompresses: one FASTQ here is truncated on purpose."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as handle:
        try:
            while block := handle.read(1 << 16):
                out.write(block)
        except EOFError:
            pass
    return out.getvalue()


def _readable(data: bytes, reference: Path, spill: Path) -> list[bytes]:
    """The bytes of an object and, for compressed formats, what they decompress to."""
    texts = [data]
    if data[:2] == b"\x1f\x8b":  # gzip and BGZF (FASTQ, VCF, the HTML's assets)
        texts.append(_gunzip(data))
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            texts.extend(archive.read(name) for name in archive.namelist())
    if data[:4] == b"CRAM":
        spill.write_bytes(data)  # pysam reads CRAM from a path
        with pysam.AlignmentFile(str(spill), "rc", reference_filename=str(reference)) as aln:
            texts.append(str(aln.header).encode())
            texts.extend(read.to_string().encode() for read in aln.fetch(until_eof=True))
    return texts


def test_patient_names_stay_in_the_sample_sheet(
    run_folder: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = Settings(
        store_url=f"file://{tmp_path}/store", scratch_dir=tmp_path / "scratch", max_retries=0
    )
    runtime = build_runtime(settings)
    marker = _drop(runtime, run_folder)
    with EmbeddedWorkers(runtime, threads=2) as workers:
        workers.actors.notify(marker)
        workers.wait_idle(timeout_s=600)

    # The run went through: two patients delivered, the third failed by Sample_ID.
    for sid, _, _ in PATIENTS[:2]:
        assert runtime.manifests.latest("deliver", sid) is not None, sid
    failure = runtime.store.get_text(runtime.layout.failure_key("align", "PHI-003"))
    assert "PHI-003_S3_L001_R1_001.fastq.gz" in failure
    validated = runtime.manifests.latest("validate_run", RUN)
    assert validated is not None and any("1 FASTQ file(s)" in w or "2 FASTQ file(s)" in w
                                         for w in validated.summary["warnings"])  # fmt: skip

    assert any(is_source_alias(ref.name) for ref in validated.sources)
    # The lineage of a patient-named inbox file still finds the runs that read it, and
    # (beside the key asked about) names no one: that is what another patient's shows.
    asked = f"{runtime.layout.run_prefix(RUN)}{FASTQ_DIR}/DUPONT_Marie_S1_L001_R1_001.fastq.gz"
    lineage = json.dumps(LineageReader(runtime).of_key(asked).to_json())
    assert "validate_run" in lineage
    assert lineage.count("DUPONT") == json.dumps(asked).count("DUPONT")
    inbox = runtime.layout.run_prefix(RUN)
    reference = run_folder / "genome.fa"
    leaks: list[str] = []
    seen = 0
    for info in runtime.store.list(""):
        if info.key.startswith(inbox):
            continue  # what the sequencer wrote, names and all: the only place allowed
        seen += 1
        leaks += [f"key {info.key}" for n in NEEDLES if n in info.key.encode()]
        data, _ = runtime.store.get_bytes(info.key)
        for text in _readable(data, reference, tmp_path / "spill.cram"):
            leaks += [f"{info.key}: {n.decode()}" for n in NEEDLES if n in text]
    assert seen > 50  # manifests, outputs, links, deliveries: the search covered the run
    assert not leaks, leaks

    assert len(caplog.records) > 20  # every level, every logger, tracebacks included
    logged = caplog.text.encode()
    assert not [n for n in NEEDLES if n in logged], caplog.text
    exposition = generate_latest(local_registry())
    assert b"seqoia_stage" in exposition
    assert not [n for n in NEEDLES if n in exposition]


def test_a_sheet_with_sample_id_and_sample_name_swapped_fails_without_naming_anyone(
    run_folder: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = Settings(
        store_url=f"file://{tmp_path}/store", scratch_dir=tmp_path / "scratch", max_retries=0
    )
    runtime = build_runtime(settings)
    inbox = runtime.layout.run_prefix(RUN)
    fastq = run_folder / RUN / FASTQ_DIR
    for path in sorted(fastq.iterdir()):
        runtime.store.upload_file(f"{inbox}{FASTQ_DIR}/{path.name}", path)
    runtime.store.put_bytes(
        inbox + "SampleSheet.csv",
        b"[Header]\nIEMFileVersion,4\n\n[Reads]\n100\n100\n\n[Data]\n"
        b"Sample_Name,Sample_ID,Sample_Project,Lane,index,index2,Centre\n"
        b"PHI-001,DUPONT^Marie,Project1,1,ACGTACGT,TTGGCCAA,APHP\n",
    )
    runtime.store.put_bytes(inbox + "CopyComplete.txt", b"")
    with EmbeddedWorkers(runtime, threads=1) as workers:
        workers.actors.notify(inbox + "CopyComplete.txt")
        workers.wait_idle(timeout_s=120)

    record = runtime.store.get_text(runtime.layout.failure_key("validate_run", RUN))
    assert '"permanent": true' in record
    assert "SampleSheet.csv:10" in record and "column Sample_ID" in record  # row and column
    assert "DUPONT" not in record
    assert "SampleSheetError" in caplog.text
    assert "DUPONT" not in caplog.text
