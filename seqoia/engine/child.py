"""Run one stage function from a request file, in a stage process of its own.

    python -m seqoia.engine.child SCRATCH/request.json

The worker writes ``request.json`` (local paths and parameters only), has its fork server
start a stage process in a new session (``forkserver.py``), so that a time limit can kill it
together with every tool it started, and reads ``result.json``. A crash in native code or
an out-of-memory kill takes down this process, not the worker. The same request can be
replayed by hand with the command above to debug a stage.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import threading
import time
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any

from seqoia.errors import InvalidKeyError, SeqoiaError
from seqoia.tasks.stage import Excluded, InputSet, Pipeline, StageContext, StageResult
from seqoia.vocabulary import Relation


def build_context(pipeline: Pipeline, request: dict[str, Any]) -> tuple[StageContext, Any]:
    """The stage context described by a request."""
    stage = pipeline[request["stage"]]
    inputs = {
        upstream: [
            InputSet(
                stage=item["stage"],
                subject=item["subject"],
                files={name: Path(p) for name, p in item["files"].items()},
                summary=item["summary"],
                tools=item.get("tools", {}),
            )
            for item in items
        ]
        for upstream, items in request["inputs"].items()
    }
    ctx = StageContext(
        stage=stage.name,
        subject=request["subject"],
        kind=stage.kind,
        params=stage.params.model_validate(request["params"]),
        inputs=inputs,
        out_dir=Path(request["out_dir"]),
        scratch=Path(request["scratch"]),
        threads=int(request["threads"]),
        source_dir=Path(request["source_dir"]) if request.get("source_dir") else None,
        source_listing=tuple((n, int(s)) for n, s in request.get("source_listing", [])),
        reference_fasta=Path(request["reference_fasta"])
        if request.get("reference_fasta")
        else None,
        reference_key=request.get("reference_key"),
        cache_dir=Path(request["cache_dir"]) if request.get("cache_dir") else None,
        excluded=tuple(Excluded(**e) for e in request.get("excluded", [])),
        resources={name: Path(p) for name, p in (request.get("resources") or {}).items()},
        completed_at=datetime.fromisoformat(request["completed_at"])
        if request.get("completed_at")
        else None,
    )
    return ctx, stage.fn


def run_request(pipeline: Pipeline, request: dict[str, Any]) -> dict[str, Any]:
    """Run the stage and describe the outcome as JSON-able data (never raises)."""
    try:
        ctx, fn = build_context(pipeline, request)
        result = fn(ctx)
        if not isinstance(result, StageResult):
            raise TypeError(f"stage {ctx.stage} returned {type(result).__name__}, not StageResult")
        return {
            "ok": True,
            "result": {
                "summary": result.summary,
                "tools": result.tools,
                "relations": [r.model_dump() for r in result.relations],
                "file_subjects": result.file_subjects,
                "publish_to": result.publish_to,
            },
        }
    except BaseException as err:  # noqa: BLE001 - everything is reported to the parent
        return {
            "ok": False,
            "error": {
                "type": type(err).__name__,
                "message": str(err),
                "permanent": bool(getattr(err, "permanent", False)),
                "traceback": traceback.format_exc(limit=20),
            },
        }


def check_request_paths(request: dict[str, Any], attempt_dir: Path) -> None:
    """Refuse a request whose working paths leave the attempt's folder (beside it).

    The output, temporary, run and input paths are all made by the runner under the
    attempt's scratch folder; a request edited by hand or built from forged data that
    points elsewhere is refused before any folder is created.
    """
    root = Path(os.path.realpath(attempt_dir))
    paths = [request["out_dir"], request["scratch"]]
    if request.get("source_dir"):
        paths.append(request["source_dir"])
    for items in request["inputs"].values():
        for item in items:
            paths.extend(item["files"].values())
    for path in paths:
        real = Path(os.path.realpath(path))
        if real == root or not real.is_relative_to(root):
            raise InvalidKeyError(f"stage request path {path!r} is outside {attempt_dir}")


def result_from_json(data: dict[str, Any]) -> StageResult:
    return StageResult(
        summary=data["summary"],
        tools=data["tools"],
        relations=[Relation.model_validate(r) for r in data["relations"]],
        file_subjects=data["file_subjects"],
        publish_to=data.get("publish_to"),
    )


def _die_with_parent(parent: int) -> None:
    """Kill this session (the stage and its tools) if the worker disappears."""

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os.killpg(os.getpgrp(), signal.SIGKILL)
            time.sleep(1.0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def serve_request(request_path: Path, *, parent: int) -> int:
    """Run the request and write ``result.json`` beside it; dies if ``parent`` goes away."""
    request = json.loads(request_path.read_text())
    _die_with_parent(parent)
    from seqoia.engine.runtime import load_pipeline

    try:
        pipeline = load_pipeline(request["pipeline"])
        check_request_paths(request, request_path.parent)
        # The worker made it; a request replayed by hand may find it cleaned up.
        Path(request["out_dir"]).mkdir(mode=0o700, parents=True, exist_ok=True)
        Path(request["scratch"]).mkdir(mode=0o700, parents=True, exist_ok=True)
        outcome = run_request(pipeline, request)
    except SeqoiaError as err:
        outcome = {
            "ok": False,
            "error": {
                "type": type(err).__name__,
                "message": str(err),
                "permanent": True,
                "traceback": traceback.format_exc(limit=20),
            },
        }
    outcome["cpu_s"] = _cpu_s()
    tmp = request_path.with_name("result.json.tmp")
    tmp.write_text(json.dumps(outcome, default=str))
    tmp.replace(request_path.with_name("result.json"))
    return 0


def _cpu_s() -> dict[str, float]:
    """User + system seconds of this stage process and of the tools it ran and reaped."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    tools = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "stage": own.ru_utime + own.ru_stime,
        "tools": tools.ru_utime + tools.ru_stime,
    }


def main(argv: list[str]) -> int:
    return serve_request(Path(argv[1]), parent=os.getppid())


if __name__ == "__main__":
    sys.exit(main(sys.argv))
