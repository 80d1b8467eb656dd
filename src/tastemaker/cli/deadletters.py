"""`tastemaker deadletters list|replay`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tastemaker.cli.common import WorkspaceOpt, console, opened, summary_table
from tastemaker.ingest.deadletters import replay as replay_letters

app = typer.Typer(help="Inspect and replay refused rows.", no_args_is_help=True)


@app.command("list")
def list_(
    workspace: WorkspaceOpt = Path("."),
    limit: Annotated[int, typer.Option(help="Show at most this many.")] = 50,
    all_: Annotated[bool, typer.Option("--all", help="Include replayed ones.")] = False,
) -> None:
    """List dead letters with source, row, field and reason."""
    with opened(workspace) as ws:
        letters = ws.store.dead_letters(include_replayed=all_, limit=limit)
        table = Table(title=f"{len(letters)} dead letters")
        for col in ("id", "kind", "source", "row", "field", "reason", "replayed"):
            table.add_column(col)
        for d in letters:
            table.add_row(
                str(d.id),
                d.kind,
                d.source,
                str(d.row_index),
                d.field,
                d.reason,
                "yes" if d.replayed_at else "",
            )
        console.print(table)


@app.command("replay")
def replay(workspace: WorkspaceOpt = Path(".")) -> None:
    """Send pending dead letters through ingestion again (after fixing config or catalog)."""
    with opened(workspace) as ws:
        letters = ws.store.dead_letters()
        summary = replay_letters(ws.ingestor, letters)
        console.print(summary_table("replay", summary))
        if summary.rejected:
            raise typer.Exit(1)
