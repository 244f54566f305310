"""`seqoia doctor`: check the configured store and broker before they serve patients.

Prints one line per check with its verdict (ok / warn / fail) and exits 1 when any check
fails. ``seqoia worker`` runs the store checks at start-up through :func:`guard_store`
and refuses to start on a failure unless ``--unsafe-store`` is given.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from seqoia.engine.notifications import check_notifications, store_key_filters
from seqoia.engine.runtime import DEFAULT_PIPELINE, Runtime, load_pipeline
from seqoia.errors import UnsafeStoreError
from seqoia.settings import Settings
from seqoia.storage.base import ObjectStore
from seqoia.storage.selfcheck import Check, check_store, check_versioning, failed
from seqoia.storage.urls import open_store, redact_url
from seqoia.storage.verdict import recent_pass_age_s, record_pass
from seqoia.workers.actors import EVENTS_QUEUE
from seqoia.workers.brokercheck import check_broker

log = logging.getLogger(__name__)

_COLOUR = {"ok": "green", "warn": "yellow", "fail": "red"}

UNSAFE_STORE_HELP = (
    "Start even when the store fails its self-check (create-only or compare-and-swap "
    "writes not enforced, versioned bucket, encryption ignored): two attempts may then "
    "both commit. For diagnosis only."
)


def doctor(
    ctx: typer.Context,
    pipeline: Annotated[
        str, typer.Option("--pipeline", help="Pipeline whose queues and notifications to check")
    ] = DEFAULT_PIPELINE,
    skip_broker: Annotated[
        bool, typer.Option("--skip-broker", metavar="", help="Check the store only")
    ] = False,
) -> None:
    """Check that the store enforces the commit protocol and the broker keeps messages."""
    settings: Settings = ctx.obj
    typer.echo(f"store  {redact_url(settings.store_url)}")
    store = open_store(settings.store_url)
    try:
        checks = check_store(store)
        runtime = Runtime(settings=settings, store=store, pipeline=load_pipeline(pipeline))
        checks.append(check_notifications(store, runtime.layout, store_key_filters(runtime)))
    finally:
        store.close()
    if not skip_broker:
        typer.echo(f"broker {redact_url(settings.broker_url)}")
        queues = {EVENTS_QUEUE, *load_pipeline(pipeline).queues()}
        checks += check_broker(settings.broker_url, sorted(queues))
    for check in checks:
        echo_check(check)
    failures = failed(checks)
    if failures:
        typer.secho(f"{len(failures)} check(s) failed", fg="red", err=True)
        raise typer.Exit(1)
    typer.echo("all checks passed" + (" (with warnings)" if _warned(checks) else ""))


def echo_check(check: Check) -> None:
    """One line: verdict, subject, check name, what was seen."""
    verdict = typer.style(f"{check.verdict:<4}", fg=_COLOUR[check.verdict], bold=True)
    typer.echo(f"{verdict}  {check.subject:<6} {check.name:<24} {check.detail}")


def guard_store(
    store: ObjectStore, *, unsafe: bool, valid_s: float = 0.0, worker: str = ""
) -> list[Check]:
    """Run the store checks at worker start-up; raise UnsafeStoreError on a failure.

    With ``unsafe`` the failures are logged as errors, loudly, and the worker starts.
    With ``valid_s`` > 0, checks that all passed fewer than ``valid_s`` seconds ago on
    this store (``storage/verdict.py``) are not repeated, except bucket versioning; a
    full pass is recorded for the next worker.
    """
    age_s = recent_pass_age_s(store, valid_s)
    if age_s is not None:
        versioning = check_versioning(store)
        if versioning.verdict != "fail":
            log.info(
                "store checks passed %.0f s ago (valid %g s): versioning re-read, rest skipped",
                age_s,
                valid_s,
            )
            return [versioning]
    checks = check_store(store)
    failures = failed(checks)
    for check in checks:
        if check.verdict == "warn":
            log.warning("store check %s: %s", check.name, check.detail)
    if not failures:
        if valid_s > 0:
            record_pass(store, worker)
        return checks
    summary = "; ".join(f"{check.name}: {check.detail}" for check in failures)
    if not unsafe:
        raise UnsafeStoreError(
            f"store {store.url} does not guarantee the commit protocol ({summary}); "
            "fix the store, or start with --unsafe-store to run anyway"
        )
    for check in failures:
        log.error(
            "UNSAFE STORE (--unsafe-store): %s failed: %s; two attempts may both commit",
            check.name,
            check.detail,
        )
    return checks


def _warned(checks: list[Check]) -> bool:
    return any(check.verdict == "warn" for check in checks)
