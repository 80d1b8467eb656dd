"""API keys: created random, shown once, stored as a keyed hash, verified in constant time.

A key reads ``tm_<id>_<secret>``: ``id`` (12 hex characters) is public and finds the stored
row; ``secret`` is ``secrets.token_urlsafe(32)`` (256 random bits) and is never stored. The
row keeps HMAC-SHA256(pepper, secret), the pepper being a per-workspace random key in the
file ``access.key`` (mode 0600), not in the database.

Why a keyed hash and not scrypt / PBKDF2: those slow down guessing *low-entropy* passwords.
A 256-bit random secret cannot be guessed whatever the hash, so a slow KDF would only cost
every request milliseconds of CPU (or force caching verified secrets in memory). The pepper
adds what a KDF cannot: a copy of the database alone does not even let one test a guess.
Each row names its ``scheme`` so another one can be introduced beside it.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

from tastemaker.config import Scope
from tastemaker.errors import NotFoundError, StoreUnavailableError, ValidationFailedError
from tastemaker.storage.base import ApiKeyRow, Store

PEPPER_FILE = "access.key"
SCHEME = "hmac-sha256"
SCOPES: tuple[str, ...] = get_args(Scope)  # the settings' spelling of the scopes
PREFIX = "tm_"
_ID_CHARS = 12
#: Entries kept in the in-process cache of key rows (unknown ids included) before it is
#: emptied: a flood of made-up ids cannot grow memory without bound.
_CACHE_MAX = 10_000
#: ``last_used_at`` is written at most this often per key and process (ms).
_TOUCH_EVERY_MS = 60_000


@dataclass(frozen=True)
class CreatedKey:
    """A key just created: its stored row and the full key, to be shown once."""

    row: ApiKeyRow
    token: str


def split_token(token: str) -> tuple[str, str] | None:
    """``(id, secret)`` of a well-formed ``tm_<id>_<secret>`` key, else None."""
    if not token.startswith(PREFIX):
        return None
    key_id, sep, secret = token[len(PREFIX) :].partition("_")
    if not sep or len(key_id) != _ID_CHARS or not secret or len(secret) > 256:
        return None
    return key_id, secret


def hash_secret(pepper: bytes, secret: str) -> str:
    """HMAC-SHA256 of a key's secret under the workspace pepper, as hex."""
    return hmac.digest(pepper, secret.encode(), "sha256").hex()  # OpenSSL's one-shot HMAC


def load_pepper(root: Path, *, create: bool = False) -> bytes | None:
    """The workspace pepper (``access.key``), created with mode 0600 when asked and absent."""
    path = root / PEPPER_FILE
    if path.is_file():
        return bytes.fromhex(path.read_text().strip())
    if not create:
        return None
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


def _check_scopes(scopes: list[str]) -> tuple[str, ...]:
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise ValidationFailedError(
            f"scopes {unknown or '(none)'}: expected one or more of {', '.join(SCOPES)}"
        )
    return tuple(s for s in SCOPES if s in scopes)


class KeyRing:
    """Create, list, revoke and verify a workspace's API keys.

    Verification reads a key's row from the store once per ``cache_seconds`` per process
    (unknown ids too), so a revocation takes effect everywhere within that time.

    Args:
        store: the workspace's store.
        root: the workspace folder (holding the pepper file).
        cache_seconds: how long a key's row read from the store is reused.
    """

    def __init__(self, store: Store, root: Path, cache_seconds: float = 5.0) -> None:
        self.store = store
        self.root = root
        self.cache_seconds = cache_seconds
        self._pepper: bytes | None = None
        self._cache: dict[str, tuple[float, ApiKeyRow | None]] = {}
        self._touched: dict[str, int] = {}
        self._lock = threading.Lock()

    def create(self, name: str, scopes: list[str]) -> CreatedKey:
        """Make a new key with ``scopes``; the returned token is the only copy of the secret.

        Raises:
            ValidationFailedError: an unknown scope, no scope, or an empty or long name.
        """
        if not name.strip() or len(name) > 128:
            raise ValidationFailedError("key name: 1 to 128 characters expected")
        pepper = load_pepper(self.root, create=True)
        assert pepper is not None
        key_id, secret = secrets.token_hex(_ID_CHARS // 2), secrets.token_urlsafe(32)
        row = ApiKeyRow(
            id=key_id,
            name=name.strip(),
            scopes=_check_scopes(scopes),
            hash=hash_secret(pepper, secret),
            scheme=SCHEME,
            created_at=int(time.time() * 1000),
        )
        self.store.add_api_key(row)
        return CreatedKey(row, f"{PREFIX}{key_id}_{secret}")

    def list(self) -> list[ApiKeyRow]:
        """Every key of the workspace, revoked ones included, oldest first."""
        return self.store.api_keys()

    def revoke(self, key_id: str) -> ApiKeyRow:
        """Revoke a key (servers refuse it within ``serving.key_cache_seconds``).

        Raises:
            NotFoundError: no such key, or it was revoked already.
        """
        if not self.store.revoke_api_key(key_id, int(time.time() * 1000)):
            raise NotFoundError(f"no active key with id '{key_id}' (see `tastemaker keys list`)")
        with self._lock:
            self._cache.pop(key_id, None)
        row = self.store.api_key(key_id)
        assert row is not None
        return row

    def verify(self, token: str) -> ApiKeyRow | None:
        """The active key ``token`` is, else None (malformed, unknown, wrong secret, revoked).

        The stored and computed hashes are compared with `hmac.compare_digest`.
        """
        parts = split_token(token)
        if parts is None:
            return None
        key_id, secret = parts
        row = self._row(key_id)
        pepper = self._pepper
        if row is None or pepper is None or row.scheme != SCHEME or row.revoked_at is not None:
            return None
        if not hmac.compare_digest(hash_secret(pepper, secret), row.hash):
            return None
        return row

    def _row(self, key_id: str) -> ApiKeyRow | None:
        now = time.monotonic()
        cached = self._cache.get(key_id)
        if cached is not None and now - cached[0] < self.cache_seconds:
            return cached[1]
        if self._pepper is None:
            self._pepper = load_pepper(self.root)
        try:
            row = self.store.api_key(key_id)
        except StoreUnavailableError:
            if cached is None:
                raise
            # the store is down: nothing can be revoked meanwhile, so the last row read
            # stays good and requests keep their degraded answers rather than a 503
            return cached[1]
        with self._lock:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[key_id] = (now, row)
        if row is not None and row.revoked_at is None:
            self._touch(row)
        return row

    def _touch(self, row: ApiKeyRow) -> None:
        """Record use at most once a minute per key and process (on a cache refresh)."""
        now_ms = int(time.time() * 1000)
        if now_ms - self._touched.get(row.id, 0) >= _TOUCH_EVERY_MS:
            self._touched[row.id] = now_ms
            # a usage time is not worth failing a request for
            with contextlib.suppress(StoreUnavailableError):
                self.store.touch_api_key(row.id, now_ms)
