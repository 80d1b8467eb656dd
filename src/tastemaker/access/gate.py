"""The one access check: who is calling (API key, legacy key or anonymous), may they use
this scope, and are they within their rate limit.

The FastAPI dependency (`serving/deps.py`), the recommendation shortcut and the open
endpoints' guard all call `AccessGate.authorize`; nothing else decides.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import logging
from dataclasses import dataclass

from tastemaker.access.keys import SCOPES, KeyRing
from tastemaker.access.ratelimit import RateLimiter, retry_after_seconds
from tastemaker.config import Scope, Settings
from tastemaker.errors import AuthError, ForbiddenError, RateLimitedError
from tastemaker.storage.base import Store

log = logging.getLogger(__name__)

_MISSING = (
    "missing API key: send it in the X-API-Key header (or Authorization: Bearer); "
    "create one with `tastemaker keys create --scope read --name NAME`"
)


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: a key (id and name), the legacy key, or anonymous."""

    key_id: str | None
    name: str
    scopes: frozenset[str]

    @property
    def actor(self) -> str:
        """How the audit log names it: ``key:<id> (<name>)`` or the name."""
        return f"key:{self.key_id} ({self.name})" if self.key_id else self.name

    def allows(self, scope: str) -> bool:
        """True when the principal holds ``scope`` or ``admin`` (admin covers everything)."""
        return scope in self.scopes or "admin" in self.scopes


@functools.lru_cache(maxsize=1024)
def is_loopback(host: str | None) -> bool:
    """True for a loopback client address (127.0.0.0/8, ::1)."""
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _open_to(mode: str, host: str | None) -> bool:
    return mode == "always" or (mode == "loopback" and is_loopback(host))


class AccessGate:
    """Authenticates and authorizes requests against a workspace's keys and settings.

    Settings are read on every call (``settings.serving``), so a changed setting applies to
    the next request.

    Args:
        settings: the workspace settings.
        store: the workspace store (API keys).
    """

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.keys = KeyRing(store, settings.workspace, settings.serving.key_cache_seconds)
        self.limiter = RateLimiter()
        self._warned = False

    def authorize(self, token: str | None, host: str | None, scope: Scope) -> Principal:
        """The principal a request acts as, when it may use ``scope``.

        Args:
            token: the key the request carries (None: no key).
            host: the client address.
            scope: what the route needs: ingest, read or admin.

        Raises:
            AuthError: no key where one is needed, or an unknown, revoked or malformed key.
            ForbiddenError: a valid key without ``scope`` (nor admin).
            RateLimitedError: the key's bucket for ``scope`` is empty (429, Retry-After).
        """
        serving = self.settings.serving
        if not token:
            if serving.api_key is None and _open_to(serving.allow_anonymous, host):
                return Principal(None, f"anonymous@{host}", frozenset(SCOPES))
            raise AuthError(_MISSING)
        principal = self._identify(token)
        if principal is None:
            raise AuthError("unknown, revoked or malformed API key (see `tastemaker keys list`)")
        if not principal.allows(scope):
            raise ForbiddenError(
                f"key '{principal.name}' lacks scope '{scope}' "
                f"(it has {', '.join(sorted(principal.scopes))})",
                scope=scope,
            )
        wait = self.limiter.take(principal.key_id or "", scope, serving.rate_limits.get(scope))
        if wait > 0:
            seconds = retry_after_seconds(wait)
            raise RateLimitedError(
                f"key '{principal.name}': over the '{scope}' rate limit "
                f"(serving.rate_limits.{scope}); retry in {seconds} s",
                retry_after=seconds,
            )
        return principal

    def authorize_open(self, token: str | None, host: str | None) -> None:
        """Guard ``/metrics`` and the API docs as ``serving.open_endpoints`` says: open to
        all, to loopback clients, or (else) to a key with the read scope.

        Raises:
            AuthError, ForbiddenError, RateLimitedError: as `authorize`.
        """
        if _open_to(self.settings.serving.open_endpoints, host):
            return
        if not token:
            raise AuthError(_MISSING + " (serving.open_endpoints)")
        self.authorize(token, host, "read")

    def _identify(self, token: str) -> Principal | None:
        serving = self.settings.serving
        legacy = serving.api_key
        if legacy and hmac.compare_digest(token.encode(), legacy.encode()):
            if not self._warned:
                self._warned = True
                log.warning(
                    "serving.api_key is deprecated: it acts as an admin key; create scoped "
                    "keys with `tastemaker keys create` and remove it"
                )
            return Principal("legacy", "serving.api_key", frozenset({"admin"}))
        self.keys.cache_seconds = serving.key_cache_seconds
        row = self.keys.verify(token)
        return None if row is None else Principal(row.id, row.name, frozenset(row.scopes))
