"""Retention and opt-out on SQLAlchemy Core (mixed into `SqlStore`).

Retention deletes events whose event time is before a cut and dead letters kept since
before it. Opt-out is the ``consent`` column of ``users`` (False: opted out); opting out
drops the user's stored profiles in the same transaction.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, false, func, select
from sqlalchemy import delete as sa_delete

from tastemaker.storage import tables as t


def clamp_watermarks(conn: Connection) -> None:
    """Bring watermarks past the log's new end back to it and change every version.

    SQLite gives the next event the ``seq`` after the highest left, which must not count as
    done; processes that keep profiles in memory see the new version and drop them.
    """
    w = t.watermarks
    end = int(conn.execute(select(func.max(t.events.c.seq))).scalar() or 0)
    least = func.min if conn.dialect.name == "sqlite" else func.least
    conn.execute(w.update().values(seq=least(w.c.seq, end), version=w.c.version + 1))


class SqlPrivacyMixin:
    """`Store` methods for retention (deleting before a cut) and users' opt-out."""

    engine: Engine

    def delete_events_before(self, cut_ms: int, *, dry_run: bool = False) -> dict[str, int]:
        """Delete events with an event time before ``cut_ms`` and dead letters created before
        it; return the rows per table (counted only, nothing deleted, with ``dry_run``).

        Every watermark's version changes even when no event was old enough: the cut, stored
        before, changes what applying events keeps from now on, and processes applying
        events re-read it when they see the version move."""
        e, d = t.events, t.dead_letters
        doomed = {"events": (e, e.c.ts < cut_ms), "dead_letters": (d, d.c.created_at < cut_ms)}
        counts: dict[str, int] = {}
        with self.engine.begin() as conn:
            for name, (table, cond) in doomed.items():
                if dry_run:
                    n = conn.execute(select(func.count()).select_from(table).where(cond))
                    counts[name] = int(n.scalar() or 0)
                else:
                    res = conn.execute(sa_delete(table).where(cond))
                    counts[name] = int(res.rowcount or 0)
            if not dry_run:
                clamp_watermarks(conn)
        return counts

    def event_users_before(self, cut_ms: int) -> set[str]:
        """Profile keys (user ids, ``anon:<id>`` of visitors) with an event before ``cut_ms``."""
        e = t.events
        stmt = select(e.c.user_id, e.c.anonymous_id).where(e.c.ts < cut_ms).distinct()
        keys: set[str] = set()
        with self.engine.connect() as conn:
            for user, anon in conn.execute(stmt):
                if user is not None:
                    keys.add(user)
                if anon is not None:
                    keys.add(f"anon:{anon}")
        return keys

    def opted_out_users(self) -> set[str]:
        """The (pseudonymized) ids of users who opted out of personalization."""
        u = t.users
        with self.engine.connect() as conn:
            rows = conn.execute(select(u.c.user_id).where(u.c.consent == false()))
            return {r for (r,) in rows}

    def set_consent(
        self, user_id: str, consent: bool, anonymous_ids: Sequence[str] = ()
    ) -> dict[str, int]:
        """Record a user's consent (a user row is created when none is stored); on opt-out
        delete their profiles and those of ``anonymous_ids`` (``anon:<id>``) in the same
        transaction. Return the rows changed per table."""
        u, p = t.users, t.profiles
        now = int(time.time() * 1000)
        counts: dict[str, int] = {}
        with self.engine.begin() as conn:
            res = conn.execute(u.update().where(u.c.user_id == user_id)
                               .values(consent=consent, updated_at=now))  # fmt: skip
            if not res.rowcount:
                row: dict[str, Any] = {"user_id": user_id, "consent": consent,
                                       "attributes": "{}", "updated_at": now}  # fmt: skip
                conn.execute(u.insert().values(**row))
            counts["users"] = 1
            if not consent:
                clamp_watermarks(conn)  # first: watermark, then profiles, as guarded writes
                keys = [user_id, *(f"anon:{a}" for a in anonymous_ids)]
                res = conn.execute(sa_delete(p).where(p.c.user_id.in_(keys)))
                counts["profiles"] = int(res.rowcount or 0)
        return counts
