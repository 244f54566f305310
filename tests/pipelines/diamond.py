"""A diamond for the router's "once per change" tests: two siblings joined per sample.

    ingest (run, the toy's) -> process (sample, the toy's) -> quick  (sample, inline)
                                                           -> slow   (sample, inline)
                                                              quick + slow -> join (sample)

``quick`` and ``slow`` both come after ``process`` and neither after the other, as the
germline pipeline's ``annotate`` and ``qc`` before ``report``. ``slow`` sleeps ``sleep_s``
(an override) so that ``quick`` commits first; ``join`` counts its attempts in
``<trace_dir>``. ``slow`` fails for good on a text holding "BAD".
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from seqoia.errors import InputError
from seqoia.tasks.stage import Pipeline, StageContext, StageResult
from tests.pipelines import once, toy

pipeline = Pipeline("diamond", import_path="tests.pipelines.diamond:pipeline")
pipeline.add(toy.pipeline["ingest"])
pipeline.add(toy.pipeline["process"])


class SleepParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    sleep_s: float = 0.0


def _copy(ctx: StageContext, suffix: str) -> StageResult:
    text = ctx.one("process").file(".out").read_text()
    (ctx.out_dir / f"{ctx.subject}.{suffix}").write_text(text)
    return StageResult(summary={"chars": len(text)})


@pipeline.stage(
    "quick", kind="sample", needs=["process"], version="1", isolation="inline", queue="samples"
)
def quick(ctx: StageContext) -> StageResult:
    return _copy(ctx, "quick")


@pipeline.stage(
    "slow",
    kind="sample",
    needs=["process"],
    version="1",
    params=once.TraceParams,
    isolation="inline",
    queue="samples",
)
def slow(ctx: StageContext) -> StageResult:
    once.leave_marker(ctx)  # sleeps sleep_s
    if "BAD" in ctx.one("process").file(".out").read_text():
        raise InputError("the sample's text is bad", file=f"{ctx.subject}.out")
    return _copy(ctx, "slow")


@pipeline.stage(
    "join",
    kind="sample",
    needs=["ingest", "process", "quick", "slow"],
    version="1",
    params=once.TraceParams,
    isolation="inline",
    queue="report",
)
def join(ctx: StageContext) -> StageResult:
    once.leave_marker(ctx)
    quick_text = ctx.one("quick").file(".quick").read_text()
    slow_text = ctx.one("slow").file(".slow").read_text()
    (ctx.out_dir / f"{ctx.subject}.join").write_text(quick_text + slow_text)
    return StageResult(summary={"same": quick_text == slow_text})
