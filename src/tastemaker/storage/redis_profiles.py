"""Redis fast path for profiles: a copy of each profile state under ``<prefix>profile:<key>``.

The store stays the durable copy; losing Redis loses nothing (`tastemaker profiles rebuild`
refills it). Errors of the Redis client become `StoreUnavailableError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis

from tastemaker.errors import StoreUnavailableError


@contextmanager
def _guard(what: str) -> Iterator[None]:
    try:
        yield
    except redis.RedisError as exc:
        raise StoreUnavailableError(f"redis {what} failed: {exc}") from exc


class RedisProfiles:
    """Profile states in Redis (string values, JSON).

    Args:
        url: ``redis://host:port/db``.
        prefix: key prefix (one per workspace).
        timeout: socket timeout in seconds (a dead Redis fails fast).
    """

    def __init__(self, url: str, prefix: str = "tastemaker:", timeout: float = 0.5) -> None:
        self.url = url
        self.prefix = prefix
        self.client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )

    def _key(self, key: str) -> str:
        return f"{self.prefix}profile:{key}"

    def put_many(self, states: dict[str, str], delete: list[str] | None = None) -> None:
        """Write profile states (JSON) and delete keys, in one round trip."""
        if not states and not delete:
            return
        with _guard("write"):
            pipe = self.client.pipeline(transaction=False)
            if states:
                pipe.mset({self._key(k): v for k, v in states.items()})
            if delete:
                pipe.delete(*[self._key(k) for k in delete])
            pipe.execute()

    def get(self, key: str) -> str | None:
        """The JSON state of one profile, or None."""
        with _guard("read"):
            value = self.client.get(self._key(key))
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    def delete(self, keys: list[str]) -> int:
        """Delete the profiles of ``keys``; return how many existed."""
        if not keys:
            return 0
        with _guard("delete"):
            return int(self.client.delete(*[self._key(k) for k in keys]))

    def clear(self) -> int:
        """Delete every profile key under the prefix; return how many."""
        n = 0
        with _guard("clear"):
            batch: list[bytes] = []
            for k in self.client.scan_iter(match=self._key("*"), count=1000):
                batch.append(k)
                if len(batch) >= 1000:
                    n += int(self.client.delete(*batch))
                    batch = []
            if batch:
                n += int(self.client.delete(*batch))
        return n

    def ping(self) -> bool:
        """True when Redis answers."""
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            return False

    def close(self) -> None:
        """Release connections."""
        self.client.close()
