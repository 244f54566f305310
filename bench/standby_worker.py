"""A ``seqoia worker`` started ahead of need: imports done, waiting to be activated.

    python bench/standby_worker.py worker --queue align ...   # then a line on stdin

The load bench's autoscaler (``bench/autoscale.py --standby``) keeps these ready so that
activating a replica costs what a pod's start costs on a cluster whose image is pulled
and whose node is up (the runtime, the broker, the consumer: a fraction of a second),
not an interpreter's start and imports: seconds, which at 3 s per simulated hour would
read as hours of pod start-up. The line on stdin starts the worker with the arguments
given; end of input exits without working.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import boto3  # noqa: E402, F401 - the imports a worker's start-up pays for
import dramatiq.brokers.redis  # noqa: E402, F401

import seqoia.cli  # noqa: E402
import tests.pipelines.loadsim  # noqa: E402, F401


def main() -> None:
    if not sys.stdin.readline():
        return
    # The worker's start-up line and its fork server's time to ready (INFO) for the load
    # bench's activation figures; the rest of the worker logs at its usual level.
    for name in ("seqoia.commands.engine", "seqoia.engine.forkserver"):
        logging.getLogger(name).setLevel(logging.INFO)
    sys.argv = ["seqoia", *sys.argv[1:]]
    seqoia.cli.run()


if __name__ == "__main__":
    main()
