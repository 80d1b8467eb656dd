"""SQLite backend: the embedded default, one file in the workspace folder.

Events are appended by the event writer process (``sqlite_writer``: Arrow batches through
ADBC straight into the log, staged only when the unique index refuses a batch). Everything
else in this process uses Python's ``sqlite3`` through SQLAlchemy: one SQLite library per
process (see ``sqlite_writer`` for why).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import create_engine, event
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tastemaker.storage.sql import SqlStore
from tastemaker.storage.sqlite_checkpoint import Checkpointer
from tastemaker.storage.sqlite_writer import EventWriter

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
    # A deleted row (a forgotten user) must not linger in free space of the file: freed
    # content is overwritten with zeros. Deletes are rare here; the page is written anyway.
    cur.execute("PRAGMA secure_delete=ON")
    for pragma in _WRITER_PRAGMAS:
        cur.execute(pragma)
    cur.close()


class SqliteStore(SqlStore):
    """Store in a SQLite file (WAL mode)."""

    backend = "sqlite"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        engine = create_engine(f"sqlite:///{self.path}", future=True)
        event.listen(engine, "connect", _pragmas)
        super().__init__(engine)
        self._writer = EventWriter(self.path, (*_WRITER_PRAGMAS, *_CHECKPOINT_PRAGMAS))
        self._checkpointer = Checkpointer(self.path)

    def _dialect_insert(self, table: Any) -> Any:
        return sqlite_insert(table)

    def delete_user(self, user_id: str, anonymous_ids: Sequence[str] = ()) -> dict[str, int]:
        """As :meth:`SqlStore.delete_user`; then the write-ahead log, whose older frames
        still hold the rows, is checkpointed into the file (zeroed there) and truncated."""
        counts = super().delete_user(user_id, anonymous_ids)
        with self.engine.connect() as conn:
            for _ in range(50):  # a reader of an older snapshot holds the log: wait for it
                busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").scalar()
                if not busy:
                    break
                time.sleep(0.1)
        return counts

    def prepare_writes(self) -> None:
        """Start the event writer process ahead of the first append (a server does)."""
        self._writer.start()

    def _insert_events(self, rows: pl.DataFrame) -> pl.DataFrame:
        ids = self._writer.insert(rows, checkpoint=self._checkpointer.log_too_long())
        self._checkpointer.nudge()  # otherwise the writer leaves checkpoints to that thread
        return ids

    def close(self) -> None:
        """Stop the checkpoint thread and the event writer, close the pool."""
        self._checkpointer.close()
        self._writer.close()
        super().close()
