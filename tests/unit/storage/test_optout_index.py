"""Migration 7: the partial index on opted-out users, which their re-read uses."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text

from tastemaker.storage import migrations
from tastemaker.storage.sqlite import SqliteStore


def test_migration_7_indexes_opted_out_users_of_a_version_6_database(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    original = migrations.MIGRATIONS
    try:
        migrations.MIGRATIONS = [m for m in original if m.version <= 6]
        with engine.begin() as conn:
            migrations.migrate(conn)
    finally:
        migrations.MIGRATIONS = original
    with engine.begin() as conn:
        assert migrations.migrate(conn) == [7]
        plan = conn.execute(text("EXPLAIN QUERY PLAN SELECT user_id FROM users WHERE consent = 0"))
        assert "ix_users_opted_out" in " ".join(str(r) for r in plan)
    engine.dispose()


def test_opted_out_users_are_read_back(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    store.migrate()
    assert store.set_consent("u1", False) == {"users": 1, "profiles": 0}
    store.set_consent("u2", False)
    store.set_consent("u2", True)
    assert store.opted_out_users() == {"u1"}
    store.close()
