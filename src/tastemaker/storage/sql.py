"""`SqlStore`: the Store on SQLAlchemy Core, shared by the SQLite and PostgreSQL backends.

Backends differ only in how they bulk-load events (`_insert_events`) and upsert rows.
"""

from __future__ import annotations

import hashlib
import time
from datetime import datetime
from typing import Any

import orjson
import polars as pl
from sqlalchemy import Connection, Engine, event, func, select
from sqlalchemy import delete as sa_delete
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.sql import Select

from tastemaker.storage import migrations
from tastemaker.storage import tables as t
from tastemaker.storage.base import AppendResult, DeadLetter, Store
from tastemaker.storage.frames import (
    EVENT_READ_SCHEMA,
    EVENT_WRITE_COLUMNS,
    attributes_to_columns,
    rows_to_frame,
)
from tastemaker.storage.outage import is_outage, unavailable
from tastemaker.storage.sql_access import SqlAccessMixin
from tastemaker.storage.sql_alerts import SqlAlertsMixin
from tastemaker.storage.sql_privacy import (
    SqlPrivacyMixin,
    clamp_on_consent_change,
    locked_consents,
)
from tastemaker.storage.sql_profiles import ITEMS_DELETED, SqlProfilesMixin
from tastemaker.storage.sql_watermarks import SqlWatermarksMixin

#: Values of a new row that a partial update does not name.
_PATCH_DEFAULTS: dict[str, dict[str, Any]] = {
    "items": {c: None for c in ("category", "brand", "price", "title", "text", "created_at")}
    | {"in_stock": True, "attributes": "{}"},
    "users": {"consent": True, "attributes": "{}"},
}


def _now_ms() -> int:
    return int(time.time() * 1000)


def _to_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


