"""Forgetting a user, retention and opt-out on SQLAlchemy Core (mixed into `SqlStore`).

A forget deletes every row naming the user. Retention deletes events whose event time is
before a cut and dead letters kept since before it. Opt-out is the ``consent`` column of
``users`` (False: opted out); opting out drops the user's stored profiles in the same
transaction. Each moves every watermark's version, as does any write that changes a user's
consent (the users upsert and patch too).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, false, func, or_, select
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


def locked_consents(conn: Connection, user_ids: list[str]) -> dict[str, bool | None]:
    """The stored consent of those of ``user_ids`` that have a row (locked until commit)."""
    u = t.users
    stmt = select(u.c.user_id, u.c.consent).where(u.c.user_id.in_(user_ids)).with_for_update()
    return {k: v for k, v in conn.execute(stmt)}


def clamp_on_consent_change(
    conn: Connection, before: dict[str, bool | None], after: dict[str, bool | None]
) -> None:
    """Move every watermark's version when a write changed someone's consent (a missing
    row or value counts as consenting): each process applying events then re-reads who
    opted out before its next batch, instead of within the consent refresh."""
    if any((before.get(k) is not False) != (v is not False) for k, v in after.items()):
        clamp_watermarks(conn)


class SqlPrivacyMixin:
    """`Store` methods for forgetting a user, retention (deleting before a cut) and opt-out."""

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
        transaction. Return the rows changed per table.

        Opting out, and opting back in after an opt-out, move every watermark's version:
        each process applying events re-reads consent before its next batch (else one that
        had not yet seen an opt-in would drop the user's new events, which a rebuild counts).
        """
        u, p = t.users, t.profiles
        now = int(time.time() * 1000)
        counts: dict[str, int] = {}
        with self.engine.begin() as conn:
            before = locked_consents(conn, [user_id])  # users row first, then the watermarks
            res = conn.execute(u.update().where(u.c.user_id == user_id)
                               .values(consent=consent, updated_at=now))  # fmt: skip
            if not res.rowcount:
                row: dict[str, Any] = {"user_id": user_id, "consent": consent,
                                       "attributes": "{}", "updated_at": now}  # fmt: skip
                conn.execute(u.insert().values(**row))
            counts["users"] = 1
            if consent:  # back in after an opt-out: as any write changing consent
                clamp_on_consent_change(conn, before, {user_id: True})
            else:
                clamp_watermarks(conn)  # first: watermark, then profiles, as guarded writes
                keys = [user_id, *(f"anon:{a}" for a in anonymous_ids)]
                res = conn.execute(sa_delete(p).where(p.c.user_id.in_(keys)))
                counts["profiles"] = int(res.rowcount or 0)
        return counts

    def delete_user(self, user_id: str, anonymous_ids: Sequence[str] = ()) -> dict[str, int]:
        """Delete every row of every table that has a user_id equal to ``user_id``, the
        events, profiles (``anon:<id>``) and links of ``anonymous_ids``, and the dead
        letters whose payload holds any of them.

        Watermarks past the log's new end come back to it (SQLite gives the next event the
        ``seq`` after the highest left, which must not count as done), and every version
        changes: processes that keep profiles in memory drop them.
        """
        counts: dict[str, int] = {}
        w = t.watermarks
        anon = list(anonymous_ids)
        extra = {
            "events": lambda: t.events.c.anonymous_id.in_(anon),
            "profiles": lambda: t.profiles.c.user_id.in_([f"anon:{a}" for a in anon]),
            "identity_links": lambda: t.identity_links.c.anonymous_id.in_(anon),
        }
        with self.engine.begin() as conn:
            conn.execute(select(w.c.name).with_for_update())  # first, as guarded profile writes
            for table in t.metadata.sorted_tables:
                if "user_id" in table.c:
                    cond = table.c.user_id == user_id
                    if anon and table.name in extra:
                        cond = or_(cond, extra[table.name]())
                    res = conn.execute(sa_delete(table).where(cond))
                    counts[table.name] = int(res.rowcount or 0)
            letters = t.dead_letters.c.payload
            held = or_(*[letters.contains(x, autoescape=True) for x in (user_id, *anon)])
            res = conn.execute(sa_delete(t.dead_letters).where(held))
            counts["dead_letters"] = int(res.rowcount or 0)
            clamp_watermarks(conn)
        return counts
