"""`tastemaker forget USER`: forget a user everywhere and print the receipt."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tastemaker.access import cli_actor
from tastemaker.cli.common import WorkspaceOpt, console, fail, opened
from tastemaker.errors import TastemakerError


def forget(
    user: Annotated[str, typer.Argument(help="The user's id as the shop knows it.")],
    anonymous_id: Annotated[
        list[str] | None,
        typer.Option(
            "--anonymous-id",
            help="A device or cookie id of the user no identify linked (repeat for more).",
        ),
    ] = None,
    workspace: WorkspaceOpt = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Print the receipt as JSON.")] = False,
) -> None:
    """Forget a user everywhere (events, profile, logs, model rows) and print the receipt.

    Deletes every trace of USER (events, links, profile, dead letters, exposures, logs,
    rows in model versions) and prints what was deleted where; the audit log records it
    under a digest of the user. Running it again is harmless and finishes a failed run."""
    from tastemaker.privacy.forget import forget_user

    with opened(workspace) as ws:
        try:
            receipt = forget_user(ws, user, tuple(anonymous_id or ()), cli_actor())
        except TastemakerError as exc:
            raise fail(f"{exc.message} (what was deleted stays deleted; run it again)") from exc
    out = receipt.to_dict()
    if as_json:
        console.print_json(json.dumps(out))
        return
    table = Table("where", "deleted", title=f"forgotten: {receipt.subject} at {receipt.at}")
    for place, n in sorted(out["deleted"].items()):
        table.add_row(place, f"{n:,}")
    console.print(table)
    console.print(
        f"{receipt.total:,} rows, entries and lines deleted"
        + (" (nothing was left: already forgotten or never seen)" if not receipt.total else "")
    )
