"""``seqoia audit``: the audit log of admin actions (who, when, what, why, what it triggered)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.table import Table

from seqoia.commands.admin_common import (
    DEFAULT,
    AdminInputError,
    JsonOption,
    PipelineOption,
    audit_log,
    console,
    guarded,
    human_time,
    print_json,
    runtime_of,
)


def _parse_since(text: str) -> datetime:
    """``7d``, ``12h``, ``30m``, or an ISO date/time (UTC when no zone is given)."""
    units = {"d": "days", "h": "hours", "m": "minutes"}
    if text[:-1].isdigit() and text[-1:] in units:
        return datetime.now(UTC) - timedelta(**{units[text[-1]]: int(text[:-1])})
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise AdminInputError(
            f"--since {text!r}: use 7d, 12h, 30m or an ISO date such as 2025-01-31"
        ) from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


@guarded
def audit(
    ctx: typer.Context,
    since: Annotated[
        str | None, typer.Option(help="Only records since: 7d, 12h, or an ISO date")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many records", min=1)] = 50,
    pipeline: PipelineOption = DEFAULT,
    json_output: JsonOption = False,
) -> None:
    """The audit log of admin actions, newest first."""
    rt = runtime_of(ctx, pipeline)
    records = audit_log(rt).records(since=_parse_since(since) if since else None, limit=limit)
    if json_output:
        print_json([r.to_json() for r in records])
        return
    table = Table(title=f"audit log ({len(records)})", title_justify="left")
    for column in ("when", "who", "command", "target", "reason", "triggered"):
        table.add_column(column, overflow="fold")
    for r in records:
        table.add_row(
            human_time(r.at), r.who, r.command, r.target, r.reason, _triggered(r.triggered)
        )
    console().print(table)


def _triggered(triggered: dict[str, Any]) -> str:
    parts = []
    for name, value in triggered.items():
        parts.append(f"{name}: {len(value)}" if isinstance(value, list) else f"{name}: {value}")
    return "; ".join(parts)
