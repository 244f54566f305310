"""A pipeline of sleeps in a genome's proportions, for the load simulation (``bench/load.py``).

    validate_run (run) -> demultiplex (run) -> align -> markduplicates -> call_variants
                                                                       -> qc
    call_variants + qc of every member -> analyse_case (family) -> report (family)

Every case is a family subject, a singleton being a family of one, so that singletons,
trios and tumour/normal pairs all end in one ``report`` per case. A run folder holds
``samples.tsv`` (``sample<TAB>case<TAB>case type<TAB>priority<TAB>centre``) and
``CopyComplete.txt``; ``validate_run`` records each sample's priority and centre as the
real one does. Stages sleep their wall time on the platform of ``docs/capacity.md`` (align
2.7 h, call 1.6 h, ...) times ``SEQOIA_LOADSIM_HOUR_S`` real seconds per hour, with ±15 %
spread fixed by the subject's name.
"""

from __future__ import annotations

import os
import time
import zlib

from seqoia.tasks.stage import Pipeline, StageContext, StageResult
from seqoia.vocabulary import Relation
from tests.pipelines.run_folder import run_folder_stage

pipeline = Pipeline("loadsim", import_path="tests.pipelines.loadsim:pipeline")

#: Real seconds per simulated hour (the bench sets it for its workers).
HOUR_S = float(os.environ.get("SEQOIA_LOADSIM_HOUR_S", "0.5"))
#: Wall hours per stage on the year-5 platform's pods (docs/capacity.md).
HOURS = {
    "validate_run": 0.02,
    "demultiplex": 0.6,
    "align": 2.7,
    "markduplicates": 0.15,
    "call_variants": 1.6,
    "qc": 0.5,
    "report": 0.1,
}
#: analyse_case per case type: annotation, joint calling and inheritance, somatic calling.
CASE_HOURS = {"single": 0.3, "trio": 0.6, "pair": 2.0}
#: Isolation of the sleeping stages: "inline" (cheapest), or "process" as the real heavy
#: stages run, which also gives their queues the real prefetch of one message per thread
#: (inline stages' queues count as short: two per thread, see workers/broker.py).
ISOLATION = os.environ.get("SEQOIA_LOADSIM_ISOLATION", "inline")


def sleep_for(stage: str, subject: str, hours: float) -> dict[str, float]:
    """Sleep ``hours`` simulated (±15 % by subject); returns when it ran."""
    spread = 0.85 + 0.3 * (zlib.crc32(f"{stage}/{subject}".encode()) % 1000) / 1000
    started = time.time()
    time.sleep(hours * spread * HOUR_S)
    return {"started": started, "ended": time.time()}


@run_folder_stage(pipeline, "validate_run")
def validate_run(ctx: StageContext) -> StageResult:
    assert ctx.source_dir is not None
    samples, relations, cases = {}, [], {}
    for line in (ctx.source_dir / "samples.tsv").read_text().splitlines():
        sample, case, case_type, priority, centre = line.split("\t")
        samples[sample] = {"sample": sample, "priority": priority, "centre": centre}
        cases[case] = case_type
        relations += [
            Relation(kind="run", subject=ctx.subject, other_kind="sample", other=sample),
            Relation(kind="run", subject=ctx.subject, other_kind="family", other=case),
            Relation(kind="family", subject=case, other_kind="sample", other=sample),
        ]
    timing = sleep_for("validate_run", ctx.subject, HOURS["validate_run"])
    return StageResult(relations=relations, summary={"samples": samples, "cases": cases, **timing})


def _sleeping(name: str, kind: str, needs: list[str], queue: str) -> None:
    def run(ctx: StageContext) -> StageResult:
        return StageResult(summary=sleep_for(name, ctx.subject, HOURS[name]))

    run.__name__ = name
    pipeline.stage(name, kind=kind, needs=needs, version="1", isolation=ISOLATION, queue=queue)(run)


_sleeping("demultiplex", "run", ["validate_run"], "demux")
_sleeping("align", "sample", ["demultiplex"], "align")
_sleeping("markduplicates", "sample", ["align"], "align")
_sleeping("call_variants", "sample", ["markduplicates"], "call")
_sleeping("qc", "sample", ["markduplicates"], "qc")


@pipeline.stage(
    "analyse_case",
    kind="family",
    needs=["call_variants", "qc"],
    version="1",
    isolation=ISOLATION,
    queue="call",
)
def analyse_case(ctx: StageContext) -> StageResult:
    case_type = ctx.subject.split("-", 1)[0]  # the bench names cases single-/trio-/pair-...
    timing = sleep_for("analyse_case", ctx.subject, CASE_HOURS.get(case_type, 0.3))
    return StageResult(summary=timing)


@pipeline.stage(
    "report",
    kind="family",
    needs=["analyse_case"],
    version="1",
    isolation="inline",
    queue="light",
    role="delivery",
)
def report(ctx: StageContext) -> StageResult:
    (ctx.out_dir / f"{ctx.subject}.report.txt").write_text(ctx.subject)
    return StageResult(summary=sleep_for("report", ctx.subject, HOURS["report"]))
