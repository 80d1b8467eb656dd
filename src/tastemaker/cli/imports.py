"""`tastemaker import events|items|users FILE`: bulk import with progress and a summary."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from tastemaker.cli.common import WorkspaceOpt, console, fail, opened, summary_table
from tastemaker.errors import TastemakerError
from tastemaker.ingest.readers import count_rows, read_batches
from tastemaker.schema import IngestSummary
from tastemaker.workspace import Workspace

app = typer.Typer(
    help="Import events, items or users from CSV, JSON Lines or Parquet.", no_args_is_help=True
)

CHUNK = 20_000
_KINDS = {"events": "event", "items": "item", "users": "user"}
FileArg = Annotated[Path, typer.Argument(help="A .csv (.csv.gz), .jsonl or .parquet file.")]


class RowsPerSecond(ProgressColumn):
    """Rows read so far and the current rate."""

    def render(self, task: Task) -> Text:
        """``12,345 rows  45,678 rows/s``."""
        speed = f"{task.speed:,.0f}" if task.speed else "-"
        return Text(f"{task.completed:,.0f} rows  {speed} rows/s")


def import_file(
    ws: Workspace,
    kind: str,
    path: Path,
    *,
    show_progress: bool = True,
    chunk: int = CHUNK,
    on_progress: Callable[[int], None] | None = None,
) -> IngestSummary:
    """Import one file of ``kind`` (events, items, users), reading and storing it in chunks.

    ``on_progress`` is called with the rows stored so far after every chunk.
    """
    summary = IngestSummary()
    received = 0

    def chunks() -> Iterator[tuple[pl.DataFrame, int]]:
        nonlocal received
        for batch in read_batches(path, chunk):
            yield batch, received + 1
            received += batch.height

    with Progress(
        TextColumn(f"importing {kind}"),
        BarColumn(),
        RowsPerSecond(),
        TimeElapsedColumn(),
        console=console,
        disable=not show_progress,
        transient=True,
    ) as progress:
        task = progress.add_task(kind, total=count_rows(path))
        # The next chunk is read and validated while the store writes the last one.
        for done in ws.ingestor.ingest_chunks(_KINDS[kind], chunks(), path.name):
            summary = summary.merge(done)
            progress.advance(task, done.received)
            if on_progress is not None:
                on_progress(int(progress.tasks[0].completed))
    summary.received = received
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
