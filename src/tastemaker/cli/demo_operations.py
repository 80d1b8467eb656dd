"""The demo's operations steps: API keys, a forget receipt, the audit log, a monitoring report."""

from __future__ import annotations

from pathlib import Path

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


def monitor_traffic(ws: Workspace, users: list[str], report: Path) -> None:
    """Serve ``users`` their recommendations through the engine (impressions logged as
    events), then run the monitoring check on that traffic and write its HTML report."""
    from tastemaker.engine.runtime import Engine
    from tastemaker.monitoring.checks import run_monitor
    from tastemaker.monitoring.workspace_report import write_workspace_report
    from tastemaker.rerank.filters import Filters

    engine = Engine(ws, watch=False)
    try:
        for user in users:
            engine.recommend(user, 10, Filters(), None)
        engine.sink.flush()
    finally:
        engine.close()
    result = run_monitor(ws)
    write_workspace_report(ws, result, report)
    drift = result.drift
    if drift is None:
        verdict = f"no drift verdict ({result.drift_error})"
    else:
        worst = max(drift.features, key=lambda f: f.psi, default=None)
        drifted = sum(f.drifted for f in drift.features)
        verdict = (
            f"{drifted} of {len(drift.features)} features drifted against {drift.version}'s"
            f" reference ({drift.items:,} served items"
            + (f"; largest PSI {worst.psi:.3f} on {worst.feature})" if worst else ")")
        )
    console.print(
        f"[bold]10.[/bold] served {len(users):,} users' lists through the engine; monitoring:"
        f" {verdict}; report {report} (tastemaker monitor)"
    )
