"""Versioned schema migrations. Append a `Migration` to `MIGRATIONS`; never edit an old one."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Table, func, insert, inspect, select

from tastemaker.storage import tables as t


@dataclass(frozen=True)
class Migration:
    """One schema version: the tables it creates and an optional extra step."""

    version: int
    description: str
    creates: tuple[Table, ...] = ()
    run: Callable[[Connection], None] | None = None


MIGRATIONS: list[Migration] = [
    Migration(
        1,
        "events, items, users, identity links, dead letters",
        creates=(t.events, t.items, t.users, t.identity_links, t.dead_letters),
    ),
    Migration(
        2,
        "profiles, segment rule versions, store meta, segment stats",
        creates=(t.profiles, t.segment_versions, t.store_meta, t.segment_stats),
    ),
    Migration(
        3,
        "index on items.updated_at (cheap catalog change check)",
        run=lambda conn: _create_index(conn, "ix_items_updated_at", "items", "updated_at"),
    ),
    Migration(
        4,
        "watermarks and leases of the event log's followers (profiles, outbox)",
        creates=(t.watermarks,),
        run=lambda conn: _start_watermarks(conn, ("profiles", "published")),
    ),
    Migration(
        5,
        "API keys (hashed, with scopes) and the append-only audit log",
        creates=(t.api_keys, t.audit_log),
    ),
    Migration(6, "the append-only alert log of monitoring (drift, metric drops)", (t.alerts,)),
    Migration(
        7,
        "partial index on users who opted out of personalization (re-read by every process)",
        run=lambda conn: _create_index(
            conn, "ix_users_opted_out", "users", "user_id", where=f"consent = {_false(conn)}"
        ),
    ),
]


def _start_watermarks(conn: Connection, names: tuple[str, ...]) -> None:
    """Events stored before followers existed were applied and published as they came."""
    last = int(conn.execute(select(func.max(t.events.c.seq))).scalar() or 0)
    now = int(time.time() * 1000)
    conn.execute(
        insert(t.watermarks),
        [{"name": n, "seq": last, "version": 0, "holder": None, "expires_at": 0,
          "updated_at": now} for n in names],
    )  # fmt: skip


def _create_index(
    conn: Connection, name: str, table: str, column: str, where: str | None = None
) -> None:
    partial = f" WHERE {where}" if where else ""
    conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({column}){partial}")


def _false(conn: Connection) -> str:
    """The literal a boolean column is compared with (SQLite stores booleans as 0 / 1)."""
    return "0" if conn.dialect.name == "sqlite" else "false"


def latest_version() -> int:
    """Return the schema version this code expects."""
    return max(m.version for m in MIGRATIONS)


def current_version(conn: Connection) -> int:
    """Return the version a database is at (0 for an empty database)."""
    if not inspect(conn).has_table(t.schema_migrations.name):
        return 0
    value = conn.execute(
        select(t.schema_migrations.c.version)
        .order_by(t.schema_migrations.c.version.desc())
        .limit(1)
    ).scalar()
    return int(value or 0)


def migrate(conn: Connection) -> list[int]:
    """Apply every pending migration in order; return the versions applied."""
    t.schema_migrations.create(conn, checkfirst=True)
    done = current_version(conn)
    applied: list[int] = []
    for m in sorted(MIGRATIONS, key=lambda m: m.version):
        if m.version <= done:
            continue
        for table in m.creates:
            table.create(conn, checkfirst=True)
        if m.run is not None:
            m.run(conn)
        conn.execute(
            insert(t.schema_migrations).values(
                version=m.version, description=m.description, applied_at=int(time.time() * 1000)
            )
        )
        applied.append(m.version)
    return applied