class SqlStore(
    SqlProfilesMixin, SqlWatermarksMixin, SqlAccessMixin, SqlAlertsMixin, SqlPrivacyMixin, Store
):
    """Store backed by a SQL database through SQLAlchemy Core."""

    backend = "sql"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        event.listen(engine, "handle_error", self._on_error)

    def _on_error(self, ctx: ExceptionContext) -> None:
        """Raise `StoreUnavailableError` for a driver error that means an outage.

        A pool's pre-ping is left alone: it recovers from a dropped connection by itself.
        """
        if not ctx.is_pre_ping and is_outage(ctx.original_exception):
            raise unavailable(ctx.original_exception, f"{self.backend} store")

    # --- schema -------------------------------------------------------------------------
    def migrate(self) -> list[int]:
        """Apply pending migrations."""
        with self.engine.begin() as conn:
            return migrations.migrate(conn)

    def schema_version(self) -> int:
        """Return the schema version of the database."""
        with self.engine.connect() as conn:
            return migrations.current_version(conn)

    # --- events -------------------------------------------------------------------------
    def append_events(self, frame: pl.DataFrame) -> AppendResult:
        """Store new events; skip event_ids already stored (within the frame too)."""
        if frame.height == 0:
            return AppendResult(0, 0, pl.Series("event_id", [], dtype=pl.String))
        rows = (
            frame.lazy()
            .unique(subset="event_id", keep="first", maintain_order=True)
            # Arrival order: `seq` replays events as listeners and stream consumers saw them.
            .rename({"timestamp": "ts"})
            .with_columns(pl.lit(_now_ms(), dtype=pl.Int64).alias("received_at"))
            .select(EVENT_WRITE_COLUMNS)
            .collect()
        )
        new = self._insert_events(rows)
        return AppendResult(new.height, frame.height - new.height, new["event_id"], new["seq"])

    def _insert_events(self, rows: pl.DataFrame) -> pl.DataFrame:
        """Insert rows (columns `EVENT_WRITE_COLUMNS`) skipping conflicts; return the new
        ids (``event_id``) with their ``seq``.

        Appends are serialized (SQLite's one writer; an advisory lock on PostgreSQL), so the
        log commits in ``seq`` order: a reader that sees an event sees every one before it,
        which lets followers keep a plain watermark.
        """
        raise NotImplementedError

    def events(
        self,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        user_ids: list[str] | None = None,
        types: list[str] | None = None,
        after_seq: int | None = None,
        limit: int | None = None,
    ) -> pl.DataFrame:
        """Read events in (timestamp, seq) order as a polars frame."""
        e = t.events
        # EVENT_READ_SCHEMA names the columns read, in order (ts becomes `timestamp` below).
        stmt: Select[Any] = select(*[e.c[name] for name in EVENT_READ_SCHEMA])
        if start is not None:
            stmt = stmt.where(e.c.ts >= _to_ms(start))
        if end is not None:
            stmt = stmt.where(e.c.ts < _to_ms(end))
        if user_ids is not None:
            stmt = stmt.where(e.c.user_id.in_(user_ids))
        if types is not None:
            stmt = stmt.where(e.c.type.in_(types))
        if after_seq is not None:
            stmt = stmt.where(e.c.seq > after_seq).order_by(e.c.seq)
        else:
            stmt = stmt.order_by(e.c.ts, e.c.seq)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).fetchall()
        frame = rows_to_frame(rows, EVENT_READ_SCHEMA)
        return frame.with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC"))).rename(
            {"ts": "timestamp"}
        )

    def count_events(self) -> int:
        """Return how many events are stored."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(t.events)).scalar() or 0)

    # --- catalog and users ------------------------------------------------------------------
    def _upsert(
        self, table: Any, records: list[dict[str, Any]], key: str, *, update: bool = True
    ) -> int:
        """Insert records; on a key conflict replace the row (or skip it if not ``update``)."""
        if not records:
            return 0
        with self.engine.begin() as conn:
            return self._upsert_on(conn, table, records, key, update=update)

    def _upsert_on(
        self, conn: Connection, table: Any, records: list[dict[str, Any]], key: str, *, update: bool
    ) -> int:
        stmt = self._dialect_insert(table)
        if update:
            cols = {c: stmt.excluded[c] for c in records[0] if c != key}
            conn.execute(stmt.on_conflict_do_update(index_elements=[key], set_=cols), records)
            return len(records)
        # RETURNING tells which rows were new on every driver (rowcount may be -1).
        returning = stmt.on_conflict_do_nothing(index_elements=[key]).returning(table.c[key])
        return sum(len(conn.execute(returning, r).fetchall()) for r in records)

    def patch_rows(self, table: str, patches: list[dict[str, Any]]) -> int:
        """Merge partial rows into ``items`` or ``users`` in one transaction.

        Each patch holds the key, the core fields to set (None clears) and optionally
        ``attributes``: names to set, or to remove when None. Other fields keep their stored
        values; a key not stored yet gets a new row. Later patches of a key see earlier ones.
        """
        if not patches:
            return 0
        tab = t.metadata.tables[table]
        key = tab.primary_key.columns[0].name
        ids = list(dict.fromkeys(p[key] for p in patches))
        now = _now_ms()
        with self.engine.begin() as conn:
            # locked until commit: two patches of one row merge in turn, and the stored
            # consent compared below is the one this write replaces
            locked = select(tab).where(tab.c[key].in_(ids)).with_for_update()
            rows = conn.execute(locked).mappings()
            merged: dict[str, dict[str, Any]] = {r[key]: dict(r) for r in rows}
            before = {k: r.get("consent") for k, r in merged.items()}
            for patch in patches:
                row = merged.setdefault(patch[key], {key: patch[key], **_PATCH_DEFAULTS[table]})
                attributes = orjson.loads(row["attributes"] or "{}")
                for name, value in patch.get("attributes", {}).items():
                    if value is None:
                        attributes.pop(name, None)
                    else:
                        attributes[name] = value
                row.update({k: v for k, v in patch.items() if k != "attributes"})
                row["attributes"] = orjson.dumps(attributes).decode()
                row["updated_at"] = now
            self._upsert_on(conn, tab, list(merged.values()), key, update=True)
            if table == "items":
                self._catalog_written(conn)
            else:
                after = {k: r.get("consent") for k, r in merged.items()}
                clamp_on_consent_change(conn, before, after)
        return len(patches)

    def delete_items(self, item_ids: list[str]) -> int:
        """Delete catalog items; return how many existed. The catalog fingerprint changes."""
        if not item_ids:
            return 0
        items = t.items
        with self.engine.begin() as conn:
            gone = conn.execute(sa_delete(items).where(items.c.item_id.in_(item_ids))).rowcount
            if gone:
                self._set_meta_on(conn, ITEMS_DELETED, str(_now_ms()))
                self._catalog_written(conn)
        return int(gone or 0)

    def attribute_names(self, table: str) -> set[str]:
        """The attribute names the rows of ``items`` or ``users`` hold (one pass over them)."""
        column = t.metadata.tables[table].c.attributes
        names: set[str] = set()
        with self.engine.connect() as conn:
            for (text,) in conn.execute(select(column).where(column != "{}")):
                names.update(orjson.loads(text))
        return names

    def _dialect_insert(self, table: Any) -> Any:
        """Return the backend's INSERT construct supporting ON CONFLICT."""
        raise NotImplementedError

    def upsert_items(self, frame: pl.DataFrame) -> int:
        """Insert or replace items (frame columns as in `tables.items`)."""
        records = frame.with_columns(pl.lit(_now_ms()).alias("updated_at")).to_dicts()
        if not records:
            return 0
        with self.engine.begin() as conn:
            self._upsert_on(conn, t.items, records, "item_id", update=True)
            self._catalog_written(conn)
        return len(records)

    def items(self, item_ids: list[str] | None = None) -> pl.DataFrame:
        """Read items with attributes expanded into columns."""
        frame = self._read_with_attributes(t.items, "item_id", item_ids)
        return frame.with_columns(pl.col("created_at").cast(pl.Datetime("ms", "UTC")))

    def _read_with_attributes(self, table: Any, key: str, ids: list[str] | None) -> pl.DataFrame:
        """Rows of a catalog-like table (optionally only ``ids``), attributes as columns."""
        stmt = select(table).order_by(table.c[key])
        if ids is not None:
            stmt = stmt.where(table.c[key].in_(ids))
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).fetchall()
        frame = rows_to_frame(rows, {c.name: _polars_type(c) for c in table.columns})
        return attributes_to_columns(frame.drop("updated_at"))

    def upsert_users(self, frame: pl.DataFrame) -> int:
        """Insert or replace users (frame columns as in `tables.users`); a row that changes
        a user's consent moves every watermark's version, as the consent route does."""
        records = frame.with_columns(pl.lit(_now_ms()).alias("updated_at")).to_dicts()
        if not records:
            return 0
        with self.engine.begin() as conn:
            before = locked_consents(conn, [r["user_id"] for r in records])
            self._upsert_on(conn, t.users, records, "user_id", update=True)
            clamp_on_consent_change(conn, before, {r["user_id"]: r.get("consent") for r in records})
        return len(records)

    def users(self, user_ids: list[str] | None = None) -> pl.DataFrame:
        """Read users with attributes expanded into columns."""
        return self._read_with_attributes(t.users, "user_id", user_ids)

    # --- identities ---------------------------------------------------------------------------
    def link_identities(self, links: list[tuple[str, str, int]]) -> None:
        """Record many links in one transaction; an anonymous id keeps its first user."""
        if not links:
            return
        records = [{"anonymous_id": a, "user_id": u, "linked_at": ts} for a, u, ts in links]
        stmt = self._dialect_insert(t.identity_links).on_conflict_do_nothing(
            index_elements=["anonymous_id"]
        )
        with self.engine.begin() as conn:
            conn.execute(stmt, records)

    def identity_links(self, user_id: str | None = None) -> dict[str, str]:
        """Return all anonymous id -> user id links, or those of ``user_id`` (an indexed
        column)."""
        links = t.identity_links
        stmt = select(links.c.anonymous_id, links.c.user_id)
        if user_id is not None:
            stmt = stmt.where(links.c.user_id == user_id)
        with self.engine.connect() as conn:
            return {a: u for a, u in conn.execute(stmt)}

    # --- dead letters -------------------------------------------------------------------------
    def add_dead_letters(self, letters: list[DeadLetter]) -> int:
        """Write refused rows with their reasons."""
        if not letters:
            return 0
        now = _now_ms()
        records = [
            {
                "kind": d.kind,
                "source": d.source,
                "row_index": d.row_index,
                "event_id": d.event_id,
                "field": d.field,
                "reason": d.reason,
                "payload": d.payload,
                "created_at": now,
                "fingerprint": hashlib.sha256(
                    f"{d.kind}|{d.source}|{d.row_index}|{d.reason}|{d.payload}".encode()
                ).hexdigest(),
            }
            for d in letters
        ]
        return self._upsert(t.dead_letters, records, "fingerprint", update=False)

    def dead_letters(
        self, *, include_replayed: bool = False, limit: int | None = None
    ) -> list[DeadLetter]:
        """Read dead letters oldest first."""
        d = t.dead_letters
        stmt = select(d).order_by(d.c.id)
        if not include_replayed:
            stmt = stmt.where(d.c.replayed_at.is_(None))
        if limit is not None:
            stmt = stmt.limit(limit)
        with self.engine.connect() as conn:
            return [
                DeadLetter(**{k: v for k, v in row._mapping.items() if k != "fingerprint"})
                for row in conn.execute(stmt)
            ]

    def mark_replayed(self, ids: list[int], at_ms: int) -> None:
        """Mark dead letters replayed."""
        if not ids:
            return
        d = t.dead_letters
        with self.engine.begin() as conn:
            conn.execute(d.update().where(d.c.id.in_(ids)).values(replayed_at=at_ms))

    # --- housekeeping -------------------------------------------------------------------------
    def table_counts(self) -> dict[str, int]:
        """Row counts of every table in the schema."""
        counts: dict[str, int] = {}
        with self.engine.connect() as conn:
            for table in t.metadata.sorted_tables:
                counts[table.name] = int(
                    conn.execute(select(func.count()).select_from(table)).scalar() or 0
                )
        return counts

    def close(self) -> None:
        """Dispose of the connection pool."""
        self.engine.dispose()


def _polars_type(column: Any) -> pl.DataType:
    from sqlalchemy import BigInteger, Boolean, Float, Integer

    if isinstance(column.type, Boolean):
        return pl.Boolean()
    if isinstance(column.type, (BigInteger, Integer)):
        return pl.Int64()
    if isinstance(column.type, Float):
        return pl.Float64()
    return pl.String()
