"""`tastemaker audit`: the append-only log of admin actions and deletions; and
`record_cli`, which command-line admin actions call to write their row."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.table import Table

from tastemaker.access import AuditLog, cli_actor
from tastemaker.cli.common import WorkspaceOpt, console, fail, opened


def record_cli(
    workspace: Path, action: str, target: str | None, outcome: str, **detail: Any
) -> None:
    """Write the audit row of a command-line action (actor ``cli:<os user>``)."""
    with opened(workspace) as ws:
        AuditLog(ws.store).record(cli_actor(), action, target, outcome, **detail)


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError as exc:
        raise fail(f"--since '{value}': not a date or time (expected ISO 8601)") from exc
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def audit(
    workspace: WorkspaceOpt = Path("."),
    since: Annotated[
        str | None, typer.Option(help="Rows at or after this time (ISO 8601, UTC if no zone).")
    ] = None,
    limit: Annotated[int, typer.Option(help="Show the newest this many.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """The audit log: every admin action and deletion, who, what, when, outcome.

    Rows are printed oldest first; the outcome is ok, refused (not allowed) or error.
    """
    start = _since(since)
    with opened(workspace) as ws:
        entries = AuditLog(ws.store).entries(start, limit)
    if as_json:
        for e in entries:
            row = {"seq": e.seq, "at": datetime.fromtimestamp(e.at / 1000, UTC).isoformat(),
                   "actor": e.actor, "action": e.action, "target": e.target,
                   "outcome": e.outcome, "detail": orjson.loads(e.detail)}  # fmt: skip
            typer.echo(orjson.dumps(row).decode())
        return
    table = Table(title=f"{len(entries)} audit rows")
    for col in ("seq", "at (UTC)", "actor", "action", "target", "outcome", "detail"):
        table.add_column(col)
    for e in entries:
        at = datetime.fromtimestamp(e.at / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(str(e.seq), at, e.actor, e.action, e.target or "-", e.outcome, e.detail)
    console.print(table)
