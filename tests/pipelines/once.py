"""A pipeline for the exactly-once tests: each attempt leaves a marker file.

    ingest (run, the toy's, inline) -> work (sample, stage process) -> hand_over (sample,
    inline, publishes into the review area)

``work`` and ``hand_over`` touch ``<trace_dir>/<stage>.<subject>.<pid>.<ns>`` when their
function runs, then sleep ``sleep_s`` so that duplicates overlap; tests count the markers.
The parameters come from overrides (``work/_overrides``), as a reprocessing would set them.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from seqoia.tasks.stage import Pipeline, StageContext, StageResult
from tests.pipelines import toy

pipeline = Pipeline("once", import_path="tests.pipelines.once:pipeline")
pipeline.add(toy.pipeline["ingest"])


class TraceParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    trace_dir: str = ""
    sleep_s: float = 0.0


def leave_marker(ctx: StageContext) -> None:
    if ctx.params.trace_dir:
        name = f"{ctx.stage}.{ctx.subject}.{os.getpid()}.{time.time_ns()}"
        Path(ctx.params.trace_dir, name).touch()
    time.sleep(ctx.params.sleep_s)


@pipeline.stage(
    "work", kind="sample", needs=["ingest"], version="1", params=TraceParams, queue="samples"
)
def work(ctx: StageContext) -> StageResult:
    leave_marker(ctx)
    text = "".join(p.read_text() for s in ctx.inputs["ingest"] for p in s.files.values())
    (ctx.out_dir / f"{ctx.subject}.work.txt").write_text(text.upper())
    return StageResult(summary={"chars": len(text)})


@pipeline.stage(
    "hand_over",
    kind="sample",
    needs=["work"],
    version="1",
    params=TraceParams,
    publish=True,
    publish_area="review",
    isolation="inline",
    queue="report",
)
def hand_over(ctx: StageContext) -> StageResult:
    leave_marker(ctx)
    text = ctx.one("work").files[f"{ctx.subject}.work.txt"].read_text()
    (ctx.out_dir / f"{ctx.subject}.report.txt").write_text(f"report: {text}\n")
    (ctx.out_dir / f"{ctx.subject}.report.json").write_text('{"ok": true}\n')
    return StageResult(summary={"centre": "C1"}, publish_to=f"C1/{ctx.subject}")
