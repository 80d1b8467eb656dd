"""`tastemaker init` and `tastemaker doctor`."""

from __future__ import annotations

from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.table import Table

from tastemaker.cli.common import WorkspaceOpt, console, fail, opened
from tastemaker.config import CONFIG_FILE
from tastemaker.engine.config import PIPELINE_FILE
from tastemaker.errors import TastemakerError
from tastemaker.experiments.store import EXPERIMENTS_DIR
from tastemaker.storage.migrations import latest_version
from tastemaker.workspace import Workspace


class Anonymous(StrEnum):
    """Who may call the API without a key (``serving.allow_anonymous``)."""

    never = "never"
    loopback = "loopback"
    always = "always"


def init(
    directory: Annotated[Path, typer.Argument(help="Folder to create the workspace in.")] = Path(
        "."
    ),
    database: Annotated[
        str | None,
        typer.Option("--database", help="postgresql://... to use PostgreSQL instead of SQLite."),
    ] = None,
    anonymous: Annotated[
        Anonymous,
        typer.Option(
            "--anonymous",
            help="Requests without an API key: loopback (this machine only, for trying it "
            "out), never (a deployment: every client needs a key), always.",
        ),
    ] = Anonymous.loopback,
) -> None:
    """Create a workspace: config file, database and a fresh pseudonymization key (mode 0600)."""
    try:
        ws = Workspace.init(directory, database_url=database, allow_anonymous=anonymous.value)
    except TastemakerError as exc:
        raise fail(exc.message) from exc
    console.print(f"workspace created at [bold]{ws.root}[/bold]")
    console.print(f"  config   {ws.root / CONFIG_FILE} (commented defaults)")
    console.print(f"  store    {ws.store.backend} (schema v{ws.store.schema_version()})")
    console.print(f"  key      {ws.settings.key_path} (mode 0600)")
    console.print(f"  anonymous requests: {ws.settings.serving.allow_anonymous} "
                  "(serving.allow_anonymous; keys: `tastemaker keys create`)")  # fmt: skip
    segments = ws.settings.path(ws.settings.profiles.segments_file)
    console.print(f"  segments {segments} (commented; `tastemaker segments apply` it)")
    console.print(f"  engine   {write_recommendations_template(ws.root)} (commented defaults)")
    experiments = ws.root / EXPERIMENTS_DIR
    experiments.mkdir(exist_ok=True)
    console.print(f"  experiments {experiments}/ (`tastemaker experiments create FILE`)")
    ws.close()


def write_recommendations_template(root: Path) -> Path:
    """Write the commented ``recommendations.yaml`` (every default) unless one exists."""
    target = root / PIPELINE_FILE
    if not target.exists():
        template = resources.files("tastemaker.cli.templates").joinpath(PIPELINE_FILE)
        target.write_text(template.read_text())
    return target


def doctor(workspace: WorkspaceOpt = Path(".")) -> None:
    """Check a workspace: schema version, row counts and events naming unknown items."""
    with opened(workspace) as ws:
        version, expected = ws.store.schema_version(), latest_version()
        table = Table(title=f"tastemaker doctor: {ws.root}", show_header=False)
        ok = version == expected
        table.add_row("store", ws.store.backend)
        table.add_row(
            "schema version",
            f"{version} (code expects {expected})" + ("" if ok else " [red]MISMATCH[/red]"),
        )
        for name, count in ws.store.table_counts().items():
            table.add_row(f"rows in {name}", f"{count:,}")
        events = ws.store.events(types=None)
        items = ws.store.items()
        known = set(items["item_id"].to_list())
        with_item = events.filter(pl.col("item_id").is_not_null())
        unknown = with_item.filter(~pl.col("item_id").is_in(list(known)))
        table.add_row(
            "events naming unknown items",
            f"{unknown.height:,} events, {unknown['item_id'].n_unique():,} item ids"
            + (
                f" (e.g. {', '.join(unknown['item_id'].unique().head(5).to_list())})"
                if unknown.height
                else ""
            ),
        )
        pending = len(ws.store.dead_letters())
        table.add_row("dead letters awaiting replay", f"{pending:,}")
        console.print(table)
        if not ok:
            raise typer.Exit(1)
