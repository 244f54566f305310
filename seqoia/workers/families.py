"""Every metric family a seqoia process may serve, for checks of dashboards and alert rules.

Only the workers know them all: seqoia's own families, the broker-level gauges computed at
scrape time and dramatiq's middleware families.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, ProcessCollector

from seqoia.metrics import DRAMATIQ_FAMILIES, SeqoiaMetrics
from seqoia.workers.collectors import COLLECTED_FAMILIES


def exported_families() -> dict[str, str]:
    """Every family a seqoia process may serve, name -> type (for checks of dashboards)."""
    registry = CollectorRegistry()
    SeqoiaMetrics(registry)
    ProcessCollector(registry=registry)
    found = {family.name: family.type for family in registry.collect()}
    found.update(COLLECTED_FAMILIES)
    found.update(DRAMATIQ_FAMILIES)
    return found


_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
}


def exported_sample_names() -> set[str]:
    """The sample (series) names of :func:`exported_families`, as PromQL sees them."""
    return {
        name + suffix
        for name, kind in exported_families().items()
        for suffix in _SUFFIXES.get(kind, ("",))
    }
