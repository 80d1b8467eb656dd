"""Per-user caches with a TTL, invalidated when the user sends an event.

One class serves the result cache (served lists) and the user-state cache (the profile
step's arrays). A value computed while the user's events arrived is never stored: callers
take a :meth:`ResultCache.token` before computing and hand it to :meth:`ResultCache.put`.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from typing import Any


class ResultCache:
    """Results by user and request key; a user's entries go when the user acts.

    Args:
        ttl_seconds: how long a result stays valid (0 disables the cache).
        max_users: users kept (least recently used go first).
    """

    def __init__(self, ttl_seconds: float, max_users: int = 100_000) -> None:
        self.ttl = ttl_seconds
        self.max_users = max_users
        self._data: OrderedDict[str, dict[Hashable, tuple[float, Any]]] = OrderedDict()
        self._lock = threading.Lock()
        #: user -> number of the last invalidation that named them
        self._epoch: dict[str, int] = {}
        self._seq = 0
        self._base = 0
        self.hits = 0
        self.misses = 0

    def get(self, user: str, key: Hashable) -> Any | None:
        """The cached value, or None (expired or absent)."""
        if self.ttl <= 0:
            return None
        now = time.monotonic()
        with self._lock:
            entries = self._data.get(user)
            hit = entries.get(key) if entries else None
            if hit is None or hit[0] < now:
                self.misses += 1
                return None
            self._data.move_to_end(user)
            self.hits += 1
            return hit[1]

    def token(self, user: str) -> tuple[int, int]:
        """Where ``user``'s invalidations stand now (pass it to :meth:`put`)."""
        return self._base, self._epoch.get(user, 0)

    def put(
        self, user: str, key: Hashable, value: Any, token: tuple[int, int] | None = None
    ) -> None:
        """Remember ``value`` for ``ttl`` seconds (not if ``user`` acted since ``token``)."""
        if self.ttl <= 0:
            return
        with self._lock:
            if token is not None and (self._base, self._epoch.get(user, 0)) != token:
                return
            self._data.setdefault(user, {})[key] = (time.monotonic() + self.ttl, value)
            self._data.move_to_end(user)
            while len(self._data) > self.max_users:
                self._data.popitem(last=False)

    def invalidate(self, users: Iterable[str]) -> None:
        """Forget every result of ``users`` (one dict update per call, not a loop per user)."""
        users = list(users)
        with self._lock:
            if len(self._epoch) > 4 * self.max_users:
                # forget the marks; tokens taken before stop matching (nothing stale is kept)
                self._base += 1
                self._epoch.clear()
            self._seq += 1
            self._epoch.update(dict.fromkeys(users, self._seq))
            cached = self._data.keys() & set(users) if self._data else ()
            for user in cached:
                del self._data[user]

    def clear(self) -> None:
        """Forget everything (e.g. a new model version)."""
        with self._lock:
            self._data.clear()

    @property
    def hit_rate(self) -> float:
        """Hits / lookups since start (0 before any lookup)."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0
