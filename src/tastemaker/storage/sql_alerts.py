"""The monitoring alert log on SQLAlchemy Core (mixed into `SqlStore`): insert and read only."""

from __future__ import annotations

from sqlalchemy import Engine, insert, select

from tastemaker.storage import tables as t
from tastemaker.storage.base import AlertRow


class SqlAlertsMixin:
    """`Store` methods for the append-only alert log."""

    engine: Engine

    def append_alert(self, row: AlertRow) -> int:
        """Insert one alert row and return its seq."""
        values = {"ts": row.ts, "kind": row.kind, "subject": row.subject,
                  "detail": row.detail, "version": row.version}  # fmt: skip
        with self.engine.begin() as conn:
            stmt = insert(t.alerts).values(**values).returning(t.alerts.c.seq)
            return int(conn.execute(stmt).scalar_one())

    def alerts(self, since_ms: int = 0, kind: str | None = None) -> list[AlertRow]:
        """Alert rows at or after ``since_ms`` (of ``kind``), oldest first."""
        a = t.alerts.c
        stmt = select(t.alerts).where(a.ts >= since_ms).order_by(a.seq)
        if kind is not None:
            stmt = stmt.where(a.kind == kind)
        with self.engine.connect() as conn:
            rows = list(conn.execute(stmt))
        return [AlertRow(int(r.ts), r.kind, r.subject, r.detail, r.version, int(r.seq))
                for r in rows]  # fmt: skip
