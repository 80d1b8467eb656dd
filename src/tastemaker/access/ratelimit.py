"""Per-key request limits: one token bucket per (key, scope), held in this process.

With N server processes each keeps its own buckets, so a key may send up to N times its
limit in all; size the limits per process.
"""

from __future__ import annotations

import math
import threading
import time

from tastemaker.config import RateLimit


class RateLimiter:
    """Token buckets filled at ``per_second`` up to ``burst``; a request takes one token."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, who: str, scope: str, limit: RateLimit | None) -> float:
        """Take a token from ``who``'s bucket for ``scope``.

        Returns:
            0.0 when the request may go on, else the seconds until a token is back.
        """
        if limit is None or limit.per_second <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get((who, scope), (float(limit.burst), now))
            tokens = min(float(limit.burst), tokens + (now - last) * limit.per_second)
            if tokens >= 1.0:
                self._buckets[(who, scope)] = (tokens - 1.0, now)
                return 0.0
            self._buckets[(who, scope)] = (tokens, now)
            return (1.0 - tokens) / limit.per_second


def retry_after_seconds(wait: float) -> int:
    """The ``Retry-After`` value for a wait: whole seconds, at least 1."""
    return max(1, math.ceil(wait))
