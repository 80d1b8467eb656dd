"""Redis fast path for profiles: a copy of each profile state under ``<prefix>profile:<key>``.

The store stays the durable copy; losing Redis loses nothing (`tastemaker profiles rebuild`
refills it). Errors of the Redis client become `StoreUnavailableError`.

A copy is written after the store's commit, so a write held back (a stalled process, a slow
network) could land after a rebuild, a retention or a forget wrote newer copies. Each copy
therefore carries the version of the ``profiles`` watermark its state belongs to (the
version moves with every rebuild, retention, forget and opt-out, and with every in-process
step), as a fixed-width header: ``<20 digits: version + 1>:<state JSON>``. Writes go through
one Lua script that replaces or deletes a copy only when the incoming version is not older
than the copy's. A key with no copy is written only at or above the *floor*
(``<prefix>profile-floor``), the version a forget, an opt-out or a rebuild's clearing raised
it to when it deleted copies, so a late write cannot bring a deleted copy back. A missing
copy is always safe: readers fall back to the store. `get` strips the header; a value
without one (written before versions) reads as it is and counts as the oldest.
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


#: Digits of a copy's version header (version + 1, zero-padded: compared as text in Lua).
STAMP_DIGITS = 20

# KEYS[1] the floor, then the keys to set (ARGV[3..] their states), then the keys to delete;
# ARGV[1] the stamp, ARGV[2] how many keys are set. Returns how many were refused.
_PUT = """
local stamp, n = ARGV[1], tonumber(ARGV[2])
local floor = redis.call('GET', KEYS[1]) or ''
local refused = 0
for i = 2, #KEYS do
  local cur = redis.call('GET', KEYS[i])
  local ok
  if cur then
    local have = string.sub(cur, 1, DIGITS)
    if string.sub(cur, DIGITS + 1, DIGITS + 1) ~= ':' or string.find(have, '^%d+$') == nil then
      have = ''
    end
    ok = stamp >= have
  else
    ok = stamp >= floor
  end
  if not ok then
    refused = refused + 1
  elseif i <= n + 1 then
    redis.call('SET', KEYS[i], stamp .. ':' .. ARGV[i + 1])
  else
    redis.call('DEL', KEYS[i])
  end
end
return refused
""".replace("DIGITS", str(STAMP_DIGITS))

# KEYS[1] the floor, then keys to delete; ARGV[1] the stamp the floor rises to.
_FLOOR = """
local floor = redis.call('GET', KEYS[1]) or ''
if ARGV[1] > floor then redis.call('SET', KEYS[1], ARGV[1]) end
local n = 0
for i = 2, #KEYS do n = n + redis.call('DEL', KEYS[i]) end
return n
"""


def stamp(version: int) -> str:
    """The header of a copy of watermark ``version`` (``-1``: no watermark yet)."""
    return f"{version + 1:0{STAMP_DIGITS}d}"


def _parse(value: str) -> tuple[int | None, str]:
    """The watermark version and the state JSON of a stored copy (a copy without a header
    has no version and is the state itself)."""
    head = value[:STAMP_DIGITS]
    if value[STAMP_DIGITS : STAMP_DIGITS + 1] == ":" and head.isdigit():
        return int(head) - 1, value[STAMP_DIGITS + 1 :]
    return None, value


def _text(value: object) -> str | None:
    return None if value is None else value.decode() if isinstance(value, bytes) else str(value)


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
        self._put = self.client.register_script(_PUT)
        self._floor = self.client.register_script(_FLOOR)

    def _key(self, key: str) -> str:
        return f"{self.prefix}profile:{key}"

    @property
    def floor_key(self) -> str:
        """The key holding the floor (the version deleted copies were deleted at)."""
        return f"{self.prefix}profile-floor"

    def put_many(
        self, states: dict[str, str], delete: list[str] | None = None, *, version: int
    ) -> int:
        """Write profile states (JSON) and delete keys of watermark ``version``, in one round
        trip; a copy of a newer version (or a key deleted at a newer floor) is left alone.

        Returns:
            How many of the writes and deletes were refused as older.
        """
        if not states and not delete:
            return 0
        keys = [
            self.floor_key,
            *(self._key(k) for k in states),
            *(self._key(k) for k in delete or ()),
        ]
        with _guard("write"):
            return int(self._put(keys=keys, args=[stamp(version), len(states), *states.values()]))

    def copy(
        self, states: dict[str, str], delete: list[str], *, version: int, clear: bool = False
    ) -> int:
        """The copies of one store write of watermark ``version``: every copy cleared first
        when the write replaced every profile (a rebuild), then `put_many`; return how many
        were refused as older."""
        if clear:
            self.clear(version=version)
        return self.put_many(states, delete, version=version)

    def get(self, key: str) -> str | None:
        """The JSON state of one profile, or None."""
        with _guard("read"):
            value = self.client.get(self._key(key))
        text = _text(value)
        return None if text is None else _parse(text)[1]

    def version(self, key: str) -> int | None:
        """The watermark version of a profile's copy (None: no copy, or one without)."""
        with _guard("read"):
            value = self.client.get(self._key(key))
        text = _text(value)
        return None if text is None else _parse(text)[0]

    def delete(self, keys: list[str], *, version: int) -> int:
        """Delete the profiles of ``keys`` whatever their version, and raise the floor to
        ``version`` (the watermark's after the deletion) so that no older write brings them
        back; return how many existed."""
        with _guard("delete"):
            return int(self._floor(keys=[self.floor_key, *map(self._key, keys)],
                                   args=[stamp(version)]))  # fmt: skip

    def clear(self, *, version: int | None = None) -> int:
        """Raise the floor to ``version`` (first: no older write lands meanwhile), then delete
        every profile key under the prefix; return how many. Without ``version`` the floor
        goes too (the workspace's profiles are dropped: benchmarks, tests)."""
        if version is not None:
            self.delete([], version=version)
        else:
            with _guard("clear"):
                self.client.delete(self.floor_key)
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
