"""The alert log: drift and metric drops beyond their thresholds, append-only in the store.

Each alert is one row of the ``alerts`` table (schema version 6): when, kind (``drift`` or
``metric_drop``), subject (the drifted feature, or ``ctr:v0003``), a JSON detail with the
figures, and the model version. Rows are never changed; ``tastemaker monitor alerts``
reads them, ``/metrics`` counts them, and retraining can follow them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from tastemaker.errors import ValidationFailedError
from tastemaker.storage.base import AlertRow, Store

AlertKind = Literal["drift", "metric_drop"]
KINDS: tuple[str, ...] = ("drift", "metric_drop")


@dataclass(frozen=True)
class Alert:
    """One alert as read back (``ts`` in epoch seconds)."""

    ts: float
    kind: str
    subject: str
    detail: dict[str, Any] = field(default_factory=dict)
    version: str | None = None
    seq: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"seq": self.seq, "ts": self.ts, "kind": self.kind, "subject": self.subject,
                "version": self.version, "detail": self.detail}  # fmt: skip


class AlertLog:
    """Writes and reads the alert log of a store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def record(
        self,
        kind: AlertKind,
        subject: str,
        detail: dict[str, Any] | None = None,
        version: str | None = None,
        ts: float | None = None,
    ) -> int:
        """Append one alert; return its sequence number.

        Raises:
            ValidationFailedError: an unknown kind.
        """
        if kind not in KINDS:
            raise ValidationFailedError(f"alert kind '{kind}' is not one of {', '.join(KINDS)}")
        at = int((time.time() if ts is None else ts) * 1000)
        text = json.dumps(detail or {}, sort_keys=True, default=str)
        return self.store.append_alert(AlertRow(at, kind, subject, text, version))

    def since(self, ts: float = 0.0, kind: str | None = None) -> list[Alert]:
        """Alerts at or after ``ts`` (epoch seconds), of ``kind`` when given, oldest first."""
        rows = self.store.alerts(int(ts * 1000), kind)
        return [Alert(r.ts / 1000, r.kind, r.subject, json.loads(r.detail or "{}"), r.version,
                      r.seq) for r in rows]  # fmt: skip

    def counts(self, ts: float = 0.0) -> dict[str, int]:
        """Alerts per kind at or after ``ts`` (every kind listed, 0 when none)."""
        out = dict.fromkeys(KINDS, 0)
        for alert in self.since(ts):
            out[alert.kind] = out.get(alert.kind, 0) + 1
        return out
