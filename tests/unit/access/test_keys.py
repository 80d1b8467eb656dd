"""API keys: shown once, stored as a keyed hash, compared in constant time, revocable."""

from __future__ import annotations

import hashlib
import hmac
import stat
from pathlib import Path

import pytest

from tastemaker.access import KeyRing
from tastemaker.access import keys as keys_module
from tastemaker.access.keys import PEPPER_FILE, hash_secret, split_token
from tastemaker.errors import NotFoundError, StoreUnavailableError, ValidationFailedError
from tastemaker.workspace import Workspace


@pytest.fixture
def ring(sqlite_workspace: Workspace) -> KeyRing:
    return KeyRing(sqlite_workspace.store, sqlite_workspace.root, cache_seconds=5.0)


def test_a_key_reads_tm_id_secret_and_verifies(ring: KeyRing) -> None:
    created = ring.create("shop-frontend", ["read", "ingest"])
    key_id, secret = split_token(created.token) or ("", "")
    assert created.token == f"tm_{key_id}_{secret}" and key_id == created.row.id
    assert len(secret) >= 43  # token_urlsafe(32): 256 random bits
    assert created.row.scopes == ("ingest", "read")  # canonical order
    assert ring.verify(created.token) == created.row


def test_the_stored_hash_is_hmac_sha256_of_the_secret_under_the_workspace_pepper(
    ring: KeyRing, sqlite_workspace: Workspace
) -> None:
    created = ring.create("etl", ["ingest"])
    _, secret = split_token(created.token) or ("", "")
    pepper_file = sqlite_workspace.root / PEPPER_FILE
    pepper = bytes.fromhex(pepper_file.read_text())
    expected = hmac.new(pepper, secret.encode(), hashlib.sha256).hexdigest()
    assert created.row.hash == expected == hash_secret(pepper, secret)
    assert stat.S_IMODE(pepper_file.stat().st_mode) == 0o600


def test_the_secret_is_nowhere_in_the_database(ring: KeyRing, sqlite_workspace: Workspace) -> None:
    created = ring.create("etl", ["ingest"])
    _, secret = split_token(created.token) or ("", "")
    ring.verify(created.token)
    sqlite_workspace.store.close()  # checkpoint the WAL into the file
    db = b"".join(p.read_bytes() for p in sqlite_workspace.root.glob("tastemaker.db*"))
    assert created.row.id.encode() in db  # the public part is there ...
    assert secret.encode() not in db and created.token.encode() not in db  # ... the secret not


def test_hashes_are_compared_in_constant_time(
    ring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = ring.create("etl", ["ingest"])
    compared: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(keys_module.hmac, "compare_digest", spy)
    assert ring.verify(created.token) is not None
    assert ring.verify(created.token[:-1] + ("A" if created.token[-1] != "A" else "B")) is None
    assert len(compared) == 2 and all(b == created.row.hash for _, b in compared)


@pytest.mark.parametrize(
    "token", ["", "tm_", "tm_abc_def", "nope", "tm_0123456789ab", "tm_0123456789ab_x" * 40]
)
def test_malformed_or_unknown_keys_do_not_verify(ring: KeyRing, token: str) -> None:
    ring.create("etl", ["ingest"])
    assert ring.verify(token) is None


def test_a_revoked_key_is_refused_once_the_cache_time_passed(
    sqlite_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(keys_module.time, "monotonic", lambda: clock[0])
    server = KeyRing(sqlite_workspace.store, sqlite_workspace.root, cache_seconds=5.0)
    cli = KeyRing(sqlite_workspace.store, sqlite_workspace.root)  # another process
    created = cli.create("old", ["read"])
    assert server.verify(created.token) is not None
    cli.revoke(created.row.id)
    clock[0] += 4.9
    assert server.verify(created.token) is not None  # still cached: within the bound
    clock[0] += 0.2
    assert server.verify(created.token) is None  # past key_cache_seconds: refused
    assert server.verify(created.token) is None


def test_revoking_is_recorded_and_twice_is_an_error(ring: KeyRing) -> None:
    created = ring.create("old", ["read"])
    row = ring.revoke(created.row.id)
    assert row.revoked_at is not None
    assert ring.verify(created.token) is None  # this process forgets it at once
    with pytest.raises(NotFoundError, match="no active key"):
        ring.revoke(created.row.id)
    assert [r.id for r in ring.list()] == [created.row.id]


@pytest.mark.parametrize(("name", "scopes"), [("x", []), ("x", ["write"]), (" ", ["read"])])
def test_unknown_scopes_and_empty_names_are_refused(
    ring: KeyRing, name: str, scopes: list[str]
) -> None:
    with pytest.raises(ValidationFailedError):
        ring.create(name, scopes)


def test_a_workspace_without_a_pepper_verifies_nothing_until_a_key_is_made(
    tmp_path: Path,
) -> None:
    ws = Workspace.init(tmp_path / "ws")
    try:
        (ws.root / PEPPER_FILE).unlink()  # a workspace made before access control
        ring = KeyRing(ws.store, ws.root)
        assert ring.verify("tm_0123456789ab_secret") is None
        created = ring.create("new", ["read"])
        assert (ws.root / PEPPER_FILE).exists() and ring.verify(created.token) is not None
    finally:
        ws.close()


def test_a_known_key_still_verifies_while_the_store_is_down(
    ring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = ring.create("shop", ["read"])
    assert ring.verify(created.token) is not None
    ring.cache_seconds = 0.0  # every verification goes to the store

    def down(key_id: str) -> None:
        raise StoreUnavailableError("sqlite store is unreachable")

    monkeypatch.setattr(ring.store, "api_key", down)
    assert ring.verify(created.token) is not None  # the last row read stays good
    with pytest.raises(StoreUnavailableError):  # a key never read cannot be checked
        ring.verify("tm_0123456789ab_secret")
