"""The `Store` interface: the durable event log, catalog, users and dead letters."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl

from tastemaker.errors import ConflictError
from tastemaker.storage.guard import Guard


@dataclass(frozen=True)
class AppendResult:
    """Outcome of appending events: how many were new and how many were already stored."""

    inserted: int
    duplicates: int
    #: event_ids of the rows actually inserted, in arrival order.
    inserted_ids: pl.Series
    #: their ``seq`` (position in the log), aligned with ``inserted_ids``.
    inserted_seqs: pl.Series = field(default_factory=lambda: pl.Series("seq", [], pl.Int64))


@dataclass(frozen=True)
class Lease:
    """A follower's watermark (every event with ``seq`` up to it is done) and its lease.

    ``acquired`` says whether ``holder`` holds the lease now; when False, the fields are what
    was read (``holder`` is then the other process, or None). ``version`` changes with every
    write under the lease, so a process that keeps states in memory knows when another one
    changed them.
    """

    name: str
    holder: str | None
    seq: int
    version: int
    acquired: bool


@dataclass(frozen=True)
class Advance:
    """Move a held watermark to ``to_seq`` in the transaction that writes what it covers."""

    lease: Lease
    to_seq: int
    #: give the lease up in the same statement.
    release: bool = False
    #: otherwise keep it this much longer (ms).
    ttl_ms: int = 30_000


class LeaseLostError(ConflictError):
    """The lease expired and another process took it (or moved the watermark): the work done
    under it is not written, and the caller starts again from the stored watermark."""


@dataclass(frozen=True)
class DeadLetter:
    """A refused row kept for inspection and replay."""

    kind: str
    source: str
    row_index: int
    field: str
    reason: str
    payload: str
    event_id: str | None = None
    id: int | None = None
    created_at: int | None = None
    replayed_at: int | None = None


@dataclass(frozen=True)
class ProfileRow:
    """One stored profile: key, JSON state, rules version it was evaluated with, last seen."""

    user_id: str
    state: str
    rules_version: int = 0
    last_seen: int | None = None


@dataclass(frozen=True)
class SegmentVersion:
    """One stored version of the segment rules file."""

    version: int
    text: str
    note: str | None
    created_at: int


@dataclass(frozen=True)
class ApiKeyRow:
    """One stored API key: its public id, name, scopes and the keyed hash of its secret."""

    id: str
    name: str
    scopes: tuple[str, ...]
    hash: str
    scheme: str
    created_at: int
    revoked_at: int | None = None
    last_used_at: int | None = None


@dataclass(frozen=True)
class AuditEntry:
    """One audit log row: who did what to which target, when (epoch ms), and the outcome."""

    at: int
    actor: str
    action: str
    target: str | None
    outcome: str
    detail: str = "{}"
    seq: int | None = None


@dataclass(frozen=True)
class AlertRow:
    """One monitoring alert: when (epoch ms), kind, subject, JSON detail, model version."""

    ts: int
    kind: str
    subject: str
    detail: str = "{}"
    version: str | None = None
    seq: int | None = None


class Store(ABC):
    """Durable storage for tastemaker. One implementation per database backend.

    Event frames passed to `append_events` are already validated and pseudonymized:
    columns are those of `tastemaker.schema.EVENT_COLUMNS` with ``timestamp`` as epoch
    milliseconds (Int64) and context / properties as JSON text.
    """

    backend: str = "abstract"

    @abstractmethod
    def migrate(self) -> list[int]:
        """Bring the schema to the latest version; return the versions applied."""

    @abstractmethod
    def schema_version(self) -> int:
        """Return the schema version the database is at."""

    @abstractmethod
    def append_events(self, frame: pl.DataFrame) -> AppendResult:
        """Store events idempotently: an event_id already present is skipped."""

    @abstractmethod
    def events(
        self,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        user_ids: list[str] | None = None,
        types: list[str] | None = None,
        after_seq: int | None = None,
        limit: int | None = None,
    ) -> pl.DataFrame:
        """Read events ordered by (timestamp, seq); ``timestamp`` as Datetime(ms, UTC)."""

    @abstractmethod
    def count_events(self) -> int:
        """Return the number of stored events."""

    @abstractmethod
    def upsert_items(self, frame: pl.DataFrame) -> int:
        """Insert or replace catalog items; return the number written."""

    @abstractmethod
    def items(self, item_ids: list[str] | None = None) -> pl.DataFrame:
        """Read the catalog: core columns plus one column per attribute."""

    @abstractmethod
    def patch_rows(self, table: str, patches: list[dict[str, Any]]) -> int:
        """Merge partial rows into ``items`` or ``users`` (absent fields keep their values,
        None clears one; ``attributes`` maps names to set, or to remove when None)."""

    @abstractmethod
    def delete_items(self, item_ids: list[str]) -> int:
        """Delete catalog items; return how many existed."""

    @abstractmethod
    def attribute_names(self, table: str) -> set[str]:
        """The attribute names the rows of ``items`` or ``users`` hold."""

    @abstractmethod
    def upsert_users(self, frame: pl.DataFrame) -> int:
        """Insert or replace users (ids already pseudonymized); return the number written."""

    @abstractmethod
    def users(self, user_ids: list[str] | None = None) -> pl.DataFrame:
        """Read users: user_id, consent, plus one column per attribute."""

    @abstractmethod
    def link_identities(self, links: list[tuple[str, str, int]]) -> None:
        """Record many (anonymous id, user id, at ms) links at once; existing links stay."""

    @abstractmethod
    def identity_links(self, user_id: str | None = None) -> dict[str, str]:
        """Return every anonymous id -> user id link, or those of ``user_id`` (indexed)."""

    @abstractmethod
    def add_dead_letters(self, letters: list[DeadLetter]) -> int:
        """Keep refused rows with their reason; return how many were written."""

    @abstractmethod
    def dead_letters(
        self, *, include_replayed: bool = False, limit: int | None = None
    ) -> list[DeadLetter]:
        """Read dead letters, oldest first."""

    @abstractmethod
    def mark_replayed(self, ids: list[int], at_ms: int) -> None:
        """Mark dead letters as replayed successfully."""

    @abstractmethod
    def delete_user(self, user_id: str, anonymous_ids: Sequence[str] = ()) -> dict[str, int]:
        """Erase a (pseudonymized) user from every table: their rows, the events and
        profiles of their anonymous ids, their identity links and the dead letters that
        hold either; return the rows deleted per table."""

    @abstractmethod
    def table_counts(self) -> dict[str, int]:
        """Return the row count of every table (for `tastemaker doctor`)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    # --- followers of the log: watermarks and leases (schema version 4) -----------------
    def last_seq(self) -> int:
        """The highest ``seq`` in the event log (0 when empty)."""
        raise NotImplementedError

    def take_lease(self, name: str, holder: str, ttl_ms: int) -> Lease:
        """Take (or renew) the lease of watermark ``name`` unless another holder's is valid.

        Returns the watermark with ``acquired`` True when ``holder`` now holds it.
        """
        raise NotImplementedError

    def advance_lease(self, advance: Advance) -> Lease:
        """Move a held watermark on its own.

        Raises:
            LeaseLostError: the lease is no longer ``advance.lease``'s.
        """
        raise NotImplementedError

    def release_lease(self, lease: Lease) -> None:
        """Give a lease up (nothing happens when it is no longer held)."""
        raise NotImplementedError

    def watermark(self, name: str) -> Lease:
        """Read a watermark without taking its lease."""
        raise NotImplementedError

    # --- profiles and segment rules (schema version 2) ---------------------------------
    def save_profiles(
        self,
        rows: list[ProfileRow],
        delete: list[str] | None = None,
        *,
        links: list[tuple[str, str, int]] | None = None,
        clear: bool = False,
        advance: Advance | None = None,
        guard: Guard | None = None,
    ) -> Lease | None:
        """Write profiles in one transaction: every profile deleted first when ``clear``, the
        keys in ``delete`` deleted, ``rows`` upserted, identity ``links`` (anonymous id,
        user id, at ms) recorded, and the watermark moved by ``advance``; with ``guard``,
        only while it holds (whoever moves the watermark waits for the commit).

        Returns:
            The moved watermark (None without ``advance``).

        Raises:
            LeaseLostError: ``advance``'s lease was lost, ``guard`` fails; nothing written.
        """
        raise NotImplementedError

    def load_profiles(self, user_ids: list[str] | None = None) -> dict[str, ProfileRow]:
        """Return stored profile rows by key (every profile when ``user_ids`` is None)."""
        raise NotImplementedError

    def prepare_writes(self) -> None:
        """Open what appends need ahead of the first one (nothing by default)."""
        return None

    def load_profile_state(self, user_id: str) -> str | None:
        """The stored state text of one profile key, or None (one indexed read)."""
        row = self.load_profiles([user_id]).get(user_id)
        return None if row is None else row.state

    def clear_profiles(self) -> int:
        """Delete every stored profile; return how many were deleted."""
        raise NotImplementedError

    def add_segment_version(self, text: str, note: str | None = None) -> int:
        """Store a new segment rules file; return its version number (1, 2, ...)."""
        raise NotImplementedError

    def segment_versions(self) -> list[SegmentVersion]:
        """Return every stored segment rules version, oldest first."""
        raise NotImplementedError

    def get_meta(self, key: str) -> str | None:
        """Return a small stored setting (e.g. ``segments.active``), or None."""
        raise NotImplementedError

    def set_meta(self, key: str, value: str) -> None:
        """Store a small setting."""
        raise NotImplementedError

    def items_version(self) -> str:
        """Return a cheap fingerprint of the catalog that changes whenever items change."""
        raise NotImplementedError

    def add_segment_stats(self, at_ms: int, rules_version: int, sizes: dict[str, int]) -> None:
        """Record the size of each segment at a point in time."""
        raise NotImplementedError

    def segment_stats(self) -> pl.DataFrame:
        """Return recorded segment sizes: at (Datetime ms UTC), rules_version, segment, members."""
        raise NotImplementedError

    # --- access control: API keys and the audit log (schema version 5) -----------------
    def add_api_key(self, row: ApiKeyRow) -> None:
        """Store a new API key (its id must be new)."""
        raise NotImplementedError

    def api_key(self, key_id: str) -> ApiKeyRow | None:
        """The stored key with this public id, revoked or not, or None (one indexed read)."""
        raise NotImplementedError

    def api_keys(self) -> list[ApiKeyRow]:
        """Every stored key, oldest first."""
        raise NotImplementedError

    def revoke_api_key(self, key_id: str, at_ms: int) -> bool:
        """Mark a key revoked at ``at_ms``; False when no such key or already revoked."""
        raise NotImplementedError

    def touch_api_key(self, key_id: str, at_ms: int) -> None:
        """Record that a key was last used at ``at_ms``."""
        raise NotImplementedError

    def append_audit(self, entry: AuditEntry) -> int:
        """Append one audit row; return its ``seq``. Audit rows are never changed."""
        raise NotImplementedError

    def audit_entries(
        self, since_ms: int | None = None, limit: int | None = None
    ) -> list[AuditEntry]:
        """Audit rows at or after ``since_ms``, oldest first (the last ``limit`` of them)."""
        raise NotImplementedError

    # --- monitoring: the alert log (schema version 6) -----------------------------------
    def append_alert(self, row: AlertRow) -> int:
        """Append one alert; return its ``seq``. Alert rows are never changed."""
        raise NotImplementedError

    def alerts(self, since_ms: int = 0, kind: str | None = None) -> list[AlertRow]:
        """Alerts at or after ``since_ms`` (of ``kind`` when given), oldest first."""
        raise NotImplementedError

    # --- retention and opt-out (users.consent) ---------------------------------------------
    def delete_events_before(self, cut_ms: int, *, dry_run: bool = False) -> dict[str, int]:
        """Delete events with an event time before ``cut_ms`` and dead letters created before
        it; return the rows per table (counted only, nothing deleted, with ``dry_run``)."""
        raise NotImplementedError

    def event_users_before(self, cut_ms: int) -> set[str]:
        """Profile keys (user ids, ``anon:<id>`` of visitors) with an event before ``cut_ms``."""
        raise NotImplementedError

    def opted_out_users(self) -> set[str]:
        """The (pseudonymized) ids of users who opted out of personalization."""
        raise NotImplementedError

    def set_consent(
        self, user_id: str, consent: bool, anonymous_ids: Sequence[str] = ()
    ) -> dict[str, int]:
        """Record a user's consent; on opt-out delete their stored profiles (and those of
        ``anonymous_ids``) in the same transaction. Return the rows changed per table."""
        raise NotImplementedError
