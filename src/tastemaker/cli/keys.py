"""`tastemaker keys create|list|revoke`: the workspace's scoped API keys."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tastemaker.access import AuditLog, KeyRing, cli_actor
from tastemaker.cli.common import WorkspaceOpt, console, err_console, fail, opened
from tastemaker.errors import TastemakerError

app = typer.Typer(
    help="API keys with scopes (ingest, read, admin): create (shown once), list, revoke.",
    no_args_is_help=True,
)


class ScopeName(StrEnum):
    """What a key may do."""

    ingest = "ingest"
    read = "read"
    admin = "admin"


def _when(ms: int | None) -> str:
    return "-" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


@app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="Who uses the key, e.g. shop-frontend.")],
    scope: Annotated[
        list[ScopeName],
        typer.Option(
            "--scope",
            help="ingest: events, catalog, users; read: lists, profiles, propensity; admin: "
            "everything. Repeat for more than one.",
        ),
    ],
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Create a key and print it once (stdout); only its keyed hash is stored."""
    scopes = [s.value for s in scope]
    with opened(workspace) as ws:
        audit = AuditLog(ws.store)
        try:
            created = KeyRing(ws.store, ws.root).create(name, scopes)
        except TastemakerError as exc:
            audit.record(cli_actor(), "keys.create", None, "error", name=name, error=exc.message)
            raise fail(exc.message) from exc
        row = created.row
        audit.record(cli_actor(), "keys.create", row.id, "ok", name=row.name, scopes=row.scopes)
    err_console.print(
        f"key {row.id} '{row.name}' ({', '.join(row.scopes)}): shown once, store it now; "
        "send it as the X-API-Key header"
    )
    typer.echo(created.token)


@app.command("list")
def list_keys(workspace: WorkspaceOpt = Path(".")) -> None:
    """Every key: id, name, scopes, created, revoked, last used (never the secret)."""
    with opened(workspace) as ws:
        rows = KeyRing(ws.store, ws.root).list()
    table = Table(title=f"{len(rows)} API keys")
    for col in ("id", "name", "scopes", "created", "revoked", "last used"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r.id,
            r.name,
            ",".join(r.scopes),
            _when(r.created_at),
            _when(r.revoked_at),
            _when(r.last_used_at),
        )
    console.print(table)


@app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (see `tastemaker keys list`).")],
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Revoke a key: running servers refuse it within serving.key_cache_seconds."""
    with opened(workspace) as ws:
        audit = AuditLog(ws.store)
        try:
            row = KeyRing(ws.store, ws.root).revoke(key_id)
        except TastemakerError as exc:
            audit.record(cli_actor(), "keys.revoke", key_id, "error", error=exc.message)
            raise fail(exc.message) from exc
        audit.record(cli_actor(), "keys.revoke", key_id, "ok", name=row.name)
        wait = ws.settings.serving.key_cache_seconds
    console.print(f"revoked {row.id} '{row.name}' (servers refuse it within {wait:g} s)")
