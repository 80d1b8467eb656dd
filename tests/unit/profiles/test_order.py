"""Issue #12 point 4: live profiles equal a rebuild for any batching, timestamps out of order.

Profiles are a fold over the event log in arrival (``seq``) order; event time places each
event in the timeline and decides the window. So the same events, cut into batches however
the clients sent them, give exactly the profiles `profiles rebuild` computes from the log.
"""

from __future__ import annotations

import random
from pathlib import Path

import polars as pl
import pytest

from tastemaker.datasets.marketplace import generate_marketplace
from tastemaker.workspace import Workspace


def _late_arrivals(seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Marketplace items and events whose arrival order is not their time order: a third of
    the events arrive up to six hours late, some of them after their user's next events."""
    market = generate_marketplace(users=300, items=300, days=4, seed=seed)
    rng = random.Random(seed)
    delays = [rng.randrange(6 * 3_600_000) if rng.random() < 0.33 else 0
              for _ in range(market.events.height)]  # fmt: skip
    arrived = (
        market.events.with_columns(
            (pl.col("timestamp").dt.epoch("ms") + pl.Series(delays)).alias("_arrival")
        )
        .sort("_arrival")
        .drop("_arrival")
    )
    return market.items, arrived


def _batches(events: pl.DataFrame, rng: random.Random, largest: int) -> list[pl.DataFrame]:
    out, start = [], 0
    while start < events.height:
        size = rng.randint(1, largest)
        out.append(events.slice(start, size))
        start += size
    return out


def _stored_states(ws: Workspace) -> dict[str, str]:
    return {key: row.state for key, row in ws.store.load_profiles().items()}


@pytest.mark.parametrize(("seed", "largest"), [(1, 40), (2, 400), (3, 5000)])
def test_live_profiles_equal_a_rebuild_for_any_batching(
    tmp_path: Path, seed: int, largest: int
) -> None:
    items, events = _late_arrivals(seed=7)
    times = events["timestamp"].dt.epoch("ms")
    assert (times.diff().drop_nulls() < 0).sum() > 100, "the arrival order must not be time order"
    ws = Workspace.init(tmp_path / "ws")
    try:
        ws.ingestor.ingest_items(items, "items")
        for batch in _batches(events, random.Random(seed), largest):
            ws.ingestor.ingest_events(batch, "api")
        live = _stored_states(ws)
        members = sum(bool(ws.profiles.segments(k)) for k in live)
        assert len(live) > 100 and members > 30  # segments to compare, not empty profiles
        assert ws.profiles.rebuild() == len(live)
        rebuilt = _stored_states(ws)
        differing = sorted(k for k in live if live[k] != rebuilt.get(k))
        assert differing == [], f"{len(differing)} of {len(live)} profiles differ from a rebuild"
    finally:
        ws.close()
