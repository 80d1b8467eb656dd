"""Options and helpers shared by the command groups."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tastemaker.errors import TastemakerError
from tastemaker.schema import IngestSummary
from tastemaker.workspace import Workspace


class LogLevel(StrEnum):
    """uvicorn's log levels."""

    critical = "critical"
    error = "error"
    warning = "warning"
    info = "info"
    debug = "debug"
    trace = "trace"


def choice_enum(name: str, values: Iterable[str]) -> type[StrEnum]:
    """A `StrEnum` class called ``name`` with one member per value (member name = value).

    For an option whose choices live in a registry (the model catalog): typer lists the
    members in ``--help`` and refuses any other value with its usual error, exit code 2.
    """
    # Enum's functional API; mypy only types it for literal arguments.
    members = [(value, value) for value in values]
    return StrEnum(name, members)  # type: ignore[return-value]


console = Console()
err_console = Console(stderr=True)

WorkspaceOpt = Annotated[
    Path,
    typer.Option(
        "--workspace",
        "-w",
        envvar="TASTEMAKER_WORKSPACE",
        help="Workspace folder (see `tastemaker init`).",
    ),
]


@contextmanager
def opened(path: Path) -> Iterator[Workspace]:
    """Open a workspace for a command; errors become a clear message and exit code 2."""
    try:
        ws = Workspace.open(path)
    except TastemakerError as exc:
        err_console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from exc
    try:
        yield ws
    finally:
        ws.close()


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print an error and return the Exit to raise."""
    err_console.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def summary_table(title: str, summary: IngestSummary, show: int = 10) -> Table:
    """Render an ingestion summary: counts, rejections by reason and the first rejected rows."""
    table = Table(title=title, show_header=False)
    table.add_row("received", f"{summary.received:,}")
    table.add_row("accepted", f"[green]{summary.accepted:,}[/green]")
    table.add_row("duplicates", f"{summary.duplicates:,}")
    table.add_row("rejected", f"[red]{summary.rejected:,}[/red]" if summary.rejected else "0")
    for reason, count in sorted(summary.rejected_by_reason.items(), key=lambda kv: -kv[1]):
        table.add_row(f"  {reason}", f"{count:,}")
    for r in summary.rejections[:show]:
        table.add_row(f"  row {r.index}", f"{r.reason}")
    return table
