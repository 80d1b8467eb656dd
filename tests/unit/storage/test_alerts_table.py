"""Migration 6 adds the append-only alert log to a database at version 5."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, inspect

from tastemaker.storage import migrations
from tastemaker.storage.base import AlertRow
from tastemaker.storage.sqlite import SqliteStore


def test_migration_6_creates_the_alerts_table_on_a_version_5_database(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    five = [m for m in migrations.MIGRATIONS if m.version <= 5]
    original = migrations.MIGRATIONS
    try:
        migrations.MIGRATIONS = five
        with engine.begin() as conn:
            assert migrations.migrate(conn) == [1, 2, 3, 4, 5]
    finally:
        migrations.MIGRATIONS = original
    with engine.begin() as conn:
        assert not inspect(conn).has_table("alerts")
        assert migrations.migrate(conn)[:1] == [6]  # then any later ones
        assert inspect(conn).has_table("alerts")
        assert migrations.current_version(conn) == migrations.latest_version()
    engine.dispose()


def test_alerts_are_appended_and_read_since_a_time_by_kind(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    store.migrate()
    first = store.append_alert(AlertRow(1_000, "drift", "price", '{"psi": 0.4}', "v0001"))
    store.append_alert(AlertRow(2_000, "metric_drop", "ctr:v0001", "{}", "v0001"))
    store.append_alert(AlertRow(3_000, "drift", "score", "{}", "v0002"))
    assert [a.subject for a in store.alerts()] == ["price", "ctr:v0001", "score"]
    assert [a.subject for a in store.alerts(2_000)] == ["ctr:v0001", "score"]
    assert [a.subject for a in store.alerts(0, "drift")] == ["price", "score"]
    row = store.alerts()[0]
    assert (row.seq, row.ts, row.version, row.detail) == (first, 1_000, "v0001", '{"psi": 0.4}')
    store.close()
