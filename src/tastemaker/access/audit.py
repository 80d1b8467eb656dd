"""The audit log: every admin action and every deletion, who, what, when and the outcome.

Append-only: this module writes rows and reads them; no code path changes or removes one.
"""

from __future__ import annotations

import getpass
import time
from datetime import datetime
from typing import Any

import orjson

from tastemaker.storage.base import AuditEntry, Store

OUTCOMES = ("ok", "refused", "error")
#: The action of a guarded retrain (`tastemaker retrain`, the worker's retrain job); read
#: back by the retrain trigger and the metrics exporter.
RETRAIN_ACTION = "models.retrain"
#: Rows read back, newest first, to find an action's last row.
LOOKBACK = 5000


def cli_actor() -> str:
    """The actor of a command-line action: ``cli:<os user>``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no user name in the environment nor in the passwd file
        user = "unknown"
    return f"cli:{user}"


def _text(value: str) -> str:
    """A value as stored: NUL escaped (PostgreSQL text refuses it), at most 512 characters
    (a refused request's path values are the client's)."""
    return value.replace("\x00", "\\x00")[:512]


class AuditLog:
    """Writes and reads a workspace's audit rows.

    Args:
        store: the workspace's store.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def record(
        self, actor: str, action: str, target: str | None, outcome: str, **detail: Any
    ) -> int:
        """Append one row now; return its sequence number.

        Args:
            actor: ``key:<id> (<name>)``, ``cli:<user>`` or ``anonymous@<host>``.
            action: what was done, e.g. ``models.promote`` or ``DELETE /v1/items/{item_id}``.
            target: what it was done to (a version, a key id, an item id), or None.
            outcome: ``ok``, ``refused`` (not allowed) or ``error`` (allowed, failed).
            detail: more facts, stored as JSON (never a secret).
        """
        if outcome not in OUTCOMES:
            raise ValueError(f"audit outcome {outcome!r}: expected one of {OUTCOMES}")
        entry = AuditEntry(
            at=int(time.time() * 1000),
            actor=_text(actor),
            action=_text(action),
            target=None if target is None else _text(target),
            outcome=outcome,
            detail=orjson.dumps(detail, default=str).decode(),
        )
        return self.store.append_audit(entry)

    def last(self, action: str, lookback: int = LOOKBACK) -> AuditEntry | None:
        """The newest row of ``action`` among the newest ``lookback`` rows (None: none)."""
        rows = self.store.audit_entries(None, lookback)
        return next((e for e in reversed(rows) if e.action == action), None)

    def entries(self, since: datetime | None = None, limit: int | None = None) -> list[AuditEntry]:
        """Rows at or after ``since`` (all when None), oldest first; the newest ``limit``."""
        since_ms = None if since is None else int(since.timestamp() * 1000)
        return self.store.audit_entries(since_ms, limit)
