"""The germline pipeline object that stage modules register into (imported by each of them)."""

from __future__ import annotations

from seqoia.tasks.stage import Pipeline

pipeline = Pipeline("germline", import_path="seqoia.tasks.germline:pipeline")
