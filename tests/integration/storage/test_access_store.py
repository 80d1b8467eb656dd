"""API keys and the audit log on every store backend (SQLite and PostgreSQL)."""

from __future__ import annotations

from tastemaker.storage.base import ApiKeyRow, AuditEntry
from tastemaker.workspace import Workspace


def test_api_keys_are_added_read_revoked_and_touched(workspace: Workspace) -> None:
    store = workspace.store
    row = ApiKeyRow("0123456789ab", "shop", ("ingest", "read"), "f" * 64, "hmac-sha256", 1000)
    store.add_api_key(row)
    assert store.api_key("0123456789ab") == row
    assert store.api_key("nope") is None
    store.touch_api_key(row.id, 2000)
    assert store.revoke_api_key(row.id, 3000) is True
    assert store.revoke_api_key(row.id, 4000) is False  # once
    (stored,) = store.api_keys()
    assert (stored.scopes, stored.last_used_at, stored.revoked_at) == (
        ("ingest", "read"),
        2000,
        3000,
    )


def test_audit_rows_are_appended_in_order(workspace: Workspace) -> None:
    store = workspace.store
    seqs = [
        store.append_audit(AuditEntry(at, "cli:ann", "keys.create", f"k{at}", "ok", "{}"))
        for at in (10, 20, 30)
    ]
    assert seqs == sorted(seqs)
    assert [e.target for e in store.audit_entries(since_ms=20)] == ["k20", "k30"]
    assert [e.seq for e in store.audit_entries(limit=2)] == seqs[1:]
