"""Forget a user: every trace of them leaves the workspace, and a receipt says where from.

Traces: the store (events, including those of the anonymous ids linked to the user or
named in the request; the user row; identity links; profiles; dead letters holding them;
experiment exposures and impressions are events too), Redis (the profile fast path and the
published stream entries holding their events), the workspace's data files (shadow logs,
imported data, exported splits) and every trained model version (vocabulary entry and
per-user rows). Later training reads the store, so it cannot see them either.

The audit row names the user by :func:`subject_digest` only: a one-way digest of the
pseudonym, so the audit log holds no id, yet an operator who is asked whether a given user
was forgotten can compute the digest and look. Forgetting again is harmless (a receipt of
zeros); a forget that failed half-way is finished by running it again.
"""

from __future__ import annotations

import hashlib
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tastemaker.access.audit import AuditLog
from tastemaker.config import RedisBusConfig
from tastemaker.privacy.artifacts import erase_from_versions
from tastemaker.privacy.files import erase_from_files
from tastemaker.profiles.maintenance import WATERMARK
from tastemaker.profiles.wiring import fast_path
from tastemaker.registry.registry import ModelRegistry
from tastemaker.storage.follower import holding
from tastemaker.storage.outbox import LEASE_MS as OUTBOX_LEASE_MS
from tastemaker.storage.outbox import WATERMARK as OUTBOX_WATERMARK
from tastemaker.workspace import Workspace

ACTION = "privacy.forget"


def subject_digest(pseudonym: str) -> str:
    """The audit log's name for a forgotten user: ``user:`` + 16 hex of SHA-256."""
    return "user:" + hashlib.sha256(f"forgotten:{pseudonym}".encode()).hexdigest()[:16]


@dataclass
class ForgetReceipt:
    """What was deleted where: counts per place (``store:<table>``, ``redis:<what>``,
    ``file:<path>``, ``model:<path>``)."""

    subject: str
    anonymous_ids: int
    deleted: dict[str, int] = field(default_factory=dict)
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def total(self) -> int:
        """Rows, entries, lines and model rows deleted in all."""
        return sum(self.deleted.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready receipt."""
        return {"subject": self.subject, "anonymous_ids": self.anonymous_ids, "at": self.at,
                "deleted": dict(self.deleted), "total": self.total}  # fmt: skip


def linked_anonymous_ids(ws: Workspace, key: str) -> list[str]:
    """The (pseudonymized) anonymous ids linked to the user with pseudonym ``key``."""
    return sorted(ws.store.identity_links(key))


def drop_profile_copies(ws: Workspace, key: str, anon: list[str]) -> int:
    """Delete the Redis copies of the profiles of ``key`` and its ``anon`` ids (none without
    a fast path) at the version a deletion moved the watermark to, so that no late write
    brings them back; return how many existed."""
    profiles = fast_path(ws.settings)
    if profiles is None:
        return 0
    try:
        version = ws.store.watermark(WATERMARK).version
        return profiles.delete([key, *(f"anon:{a}" for a in anon)], version=version)
    finally:
        profiles.client.close()


def _erase_redis(ws: Workspace, key: str, anon: list[str]) -> dict[str, int]:
    out: dict[str, int] = {"redis:profiles": drop_profile_copies(ws, key, anon)}
    if isinstance(ws.settings.bus, RedisBusConfig):
        from tastemaker.storage.redis_streams import RedisStreamBus  # only with Redis

        bus = RedisStreamBus(ws.settings.bus)
        try:
            out["redis:stream entries"] = bus.erase({key}, set(anon))
        finally:
            bus.close()
    return out


def _publishing_paused(ws: Workspace) -> AbstractContextManager[object]:
    """With ``bus: redis``, hold the outbox's lease: no process is then between reading the
    log and moving the ``published`` watermark, so none sends events deleted meanwhile
    (a publish under way ends first; its entries are then erased, or the forget fails)."""
    if not isinstance(ws.settings.bus, RedisBusConfig):
        return nullcontext()
    return holding(ws.store, OUTBOX_WATERMARK, OUTBOX_LEASE_MS)


def forget_user(
    ws: Workspace, user_id: str, anonymous_ids: tuple[str, ...] = (), actor: str = "cli"
) -> ForgetReceipt:
    """Forget the user with raw id ``user_id`` (and the raw ``anonymous_ids`` given, beyond
    those linked to the user); write the audit row; return the receipt.

    Raises:
        StoreUnavailableError: the store or Redis failed, or stream entries holding the user
            are not processed yet; what was deleted stays deleted, run it again.
    """
    key = ws.pseudonymizer.one(user_id)
    linked = linked_anonymous_ids(ws, key)
    anon = sorted({*linked, *(ws.pseudonymizer.one(a) for a in anonymous_ids)})
    receipt = ForgetReceipt(subject_digest(key), len(anon))
    audit = AuditLog(ws.store)
    try:
        with _publishing_paused(ws):
            stored = ws.store.delete_user(key, anon)
        receipt.deleted.update({f"store:{t}": n for t, n in stored.items() if n})
        receipt.deleted.update({k: v for k, v in _erase_redis(ws, key, anon).items() if v})
        raw = {user_id, *anonymous_ids}
        ids = {key, *anon, *raw, *(f"anon:{a}" for a in anon)}
        files = erase_from_files(ws.root, ids, ws.pseudonymizer.columns)
        receipt.deleted.update({f"file:{p}": n for p, n in files.items()})
        models_root = ws.settings.path(ws.settings.models_dir)
        erased = erase_from_versions(models_root, {key, *anon, *(f"anon:{a}" for a in anon)})
        receipt.deleted.update({f"model:{p}": n for p, n in erased.items()})
        if erased:
            ModelRegistry(models_root).mark_rewritten()
    except Exception as exc:
        audit.record(actor, ACTION, receipt.subject, "error", error=type(exc).__name__,
                     deleted=receipt.deleted)  # fmt: skip
        raise
    audit.record(actor, ACTION, receipt.subject, "ok", deleted=receipt.deleted)
    return receipt
