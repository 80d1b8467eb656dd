"""The SQLite event writer process: stores batches, skips stored ids, reports failures."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import polars as pl
import pytest
from tests.unit.storage.test_sqlite_checkpoint import _events

from tastemaker.errors import StoreUnavailableError
from tastemaker.storage.sqlite import SqliteStore
from tastemaker.storage.sqlite_writer import EventWriter


def test_new_ids_are_stored_once_and_reported(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "w.db")
    store.migrate()
    try:
        first = store.append_events(_events(0, 30))
        again = store.append_events(_events(20, 30))  # 10 stored before, 20 new
        assert first.inserted_ids.len() == 30
        assert sorted(again.inserted_ids.to_list()) == sorted(f"e{i}" for i in range(30, 50))
        with sqlite3.connect(tmp_path / "w.db") as conn:
            assert conn.execute("SELECT count(DISTINCT event_id) FROM events").fetchone() == (50,)
    finally:
        store.close()


def test_a_failure_is_reported_with_its_reason_and_the_writer_comes_back(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()  # no events table
    writer = EventWriter(path, ())
    rows = pl.DataFrame({"event_id": ["a"], "ts": [1]})
    try:
        with pytest.raises(StoreUnavailableError, match="events"):
            writer.insert(rows)
        assert writer._proc is not None
        writer._proc.kill()  # the process dies between batches
        writer._proc.wait()
        with pytest.raises(StoreUnavailableError, match="events"):
            writer.insert(rows)  # a new process answers again
    finally:
        writer.close()
    assert writer._proc is None
