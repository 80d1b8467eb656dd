"""What one version of ``recommendations.yaml`` builds: :class:`EngineSetup`.

The engine keeps one setup and swaps it whole when the file changes. A request reads the
engine's setup once and uses only it (versions and their re-ranking stages, the pipeline,
the featured listing, the caches, the concurrency limit), so it runs entirely on the old
settings or entirely on the new ones. Caches belong to a setup: a list computed under the
old settings is never served under the new.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from tastemaker.engine.cache import ResultCache
from tastemaker.engine.config import PipelineConfig
from tastemaker.engine.featured import FeaturedService
from tastemaker.engine.optout import watch_consent
from tastemaker.engine.pipeline import RecommendationPipeline, Timer
from tastemaker.engine.versions import VersionSet
from tastemaker.workspace import Workspace


@dataclass(frozen=True)
class EngineSetup:
    """Everything built from one set of engine settings.

    Attributes:
        config: the settings.
        versions: the loaded model versions, their stages compiled for ``config``.
        pipeline: the recommendation stages.
        featured: the featured listing (hard filters of ``config``).
        cache: served lists per user (TTL ``cache.result_ttl_seconds`` of the workspace).
        users: profile, candidates and scores per user (TTL ``user_cache_seconds``).
        slots: pipelines allowed to run at once (``max_concurrent``).
    """

    config: PipelineConfig
    versions: VersionSet
    pipeline: RecommendationPipeline
    featured: FeaturedService
    cache: ResultCache
    users: ResultCache
    slots: threading.BoundedSemaphore


def build_setup(
    ws: Workspace,
    config: PipelineConfig,
    versions: VersionSet,
    timer: Timer,
    previous: EngineSetup | None = None,
) -> EngineSetup:
    """The setup of ``config`` around ``versions`` (already built for ``config``).

    ``previous`` (a reload) lends the featured listing its catalog arrays.
    """
    users = ResultCache(config.user_cache_seconds)
    hard = config.rerank.hard
    featured = (
        previous.featured.reconfigured(hard)
        if previous is not None
        else FeaturedService(ws.profiles.catalog, ws.profiles.rules, hard)
    )
    cache = ResultCache(ws.settings.cache.result_ttl_seconds)
    watch_consent(ws.profiles.consent, cache, users)  # opted out (or in): lists recomputed
    return EngineSetup(
        config=config,
        versions=versions,
        pipeline=RecommendationPipeline(ws, config, timer, users, versions.segment_attributes),
        featured=featured,
        cache=cache,
        users=users,
        slots=threading.BoundedSemaphore(config.max_concurrent),
    )
