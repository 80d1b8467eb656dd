"""Connecting the profile service to a workspace's ingestion (in process or via Redis Streams)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from tastemaker.config import RedisBusConfig, Settings
from tastemaker.ingest.service import Ingestor
from tastemaker.profiles.registry import DEFAULT_RULES_FILE
from tastemaker.profiles.service import ProfileService
from tastemaker.storage.base import Store
from tastemaker.storage.outbox import Outbox

if TYPE_CHECKING:
    from tastemaker.storage.redis_profiles import RedisProfiles


def fast_path(settings: Settings) -> RedisProfiles | None:
    """The Redis fast path when ``cache.redis_url`` is configured."""
    url = settings.cache.redis_url
    if not url:
        return None
    from tastemaker.storage.redis_profiles import RedisProfiles  # only with Redis configured

    digest = hashlib.sha1(str(settings.workspace.resolve()).encode()).hexdigest()[:10]
    prefix = f"tastemaker:{digest}:"
    return RedisProfiles(url, prefix=prefix)


def attach_profiles(
    settings: Settings, store: Store, ingestor: Ingestor
) -> tuple[ProfileService, Outbox | None]:
    """Create the workspace's profile service (and outbox) and connect them to ingestion.

    With ``bus: inprocess`` every append has the log applied to profiles up to it (by this
    process, or by the one holding the lease); with ``bus: redis`` the outbox publishes the
    log to Redis Streams past its watermark and `tastemaker worker` processes apply it (this
    process only reads profiles).
    """
    bus = settings.bus
    owner = not isinstance(bus, RedisBusConfig)
    service = ProfileService(settings, store, fast=fast_path(settings), owner=owner, follow=owner)
    if owner:
        ingestor.add_listener(service.listener)
        return service, None
    assert isinstance(bus, RedisBusConfig)
    relay = outbox(bus, store)
    ingestor.add_listener(relay.listener)
    return service, relay


def outbox(bus: RedisBusConfig, store: Store) -> Outbox:
    """The outbox publishing the workspace's event log to its Redis Streams."""
    from tastemaker.storage.redis_streams import RedisStreamBus

    return Outbox(store, RedisStreamBus(bus))


def copy_default_rules(settings: Settings) -> Path:
    """Write the packaged segment rules into a new workspace (if it has none)."""
    target = settings.path(settings.profiles.segments_file)
    if not target.exists():
        source = Path(__file__).with_name(DEFAULT_RULES_FILE)
        shutil.copyfile(source, target)
    return target
