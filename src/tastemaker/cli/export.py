"""`tastemaker export events --format parquet`: the hand-off to batch engines."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from tastemaker.cli.common import WorkspaceOpt, console, fail, opened

app = typer.Typer(help="Export data for batch engines (Spark, DuckDB).", no_args_is_help=True)


@app.command("events")
def events(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path(
        "export/events"
    ),
    fmt: Annotated[str, typer.Option("--format", help="Only parquet is supported.")] = "parquet",
    workspace: WorkspaceOpt = Path("."),
) -> None:
    """Write the event log as Parquet partitioned by date (``date=YYYY-MM-DD/``)."""
    if fmt != "parquet":
        raise fail(f"--format {fmt!r} is not supported (expected parquet)")
    with opened(workspace) as ws:
        frame = ws.store.events().with_columns(pl.col("timestamp").dt.date().alias("date"))
        out.mkdir(parents=True, exist_ok=True)
        frame.write_parquet(out, partition_by="date")
        days = frame["date"].n_unique()
        console.print(f"wrote {frame.height:,} events in {days} daily partitions to {out}")
