"""The demo's operations step: API keys, a forget receipt and the audit log that records both."""

from __future__ import annotations

import polars as pl

from tastemaker.access import AuditLog, KeyRing, cli_actor
from tastemaker.cli.common import console
from tastemaker.workspace import Workspace

#: The keys a shop would make: its backend sends events, its front end reads lists, ops admin.
DEMO_KEYS = (("shop-backend", ["ingest"]), ("shop-frontend", ["read"]), ("ops", ["admin"]))

_PLACES = {
    "file": "lines in data files",
    "model": "rows in model versions",
    "redis": "Redis entries",
}


def forgettable_user(events: pl.DataFrame, keep: str) -> str:
    """A raw user id with events, other than ``keep`` (the user the demo suggests calls for)."""
    users = events.filter(pl.col("user_id").is_not_null() & (pl.col("user_id") != keep))
    return str(users["user_id"][0])


def operate(ws: Workspace, forget: str) -> None:
    """Create the demo's API keys (secrets not printed: the demo server allows loopback
    callers without a key), forget one user, and show the audit rows both left."""
    from tastemaker.privacy.forget import forget_user

    ring, audit = KeyRing(ws.store, ws.root), AuditLog(ws.store)
    for name, scopes in DEMO_KEYS:
        row = ring.create(name, scopes).row
        audit.record(cli_actor(), "keys.create", row.id, "ok", name=row.name, scopes=row.scopes)
    console.print(
        f"[bold]7.[/bold] created {len(DEMO_KEYS)} API keys ("
        + ", ".join(f"{n}: {'+'.join(s)}" for n, s in DEMO_KEYS)
        + "); only their keyed hashes are stored (tastemaker keys list)"
    )
    receipt = forget_user(ws, forget, (), cli_actor())
    places: dict[str, int] = {}
    for where, n in receipt.deleted.items():  # one line per table; files and models summed
        kind, _, what = where.partition(":")
        place = f"{what} rows" if kind == "store" else _PLACES.get(kind, kind)
        places[place] = places.get(place, 0) + n
    deleted = ", ".join(f"{n:,} {where}" for where, n in sorted(places.items()))
    console.print(
        f"[bold]8.[/bold] forgot a user (tastemaker forget USER): subject {receipt.subject},"
        f" deleted {deleted or 'nothing'}"
    )
    rows = audit.entries()
    console.print(
        f"[bold]9.[/bold] the audit log holds {len(rows)} rows, the last: "
        + "; ".join(f"{e.action} {e.outcome}" for e in rows[-2:])
        + " (tastemaker audit)"
    )
