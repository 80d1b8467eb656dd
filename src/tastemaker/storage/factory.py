"""Choose and open the configured Store backend."""

from __future__ import annotations

from tastemaker.config import PostgresStoreConfig, Settings, SqliteStoreConfig
from tastemaker.storage.base import Store


def open_store(settings: Settings, *, migrate: bool = True) -> Store:
    """Open the store named in ``settings.store`` (and bring its schema up to date)."""
    cfg = settings.store
    store: Store
    if isinstance(cfg, SqliteStoreConfig):
        from tastemaker.storage.sqlite import SqliteStore

        store = SqliteStore(settings.path(cfg.path))
    elif isinstance(cfg, PostgresStoreConfig):
        from tastemaker.storage.postgres import PostgresStore

        store = PostgresStore(cfg.url, cfg.schema_name)
    else:  # pragma: no cover - the settings model admits no other type
        raise TypeError(f"unknown store type {cfg!r}")
    if migrate:
        store.migrate()
    return store
