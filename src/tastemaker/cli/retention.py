"""`tastemaker retention` and `tastemaker consent USER`: the event log's age limit and a
user's opt-out of personalization."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tastemaker.access import cli_actor
from tastemaker.cli.common import WorkspaceOpt, console, fail, opened
from tastemaker.errors import TastemakerError

AsJson = Annotated[bool, typer.Option("--json", help="Print the receipt as JSON.")]


def retention(
    workspace: WorkspaceOpt = Path("."),
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be deleted; delete nothing.")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Delete events older than privacy.retention_days and print the receipt.

    Events (impressions and exposures too), dead letters, acknowledged Redis stream entries
    and shadow-log lines dated before the cut go; profiles are rebuilt from what remains.
    The worker's scheduler runs the same job every privacy.retention_every_hours (or run
    this from cron); running it again is harmless."""
    from tastemaker.privacy.retention import apply_retention

    with opened(workspace) as ws:
        try:
            receipt = apply_retention(ws, dry_run=dry_run, actor=cli_actor())
        except TastemakerError as exc:
            raise fail(f"{exc.message} (what was deleted stays deleted; run it again)") from exc
    out = receipt.to_dict()
    if as_json:
        console.print_json(json.dumps(out))
        return
    if receipt.retention_days is None:
        console.print("retention is off (privacy.retention_days: null): nothing was deleted")
        return
    verb = "would delete" if dry_run else "deleted"
    table = Table("where", verb, title=f"retention: before {receipt.cut}")
    for place, n in sorted(out["deleted"].items()):
        table.add_row(place, f"{n:,}")
    console.print(table)
    notes = [f"{receipt.total:,} rows, entries and lines {verb}",
             f"{receipt.users_affected:,} users had events before the cut"]  # fmt: skip
    if receipt.profiles_rebuilt is not None:
        notes.append(f"{receipt.profiles_rebuilt:,} profiles rebuilt")
    if receipt.stream_entries_pending:
        notes.append(f"{receipt.stream_entries_pending:,} stream entries wait for the workers")
    console.print("; ".join(notes))


def consent(
    user: Annotated[str, typer.Argument(help="The user's id as the shop knows it.")],
    opt_out: Annotated[
        bool | None,
        typer.Option("--opt-out/--opt-in", help="Opt the user out of personalization, or in."),
    ] = None,
    workspace: WorkspaceOpt = Path("."),
    as_json: AsJson = False,
) -> None:
    """Show or change a user's opt-out of personalization.

    Without an option it shows the user's choice. --opt-out: their events build no profile,
    their profile is deleted and they get non-personalized lists; --opt-in undoes it."""
    from tastemaker.privacy.consent import get_consent, set_consent

    with opened(workspace) as ws:
        try:
            if opt_out is None:
                out: dict[str, object] = {"personalization": get_consent(ws, user)}
            else:
                receipt = set_consent(ws, user, not opt_out, cli_actor())
                out = receipt.to_dict()
                out["personalization"] = out.pop("consent")
        except TastemakerError as exc:
            raise fail(exc.message) from exc
    if as_json:
        console.print_json(json.dumps(out))
    elif opt_out is None:
        console.print(f"personalization: {'on' if out['personalization'] else 'off (opted out)'}")
    else:
        state = "opted out of" if opt_out else "opted in to"
        console.print(f"{out['subject']} {state} personalization at {out['at']}; deleted "
                      f"{out['deleted'] or 'nothing'}; every process applies it within "
                      f"{out['applies_within_seconds']} s")  # fmt: skip
