"""Profile persistence, rule versions and stats on every store backend (SQLite, PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from tastemaker.storage.base import ProfileRow
from tastemaker.workspace import Workspace

ITEMS = pl.DataFrame(
    {
        "item_id": ["a", "b", "c"],
        "price": [35_000.0, 8_000.0, 20_000.0],
        "fuel_type": ["electric", "diesel", "electric"],
        "body_type": ["suv", "sedan", "suv"],
    }
)


def _views(user: str, items: list[str]) -> pl.DataFrame:
    t0 = datetime(2026, 2, 1, tzinfo=UTC)
    return pl.DataFrame(
        {
            "event_id": [f"{user}{i}" for i in range(len(items))],
            "user_id": [user] * len(items),
            "type": ["view"] * len(items),
            "item_id": items,
            "timestamp": [(t0 + timedelta(minutes=i)).isoformat() for i in range(len(items))],
        }
    )


def test_profiles_are_durable_and_rebuildable(workspace: Workspace) -> None:
    workspace.ingestor.ingest_items(ITEMS, "t")
    workspace.ingestor.ingest_events(_views("u1", ["a", "c", "a", "b"]), "t")
    key = workspace.pseudonymizer.one("u1")
    stored = workspace.store.load_profiles([key])
    assert list(stored) == [key] and stored[key].rules_version == 1
    reopened = Workspace.open(workspace.root)
    try:
        profile = reopened.profiles.get(key)
        assert profile is not None and set(profile.segments) >= {"electric", "suv"}
        assert reopened.profiles.rebuild() == 1
        again = reopened.profiles.get(key)
        assert again is not None and again.counts == profile.counts
    finally:
        reopened.close()
    assert workspace.store.table_counts()["profiles"] == 1


def test_save_load_delete_in_one_transaction(workspace: Workspace) -> None:
    store = workspace.store
    store.save_profiles([ProfileRow("x", '{"a":1}', 3, 10), ProfileRow("y", "{}", 3, None)])
    store.save_profiles([ProfileRow("x", '{"a":2}', 4, 20)], delete=["y"])
    rows = store.load_profiles()
    assert list(rows) == ["x"] and rows["x"] == ProfileRow("x", '{"a":2}', 4, 20)
    assert store.load_profile_state("x") == '{"a":2}'  # the one-key read of the serving path
    assert store.load_profile_state("y") is None and store.load_profile_state("z'--") is None
    assert store.load_profiles([]) == {}
    assert store.clear_profiles() == 1


def test_segment_versions_meta_and_catalog_fingerprint(workspace: Workspace) -> None:
    store = workspace.store
    first = store.items_version()
    assert store.add_segment_version("segments: {}\n", "one") == 1
    assert store.add_segment_version("segments: {}\n", None) == 2
    assert [v.version for v in store.segment_versions()] == [1, 2]
    store.set_meta("segments.active", "2")
    store.set_meta("segments.active", "1")
    assert store.get_meta("segments.active") == "1" and store.get_meta("nope") is None
    workspace.ingestor.ingest_items(ITEMS, "t")
    assert store.items_version() != first
    store.add_segment_stats(1_000, 1, {"suv": 4, "electric": 2})
    stats = store.segment_stats()
    assert stats.sort("segment")["members"].to_list() == [2, 4]
    assert stats.schema["at"] == pl.Datetime("ms", "UTC")
