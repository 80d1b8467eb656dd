"""`tastemaker dataset import movielens|retail|retailrocket PATH -w WORKSPACE`."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from tastemaker.cli.common import WorkspaceOpt, console, fail, opened, summary_table
from tastemaker.datasets._frames import LoadedDataset
from tastemaker.errors import TastemakerError

app = typer.Typer(help="Import public data sets into a workspace.", no_args_is_help=True)

CHUNK = 100_000


class PublicDataset(StrEnum):
    """The public data sets `dataset import` knows (the help lists them)."""

    movielens = "movielens"
    retail = "retail"
    retailrocket = "retailrocket"


def load_public(kind: str, path: Path) -> LoadedDataset:
    """Read a public data set with the matching loader."""
    if kind == "movielens":
        from tastemaker.datasets.movielens import load_movielens

        return load_movielens(path)
    if kind == "retail":
        from tastemaker.datasets.retail import load_online_retail

        return load_online_retail(path)
    if kind == "retailrocket":
        from tastemaker.datasets.retailrocket import load_retailrocket

        return load_retailrocket(path)
    choices = ", ".join(d.value for d in PublicDataset)
    raise fail(f"unknown data set format '{kind}' (choose {choices})")


@app.command("import")
def import_dataset(
    kind: Annotated[PublicDataset, typer.Argument(help="Which public data set.")],
    path: Annotated[Path, typer.Argument(help="Data set folder or file.")],
    workspace: WorkspaceOpt,
) -> None:
    """Convert a public data set and ingest its events, items and users into a workspace."""
    try:
        loaded = load_public(kind.value, path)
    except TastemakerError as exc:
        raise fail(exc.message) from exc
    events = loaded.events
    if "guest_events" in loaded.extras:  # retail invoices without a customer: basket stats only
        events = pl.concat([events, loaded.extras["guest_events"]])
    events = events.with_columns(pl.col("timestamp").dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"))
    with opened(workspace) as ws:
        try:
            for name, frame, ingest in (
                ("items", loaded.items, ws.ingestor.ingest_items),
                ("users", loaded.users, ws.ingestor.ingest_users),
                ("events", events, ws.ingestor.ingest_events),
            ):
                summary = None
                for offset in range(0, max(frame.height, 1), CHUNK):
                    part = ingest(
                        frame.slice(offset, CHUNK), f"{loaded.name}:{name}", first_row=offset + 1
                    )
                    summary = part if summary is None else summary.merge(part)
                if summary is not None:
                    summary.received = frame.height
                    console.print(summary_table(f"{loaded.name} {name}", summary))
        except TastemakerError as exc:
            raise fail(exc.message) from exc
