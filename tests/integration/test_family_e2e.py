"""Rare-disease families end to end on Redis + S3 (moto's HTTP server): two FASTQ runs in
the inbox, the family report in the review area.

Family FAM1 is split over two runs (the child and the mother in run 1, the father in
run 2); its report names the planted de novo variants. Family SWAP is the same reads
with the child's and the father's tubes swapped: its pedigree checks fail, nothing is put
up for review, and ``seqoia status`` says why, naming both samples. ``seqoia release
family:FAM1`` then moves FAM1's report to the outbox, final; SWAP's is refused. Genome: 100 kb of
autosomes and small chrX/chrY; each member at 30x.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import dramatiq
import pytest
from typer.testing import CliRunner

from seqoia.admin.audit import AuditLog
from seqoia.admin.refarea import reference_area, upload_reference_area
from seqoia.cli import app
from seqoia.engine.runtime import Runtime, build_runtime
from seqoia.genomics.simulate import simulate_reference
from seqoia.genomics.simulate_annotation import simulate_annotation
from seqoia.genomics.simulate_family import FamilyTruth, simulate_family
from seqoia.settings import Settings
from seqoia.workers.actors import declare_actors
from seqoia.workers.broker import build_broker
from tests.fixtures.servers import make_bucket
from tests.integration.engine_helpers import settings_env

RUN1, RUN2 = "261201_A00123_0051_AFAMILYXX1", "261202_A00123_0052_AFAMILYXX2"
FASTQ_DIR = "Analysis/1/Data/fastq"
INDEXES = ["ACGTACGT", "CATGCATG", "GTCAGTCA", "TGCATGCA", "AGTCAGTC", "TTGGCCAA"]


@pytest.fixture(scope="module")
def family_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, FamilyTruth]:
    root = tmp_path_factory.mktemp("family")
    reference = root / "genome.fa"
    simulate_reference(reference, contigs={"chr1": 60_000, "chr2": 40_000}, seed=5,
                       sex_chromosomes=True)  # fmt: skip
    simulate_annotation(reference, root / "annotation", seed=5)
    truth = simulate_family(reference, root / "sim", family="FAM1", seed=5, n_de_novo=8,
                            coverage=30)  # fmt: skip
    reads = {m.role: m for m in truth.members}
    sex = {"XX": "F", "XY": "M"}
    # (sample, family, role, declared sex, whose reads)
    run1 = [(m.sample, "FAM1", m.role, sex[m.sex], m.role) for m in truth.members
            if m.role != "father"]  # fmt: skip
    run1 += [
        ("SWAP-P", "SWAP", "proband", "M", "father"),  # the father's tube labelled as the child
        ("SWAP-M", "SWAP", "mother", "F", "mother"),
        ("SWAP-F", "SWAP", "father", "M", "proband"),
    ]
    father = reads["father"]
    run2 = [(father.sample, "FAM1", "father", "M", "father")]
    for run, rows in ((RUN1, run1), (RUN2, run2)):
        folder = root / run / FASTQ_DIR
        folder.mkdir(parents=True)
        lines = ["[Header]", "FileFormatVersion,2", "", "[BCLConvert_Data]",
                 "Lane,Sample_ID,Index,Centre,Family,Role,Sex"]  # fmt: skip
        for n, (sample, family, role, declared, source) in enumerate(rows, start=1):
            for r, path in ((1, reads[source].r1), (2, reads[source].r2)):
                shutil.copyfile(path, folder / f"{sample}_S{n}_L001_R{r}_001.fastq.gz")
            lines.append(f"1,{sample},{INDEXES[n - 1]},APHP,{family},{role},{declared}")
        (root / run / "SampleSheet.csv").write_text("\n".join(lines) + "\n")
        (root / run / "CopyComplete.txt").write_text("")
    return root, truth


def _drop(runtime: Runtime, root: Path, run: str) -> str:
    run_folder = root / run
    files = sorted(p for p in run_folder.rglob("*") if p.is_file())
    files.sort(key=lambda p: p.name == "CopyComplete.txt")  # the marker last
    for path in files:
        key = runtime.layout.run_prefix(run) + path.relative_to(run_folder).as_posix()
        runtime.store.upload_file(key, path)
    return runtime.layout.run_prefix(run) + "CopyComplete.txt"


def _wait(runtime: Runtime, done: list[tuple[str, str]], failed: list[tuple[str, str]]) -> None:
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        if all(runtime.manifests.latest(*pair) for pair in done) and all(
            runtime.failures.read(*pair) is not None for pair in failed
        ):
            return
        time.sleep(1.0)
    raise AssertionError("the families did not reach their end within 900 s")


def test_a_trio_over_two_runs_is_reported_and_a_swapped_trio_is_stopped(
    family_runs: tuple[Path, FamilyTruth], tmp_path: Path, redis_server: str, s3_server: str
) -> None:
    root, truth = family_runs
    make_bucket(s3_server, "families")
    settings = Settings(
        store_url=f"s3://families?endpoint_url={s3_server}",
        broker_url=redis_server,
        scratch_dir=tmp_path / "scratch",
        max_retries=0,
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
    broker = build_broker(settings)
    actors = declare_actors(broker, runtime)
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=200)
    worker.start()
    try:
        # Run 1 alone: the trio waits for its father's run, the swapped trio fails.
        actors.notify(_drop(runtime, root, RUN1), bucket="families")
        # Run 2 comes later with the father: the family analysis then has all three.
        actors.notify(_drop(runtime, root, RUN2), bucket="families")
        _wait(
            runtime,
            done=[("deliver_family", "FAM1")],
            failed=[("family_analysis", "SWAP")],
        )
    finally:
        worker.stop()
        broker.close()

    analysed = runtime.manifests.latest("family_analysis", "FAM1")
    assert analysed.summary["composition"] == "trio"
    assert sorted(analysed.summary["members"]) == sorted(m.sample for m in truth.members)
    planted = {f"{c}:{p}:{r}>{a}" for c, p, r, a in truth.de_novo}
    assert set(analysed.summary["de_novo"]) <= planted and len(analysed.summary["de_novo"]) >= 4
    prefix = runtime.layout.review_prefix("APHP", "FAM1")
    report = json.loads(runtime.store.get_bytes(prefix + "FAM1.family.json")[0])
    assert report["runs"] == [RUN1, RUN2] and report["composition"] == "trio"
    assert list(runtime.store.list(runtime.layout.review_prefix("APHP", "SWAP"))) == []

    failure = runtime.failures.read("family_analysis", "SWAP")
    assert failure is not None and failure.permanent
    assert "SWAP-M / SWAP-F: declared unrelated, observed parent-child" in failure.message
    env = settings_env(settings) | {"COLUMNS": "400"}
    shown = CliRunner().invoke(app, ["status", RUN1], env=env)
    assert shown.exit_code == 0, shown.stdout
    rows = [line for line in shown.stdout.splitlines() if "family_analysis" in line]
    row = next(line for line in rows if "│ SWAP " in line)
    assert "failed" in row
    assert "trio" in next(line for line in rows if "│ FAM1 " in line)
    assert "SWAP-P / SWAP-M: declared parent-child, observed unrelated" in row
    state = json.loads(CliRunner().invoke(app, ["status", RUN1, "--json"], env=env).stdout)
    fam = {s["subject"]: s for s in state["detail"] if s["stage"] == "family_analysis"}
    assert fam["SWAP"]["state"] == "failed"
    assert "SWAP-M / SWAP-F" in fam["SWAP"]["failure"]["message"]
    assert fam["FAM1"]["state"] == "done" and fam["FAM1"]["composition"] == "trio"
    assert "family:FAM1" in state["awaiting_release"]
    assert "family:SWAP" not in state["awaiting_release"]

    # Sign-off: the family report goes from the review area to the centre's outbox, final.
    def release(target: str, by: str) -> tuple[int, str]:
        args = ["release", target, "--by", by, "--reason", "trio reviewed"]
        result = CliRunner().invoke(app, args, env=env)
        return result.exit_code, " ".join((result.stdout + result.stderr).split())

    code, text = release("family:SWAP", "Dr Lejeune")
    assert code == 2 and "family SWAP: its latest analysis failed" in text
    assert "failed its pedigree checks" in text
    code, text = release("family:FAM1", "Dr Lejeune")
    assert code == 0, text
    generation = analysed.generation
    outbox = runtime.layout.release_prefix("APHP", "FAM1", generation)
    assert f"released family FAM1 (trio) report g{generation} by Dr Lejeune" in text
    written = {i.key.removeprefix(outbox) for i in runtime.store.list(outbox)}
    assert written == {"FAM1.family.json", "FAM1.family.html", "FAM1.family.fhir.json"}
    final = json.loads(runtime.store.get_bytes(outbox + "FAM1.family.json")[0])
    assert final["status"] == "final" and final["release"]["by"] == "Dr Lejeune"
    assert final["title"] == "Family FAM1: trio analysis (final)"
    assert final["analysis"]["de_novo"] == report["analysis"]["de_novo"]
    bundle = json.loads(runtime.store.get_bytes(outbox + "FAM1.family.fhir.json")[0])
    assert {e["resource"].get("status") for e in bundle["entry"]} - {None} == {"final"}
    html = runtime.store.get_bytes(outbox + "FAM1.family.html")[0].decode()
    assert "Released by Dr Lejeune" in html
    # The review area keeps the preliminary report; the record and the audit say who.
    assert report["status"] == "preliminary"
    record = json.loads(
        runtime.store.get_bytes(runtime.layout.family_release_key("FAM1", generation))[0]
    )
    assert (record["by"], record["outbox"], record["composition"]) == ("Dr Lejeune", outbox, "trio")
    audit = AuditLog(runtime.store, runtime.layout).records(limit=5)
    assert (audit[0].command, audit[0].target) == ("release", "family/FAM1")
    after = json.loads(CliRunner().invoke(app, ["status", RUN1, "--json"], env=env).stdout)
    assert "family:FAM1" not in after["awaiting_release"]
    code, text = release("family:FAM1", "Dr Other")
    assert code == 2 and f"generation {generation} was already released by Dr Lejeune" in text
