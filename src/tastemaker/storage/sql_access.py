"""API keys and the audit log on SQLAlchemy Core (mixed into `SqlStore`).

The audit log has an insert and reads only: no statement here updates or deletes its rows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, insert, select, update

from tastemaker.storage import tables as t
from tastemaker.storage.base import ApiKeyRow, AuditEntry


def _key_row(row: Any) -> ApiKeyRow:
    return ApiKeyRow(
        id=row.id,
        name=row.name,
        scopes=tuple(s for s in row.scopes.split(",") if s),
        hash=row.hash,
        scheme=row.scheme,
        created_at=int(row.created_at),
        revoked_at=None if row.revoked_at is None else int(row.revoked_at),
        last_used_at=None if row.last_used_at is None else int(row.last_used_at),
    )


class SqlAccessMixin:
    """`Store` methods for API keys and the append-only audit log."""

    engine: Engine

    def add_api_key(self, row: ApiKeyRow) -> None:
        """Insert a new key row."""
        values = {
            "id": row.id,
            "name": row.name,
            "scopes": ",".join(row.scopes),
            "hash": row.hash,
            "scheme": row.scheme,
            "created_at": row.created_at,
            "revoked_at": row.revoked_at,
            "last_used_at": row.last_used_at,
        }
        with self.engine.begin() as conn:
            conn.execute(insert(t.api_keys).values(**values))

    def api_key(self, key_id: str) -> ApiKeyRow | None:
        """Read one key by its public id."""
        with self.engine.connect() as conn:
            row = conn.execute(select(t.api_keys).where(t.api_keys.c.id == key_id)).first()
        return None if row is None else _key_row(row)

    def api_keys(self) -> list[ApiKeyRow]:
        """Every key, oldest first."""
        stmt = select(t.api_keys).order_by(t.api_keys.c.created_at, t.api_keys.c.id)
        with self.engine.connect() as conn:
            return [_key_row(r) for r in conn.execute(stmt)]

    def revoke_api_key(self, key_id: str, at_ms: int) -> bool:
        """Set ``revoked_at`` on a key not revoked yet."""
        k = t.api_keys.c
        stmt = update(t.api_keys).where(k.id == key_id, k.revoked_at.is_(None))
        with self.engine.begin() as conn:
            return conn.execute(stmt.values(revoked_at=at_ms)).rowcount > 0

    def touch_api_key(self, key_id: str, at_ms: int) -> None:
        """Set ``last_used_at``."""
        stmt = update(t.api_keys).where(t.api_keys.c.id == key_id).values(last_used_at=at_ms)
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def append_audit(self, entry: AuditEntry) -> int:
        """Insert one audit row and return its seq."""
        values = {
            "at": entry.at,
            "actor": entry.actor,
            "action": entry.action,
            "target": entry.target,
            "outcome": entry.outcome,
            "detail": entry.detail,
        }
        with self.engine.begin() as conn:
            stmt = insert(t.audit_log).values(**values).returning(t.audit_log.c.seq)
            return int(conn.execute(stmt).scalar_one())

    def audit_entries(
        self, since_ms: int | None = None, limit: int | None = None
    ) -> list[AuditEntry]:
        """Audit rows at or after ``since_ms``, oldest first (the newest ``limit``)."""
        a = t.audit_log.c
        stmt = select(t.audit_log).order_by(a.seq.desc())
        if since_ms is not None:
            stmt = stmt.where(a.at >= since_ms)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self.engine.connect() as conn:
            rows = list(conn.execute(stmt))
        return [
            AuditEntry(int(r.at), r.actor, r.action, r.target, r.outcome, r.detail, int(r.seq))
            for r in reversed(rows)
        ]
