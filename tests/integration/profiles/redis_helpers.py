"""Workspaces whose bus is Redis Streams (db 15, unique names, cleaned up by the caller)."""

from __future__ import annotations

import uuid
from pathlib import Path

import redis

from tastemaker.config import CacheConfig, RedisBusConfig, load_settings, write_settings
from tastemaker.workspace import Workspace

REDIS_URL = "redis://127.0.0.1:6379/15"


def redis_workspace(root: Path, partitions: int = 2) -> Workspace:
    """A SQLite workspace publishing accepted events to its own Redis streams."""
    Workspace.init(root).close()
    settings = load_settings(root)
    tag = uuid.uuid4().hex[:10]
    settings.bus = RedisBusConfig(url=REDIS_URL, stream=f"tmtest:{tag}:events",
                                  partitions=partitions)  # fmt: skip
    settings.cache = CacheConfig(redis_url=REDIS_URL)
    write_settings(settings)
    return Workspace.open(root)


def cleanup(ws: Workspace) -> None:
    """Delete the workspace's streams and fast-path keys."""
    client = redis.Redis.from_url(REDIS_URL)
    bus = ws.settings.bus
    assert isinstance(bus, RedisBusConfig)
    client.delete(*[f"{bus.stream}:{p}" for p in range(bus.partitions)])
    if ws.profiles.fast is not None:
        ws.profiles.fast.clear()
    client.close()
