"""The SQLite event writer leaves WAL checkpoints to a background thread, and the log restarts."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import polars as pl
import pytest

from tastemaker.storage import sqlite_checkpoint
from tastemaker.storage.base import ProfileRow
from tastemaker.storage.sqlite import SqliteStore

T0 = 1_767_225_600_000


def _events(start: int, n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "event_id": [f"e{start + i}" for i in range(n)],
            "user_id": [f"u{i % 7}" for i in range(n)],
            "anonymous_id": [None] * n,
            "type": ["view"] * n,
            "item_id": [f"i{i % 11}" for i in range(n)],
            "value": [1.0] * n,
            "timestamp": [T0 + i for i in range(n)],
            "session_id": [None] * n,
            "context": ['{"device": "mobile"}'] * n,
            "properties": ["{}"] * n,
        },
        schema_overrides={"anonymous_id": pl.String, "session_id": pl.String},
    )


def _log_pages(path: Path) -> int:
    """Pages in the WAL; retried while the background checkpointer holds the log (-1)."""
    deadline = time.time() + 5
    with sqlite3.connect(path) as conn:
        while True:
            busy, pages, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if (busy == 0 and pages >= 0) or time.time() > deadline:
                return int(pages)
            time.sleep(0.01)


def test_appends_are_checkpointed_in_the_background(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")
    store.migrate()
    for k in range(3):
        store.append_events(_events(k * 2000, 2000))
    deadline = time.time() + 10
    while store._checkpointer.checkpoints == 0 and time.time() < deadline:
        time.sleep(0.01)
    assert store._checkpointer.checkpoints > 0
    assert store.count_events() == 6000
    store.close()
    assert store._checkpointer._thread is None
    reopened = SqliteStore(tmp_path / "db.sqlite")
    assert reopened.count_events() == 6000
    reopened.close()


def test_a_long_log_is_caught_up_by_the_writer_and_restarts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")
    store.migrate()
    store.append_events(_events(0, 3000))
    one_batch = _log_pages(store.path)
    monkeypatch.setattr(sqlite_checkpoint, "MAX_LOG_PAGES", -1)  # always "too long"
    store._checkpointer.log_pages = 0
    for k in range(1, 8):
        store.append_events(_events(k * 3000, 3000))
    assert _log_pages(store.path) <= 2 * one_batch  # not eight batches' worth
    assert store.count_events() == 24_000
    store.close()


def test_closing_one_store_keeps_the_log_of_another_on_the_same_file(tmp_path: Path) -> None:
    """One SQLite library per process: closing a store's event writer must not delete the
    WAL that another open store of the same file still commits to (a second library copy,
    the ADBC driver's, did: the other store's next commit was lost)."""
    path = tmp_path / "shared.db"
    events, profiles = SqliteStore(path), SqliteStore(path)
    events.migrate()
    profiles.save_profiles([ProfileRow("a", "{}", 1, None)])
    events.append_events(_events(0, 50))  # opens the event writer connection
    events.close()
    profiles.save_profiles([ProfileRow("b", "{}", 1, None)])  # after the writer closed
    with sqlite3.connect(path) as fresh:
        assert fresh.execute("SELECT count(*) FROM profiles").fetchone()[0] == 2
        assert fresh.execute("SELECT count(*) FROM events").fetchone()[0] == 50
    profiles.close()
