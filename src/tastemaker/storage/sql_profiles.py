"""Profile, segment-rule and segment-stats persistence for the SQL stores (schema version 2)."""

from __future__ import annotations

import time
import uuid
from functools import cached_property
from typing import Any

import polars as pl
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy import delete as sa_delete

from tastemaker.storage import tables as t
from tastemaker.storage.base import Advance, Lease, ProfileRow, SegmentVersion
from tastemaker.storage.guard import Guard
from tastemaker.storage.outage import is_outage, unavailable
from tastemaker.storage.sql_watermarks import advance_in, guard_in

#: Store meta key holding when items were last deleted (part of the catalog fingerprint).
ITEMS_DELETED = "items.deleted_at"
#: Store meta key of a random token every catalog write replaces (the fingerprint changes
#: whatever the writer's clock: two uploads in one millisecond, another host's clock behind).
ITEMS_WRITTEN = "items.written"
#: Profile rows per INSERT statement.
SAVE_CHUNK = 5_000

#: One positional parameter in each DB-API paramstyle.
_PLACEHOLDERS = {"qmark": "?", "numeric": ":1", "format": "%s", "pyformat": "%s"}


def _now_ms() -> int:
    return int(time.time() * 1000)


class SqlProfilesMixin:
    """Methods of `Store` for profiles and segment rules, on SQLAlchemy Core."""

    engine: Engine

    def _dialect_insert(self, table: Any) -> Any:  # provided by the backend
        raise NotImplementedError

    def save_profiles(
        self,
        rows: list[ProfileRow],
        delete: list[str] | None = None,
        *,
        links: list[tuple[str, str, int]] | None = None,
        clear: bool = False,
        advance: Advance | None = None,
        guard: Guard | None = None,
    ) -> Lease | None:
        """Write profiles, identity links and the watermark they reach in one transaction
        (only while ``guard`` holds)."""
        if not rows and not delete and not links and not clear and advance is None:
            return None
        now = _now_ms()
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql" and guard is None:
                # profiles are derived data (rebuilt from the event log): do not wait for the
                # WAL flush; a committed write is still visible at once and survives a
                # crash of this process, only a crash of the database server may lose it
                # (with its watermark). A guarded write (a stream worker's) does wait: the
                # worker acknowledges the events to the bus after it, for good.
                conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
            # PostgreSQL: the watermark row is locked first, as a rebuild's advance does (no
            # deadlock); SQLite checks last, once the write lock is held
            sqlite = conn.dialect.name == "sqlite"
            if guard is not None and not sqlite:
                guard_in(conn, guard)
            moved = advance_in(conn, advance) if advance is not None else None
            if clear:
                conn.execute(sa_delete(t.profiles))
            if delete:
                conn.execute(sa_delete(t.profiles).where(t.profiles.c.user_id.in_(delete)))
            for start in range(0, len(rows), SAVE_CHUNK):
                self._upsert_profiles(conn, rows[start : start + SAVE_CHUNK], now)
            if links:
                records = [{"anonymous_id": a, "user_id": u, "linked_at": ts} for a, u, ts in links]
                stmt = self._dialect_insert(t.identity_links)
                conn.execute(stmt.on_conflict_do_nothing(index_elements=["anonymous_id"]), records)
            if guard is not None and sqlite:
                guard_in(conn, guard)
        return moved

    @cached_property
    def _profiles_upsert(self) -> Any:
        # Built once per store: a stream worker writes profiles after every batch it
        # applies, and building this statement and its cache key cost a tenth of its CPU.
        stmt = self._dialect_insert(t.profiles)
        return stmt.on_conflict_do_update(
            index_elements=["user_id"],
            set_={
                "state": stmt.excluded.state,
                "rules_version": stmt.excluded.rules_version,
                "last_seen": stmt.excluded.last_seen,
                "updated_at": stmt.excluded.updated_at,
            },
        )

    def _upsert_profiles(self, conn: Connection, rows: list[ProfileRow], now: int) -> None:
        conn.execute(
            self._profiles_upsert,
            [
                {
                    "user_id": r.user_id,
                    "state": r.state,
                    "rules_version": r.rules_version,
                    "last_seen": r.last_seen,
                    "updated_at": now,
                }
                for r in rows
            ],
        )

    def load_profiles(self, user_ids: list[str] | None = None) -> dict[str, ProfileRow]:
        """Return stored profile rows by key (every profile when ``user_ids`` is None)."""
        p = t.profiles
        stmt = select(p.c.user_id, p.c.state, p.c.rules_version, p.c.last_seen)
        if user_ids is not None:
            if not user_ids:
                return {}
            stmt = stmt.where(p.c.user_id.in_(user_ids))
        with self.engine.connect() as conn:
            return {
                u: ProfileRow(u, s, int(v or 0), None if ls is None else int(ls))
                for u, s, v, ls in conn.execute(stmt)
            }

    def load_profile_state(self, user_id: str) -> str | None:
        """The stored state text of one profile key, or None.

        The serving hot path: one indexed read on the driver's cursor, about ten times
        cheaper than compiling a SQLAlchemy ``select``.
        """
        mark = _PLACEHOLDERS.get(self.engine.dialect.paramstyle, "%s")
        sql = f"SELECT state FROM {t.profiles.name} WHERE user_id = {mark}"
        with self.engine.connect() as conn:
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.execute(sql, (user_id,))
                row = cursor.fetchone()
            except Exception as exc:  # the driver's own error: SQLAlchemy does not see it
                if not is_outage(exc):
                    raise
                conn.invalidate()
                raise unavailable(exc, "store") from exc
            finally:
                cursor.close()
        return None if row is None else str(row[0])

    def clear_profiles(self) -> int:
        """Delete every stored profile; return how many were deleted."""
        with self.engine.begin() as conn:
            return int(conn.execute(sa_delete(t.profiles)).rowcount or 0)

    def add_segment_version(self, text: str, note: str | None = None) -> int:
        """Store a new segment rules file; return its version number (1, 2, ...)."""
        v = t.segment_versions
        with self.engine.begin() as conn:
            last = conn.execute(select(func.max(v.c.version))).scalar()
            version = int(last or 0) + 1
            conn.execute(
                v.insert().values(version=version, text=text, note=note, created_at=_now_ms())
            )
        return version

    def segment_versions(self) -> list[SegmentVersion]:
        """Return every stored segment rules version, oldest first."""
        v = t.segment_versions
        with self.engine.connect() as conn:
            rows = conn.execute(select(v).order_by(v.c.version)).fetchall()
        return [SegmentVersion(int(r.version), r.text, r.note, int(r.created_at)) for r in rows]

    def get_meta(self, key: str) -> str | None:
        """Return a small stored setting, or None."""
        m = t.store_meta
        with self.engine.connect() as conn:
            value = conn.execute(select(m.c.value).where(m.c.key == key)).scalar()
        return None if value is None else str(value)

    def set_meta(self, key: str, value: str) -> None:
        """Store a small setting."""
        with self.engine.begin() as conn:
            self._set_meta_on(conn, key, value)

    def _set_meta_on(self, conn: Connection, key: str, value: str) -> None:
        stmt = self._dialect_insert(t.store_meta)
        stmt = stmt.on_conflict_do_update(
            index_elements=["key"],
            set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
        )
        conn.execute(stmt, [{"key": key, "value": value, "updated_at": _now_ms()}])

    def items_version(self) -> str:
        """Return the catalog's latest ``updated_at``, last deletion and write token: every
        upsert sets the first to now, a deletion the second, and every catalog write replaces
        the token, so it changes whenever items change, whatever the writers' clocks (three
        indexed lookups, cheap enough to ask every second)."""
        m = t.store_meta
        deleted = select(m.c.value).where(m.c.key == ITEMS_DELETED).scalar_subquery()
        token = select(m.c.value).where(m.c.key == ITEMS_WRITTEN).scalar_subquery()
        with self.engine.connect() as conn:
            last, gone, written = conn.execute(
                select(func.max(t.items.c.updated_at), deleted, token)
            ).one()
        return f"{int(last or 0)}:{gone or 0}:{written or ''}"

    def _catalog_written(self, conn: Connection) -> None:
        """Replace the catalog's write token (in the transaction that wrote items)."""
        self._set_meta_on(conn, ITEMS_WRITTEN, uuid.uuid4().hex)

    def add_segment_stats(self, at_ms: int, rules_version: int, sizes: dict[str, int]) -> None:
        """Record the size of each segment at a point in time."""
        if not sizes:
            return
        rows = [
            {"at": at_ms, "rules_version": rules_version, "segment": s, "members": int(n)}
            for s, n in sizes.items()
        ]
        with self.engine.begin() as conn:
            conn.execute(t.segment_stats.insert(), rows)

    def segment_stats(self) -> pl.DataFrame:
        """Return recorded segment sizes, oldest first."""
        s = t.segment_stats
        stmt = select(s.c.at, s.c.rules_version, s.c.segment, s.c.members).order_by(s.c.id)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).fetchall()
        schema = {
            "at": pl.Int64(),
            "rules_version": pl.Int64(),
            "segment": pl.String(),
            "members": pl.Int64(),
        }
        frame = pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row")
        return frame.with_columns(pl.col("at").cast(pl.Datetime("ms", "UTC")))
