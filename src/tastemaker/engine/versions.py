"""The model versions one process serves: loaded from the registry, swapped without a restart.

:class:`VersionSet` loads the active version, the shadow and the versions running
experiments serve (a canary is one: ``engine/experiments.py``), rebuilds the item tables
when the catalog changed, and hands out the version an experiment routed a user to.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import polars as pl

from tastemaker.engine.config import PipelineConfig
from tastemaker.engine.version import LoadedVersion, load_version, reconfigure_version
from tastemaker.registry.registry import ModelRegistry, RegistryState

log = logging.getLogger(__name__)


class VersionSet:
    """The loaded versions of one process and the registry state they follow.

    Args:
        registry: the workspace's model registry.
        items: reads the current catalog.
        config: engine settings (catalog refresh periods, re-ranking stages).
        segment_attributes: catalog attributes that act as user segments.
        catalog_version: the store's catalog fingerprint (a change rebuilds the item tables
            once ``catalog_change_seconds`` passed since the last rebuild).
    """

    def __init__(
        self,
        registry: ModelRegistry,
        items: Callable[[], pl.DataFrame],
        config: PipelineConfig,
        segment_attributes: tuple[str, ...],
        catalog_version: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.registry = registry
        self.items = items
        self.config = config
        self.segment_attributes = segment_attributes
        self.catalog_version = catalog_version
        self.state = RegistryState()
        self.versions: dict[str, LoadedVersion] = {}
        self._token: tuple[tuple[int, int], frozenset[str]] | None = None
        self.extra: frozenset[str] = frozenset()
        self._catalog_at = 0.0
        self._catalog_version: str | None = None
        self._lock = threading.Lock()

    def _catalog_stale(self) -> bool:
        age = time.monotonic() - self._catalog_at
        if age > self.config.catalog_refresh_seconds:
            return True
        changed = self.catalog_version() != self._catalog_version
        return changed and age > self.config.catalog_change_seconds

    def refresh(self, force: bool = False, extra: frozenset[str] | None = None) -> bool:
        """Reload versions if the registry pointers, the versions ``extra`` (served by
        experiments; None: as before) or the catalog changed; True if so."""
        extra = self.extra if extra is None else extra
        token = (self.registry.state_token(), extra)
        stale = force or self._catalog_stale()
        if not stale and token == self._token:
            return False
        with self._lock:
            version = self.catalog_version()
            state = self.registry.state()
            items = self.items()
            wanted = {state.active, state.shadow, *extra}
            loaded: dict[str, LoadedVersion] = {}
            rewritten = state.rewrites != self.state.rewrites  # files changed: read them anew
            for name in sorted(n for n in wanted if n):
                keep = self.versions.get(name)
                if keep is not None and not stale and not rewritten:
                    loaded[name] = keep
                    continue
                found = self._load(name, items, None if rewritten else keep)
                if found is not None:
                    loaded[name] = found
            if not state.active or not loaded:
                previous = self.versions.get("none")
                if previous is None or stale:
                    previous = self._build(None, items, None)
                loaded["none"] = previous
            self.versions, self.state, self._token = loaded, state, token
            self.extra = extra
            if stale:
                self._catalog_at, self._catalog_version = time.monotonic(), version
        return True

    def reconfigured(self, config: PipelineConfig) -> VersionSet:
        """A set following the same registry, its loaded versions rebuilt for ``config``.

        Artifacts and item tables are shared (see ``reconfigure_version``); this set is
        left as it is, so requests still holding it finish on the old settings.

        Raises:
            ValidationFailedError: ``config`` does not compile against a version's items.
        """
        other = VersionSet(self.registry, self.items, config, self.segment_attributes,
                           self.catalog_version)  # fmt: skip
        with self._lock:
            other.versions = {
                name: reconfigure_version(v, config, self.segment_attributes)
                for name, v in self.versions.items()
            }
            other.state, other._token, other.extra = self.state, self._token, self.extra
            other._catalog_at, other._catalog_version = self._catalog_at, self._catalog_version
        return other

    def _load(
        self, name: str, items: pl.DataFrame, keep: LoadedVersion | None
    ) -> LoadedVersion | None:
        try:
            return self._build(name, items, keep)
        except Exception:
            log.exception("could not load model version %s; keeping the previous", name)
            return keep

    def _build(
        self, name: str | None, items: pl.DataFrame, keep: LoadedVersion | None
    ) -> LoadedVersion:
        return load_version(
            self.registry.path(name) if name else None,
            self.registry.manifest(name) if name else None,
            items,
            self.config,
            keep.artifacts if keep is not None else None,
            self.segment_attributes,
        )

    def roles(self) -> dict[str, str]:
        """Which version plays which role (active, canary: served by an experiment, shadow)."""
        state = self.state
        roles = {"active": state.active or "none"}
        for name in sorted(self.extra - {state.active}):
            roles["canary" if "canary" not in roles else f"canary:{name}"] = name
        if state.shadow:
            roles["shadow"] = state.shadow
        return roles

    def route(self, model_version: str | None = None) -> tuple[LoadedVersion, str]:
        """The version serving a request and its role: ``model_version`` (an experiment's
        choice) as ``canary`` when it is loaded and not the active one; else the active
        version as ``control`` (``fallback`` when none is promoted)."""
        state = self.state
        if model_version and model_version != state.active and model_version in self.versions:
            return self.versions[model_version], "canary"
        if state.active and state.active in self.versions:
            return self.versions[state.active], "control"
        return self.active, "fallback"

    @property
    def active(self) -> LoadedVersion:
        """The version serving most users (the fallback when none is promoted)."""
        found = self.versions.get(self.state.active or "none") or self.versions.get("none")
        return found if found is not None else next(iter(self.versions.values()))

    def shadow(self) -> LoadedVersion | None:
        """The shadow version, when one is set and loaded."""
        name = self.state.shadow
        return self.versions.get(name) if name else None
