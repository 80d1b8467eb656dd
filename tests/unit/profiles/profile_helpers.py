"""Tiny catalogs and event frames for profile tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)

ITEMS = pl.DataFrame(
    {
        "item_id": ["ev_suv1", "ev_suv2", "ev_hatch", "d_sedan", "p_hatch", "h_suv", "d_suv"],
        "category": ["cars"] * 7,
        "brand": ["volt", "volt", "zap", "dies", "pet", "hyb", "dies"],
        "price": [45_000.0, 38_000.0, 22_000.0, 15_000.0, 9_000.0, 29_000.0, 31_000.0],
        "fuel_type": ["electric", "electric", "electric", "diesel", "petrol", "hybrid", "diesel"],
        "body_type": ["suv", "suv", "hatchback", "sedan", "hatchback", "suv", "suv"],
        "created_at": [f"2025-12-{d:02d}T00:00:00Z" for d in (1, 5, 3, 2, 4, 6, 7)],
    }
)


def events(
    rows: list[tuple[str, str, str | None]],
    *,
    start: datetime = T0,
    step: timedelta = timedelta(minutes=1),
    prefix: str = "e",
    anonymous: str | None = None,
    session: str = "s1",
) -> pl.DataFrame:
    """Raw events (as the API receives them): rows of (user_id, type, item_id)."""
    n = len(rows)
    return pl.DataFrame(
        {
            "event_id": [f"{prefix}{i}" for i in range(n)],
            "user_id": [r[0] or None for r in rows],
            "anonymous_id": [anonymous] * n,
            "type": [r[1] for r in rows],
            "item_id": [r[2] for r in rows],
            "value": ["10"] * n,
            "timestamp": [(start + step * i).isoformat() for i in range(n)],
            "session_id": [session] * n,
        },
        schema_overrides={"anonymous_id": pl.String, "user_id": pl.String, "item_id": pl.String},
    )


def views(user: str, items: list[str], **kw: object) -> pl.DataFrame:
    """View events of one user over the given items, one minute apart."""
    return events([(user, "view", i) for i in items], **kw)  # type: ignore[arg-type]
