"""The runtime: settings, store, layout, manifests, pipeline and planner, built once at the edge."""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from functools import cached_property

from seqoia.engine.planner import Planner
from seqoia.engine.priority import RECORDS_STAGE, Priorities
from seqoia.errors import ConfigurationError
from seqoia.settings import Settings
from seqoia.storage.base import ObjectStore
from seqoia.storage.failures import FailureLog
from seqoia.storage.layout import Layout
from seqoia.storage.manifest import ManifestStore
from seqoia.storage.urls import open_store
from seqoia.tasks.stage import Pipeline

DEFAULT_PIPELINE = "seqoia.tasks.germline:pipeline"


def load_pipeline(import_path: str) -> Pipeline:
    """Import ``module:attribute`` and check that it is a Pipeline."""
    module_name, _, attribute = import_path.partition(":")
    if os.getcwd() not in sys.path:  # as `dramatiq` and `python -m` do: the project's modules
        sys.path.append(os.getcwd())
    try:
        pipeline = getattr(importlib.import_module(module_name), attribute or "pipeline")
    except (ImportError, AttributeError) as err:
        raise ConfigurationError(f"cannot import pipeline {import_path!r}: {err}") from err
    if not isinstance(pipeline, Pipeline):
        raise ConfigurationError(f"{import_path!r} is not a seqoia Pipeline")
    pipeline.check()  # a module that forgot to: its graph fails at start-up, not on an event
    pipeline.import_path = import_path
    return pipeline


@dataclass
class Runtime:
    """What every actor, command and stage runner works against."""

    settings: Settings
    store: ObjectStore
    pipeline: Pipeline

    @cached_property
    def layout(self) -> Layout:
        s = self.settings
        return Layout(inbox=s.inbox_area, work=s.work_area, outbox=s.outbox_area, refs=s.refs_area)

    @cached_property
    def store_concurrency(self) -> int:
        """Requests worth sending to the store at once for one task (links, status, passes).

        A remote store's latency is paid per request, so independent requests overlap; a
        local folder answers in microseconds, where threads only add contention.
        """
        return 1 if self.settings.store_url.startswith("file:") else 16

    @cached_property
    def manifests(self) -> ManifestStore:
        return ManifestStore(self.store, self.layout, concurrency=self.store_concurrency)

    @cached_property
    def failures(self) -> FailureLog:
        return FailureLog(self.store, self.layout)

    @cached_property
    def priorities(self) -> Priorities:
        """Urgent or routine, per subject, from the samples' records (``validate_run``)."""
        records = RECORDS_STAGE if RECORDS_STAGE in self.pipeline.stages else None
        return Priorities(self.manifests, records_stage=records)

    @cached_property
    def planner(self) -> Planner:
        return Planner(
            self.pipeline,
            self.manifests,
            reference=self.settings.reference,
            grace_s=self.settings.rtacomplete_grace_s,
            site_params={"validate_run": {"allowed_centres": sorted(self.settings.centres)}},
        )


def build_runtime(settings: Settings, pipeline: str | Pipeline = DEFAULT_PIPELINE) -> Runtime:
    """Open the store and load the pipeline named in ``pipeline``."""
    if isinstance(pipeline, str):
        pipeline = load_pipeline(pipeline)
    store = open_store(settings.store_url, file_mode=settings.file_mode_bits)
    return Runtime(settings=settings, store=store, pipeline=pipeline)
