"""`tastemaker import events|items|users FILE`: bulk import with progress and a summary."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tastemaker.cli.common import WorkspaceOpt, console, fail, opened, summary_table
from tastemaker.errors import TastemakerError
from tastemaker.ingest.readers import read_table
from tastemaker.schema import IngestSummary
from tastemaker.workspace import Workspace

app = typer.Typer(
    help="Import events, items or users from CSV, JSON Lines or Parquet.", no_args_is_help=True
)

CHUNK = 100_000
_KINDS = {"events": "event", "items": "item", "users": "user"}
FileArg = Annotated[Path, typer.Argument(help="A .csv (.csv.gz), .jsonl or .parquet file.")]


def import_file(
    ws: Workspace, kind: str, path: Path, *, show_progress: bool = True
) -> IngestSummary:
    """Import one file of ``kind`` (events, items, users) into the workspace in chunks."""
    frame = read_table(path)
    chunks = (
        (frame.slice(offset, CHUNK), offset + 1) for offset in range(0, max(frame.height, 1), CHUNK)
    )
    summary = IngestSummary()
    with Progress(
        TextColumn(f"importing {kind}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not show_progress,
        transient=True,
    ) as progress:
        task = progress.add_task(kind, total=frame.height)
        # The next chunk is validated while the store writes the last one.
        for done in ws.ingestor.ingest_chunks(_KINDS[kind], chunks, path.name):
            summary = summary.merge(done)
            progress.advance(task, done.received)
    summary.received = frame.height
    return summary


def _run(kind: str, path: Path, workspace: Path) -> None:
    with opened(workspace) as ws:
        try:
            summary = import_file(ws, kind, path)
        except TastemakerError as exc:
            raise fail(exc.message) from exc
        console.print(summary_table(f"{kind} from {path.name}", summary))
        if summary.rejected:
            console.print(
                f"[yellow]{summary.rejected:,} rows were refused and kept as dead letters:"
                " `tastemaker deadletters list`[/yellow]"
            )
            raise typer.Exit(1)


@app.command("events")
def events(path: FileArg, workspace: WorkspaceOpt = Path(".")) -> None:
    """Import user events (idempotent by event_id; user ids are pseudonymized)."""
    _run("events", path, workspace)


@app.command("items")
def items(path: FileArg, workspace: WorkspaceOpt = Path(".")) -> None:
    """Import or update catalog items (extra columns become attributes)."""
    _run("items", path, workspace)


@app.command("users")
def users(path: FileArg, workspace: WorkspaceOpt = Path(".")) -> None:
    """Import or update users (ids are pseudonymized; extra columns become attributes)."""
    _run("users", path, workspace)
