"""One process-isolated stage that misbehaves on demand, for the stage-process tests.

    ingest (run, the toy's) -> process (sample, in a stage process)

``process`` does what its ``behaviour`` parameter says: finish, start a tool and hang
past its time limit, die by a signal, or report its environment and parentage.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Literal

from pydantic import BaseModel, ConfigDict

from seqoia.tasks.stage import Pipeline, StageContext, StageResult
from tests.pipelines import toy

pipeline = Pipeline("unruly", import_path="tests.pipelines.unruly:pipeline")
pipeline.add(toy.pipeline["ingest"])


class ProcessParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    behaviour: Literal["report", "hang", "crash", "crash_with_tool", "leave_tool"] = "report"
    #: Where ``hang`` and the ``*_tool`` behaviours write the pid of the tool they started,
    #: so a test can check on it.
    pid_file: str = ""


@pipeline.stage(
    "process", kind="sample", needs=["ingest"], version="1", params=ProcessParams,
    time_limit_s=3, queue="samples",
)  # fmt: skip
def process(ctx: StageContext) -> StageResult:
    if ctx.params.behaviour == "hang":
        tool = subprocess.Popen(["sleep", "300"])
        with open(ctx.params.pid_file, "w") as handle:
            handle.write(str(tool.pid))
        tool.wait()
    if ctx.params.behaviour in ("crash_with_tool", "leave_tool"):
        tool = subprocess.Popen(["sleep", "60"])  # in the stage's process group
        with open(ctx.params.pid_file, "w") as handle:
            handle.write(str(tool.pid))
        if ctx.params.behaviour == "crash_with_tool":
            os.kill(os.getpid(), signal.SIGKILL)
    if ctx.params.behaviour == "crash":
        print(f"{ctx.subject}: about to die", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    (ctx.out_dir / f"{ctx.subject}.out").write_text("done")
    return StageResult(
        summary={
            "pid": os.getpid(),
            "parent": os.getppid(),
            "session_leader": os.getsid(0) == os.getpid(),
            "marker": os.environ.get("SEQOIA_TEST_MARKER", ""),
            "cwd": os.getcwd(),
        },
        tools={"python": sys.version.split()[0]},
    )
