"""A pipeline whose run records sample priorities, as ``validate_run`` does, for priority tests.

    validate_run (run, source) -> process (sample, sleeps)

A run folder holds ``samples.tsv`` (``sample<TAB>family<TAB>priority[<TAB>centre]``) and
``CopyComplete.txt``. ``process`` sleeps ``sleep_s`` and records when and on which thread
it ran.
"""

from __future__ import annotations

import threading
import time

from pydantic import BaseModel, ConfigDict

from seqoia.tasks.stage import Pipeline, StageContext, StageResult
from seqoia.vocabulary import Relation
from tests.pipelines.run_folder import run_folder_stage

pipeline = Pipeline("prioritised", import_path="tests.pipelines.prioritised:pipeline")


@run_folder_stage(pipeline, "validate_run")
def validate_run(ctx: StageContext) -> StageResult:
    assert ctx.source_dir is not None
    samples, relations = {}, []
    for line in (ctx.source_dir / "samples.tsv").read_text().splitlines():
        sample, family, priority, *rest = line.split("\t")
        centre = rest[0] if rest else "default"
        samples[sample] = {"sample": sample, "priority": priority, "centre": centre}
        relations.append(
            Relation(kind="run", subject=ctx.subject, other_kind="sample", other=sample)
        )
        if family != "-":
            relations.append(
                Relation(kind="family", subject=family, other_kind="sample", other=sample)
            )
    return StageResult(relations=relations, summary={"samples": samples})


class ProcessParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    sleep_s: float = 0.3


@pipeline.stage(
    "process",
    kind="sample",
    needs=["validate_run"],
    version="1",
    params=ProcessParams,
    isolation="inline",
    queue="samples",
)
def process(ctx: StageContext) -> StageResult:
    started = time.time()
    time.sleep(ctx.params.sleep_s)
    (ctx.out_dir / f"{ctx.subject}.out").write_text(ctx.subject)
    thread = threading.current_thread().name
    return StageResult(summary={"started": started, "ended": time.time(), "thread": thread})
