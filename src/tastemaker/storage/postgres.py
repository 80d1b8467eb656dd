"""PostgreSQL backend: events bulk-loaded with COPY, catalog upserts with ON CONFLICT.

A batch of events is copied straight into the log. If the unique index on ``event_id``
refuses it (some events were stored before), the transaction is rolled back and the batch is
copied into a temporary table instead, from which ``INSERT ... ON CONFLICT DO NOTHING`` moves
the new rows.

Every append first takes a transaction-scoped advisory lock (one per schema): appends commit
one after the other, so ``seq`` values become visible in order and the followers of the log
(profiles, the outbox) never pass over an event that commits after a later one. The rows of
one COPY then take consecutive values of the ``seq`` sequence.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable
from typing import Any, TypeVar

import polars as pl
from psycopg.errors import UniqueViolation
from sqlalchemy import create_engine
from sqlalchemy.dialects.postgresql import insert as pg_insert

from tastemaker.storage.frames import EVENT_WRITE_COLUMNS
from tastemaker.storage.outage import is_outage, unavailable
from tastemaker.storage.sql import SqlStore

BULK_ROWS = 10_000
T = TypeVar("T")

_COLUMNS = ", ".join(EVENT_WRITE_COLUMNS)


def engine_url(url: str) -> str:
    """Return a SQLAlchemy URL that uses the psycopg 3 driver."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class PostgresStore(SqlStore):
    """Store in a PostgreSQL database."""

    backend = "postgres"

    def __init__(self, url: str, schema_name: str | None = None) -> None:
        connect_args: dict[str, Any] = {}
        if schema_name:
            connect_args["options"] = f"-csearch_path={schema_name}"
        engine = create_engine(
            engine_url(url), future=True, pool_pre_ping=True, connect_args=connect_args
        )
        self.schema_name = schema_name
        self._append_lock = zlib.crc32(f"tastemaker.events:{schema_name or ''}".encode())
        super().__init__(engine)

    def migrate(self) -> list[int]:
        """Create the schema (namespace) if configured, then apply migrations."""
        if self.schema_name:
            with self.engine.begin() as conn:
                conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{self.schema_name}"')
        return super().migrate()

    def _dialect_insert(self, table: Any) -> Any:
        return pg_insert(table)

    def _insert_events(self, rows: pl.DataFrame) -> pl.DataFrame:
        buf = io.BytesIO()
        rows.write_csv(buf, include_header=False, null_value="\\N", quote_style="necessary")
        data = buf.getvalue()
        bulk = rows.height >= BULK_ROWS
        lock = self._append_lock

        def direct(cur: Any) -> pl.DataFrame:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (lock,))
            _copy(cur, "events", data)
            cur.execute("SELECT currval(pg_get_serial_sequence('events', 'seq'))")
            last = int(cur.fetchone()[0])
            seqs = pl.int_range(last - rows.height + 1, last + 1, eager=True, dtype=pl.Int64)
            return pl.DataFrame({"event_id": rows["event_id"], "seq": seqs})

        try:
            # New events are the common case: COPY straight into the log, no staging copy.
            return self._transaction(bulk, direct)
        except UniqueViolation:
            pass
        # Some ids are stored already: stage the batch and let the index skip them.
        return self._transaction(bulk, lambda cur: _move_staged(cur, data, lock))

    def _transaction(self, bulk: bool, work: Callable[[Any], T]) -> T:
        """Run ``work(cursor)`` in one transaction on a pooled connection.

        Raises:
            StoreUnavailableError: the server cannot be reached or dropped the connection
                (the connection is discarded, not returned to the pool).
        """
        try:
            # the pool's checkout: SQLAlchemy's handle_error does not see its failures
            raw = self.engine.raw_connection()
        except Exception as exc:
            if is_outage(exc):
                raise unavailable(exc, f"{self.backend} store") from exc
            raise
        try:
            cur: Any = raw.cursor()
            if bulk:
                # A bulk load's durability is the file it came from: skip waiting for the WAL
                # flush. API batches (<= 1,000 rows) keep full durability.
                cur.execute("SET LOCAL synchronous_commit = off")
            result = work(cur)
            raw.commit()
            return result
        except Exception as exc:
            if is_outage(exc):
                raw.invalidate()
                raise unavailable(exc, f"{self.backend} store") from exc
            raw.rollback()
            raise
        finally:
            raw.close()


def _copy(cur: Any, table: str, data: bytes) -> None:
    with cur.copy(f"COPY {table} ({_COLUMNS}) FROM STDIN WITH (FORMAT csv, NULL '\\N')") as copy:
        copy.write(data)


def _move_staged(cur: Any, data: bytes, lock: int) -> pl.DataFrame:
    """Stage a batch in a temporary table, move the rows whose event_id is new, return them
    (``event_id``, ``seq``)."""
    cur.execute(
        # Only the loaded columns: no sequence default to evaluate per staged row.
        f"CREATE TEMP TABLE IF NOT EXISTS _incoming_events ON COMMIT DELETE ROWS"
        f" AS SELECT {_COLUMNS} FROM events WITH NO DATA"
    )
    _copy(cur, "_incoming_events", data)
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (lock,))
    cur.execute(
        f"INSERT INTO events ({_COLUMNS}) SELECT {_COLUMNS} FROM _incoming_events"
        " ON CONFLICT (event_id) DO NOTHING RETURNING event_id, seq"
    )
    found = cur.fetchall()
    return pl.DataFrame(
        {"event_id": [r[0] for r in found], "seq": [int(r[1]) for r in found]},
        schema={"event_id": pl.String, "seq": pl.Int64},
    )
