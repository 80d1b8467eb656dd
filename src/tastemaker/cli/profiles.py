"""`tastemaker profiles show USER_ID|rebuild`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from tastemaker.cli.common import WorkspaceOpt, console, fail, opened

app = typer.Typer(help="Real-time user profiles.", no_args_is_help=True)


@app.command("show")
def show(
    user_id: Annotated[str, typer.Argument(help="Raw user id (as sent in events).")],
    workspace: WorkspaceOpt = Path("."),
    pseudonym: Annotated[
        bool, typer.Option("--pseudonym", help="USER_ID is already a pseudonym.")
    ] = False,
    timeline: Annotated[int, typer.Option(help="Show at most this many recent events.")] = 20,
) -> None:
    """Print a user's profile (segments, traits, shares, affinities, recent events) as JSON."""
    with opened(workspace) as ws:
        key = user_id if pseudonym else ws.pseudonymizer.one(user_id)
        profile = ws.profiles.get(key)
        if profile is None:
            raise fail(f"user '{user_id}' has no profile", code=1)
        data = profile.to_dict()
        data["timeline"] = data["timeline"][-timeline:] if timeline > 0 else []
        console.print_json(json.dumps(data))


@app.command("rebuild")
def rebuild(workspace: WorkspaceOpt = Path(".")) -> None:
    """Recompute every profile from the event log (and refill the Redis fast path)."""
    with opened(workspace) as ws:
        n = ws.profiles.rebuild()
        console.print(f"rebuilt {n:,} profiles from {ws.store.count_events():,} events")
