"""Retention: events older than ``privacy.retention_days`` leave the workspace.

What goes (everything dated before the cut, ``now - retention_days``): events of the store's
log by their event time (impressions and experiment exposures are events too), dead letters
kept since before it, Redis stream entries published before it or holding only events
before it once the workers acknowledged them (never an entry still to be processed), and
lines of the request logs (shadow logs) written before it. What stays: aggregates that
identify no one (segment sizes over time, model versions' metrics), users' rows, identity
links, the audit log.

Profiles are derived from the log, so they must then equal what a rebuild from the
remaining log gives: when any event was deleted, every profile is rebuilt (the log has no
per-user index, so replaying a few users costs a full read anyway). A run that deleted and
then failed before its rebuild leaves a mark in the store, and the next run rebuilds even
when it deletes nothing.
The cut is kept in the store (``privacy.retention_cut_ms``) before anything is deleted:
every process applying events drops those before it, so an entry a worker has yet to
deliver cannot bring a deleted event back into a profile. Stream workers write under a
`~tastemaker.storage.guard.Guard` of the ``profiles`` watermark: the deletion and the
rebuild move its version (and the rebuild holds its lease), so a worker's write with
states or a cut read before them is refused; it re-reads both and applies its batch again.
``dry_run`` counts what would go and deletes nothing. Each run writes one audit row.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tastemaker.access.audit import AuditLog
from tastemaker.config import RedisBusConfig
from tastemaker.privacy.logs import expire_logs
from tastemaker.profiles.consent import RETENTION_CUT_KEY
from tastemaker.workspace import Workspace

ACTION = "privacy.retention"
#: Store meta key set (to the cut) from before a run deletes until its rebuild is done: a
#: run that failed in between (the store went away) leaves it, and the next run rebuilds.
REBUILD_OWED_KEY = "privacy.retention_rebuild_owed"
_DAY_MS = 86_400_000


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


@dataclass
class RetentionReceipt:
    """What one retention run deleted (or, in a dry run, would delete) where.

    Attributes:
        retention_days: the setting applied (None: retention is off, nothing was done).
        cut: everything dated before it goes (UTC, ISO 8601), or None when off.
        dry_run: counted only.
        deleted: ``store:<table>``, ``redis:stream entries``, ``file:<path>`` -> count.
        users_affected: profile keys (users and visitors) that had events before the cut.
        profiles_rebuilt: profiles after the rebuild (None: no rebuild was needed or done).
        stream_entries_pending: entries before the cut kept because workers have not
            acknowledged them yet (the next run deletes them).
    """

    retention_days: float | None
    cut: str | None
    dry_run: bool = False
    deleted: dict[str, int] = field(default_factory=dict)
    users_affected: int = 0
    profiles_rebuilt: int | None = None
    stream_entries_pending: int = 0
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def total(self) -> int:
        """Rows, entries and lines deleted in all."""
        return sum(self.deleted.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready receipt."""
        return {
            "retention_days": self.retention_days,
            "cut": self.cut,
            "dry_run": self.dry_run,
            "at": self.at,
            "deleted": dict(self.deleted),
            "total": self.total,
            "users_affected": self.users_affected,
            "profiles_rebuilt": self.profiles_rebuilt,
            "stream_entries_pending": self.stream_entries_pending,
        }


def cut_ms(retention_days: float, now: float | None = None) -> int:
    """The cut in epoch ms: ``now`` (epoch seconds, default the clock) minus the days."""
    now_ms = int((time.time() if now is None else now) * 1000)
    return now_ms - int(retention_days * _DAY_MS)


def _expire_streams(ws: Workspace, cut: int, dry_run: bool) -> tuple[int, int]:
    if not isinstance(ws.settings.bus, RedisBusConfig):
        return 0, 0
    from tastemaker.storage.redis_streams import RedisStreamBus  # only with Redis

    bus = RedisStreamBus(ws.settings.bus)
    try:
        return bus.expire_before(cut, dry_run=dry_run)
    finally:
        bus.close()


def apply_retention(
    ws: Workspace, now: float | None = None, *, dry_run: bool = False, actor: str = "cli"
) -> RetentionReceipt:
    """Delete what is older than ``privacy.retention_days`` (see the module); rebuild the
    profiles when deleted events belonged to someone; write the audit row.

    Args:
        ws: the opened workspace.
        now: the time to cut back from (epoch seconds; default the clock).
        dry_run: count only, delete nothing.
        actor: who runs it, for the audit log.

    Raises:
        StoreUnavailableError: the store or Redis failed; what was deleted stays deleted,
            run it again.
    """
    days = ws.settings.privacy.retention_days
    if days is None:
        return RetentionReceipt(None, None, dry_run)
    cut = cut_ms(days, now)
    receipt = RetentionReceipt(days, _iso(cut), dry_run)
    audit = AuditLog(ws.store)
    try:
        if ws.profiles.follower is not None:  # events this process owes profiles go first
            ws.profiles.flush()
        receipt.users_affected = len(ws.store.event_users_before(cut))
        owed = bool(ws.store.get_meta(REBUILD_OWED_KEY))  # a run failed before its rebuild
        if not dry_run:  # stream workers drop events before it (entries still to deliver)
            ws.store.set_meta(RETENTION_CUT_KEY, str(cut))
            ws.store.set_meta(REBUILD_OWED_KEY, receipt.cut or "")  # until the rebuild is done
            ws.profiles.consent.refresh()
        stored = ws.store.delete_events_before(cut, dry_run=dry_run)
        receipt.deleted.update({f"store:{t}": n for t, n in stored.items() if n})
        entries, receipt.stream_entries_pending = _expire_streams(ws, cut, dry_run)
        if entries:
            receipt.deleted["redis:stream entries"] = entries
        reports = ws.settings.path(ws.settings.reports_dir)
        files = expire_logs(reports, ws.root, cut, dry_run=dry_run)
        receipt.deleted.update({f"file:{p}": n for p, n in files.items()})
        if not dry_run:
            if stored.get("events") or owed:
                receipt.profiles_rebuilt = ws.profiles.rebuild()
            ws.store.set_meta(REBUILD_OWED_KEY, "")
    except Exception as exc:
        if not dry_run:
            audit.record(actor, ACTION, receipt.cut, "error", error=type(exc).__name__,
                         deleted=receipt.deleted)  # fmt: skip
        raise
    if not dry_run:
        audit.record(actor, ACTION, receipt.cut, "ok", deleted=receipt.deleted,
                     users_affected=receipt.users_affected,
                     profiles_rebuilt=receipt.profiles_rebuilt)  # fmt: skip
    return receipt
