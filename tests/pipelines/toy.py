"""A toy pipeline with fan-out and fan-in, for engine tests: no genomics, same mechanics.

    ingest (run, source) -> process (sample) -> joint (family, fan-in over members)
                                             -> tally (run, fan-in over the run's samples)

A run folder holds ``samples.tsv`` (``sample<TAB>family<TAB>text``) and ``CopyComplete.txt``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from seqoia.errors import InputError
from seqoia.tasks.stage import Pipeline, StageContext, StageResult
from seqoia.vocabulary import Relation
from tests.pipelines.run_folder import run_folder_stage

pipeline = Pipeline("toy", import_path="tests.pipelines.toy:pipeline")


@run_folder_stage(pipeline, "ingest")
def ingest(ctx: StageContext) -> StageResult:
    assert ctx.source_dir is not None
    relations, file_subjects = [], {}
    for number, line in enumerate((ctx.source_dir / "samples.tsv").read_text().splitlines(), 1):
        try:
            sample, family, text = line.split("\t")
        except ValueError:
            raise InputError(
                "expected 3 tab-separated columns", run=ctx.subject, file="samples.tsv", line=number
            ) from None
        (ctx.out_dir / f"{sample}.txt").write_text(text)
        file_subjects[f"{sample}.txt"] = sample
        relations.append(
            Relation(kind="run", subject=ctx.subject, other_kind="sample", other=sample)
        )
        if family != "-":
            relations.append(
                Relation(kind="run", subject=ctx.subject, other_kind="family", other=family)
            )
            relations.append(
                Relation(kind="family", subject=family, other_kind="sample", other=sample)
            )
    return StageResult(
        relations=relations, file_subjects=file_subjects, summary={"samples": len(file_subjects)}
    )


class ProcessParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    sleep_s: float = 0.0
    suffix: str = "!"
    #: When set, each attempt leaves a file here, so tests can count attempts.
    trace_dir: str = ""


@pipeline.stage(
    "process", kind="sample", needs=["ingest"], version="1", params=ProcessParams, queue="samples"
)
def process(ctx: StageContext) -> StageResult:
    if ctx.params.trace_dir:
        Path(ctx.params.trace_dir, f"{ctx.subject}.{os.getpid()}.{time.time_ns()}").touch()
    texts = [path.read_text() for s in ctx.inputs["ingest"] for path in s.files.values()]
    if any("FAIL" in t for t in texts):
        raise InputError("sample text asks to fail", file=f"{ctx.subject}.txt")
    # Write slowly, in pieces, so a kill mid-stage leaves partial local files behind.
    out = ctx.out_dir / f"{ctx.subject}.out"
    with out.open("w") as handle:
        for text in texts:
            handle.write(text.upper())
            handle.flush()
            time.sleep(ctx.params.sleep_s)
        handle.write(ctx.params.suffix)
    return StageResult(summary={"pid": os.getpid()}, tools={"python": "3"})


@pipeline.stage(
    "joint", kind="family", needs=["process"], version="1", isolation="inline", queue="families"
)
def joint(ctx: StageContext) -> StageResult:
    parts = sorted((s.subject, s.file(".out").read_text()) for s in ctx.inputs["process"])
    (ctx.out_dir / f"{ctx.subject}.joint.txt").write_text(
        "\n".join(f"{subject}:{text}" for subject, text in parts)
    )
    return StageResult(summary={"members": [subject for subject, _ in parts]})


@pipeline.stage(
    "tally", kind="run", needs=["process"], version="1", isolation="inline", queue="runs"
)
def tally(ctx: StageContext) -> StageResult:
    total = sum(len(s.file(".out").read_text()) for s in ctx.inputs["process"])
    (ctx.out_dir / "tally.txt").write_text(str(total))
    return StageResult(summary={"chars": total, "samples": len(ctx.inputs["process"])})
