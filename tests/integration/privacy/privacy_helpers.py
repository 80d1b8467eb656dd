"""Events for the privacy race tests: a user's views, and storing them as a worker gets them."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from tastemaker.workspace import Workspace


def view_events(prefix: str, user: str, items: list[str], at: datetime) -> pl.DataFrame:
    """``user`` viewing ``items`` one second apart from ``at``; ids ``<prefix><n>``."""
    return pl.DataFrame({
        "event_id": [f"{prefix}{i}" for i in range(len(items))], "user_id": [user] * len(items),
        "type": ["view"] * len(items), "item_id": items,
        "timestamp": [(at + timedelta(seconds=i)).isoformat() for i in range(len(items))],
    })  # fmt: skip


def append(ws: Workspace, frame: pl.DataFrame) -> pl.DataFrame:
    """Store events; return them as stored (pseudonymized, with seq), as a worker gets them."""
    last = ws.store.last_seq()
    ws.ingestor.ingest_events(frame, "t")
    return ws.store.events(after_seq=last)
