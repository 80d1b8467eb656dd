"""SQLite backend: the embedded default, one file in the workspace folder.

Events are appended through ADBC (Arrow Database Connectivity): a batch goes to SQLite as an
Arrow table straight into the log. If the unique index on ``event_id`` refuses it (some events
were stored before), the transaction is rolled back and the batch goes into a temporary table
instead, from which one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` moves the new rows.
No Python object is made per event.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import polars as pl
from sqlalchemy import create_engine, event
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tastemaker.storage.frames import EVENT_WRITE_COLUMNS
from tastemaker.storage.sql import SqlStore
from tastemaker.storage.sqlite_checkpoint import Checkpointer

T = TypeVar("T")

_COLUMNS = ", ".join(EVENT_WRITE_COLUMNS)
_MOVE = (
    f"INSERT INTO events ({_COLUMNS}) SELECT {_COLUMNS} FROM _incoming_events WHERE true"
    " ON CONFLICT(event_id) DO NOTHING RETURNING event_id"
)
_UNIQUE_EVENT_ID = "UNIQUE constraint failed: events.event_id"
#: The event writer leaves checkpoints to `Checkpointer`; a restarted log is cut to 64 MB.
_CHECKPOINT_PRAGMAS = ("PRAGMA wal_autocheckpoint=0", "PRAGMA journal_size_limit=67108864")


_WRITER_PRAGMAS = (
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=30000",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA cache_size=-200000",
)


def _pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    for pragma in _WRITER_PRAGMAS:
        cur.execute(pragma)
    cur.close()


def _move_staged(cur: Any, table: Any) -> pl.Series:
    """Stage a batch in a temporary table, move the rows whose event_id is new, return them."""
    cur.adbc_ingest("_incoming_events", table, mode="create_append", temporary=True)
    cur.execute(_MOVE)
    inserted = pl.Series("event_id", cur.fetch_arrow_table().column(0), dtype=pl.String)
    cur.execute("DELETE FROM _incoming_events")
    return inserted


class SqliteStore(SqlStore):
    """Store in a SQLite file (WAL mode)."""

    backend = "sqlite"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        engine = create_engine(f"sqlite:///{self.path}", future=True)
        event.listen(engine, "connect", _pragmas)
        super().__init__(engine)
        self._writer: Any = None
        self._writer_lock = threading.Lock()
        self._checkpointer = Checkpointer(self.path)

    def _dialect_insert(self, table: Any) -> Any:
        return sqlite_insert(table)

    def _adbc(self) -> Any:
        if self._writer is None:
            # Imported on the first append: readers (API start-up) do not pay for pyarrow.
            import adbc_driver_sqlite.dbapi as adbc_sqlite

            # Autocommit, so that pragmas apply; each append is one explicit transaction.
            conn = adbc_sqlite.connect(str(self.path), autocommit=True)
            cur = conn.cursor()
            for pragma in (*_WRITER_PRAGMAS, *_CHECKPOINT_PRAGMAS):
                cur.execute(pragma)
            cur.close()
            self._writer = conn
        return self._writer

    def _insert_events(self, rows: pl.DataFrame) -> pl.Series:
        with self._writer_lock:
            conn = self._adbc()
            table = rows.to_arrow()
            try:
                # New events are the common case: straight into the log, no staging copy.
                self._transaction(conn, lambda cur: cur.adbc_ingest("events", table, mode="append"))
                return rows["event_id"]
            except Exception as exc:  # the driver reports constraint failures as InternalError
                if _UNIQUE_EVENT_ID not in str(exc):
                    raise
            # Some ids are stored already: stage the batch and let the index skip them.
            return self._transaction(conn, lambda cur: _move_staged(cur, table))

    def _transaction(self, conn: Any, work: Callable[[Any], T]) -> T:
        """Run ``work(cursor)`` in one write transaction (rolled back if it raises)."""
        cur = conn.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE")
            result = work(cur)
            cur.execute("COMMIT")
            if self._checkpointer.log_too_long():
                cur.execute("PRAGMA wal_checkpoint(PASSIVE)")  # the next batch restarts the log
            self._checkpointer.nudge()  # otherwise the writer leaves checkpoints to that thread
            return result
        except Exception:
            cur.execute("ROLLBACK")
            raise
        finally:
            cur.close()

    def close(self) -> None:
        """Stop the checkpoint thread, close the writer connection and the pool."""
        self._checkpointer.close()
        with self._writer_lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        super().close()
