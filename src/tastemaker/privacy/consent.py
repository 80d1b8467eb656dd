"""A user opts out of personalization, or back in (``PUT /v1/users/{id}/consent``,
``tastemaker consent USER --opt-out|--opt-in``).

The record is the user's row in the store (``users.consent``: False means opted out; a row
is created for a user not stored yet). While opted out:

- their events are still stored (the log stays the record; retention and forget apply)
  but build no profile: the profile service drops the user's profile instead of writing it,
  in every process applying events (server, stream workers, rebuilds);
- their profile is deleted at once (store and the Redis fast path; also the profiles of
  their linked anonymous ids) and reads as none;
- recommendations and the featured listing are those of an unknown user (the engine's
  non-personalized fallback: no history, no segments, not even training-time rows).

Every process re-reads who opted out every ``privacy.consent_refresh_seconds`` (and drops
the lists it cached for them); the process that made the change applies it at once. Opting
back in: new events build a new profile (a later rebuild replays the user's whole remaining
log). Each change writes an audit row naming the user by a digest only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tastemaker.access.audit import AuditLog
from tastemaker.errors import NotFoundError
from tastemaker.privacy.forget import drop_profile_copies, linked_anonymous_ids, subject_digest
from tastemaker.workspace import Workspace

ACTION = "privacy.consent"


@dataclass
class ConsentReceipt:
    """A consent change: the user's digest, the new state and what was dropped."""

    subject: str
    consent: bool
    refresh_seconds: float
    deleted: dict[str, int] = field(default_factory=dict)
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready receipt."""
        return {"subject": self.subject, "consent": self.consent, "at": self.at,
                "deleted": dict(self.deleted),
                "applies_within_seconds": self.refresh_seconds}  # fmt: skip


def set_consent(ws: Workspace, user_id: str, consent: bool, actor: str = "cli") -> ConsentReceipt:
    """Record that raw ``user_id`` consents to personalization (True) or opts out (False);
    on opt-out drop their profiles; write the audit row; return the receipt.

    Raises:
        StoreUnavailableError: the store or Redis failed (run it again).
    """
    key = ws.pseudonymizer.one(user_id)
    anon = linked_anonymous_ids(ws, key)
    refresh = ws.settings.privacy.consent_refresh_seconds
    receipt = ConsentReceipt(subject_digest(key), consent, refresh)
    audit = AuditLog(ws.store)
    try:
        stored = ws.store.set_consent(key, consent, anon)
        if stored.get("profiles"):
            receipt.deleted["store:profiles"] = stored["profiles"]
        if not consent:
            n = drop_profile_copies(ws, key, anon)
            if n:
                receipt.deleted["redis:profiles"] = n
    except Exception as exc:
        audit.record(actor, ACTION, receipt.subject, "error", error=type(exc).__name__,
                     consent=consent)  # fmt: skip
        raise
    ws.profiles.consent.refresh()  # this process serves the change at once
    audit.record(actor, ACTION, receipt.subject, "ok", consent=consent, deleted=receipt.deleted)
    return receipt


def get_consent(ws: Workspace, user_id: str) -> bool:
    """Whether raw ``user_id`` consents to personalization (True unless they opted out).

    Raises:
        NotFoundError: no such user is stored.
    """
    users = ws.store.users([ws.pseudonymizer.one(user_id)])
    if users.height == 0:
        raise NotFoundError(f"user '{user_id}' is not stored", user_id=user_id)
    return bool(users["consent"][0])
