"""The per-user result cache: TTL, invalidation per user, bounded size."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tastemaker.engine import cache as cache_module
from tastemaker.engine.cache import ResultCache


def test_hit_miss_invalidate_and_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    # the cache's clock is the test's: with the real one and a 0.2 s TTL, a stall of 0.2 s
    # between the put and the reads (a busy CI machine) expired the entry early
    clock = [100.0]
    monkeypatch.setattr(cache_module, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    cache = ResultCache(ttl_seconds=0.2)
    assert cache.get("u1", "k") is None
    cache.put("u1", "k", [1, 2])
    cache.put("u2", "k", [3])
    assert cache.get("u1", "k") == [1, 2] and cache.get("u1", "other") is None
    cache.invalidate(["u1"])
    assert cache.get("u1", "k") is None and cache.get("u2", "k") == [3]
    assert (cache.hits, cache.misses) == (2, 3) and cache.hit_rate == 0.4
    clock[0] += 0.19
    assert cache.get("u2", "k") == [3]  # not yet expired
    clock[0] += 0.02
    assert cache.get("u2", "k") is None


def test_disabled_and_bounded() -> None:
    off = ResultCache(ttl_seconds=0)
    off.put("u", "k", 1)
    assert off.get("u", "k") is None
    small = ResultCache(ttl_seconds=60, max_users=2)
    for user in ("a", "b", "c"):
        small.put(user, "k", user)
    assert small.get("a", "k") is None and small.get("c", "k") == "c"


def test_a_value_computed_while_the_user_acted_is_not_kept() -> None:
    cache = ResultCache(ttl_seconds=60)
    token = cache.token("u1")
    cache.invalidate(["u1"])  # an event arrives while the value is being computed
    cache.put("u1", "k", "stale", token)
    assert cache.get("u1", "k") is None
    cache.put("u1", "k", "fresh", cache.token("u1"))
    assert cache.get("u1", "k") == "fresh"


def test_tokens_survive_many_invalidations_and_the_reset_of_the_marks() -> None:
    cache = ResultCache(ttl_seconds=60, max_users=2)
    token = cache.token("u1")
    cache.invalidate(f"x{i}" for i in range(20))  # beyond 4 x max_users: marks reset next
    cache.invalidate(["u1"])
    cache.put("u1", "k", "stale", token)
    assert cache.get("u1", "k") is None
    cache.put("u2", "k", "kept", cache.token("u2"))
    cache.invalidate([])  # an empty batch changes nothing cached
    assert cache.get("u2", "k") == "kept"
