"""The toy's run stage, a sample stage that fails on demand, and a tolerant run fan-in.

    ingest (run) -> process (sample) -> census (run, tolerate_failures=True)

``census`` is what a run's MultiQC report is to the germline pipeline: it goes ahead
without the samples that failed permanently and names them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from seqoia.errors import InputError
from seqoia.tasks.stage import Pipeline, StageContext, StageResult
from tests.pipelines import toy

pipeline = Pipeline("tolerant", import_path="tests.pipelines.tolerant:pipeline")
pipeline.add(toy.pipeline["ingest"])  # the toy's run stage, as declared there


class ProcessParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    #: A sample whose text holds this word fails permanently (an override "fixes" it).
    fail_on: str = "FAIL"


@pipeline.stage(
    "process", kind="sample", needs=["ingest"], version="1", params=ProcessParams,
    isolation="inline", queue="samples",
)  # fmt: skip
def process(ctx: StageContext) -> StageResult:
    text = ctx.one("ingest").files[f"{ctx.subject}.txt"].read_text()
    if ctx.params.fail_on in text:
        raise InputError("sample text asks to fail", file=f"{ctx.subject}.txt")
    (ctx.out_dir / f"{ctx.subject}.out").write_text(text.upper())
    return StageResult()


@pipeline.stage(
    "census",
    kind="run",
    needs=["process"],
    version="1",
    isolation="inline",
    tolerate_failures=True,
    queue="runs",
)
def census(ctx: StageContext) -> StageResult:
    return StageResult(
        summary={
            "samples": sorted(s.subject for s in ctx.inputs["process"]),
            "excluded": {e.subject: [e.failed_stage, e.message] for e in ctx.excluded},
        }
    )
