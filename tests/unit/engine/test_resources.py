"""Reference-area resources and the run's completion time, planned and given to stages.

A stage declares the files of ``refs/<name>/`` it reads besides the genome; the planner
waits for a required one, not for an optional one, lists a folder, and puts their ETags
in the fingerprint; the runner gives the stage local copies and records them in the
manifest. A root stage with markers gets the marker's store time as ``completed_at``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seqoia.engine.runner import StageRunner
from seqoia.engine.runtime import Runtime, build_runtime
from seqoia.errors import DeclarationError
from seqoia.settings import Settings
from seqoia.tasks.stage import Pipeline, RunFolderMarkers, StageContext, StageResult

pipeline = Pipeline("resources", import_path=f"{__name__}:pipeline")


@pipeline.stage(
    "look",
    kind="run",
    version="1",
    source=True,
    isolation="inline",
    markers=RunFolderMarkers(("CopyComplete.txt",)),
    resources=("genes.gff3", "clinvar.vcf.gz?", "panels/"),
)
def look(ctx: StageContext) -> StageResult:
    seen = {name: path.read_text() for name, path in sorted(ctx.resources.items())}
    (ctx.out_dir / "seen.json").write_text(json.dumps(seen))
    when = ctx.completed_at.isoformat() if ctx.completed_at else None
    return StageResult(summary={"seen": seen, "completed_at": when})


pipeline.check()


@pytest.fixture
def rt(tmp_path: Path) -> Runtime:
    settings = Settings(store_url=f"file://{tmp_path / 'store'}", scratch_dir=tmp_path / "scratch")
    runtime = build_runtime(settings, pipeline)
    runtime.store.put_bytes("inbox/R1/CopyComplete.txt", b"")
    return runtime


def test_a_missing_required_resource_is_awaited_and_an_optional_one_is_not(rt: Runtime) -> None:
    plan = rt.planner.plan("look", "R1")
    assert plan.waiting_for == ["reference resource refs/demo/genes.gff3"]
    rt.store.put_bytes("refs/demo/genes.gff3", b"##gff-version 3\n")
    plan = rt.planner.plan("look", "R1")
    assert plan.ready and [r.name for r in plan.resources] == ["genes.gff3"]


def test_resource_etags_are_in_the_fingerprint(rt: Runtime) -> None:
    rt.store.put_bytes("refs/demo/genes.gff3", b"##gff-version 3\n")
    first = rt.planner.plan("look", "R1").fingerprint
    rt.store.put_bytes("refs/demo/panels/cardio.txt", b"#name=cardio\nGENE1\n")
    second = rt.planner.plan("look", "R1").fingerprint
    rt.store.put_bytes("refs/demo/genes.gff3", b"##gff-version 3\n# new release\n")
    third = rt.planner.plan("look", "R1").fingerprint
    assert len({first, second, third}) == 3


def test_the_stage_reads_local_copies_and_the_manifest_records_them(rt: Runtime) -> None:
    rt.store.put_bytes("refs/demo/genes.gff3", b"gff")
    rt.store.put_bytes("refs/demo/clinvar.vcf.gz", b"clinvar")
    rt.store.put_bytes("refs/demo/panels/cardio.txt", b"panel")
    outcome = StageRunner(rt).execute("look", "R1")
    manifest = outcome.manifest
    assert manifest is not None
    assert manifest.summary["seen"] == {
        "clinvar.vcf.gz": "clinvar",
        "genes.gff3": "gff",
        "panels/cardio.txt": "panel",
    }
    assert sorted(r.key for r in manifest.resources) == [
        "refs/demo/clinvar.vcf.gz",
        "refs/demo/genes.gff3",
        "refs/demo/panels/cardio.txt",
    ]
    marker = rt.store.head("inbox/R1/CopyComplete.txt")
    assert marker is not None
    assert manifest.summary["completed_at"] == marker.modified.isoformat()
    assert StageRunner(rt).execute("look", "R1").kind == "up_to_date"


def test_a_resource_outside_the_reference_area_is_refused_at_declaration() -> None:
    other = Pipeline("bad")
    with pytest.raises(DeclarationError, match="bad reference resource '../secrets'"):
        other.stage("x", kind="run", version="1", source=True, resources=("../secrets",))(look)
