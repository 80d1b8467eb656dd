"""`tastemaker generate ...`: synthetic data sets written as files that `import` reads."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.table import Table

from tastemaker.cli.common import console, fail
from tastemaker.datasets.marketplace import FileFormat, generate_marketplace, write_marketplace
from tastemaker.errors import TastemakerError

app = typer.Typer(help="Generate synthetic data sets.", no_args_is_help=True)


def window_start(days: int, end: str | None = None, start: str | None = None) -> datetime:
    """First instant of a ``days``-long event window (UTC).

    ``start`` (YYYY-MM-DD) fixes the first day; otherwise the window ends at ``end`` (ISO 8601,
    naive = UTC) or, by default, now rounded down to the minute, so fresh data is recent.

    Raises:
        ValueError: ``start`` or ``end`` does not parse, or both are given.
    """
    if start is not None and end is not None:
        raise ValueError("give --start or --end, not both")
    if start is not None:
        first = date.fromisoformat(start)
        return datetime(first.year, first.month, first.day, tzinfo=UTC)
    last = (
        datetime.now(UTC).replace(second=0, microsecond=0)
        if end is None
        else datetime.fromisoformat(end.replace("Z", "+00:00"))
    )
    last = last if last.tzinfo is not None else last.replace(tzinfo=UTC)
    return last - timedelta(days=days)


@app.command("marketplace")
def marketplace(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder to write the files into.")
    ] = Path("marketplace"),
    users: Annotated[int, typer.Option(min=1, help="Number of users.")] = 5_000,
    items: Annotated[int, typer.Option(min=1, help="Number of items.")] = 2_000,
    days: Annotated[int, typer.Option(min=1, help="Days of events.")] = 30,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same files.")] = 42,
    fmt: Annotated[FileFormat, typer.Option("--format", "-f", help="File format.")] = "parquet",
    start: Annotated[
        str | None, typer.Option(help="First day of the event window (UTC, YYYY-MM-DD).")
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(help="End of the event window (ISO 8601, UTC); default: now (the minute)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
) -> None:
    """Generate a synthetic vehicle-and-goods marketplace: events, items, users, ground truth.

    Users have hidden preferences (fuel type, body type, categories, price sensitivity,
    latent taste; some drift over the period) that drive their sessions of impressions,
    clicks, views, carts, purchases and ratings, with popularity skew and position bias.
    The files are ready for `tastemaker import events|items|users FILE`.
    """
    try:
        first_day = window_start(days, end=end, start=start)
    except ValueError as exc:
        raise fail(
            f"--start {start!r} / --end {end!r} is not a date (expected --start YYYY-MM-DD"
            f" or --end an ISO 8601 time): {exc}"
        ) from exc
    began = time.perf_counter()
    try:
        m = generate_marketplace(users, items, days, seed, start=first_day)
        paths = write_marketplace(m, out, fmt)
    except TastemakerError as exc:
        raise fail(exc.message) from exc
    except OSError as exc:
        raise fail(f"cannot write into '{out}': {exc}") from exc
    seconds = time.perf_counter() - began
    counts = m.events["type"].value_counts(sort=True)
    summary = {
        "events": m.events.height,
        "items": m.items.height,
        "users": m.users.height,
        "by_type": dict(zip(counts["type"], counts["count"], strict=True)),
        "seconds": round(seconds, 2),
        "files": {name: str(path) for name, path in paths.items()},
    }
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    _print_summary(summary, counts, out)


def _print_summary(summary: dict[str, object], counts: pl.DataFrame, out: Path) -> None:
    table = Table(title=f"synthetic marketplace in {summary['seconds']} s", show_header=False)
    for name in ("users", "items", "events"):
        table.add_row(name, f"{summary[name]:,}")
    for kind, count in counts.iter_rows():
        table.add_row(f"  {kind}", f"{count:,}")
    console.print(table)
    files = summary["files"]
    assert isinstance(files, dict)
    for path in files.values():
        console.print(f"wrote {path}")
    console.print("next, into a workspace made by `tastemaker init WORKSPACE`:")
    for kind in ("items", "users", "events"):
        typer.echo(f"  tastemaker import {kind} {files[kind]} -w WORKSPACE")
