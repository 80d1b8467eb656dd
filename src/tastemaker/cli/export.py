"""`tastemaker export events --format parquet`: the hand-off to batch engines."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from tastemaker.cli.common import WorkspaceOpt, console, opened

app = typer.Typer(help="Export data for batch engines (Spark, DuckDB).", no_args_is_help=True)


class ExportFormat(StrEnum):
    """File formats `export events` writes."""

    parquet = "parquet"


@app.command("events")
def events(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path(
        "export/events"
    ),
    fmt: Annotated[ExportFormat, typer.Option("--format", help="File format.")] = (
        ExportFormat.parquet
    ),
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Write the event log as Parquet partitioned by date (``date=YYYY-MM-DD/``)."""
    with opened(workspace) as ws:
        frame = ws.store.events().with_columns(pl.col("timestamp").dt.date().alias("date"))
        out.mkdir(parents=True, exist_ok=True)
        frame.write_parquet(out, partition_by="date")
        days = frame["date"].n_unique()
        console.print(f"wrote {frame.height:,} events in {days} daily partitions to {out}")
