"""What the engine reports while it works: :class:`EngineObserver` (metrics hook)."""

from __future__ import annotations

from typing import Protocol


class EngineObserver(Protocol):
    """Receives the engine's measurements; the HTTP layer's metrics implement it."""

    def stage(self, name: str, seconds: float) -> None:
        """Time spent in one named stage of a served list."""
        ...

    def cache_lookup(self, hit: bool, rate: float) -> None:
        """A result-cache lookup and the running hit rate."""
        ...

    def set_models(self, roles: dict[str, str]) -> None:
        """Which version plays which role (active, canary, shadow)."""
        ...

    def impressions_queued(self, lists: int) -> None:
        """Served lists queued for impression logging."""
        ...

    def config_status(self, valid: bool) -> None:
        """Whether the latest ``recommendations.yaml`` serves (False: refused, the previous
        settings serve)."""
        ...


class NullObserver:
    """Ignores every measurement (tools and tests that need no metrics)."""

    def stage(self, name: str, seconds: float) -> None:
        """Ignore a stage time."""

    def cache_lookup(self, hit: bool, rate: float) -> None:
        """Ignore a cache lookup."""

    def set_models(self, roles: dict[str, str]) -> None:
        """Ignore the model roles."""

    def impressions_queued(self, lists: int) -> None:
        """Ignore queued impressions."""

    def config_status(self, valid: bool) -> None:
        """Ignore the settings file's state."""
