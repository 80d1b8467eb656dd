"""A workspace: a folder with configuration, key, database, models and reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tastemaker.access.keys import load_pepper
from tastemaker.config import (
    CONFIG_FILE,
    Openness,
    PostgresStoreConfig,
    ServingConfig,
    Settings,
    SqliteStoreConfig,
    load_settings,
    write_settings,
)
from tastemaker.errors import ConfigError
from tastemaker.ingest.pseudonymize import Pseudonymizer, create_key
from tastemaker.ingest.service import Ingestor
from tastemaker.profiles.service import ProfileService
from tastemaker.profiles.wiring import attach_profiles, copy_default_rules
from tastemaker.storage.base import Store
from tastemaker.storage.factory import open_store
from tastemaker.storage.outbox import Outbox


@dataclass
class Workspace:
    """An opened workspace: settings, store, pseudonymizer and the ingestion service."""

    settings: Settings
    store: Store
    pseudonymizer: Pseudonymizer
    ingestor: Ingestor = field(init=False)
    profiles: ProfileService = field(init=False)
    #: publishes the event log to Redis Streams (``bus: redis``), else None.
    outbox: Outbox | None = field(init=False)

    def __post_init__(self) -> None:
        self.ingestor = Ingestor(self.settings, self.store, self.pseudonymizer)
        self.profiles, self.outbox = attach_profiles(self.settings, self.store, self.ingestor)

    @property
    def root(self) -> Path:
        """The workspace folder."""
        return self.settings.workspace

    @classmethod
    def init(
        cls,
        path: str | Path,
        database_url: str | None = None,
        postgres_schema: str | None = None,
        *,
        allow_anonymous: Openness = "loopback",
        key: bytes | None = None,
    ) -> Workspace:
        """Create a workspace folder with config, a fresh key (mode 0600) and a migrated store.

        Args:
            path: folder to create (may exist, but must not hold a workspace yet).
            database_url: a PostgreSQL URL; SQLite in the folder when omitted.
            postgres_schema: PostgreSQL schema (namespace) to keep the tables in.
            allow_anonymous: written as ``serving.allow_anonymous``. A new workspace answers
                requests without a key from this machine (loopback) only; the setting's
                own default, for a file that does not name it, is ``never``.
            key: the pseudonymization key (at least 16 bytes) instead of a fresh random
                one. Only for workspaces of synthetic users that must replay exactly
                (simulations): whoever knows the key can link pseudonyms to raw ids.

        Raises:
            ConfigError: a workspace already exists there, or ``key`` is too short.
        """
        root = Path(path).resolve()
        if (root / CONFIG_FILE).exists():
            raise ConfigError(f"a workspace already exists at {root} ({CONFIG_FILE} is there)")
        root.mkdir(parents=True, exist_ok=True)
        if database_url:
            store_cfg: SqliteStoreConfig | PostgresStoreConfig = PostgresStoreConfig(
                url=database_url, schema_name=postgres_schema
            )
        else:
            store_cfg = SqliteStoreConfig()
        serving = ServingConfig(allow_anonymous=allow_anonymous)
        settings = Settings(workspace=root, store=store_cfg, serving=serving)
        write_settings(settings)
        create_key(settings.key_path, key)
        load_pepper(root, create=True)  # the key API keys are hashed with (access.key, 0600)
        for sub in (settings.models_dir, settings.reports_dir):
            settings.path(sub).mkdir(parents=True, exist_ok=True)
        copy_default_rules(settings)
        return cls.open(root)

    @classmethod
    def open(cls, path: str | Path) -> Workspace:
        """Open an existing workspace and bring its store schema up to date."""
        settings = load_settings(path)
        store = open_store(settings)
        return cls(settings, store, Pseudonymizer.from_file(settings.key_path))

    def close(self) -> None:
        """Publish and apply what this process still owes, then release the store."""
        try:
            if self.outbox is not None:
                self.outbox.close()
            self.profiles.close()
        finally:
            self.store.close()
