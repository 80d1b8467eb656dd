"""Watermarks and leases of the event log's followers, for the SQL stores (schema version 4).

A follower (profile updates in process, the outbox to Redis Streams) reads the log past its
watermark in ``seq`` order. One process at a time may do so: the one holding the lease
(``holder`` until ``expires_at``). The watermark moves with a compare-and-set on holder,
``seq`` and ``version``, in the transaction that writes what the events changed, so work done
under a lease that expired meanwhile is never written twice or over a newer state.
"""

from __future__ import annotations

import time

from sqlalchemy import Connection, Engine, and_, bindparam, func, or_, select, update

from tastemaker.storage import tables as t
from tastemaker.storage.base import Advance, Lease, LeaseLostError
from tastemaker.storage.guard import Guard

_W = t.watermarks

# Built once: every group commit takes and moves the outbox's lease, and building a statement
# (and its cache key) cost more than running it (0.29 ms a statement against 0.12 ms).
_READ = select(_W.c.seq, _W.c.version, _W.c.holder, _W.c.expires_at).where(
    _W.c.name == bindparam("b_name")
)
_TAKE = (
    update(_W)
    .where(
        _W.c.name == bindparam("b_name"),
        or_(_W.c.holder.is_(None), _W.c.holder == bindparam("b_holder"),
            _W.c.expires_at < bindparam("b_now")),
    )
    .values(holder=bindparam("b_holder"), expires_at=bindparam("b_expires"),
            updated_at=bindparam("b_now"))
    .returning(_W.c.seq, _W.c.version)
)  # fmt: skip
_ADVANCE = (
    update(_W)
    .where(
        and_(
            _W.c.name == bindparam("b_name"),
            _W.c.holder == bindparam("b_holder"),
            _W.c.seq == bindparam("b_seq"),
            _W.c.version == bindparam("b_version"),
        )
    )
    .values(seq=bindparam("b_to_seq"), version=_W.c.version + 1, updated_at=bindparam("b_now"),
            holder=bindparam("b_new_holder"), expires_at=bindparam("b_expires"))
)  # fmt: skip
_GUARD = (  # every guarded profile write of a stream worker
    select(_W.c.version, _W.c.holder, _W.c.expires_at)
    .where(_W.c.name == bindparam("b_name"))
    .with_for_update(read=True)
)
_RELEASE = (
    update(_W)
    .where(_W.c.name == bindparam("b_name"), _W.c.holder == bindparam("b_holder"))
    .values(holder=None, expires_at=0, updated_at=bindparam("b_now"))
)


def _now_ms() -> int:
    return int(time.time() * 1000)


class SqlWatermarksMixin:
    """Methods of `Store` for followers of the log, on SQLAlchemy Core."""

    engine: Engine

    def _dialect_insert(self, table: object) -> object:  # provided by the backend
        raise NotImplementedError

    def last_seq(self) -> int:
        """The highest ``seq`` in the event log (0 when empty; an index lookup)."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.max(t.events.c.seq))).scalar() or 0)

    def watermark(self, name: str) -> Lease:
        """Read a watermark (a missing one is at 0) without taking its lease."""
        with self.engine.connect() as conn:
            return _read(conn, name)

    def take_lease(self, name: str, holder: str, ttl_ms: int) -> Lease:
        """Take or renew the lease unless another holder's is still valid (one write when
        free; a read only when another process holds it)."""
        now = _now_ms()
        # One connection for the read and the write: a second checkout cost a pool ping and
        # a rollback, two round trips of every group commit (SQLite starts its write
        # transaction at the UPDATE, after the read).
        with self.engine.begin() as conn:
            seen = _read(conn, name)
            if seen.holder not in (None, holder):
                return seen  # another process holds a valid lease: no write
            if seen.version < 0:  # no row yet
                stmt = self._dialect_insert(_W).values(  # type: ignore[attr-defined]
                    name=name, seq=0, version=0, holder=None, expires_at=0, updated_at=now
                )
                conn.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
            params = {"b_name": name, "b_holder": holder, "b_now": now, "b_expires": now + ttl_ms}
            row = conn.execute(_TAKE, params).first()
            if row is None:
                return _read(conn, name)
        return Lease(name, holder, int(row[0]), int(row[1]), True)

    def advance_lease(self, advance: Advance) -> Lease:
        """Move a held watermark in a transaction of its own."""
        with self.engine.begin() as conn:
            return advance_in(conn, advance)

    def release_lease(self, lease: Lease) -> None:
        """Give a lease up (nothing happens when it is no longer held)."""
        with self.engine.begin() as conn:
            params = {"b_name": lease.name, "b_holder": lease.holder, "b_now": _now_ms()}
            conn.execute(_RELEASE, params)


def _read(conn: Connection, name: str) -> Lease:
    row = conn.execute(_READ, {"b_name": name}).first()
    if row is None:
        return Lease(name, None, 0, -1, False)
    holder = row[2] if int(row[3]) > _now_ms() else None  # an expired lease is nobody's
    return Lease(name, holder, int(row[0]), int(row[1]), False)


def advance_in(conn: Connection, advance: Advance) -> Lease:
    """Move a held watermark inside the caller's transaction (compare-and-set); a lease kept
    is renewed for ``advance.ttl_ms``.

    Raises:
        LeaseLostError: the row no longer has the lease's holder, seq and version.
    """
    lease, now = advance.lease, _now_ms()
    result = conn.execute(
        _ADVANCE,
        {
            "b_name": lease.name,
            "b_holder": lease.holder,
            "b_seq": lease.seq,
            "b_version": lease.version,
            "b_to_seq": advance.to_seq,
            "b_now": now,
            "b_new_holder": None if advance.release else lease.holder,
            "b_expires": 0 if advance.release else now + advance.ttl_ms,
        },
    )
    if result.rowcount != 1:
        raise LeaseLostError(
            f"the lease of '{lease.name}' was lost (another process moved it past {lease.seq})"
        )
    holder = None if advance.release else lease.holder
    return Lease(lease.name, holder, advance.to_seq, lease.version + 1, not advance.release)


def guard_in(conn: Connection, guard: Guard) -> None:
    """Check a `Guard` inside the caller's transaction and keep the watermark row
    share-locked to its commit (PostgreSQL): a rebuild taking the lease, a retention or a
    forget moving the version waits for the commit, or came before and refuses the write.

    Raises:
        LeaseLostError: the version moved or another process holds the lease.
    """
    row = conn.execute(_GUARD, {"b_name": guard.name}).first()
    version, held = (
        (-1, False)
        if row is None
        else (int(row[0]), row[1] is not None and int(row[2]) > _now_ms())
    )
    if version != guard.version or held:
        raise LeaseLostError(
            f"'{guard.name}' changed (version {guard.version} -> {version}"
            f"{', lease held' if held else ''}): kept states are stale, nothing was written"
        )
