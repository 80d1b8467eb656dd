"""The relational schema, one SQLAlchemy Core definition shared by SQLite and PostgreSQL.

Timestamps are epoch milliseconds (UTC) in BIGINT columns: portable, compact and fast to
bulk-load. JSON payloads (context, properties, attributes) are stored as text.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Integer,
    MetaData,
    Table,
    Text,
)

metadata = MetaData()

#: Integer primary key that is SQLite's rowid and a BIGSERIAL-like identity on PostgreSQL.
_SeqType = BigInteger().with_variant(Integer(), "sqlite")

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("description", Text, nullable=False),
    Column("applied_at", BigInteger, nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("seq", _SeqType, primary_key=True, autoincrement=True),
    Column("event_id", Text, nullable=False, unique=True),
    Column("user_id", Text, nullable=True),
    Column("anonymous_id", Text, nullable=True),
    Column("type", Text, nullable=False),
    Column("item_id", Text, nullable=True),
    Column("value", Float, nullable=True),
    Column("ts", BigInteger, nullable=False),
    Column("session_id", Text, nullable=True),
    Column("context", Text, nullable=True),
    Column("properties", Text, nullable=True),
    Column("received_at", BigInteger, nullable=False),
)
# The event log is append-only and read in bulk (training, rebuilds, exports) or by seq
# (stream consumers): the only index is event_id's, for idempotency. Per-user reads are
# served by profiles; an index on (user_id, ts) made every batch commit touch hundreds of
# random index pages and cut ingestion throughput by more than half.

items = Table(
    "items",
    metadata,
    Column("item_id", Text, primary_key=True),
    Column("category", Text, nullable=True),
    Column("brand", Text, nullable=True),
    Column("price", Float, nullable=True),
    Column("title", Text, nullable=True),
    Column("text", Text, nullable=True),
    Column("in_stock", Boolean, nullable=False, default=True),
    Column("created_at", BigInteger, nullable=True),
    Column("attributes", Text, nullable=False, default="{}"),
    Column("updated_at", BigInteger, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("consent", Boolean, nullable=False, default=True),
    Column("attributes", Text, nullable=False, default="{}"),
    Column("updated_at", BigInteger, nullable=False),
)

identity_links = Table(
    "identity_links",
    metadata,
    Column("anonymous_id", Text, primary_key=True),
    Column("user_id", Text, nullable=False, index=True),
    Column("linked_at", BigInteger, nullable=False),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", _SeqType, primary_key=True, autoincrement=True),
    Column("kind", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("row_index", Integer, nullable=False),
    Column("event_id", Text, nullable=True),
    Column("field", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("payload", Text, nullable=False),
    # Hash of kind, source, row, reason and payload: the same refusal is kept once.
    Column("fingerprint", Text, nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
    Column("replayed_at", BigInteger, nullable=True),
)

# --- profiles and segments (schema version 2) ---------------------------------------------

profiles = Table(
    "profiles",
    metadata,
    # Pseudonymized user id, or ``anon:<pseudonym>`` for a visitor not identified yet.
    Column("user_id", Text, primary_key=True),
    # Compact JSON state (timeline, counts, affinities, traits, segments).
    Column("state", Text, nullable=False),
    Column("rules_version", Integer, nullable=False, default=0),
    Column("last_seen", BigInteger, nullable=True),
    Column("updated_at", BigInteger, nullable=False),
)

segment_versions = Table(
    "segment_versions",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("text", Text, nullable=False),
    Column("note", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
)

#: Small key -> value settings kept in the store (e.g. the active segment rules version).
store_meta = Table(
    "store_meta",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

segment_stats = Table(
    "segment_stats",
    metadata,
    Column("id", _SeqType, primary_key=True, autoincrement=True),
    Column("at", BigInteger, nullable=False, index=True),
    Column("rules_version", Integer, nullable=False),
    Column("segment", Text, nullable=False),
    Column("members", Integer, nullable=False),
)

# --- derived state followers (schema version 4) --------------------------------------------

#: How far each follower of the event log got: ``profiles`` (in-process profile updates) and
#: ``published`` (the outbox to Redis Streams). ``seq``: every event up to it is done;
#: ``version`` changes with every write under the lease (caches compare it); ``holder`` and
#: ``expires_at`` (epoch ms) make the lease: one process at a time follows the log.
watermarks = Table(
    "watermarks",
    metadata,
    Column("name", Text, primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("holder", Text, nullable=True),
    Column("expires_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# --- access control (schema version 5) -------------------------------------------------------

#: API keys. The secret is never stored: ``hash`` is its keyed hash (``scheme`` names how it
#: was made, so a later scheme can sit beside it). ``id`` is the public part of the key.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    # Comma-separated scopes: ingest, read, admin.
    Column("scopes", Text, nullable=False),
    Column("hash", Text, nullable=False),
    Column("scheme", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger, nullable=True),
    Column("last_used_at", BigInteger, nullable=True),
)

#: Every admin action and deletion, append-only (no code path updates or deletes a row).
audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", _SeqType, primary_key=True, autoincrement=True),
    Column("at", BigInteger, nullable=False, index=True),
    # ``key:<id> (<name>)``, ``cli:<os user>`` or ``anonymous@<host>``.
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("target", Text, nullable=True),
    # ok | refused | error
    Column("outcome", Text, nullable=False),
    Column("detail", Text, nullable=False, default="{}"),
)

# --- monitoring (schema version 6) ----------------------------------------------------------

#: Drift and metric-drop alerts, append-only (no code path updates or deletes a row).
alerts = Table(
    "alerts",
    metadata,
    Column("seq", _SeqType, primary_key=True, autoincrement=True),
    Column("ts", BigInteger, nullable=False, index=True),
    # drift | metric_drop
    Column("kind", Text, nullable=False),
    # what drifted or dropped: a feature name, ``ctr:v0003``, ...
    Column("subject", Text, nullable=False),
    Column("detail", Text, nullable=False, default="{}"),
    Column("version", Text, nullable=True),
)
