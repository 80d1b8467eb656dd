"""SQLite backend: the embedded default, one file in the workspace folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import create_engine, event
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tastemaker.storage.sql import SqlStore

_INSERT_EVENTS = (
    "INSERT INTO events (event_id, user_id, anonymous_id, type, item_id, value, ts, session_id,"
    " context, properties, received_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
    " ON CONFLICT(event_id) DO NOTHING"
)


def _pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.execute("PRAGMA cache_size=-200000")
    cur.close()


class SqliteStore(SqlStore):
    """Store in a SQLite file (WAL mode)."""

    backend = "sqlite"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        engine = create_engine(f"sqlite:///{self.path}", future=True)
        event.listen(engine, "connect", _pragmas)
        super().__init__(engine)

    def _dialect_insert(self, table: Any) -> Any:
        return sqlite_insert(table)

    def _insert_events(self, rows: pl.DataFrame) -> list[str]:
        raw = self.engine.raw_connection()
        try:
            cur = raw.cursor()
            inserted: list[str] = []
            batch = 50_000
            for offset in range(0, rows.height, batch):
                chunk = rows.slice(offset, batch).rows()
                inserted_chunk = self._insert_chunk(cur, chunk)
                inserted.extend(inserted_chunk)
            raw.commit()
            return inserted
        except Exception:
            raw.rollback()
            raise
        finally:
            raw.close()

    @staticmethod
    def _insert_chunk(cur: Any, chunk: list[tuple[Any, ...]]) -> list[str]:
        before = cur.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]
        cur.executemany(_INSERT_EVENTS, chunk)
        if cur.rowcount == len(chunk):
            return [r[0] for r in chunk]
        got = cur.execute("SELECT event_id FROM events WHERE seq > ? ORDER BY seq", (before,))
        return [r[0] for r in got.fetchall()]
