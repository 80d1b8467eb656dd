"""The engine of one process: both served lists, their caches and what they log.

:class:`Engine` answers a recommendation list, an item-to-item list, the featured
listing and negative feedback for raw user ids, the same way for the HTTP routes, the
command line and (later) the experiment simulator. It keeps the loaded versions
(:class:`~tastemaker.engine.versions.VersionSet`, polled once a second), the per-user
result cache (dropped for a user as soon as the user sends an event), and hands every
served list to the one event sink. It changes no process-wide state: process tuning is
the entry points' job (``tastemaker.process``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
import weakref
from dataclasses import replace
from typing import Any

import polars as pl

from tastemaker.engine.cache import ResultCache
from tastemaker.engine.config import PipelineConfig, load_pipeline_config
from tastemaker.engine.events import (
    Feedback,
    ServedFeatured,
    ServedListImpression,
    ServedRecommendations,
)
from tastemaker.engine.featured import FeaturedResult, FeaturedService, FeaturedUser
from tastemaker.engine.observer import EngineObserver, NullObserver
from tastemaker.engine.pipeline import RecommendationPipeline
from tastemaker.engine.pipeline import Request as PipelineRequest
from tastemaker.engine.profile import user_exclusions
from tastemaker.engine.related import related_items
from tastemaker.engine.served import RelatedList, ServedList
from tastemaker.engine.shadow import ShadowLogger
from tastemaker.engine.sink import EventSink
from tastemaker.engine.version import LoadedVersion
from tastemaker.engine.versions import VersionSet
from tastemaker.errors import TastemakerError, UnknownItemError, ValidationFailedError
from tastemaker.registry.registry import ModelRegistry
from tastemaker.rerank.filters import Filters
from tastemaker.workspace import Workspace

log = logging.getLogger(__name__)


class Engine:
    """Everything one process keeps in memory to serve lists.

    Args:
        ws: the opened workspace.
        observer: receives stage times, cache lookups and model roles (metrics).
        config: engine settings (read from ``recommendations.yaml`` if None).
        watch: poll the registry in a background thread.
    """

    def __init__(
        self,
        ws: Workspace,
        observer: EngineObserver | None = None,
        config: PipelineConfig | None = None,
        *,
        watch: bool = True,
    ) -> None:
        self.ws = ws
        self.config = config or load_pipeline_config(ws.root)
        self.observer: EngineObserver = observer or NullObserver()
        attrs = tuple(ws.settings.profiles.attributes)
        catalog = ws.profiles.catalog
        self.versions = VersionSet(
            ModelRegistry(ws.settings.path(ws.settings.models_dir)),
            ws.store.items,
            self.config,
            attrs,
            catalog.version,
        )
        self.cache = ResultCache(ws.settings.cache.result_ttl_seconds)
        self.users = ResultCache(self.config.user_cache_seconds)
        self.pipeline = RecommendationPipeline(
            ws, self.config, self.observer.stage, self.users, attrs
        )
        self.featured_lists = FeaturedService(catalog, ws.profiles.rules, self.config.rerank.hard)
        self.sink = EventSink(ws.ingestor, self.config.impressions_flush_seconds)
        weakref.finalize(self, self.sink.close)
        self.shadow: ShadowLogger | None = None
        self._slots = threading.BoundedSemaphore(self.config.max_concurrent)
        self.refresh(force=True)
        ws.ingestor.add_listener(_weak_listener(self))
        self._primed = not watch
        if watch:
            threading.Thread(target=_watch, args=(weakref.ref(self),), daemon=True).start()

    # --- versions ---------------------------------------------------------------------
    def refresh(self, force: bool = False) -> bool:
        """Reload versions if the registry pointers (or the catalog) changed."""
        if not self.versions.refresh(force):
            return False
        self.cache.clear()
        self.users.clear()
        self.observer.set_models(self.versions.roles())
        return True

    @property
    def active(self) -> LoadedVersion:
        """The version serving most users (the fallback when none is promoted)."""
        return self.versions.active

    def prime_soon(self, delay: float = 0.2) -> None:
        """After the first readiness answer: build lazily made lookups in a thread.

        The first ingested batch makes the profile service read the whole catalog, and the
        first requests make the id -> index maps: a second of mostly GIL-bound work that
        would otherwise stall requests. It starts ``delay`` seconds after readiness so the
        readiness answer (start-up time) does not wait for it.
        """
        if self._primed:
            return
        self._primed = True
        timer = threading.Timer(delay, self._prime)
        timer.daemon = True
        timer.start()

    def _prime(self) -> None:
        try:
            self.ws.profiles.catalog.attribute_map()
            for v in list(self.versions.versions.values()):
                v.table.vocab.index_of("")
                _ = v.table.vocab.ids
        except Exception:  # priming is an optimization only
            log.exception("priming lookups failed")

    # --- served lists -----------------------------------------------------------------
    def recommend(self, user_id: str, k: int, filters: Filters, context: str | None) -> ServedList:
        """A personalized list for raw ``user_id`` (cached per user until they act)."""
        key = self.ws.pseudonymizer.one(user_id)
        version, variant = self.versions.route(key)
        cache_key = (version.name, k, filters.key(), context)
        cached = self.cache.get(key, cache_key)
        self.observer.cache_lookup(cached is not None, self.cache.hit_rate)
        request_id = new_request_id()
        if cached is not None:
            served: ServedList = cached.with_request_id(request_id)
        else:
            token = self.cache.token(key)
            req = PipelineRequest(user_id, key, k, filters, context, request_id)
            with self._slots:  # few pipelines at once: threads fighting for the GIL only thrash
                served = self.pipeline.run(version, req, variant)
            self.cache.put(key, cache_key, served, token)
            self._shadow(req, served)
        self._log(served, key, context)
        return served

    def related(self, item_id: str, k: int, kind: str) -> RelatedList:
        """Similar or bought-together items of ``item_id`` from the active version.

        Raises:
            UnknownItemError: the item is not in the catalog.
        """
        return related_items(self.active, item_id, k, kind)

    def featured(
        self,
        user_id: str | None,
        anonymous_id: str | None,
        filters: Filters | str | None,
        variant: str | None = None,
    ) -> tuple[FeaturedResult, str | None]:
        """The featured listing for raw ids (either may be None) and its impression id.

        Raises:
            ValidationFailedError: malformed filters or an unknown filter field.
        """
        user = self.ws.pseudonymizer.one(user_id) if user_id else None
        anon = self.ws.pseudonymizer.one(anonymous_id) if anonymous_id else None
        key = user or (f"anon:{anon}" if anon else None)
        result = self.featured_lists.choose(self._featured_user(key), filters)
        if result.item is None:
            return result, None
        context: dict[str, Any] = {"placement": "featured", "position": 0, "rule": result.rule}
        if variant:
            context["variant"] = variant
        event_id = f"imp-{uuid.uuid4().hex}"
        item = str(result.item["item_id"])
        self.sink.put(ServedFeatured(event_id, user, anon, item, context, _now_ms()))
        return result, event_id

    def _featured_user(self, key: str | None) -> FeaturedUser:
        if key is None:
            return FeaturedUser()
        try:
            sig = self.pipeline.signals(key)
        except (TastemakerError, OSError, RuntimeError) as exc:
            log.warning("profile unavailable for featured listing: %s", exc)
            return FeaturedUser(why="profile store unavailable")
        v = self.active
        purchased, refused = user_exclusions(v, sig, key)
        ids = v.table.vocab.ids
        excluded = (ids[purchased].tolist(), ids[refused].tolist())
        if not sig.found:
            return FeaturedUser(why="unknown user", excluded=excluded)
        return FeaturedUser(sig.segments, "" if sig.segments else "user has no segment", excluded)

    def feedback(self, user_id: str, item_id: str, kind: str, request_id: str | None = None) -> str:
        """Store "not interested" of raw ``user_id`` in ``item_id`` now; return the event id.

        Raises:
            UnknownItemError: the item is not in the catalog.
            ValidationFailedError: the event was refused.
        """
        table = self.active.table
        idx = table.vocab.index_of(item_id)
        if idx < 0 or not table.in_catalog[idx]:
            raise UnknownItemError(item_id)
        event_id = f"fb-{uuid.uuid4().hex}"
        props = {"kind": kind, "request_id": request_id}
        key = self.ws.pseudonymizer.one(user_id)
        self.sink.put(Feedback(event_id, key, item_id, props, _now_ms()))
        summary = self.sink.flush()
        refused = [r for r in (summary.rejections if summary else []) if r.event_id == event_id]
        if refused:
            raise ValidationFailedError(f"feedback refused: {refused[0].reason}")
        return event_id

    def _shadow(self, req: PipelineRequest, served: ServedList) -> None:
        version = self.versions.shadow()
        if version is None:
            return
        if self.shadow is None:
            reports = self.ws.settings.path(self.ws.settings.reports_dir)
            self.shadow = ShadowLogger(reports)
        shadow_req = replace(req)
        run = lambda: self.pipeline.run(version, shadow_req, "shadow")  # noqa: E731
        self.shadow.submit(version.name, req.user_key, run, served)

    def _log(self, served: ServedList, user_key: str, context: str | None) -> None:
        mode = self.config.impressions
        if mode == "off" or not served.item_ids:
            return
        record = ServedRecommendations(served.request_id, user_key, served.item_ids,
                                       served.model_version, served.variant, context,
                                       _now_ms())  # fmt: skip
        if mode == "per_list":
            self.sink.put(ServedListImpression(record))
            v = self.versions.versions.get(served.model_version)
            if v is not None:  # per-list events carry no item id: count exposure here
                v.add_exposure(v.table.lookup(served.item_ids))
        else:
            self.sink.put(record)
        self.observer.impressions_queued(1)

    def close(self) -> None:
        """Store the buffered platform events."""
        self.sink.close()

    def on_events(self, frame: pl.DataFrame) -> None:
        """Ingestor listener: drop cached lists of users who acted; count exposure."""
        acted = frame.filter(pl.col("type") != "impression")
        users = acted["user_id"].drop_nulls().unique().to_list()
        anons = acted["anonymous_id"].drop_nulls().unique().to_list()
        if users or anons:
            self.cache.invalidate([*users, *anons])
            self.users.invalidate([*users, *anons])
        for kind, clicks in (("impression", False), ("click", True)):
            ids = frame.filter(pl.col("type") == kind)["item_id"].drop_nulls()
            if len(ids):
                for v in list(self.versions.versions.values()):
                    v.add_exposure(v.table.lookup(ids.to_list()), clicks)


def new_request_id() -> str:
    """A unique request id that sorts by time: microseconds (13 hex digits) + 48 random bits.

    Impression event ids start with it, so the event log's unique index takes them as
    appends at its right edge instead of random inserts all over a large B-tree.
    """
    return f"{time.time_ns() // 1000:013x}{os.urandom(6).hex()}"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _weak_listener(engine: Engine) -> Any:
    ref = weakref.ref(engine)

    def listener(frame: pl.DataFrame) -> None:
        target = ref()
        if target is not None:
            target.on_events(frame)

    return listener


def _watch(ref: weakref.ReferenceType[Engine]) -> None:
    while True:
        engine = ref()
        if engine is None:
            return
        interval = engine.config.watch_seconds
        try:
            engine.refresh()
        except Exception:
            log.exception("registry refresh failed")
        del engine
        time.sleep(interval)
