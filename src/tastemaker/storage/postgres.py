"""PostgreSQL backend: events bulk-loaded with COPY, catalog upserts with ON CONFLICT."""

from __future__ import annotations

import io
from typing import Any

import polars as pl
from sqlalchemy import create_engine
from sqlalchemy.dialects.postgresql import insert as pg_insert

from tastemaker.storage.frames import EVENT_WRITE_COLUMNS
from tastemaker.storage.sql import SqlStore

BULK_ROWS = 10_000

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
        super().__init__(engine)

    def migrate(self) -> list[int]:
        """Create the schema (namespace) if configured, then apply migrations."""
        if self.schema_name:
            with self.engine.begin() as conn:
                conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{self.schema_name}"')
        return super().migrate()

    def _dialect_insert(self, table: Any) -> Any:
        return pg_insert(table)

    def _insert_events(self, rows: pl.DataFrame) -> list[str]:
        buf = io.BytesIO()
        rows.write_csv(buf, include_header=False, null_value="\\N", quote_style="necessary")
        raw = self.engine.raw_connection()
        try:
            cur: Any = raw.cursor()
            if rows.height >= BULK_ROWS:
                # A bulk load's durability is the file it came from: skip waiting for the WAL
                # flush. API batches (<= 1,000 rows) keep full durability.
                cur.execute("SET LOCAL synchronous_commit = off")
            cur.execute(
                # Only the loaded columns: no sequence default to evaluate per staged row.
                f"CREATE TEMP TABLE IF NOT EXISTS _incoming_events ON COMMIT DELETE ROWS"
                f" AS SELECT {_COLUMNS} FROM events WITH NO DATA"
            )
            with cur.copy(
                f"COPY _incoming_events ({_COLUMNS}) FROM STDIN WITH (FORMAT csv, NULL '\\N')"
            ) as copy:
                copy.write(buf.getvalue())
            cur.execute(
                f"INSERT INTO events ({_COLUMNS}) SELECT {_COLUMNS} FROM _incoming_events"
                " ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
            )
            inserted = [r[0] for r in cur.fetchall()]
            raw.commit()
            return inserted
        except Exception:
            raw.rollback()
            raise
        finally:
            raw.close()
