"""The engine of one process: both served lists, their caches and what they log.

:class:`Engine` answers a recommendation list, an item-to-item list, the featured
listing and negative feedback for raw user ids, the same way for the HTTP routes, the
command line and (later) the experiment simulator. It keeps what ``recommendations.yaml``
builds as one :class:`~tastemaker.engine.setup.EngineSetup` (the loaded versions, polled
once a second, the pipeline, the per-user caches dropped for a user as soon as the user
sends an event), swapped whole when the file changes (``engine/reload.py``), and hands
every served list to the one event sink. It changes no process-wide state: process tuning
is the entry points' job (``tastemaker.process``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
import weakref
from dataclasses import replace
from itertools import compress
from typing import Any

import polars as pl

from tastemaker.engine.background import watch_loop, weak_listener
from tastemaker.engine.cache import ResultCache
from tastemaker.engine.config import PIPELINE_FILE, PipelineConfig, load_pipeline_config
from tastemaker.engine.events import (
    Feedback,
    ServedFeatured,
    ServedListImpression,
    ServedRecommendations,
)
from tastemaker.engine.experiments import ExperimentRouter, Routing, profile_reader
from tastemaker.engine.featured import FeaturedResult
from tastemaker.engine.featured_user import featured_user
from tastemaker.engine.observer import EngineObserver, NullObserver
from tastemaker.engine.pipeline import RecommendationPipeline
from tastemaker.engine.pipeline import Request as PipelineRequest
from tastemaker.engine.related import related_items
from tastemaker.engine.reload import ConfigStatus, ConfigWatch, fingerprint
from tastemaker.engine.served import RelatedList, ServedList
from tastemaker.engine.setup import EngineSetup, build_setup
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
        config: engine settings; None: read from ``recommendations.yaml`` and re-read
            whenever the file changes (an explicit config is kept).
        watch: poll the registry (and the settings file) in a background thread.
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
        self.observer: EngineObserver = observer or NullObserver()
        self.watcher: ConfigWatch | None = None
        if config is None:
            seen = fingerprint(ws.root / PIPELINE_FILE)  # before reading: no edit is missed
            config = load_pipeline_config(ws.root)
            self.watcher = ConfigWatch(ws.root, config.reload_check_seconds, seen)
            self.observer.config_status(True)
        registry = ModelRegistry(ws.settings.path(ws.settings.models_dir))
        versions = VersionSet(
            registry,
            ws.store.items,
            config,
            tuple(ws.settings.profiles.attributes),
            ws.profiles.catalog.version,
        )
        self._setup = build_setup(ws, config, versions, self.observer.stage)
        self._reloading = threading.Lock()  # one look at the settings file at a time
        self.sink = EventSink(ws.ingestor, config.impressions_flush_seconds)
        weakref.finalize(self, self.sink.close)
        self.experiments = ExperimentRouter(ws, registry, self.sink, config.reload_check_seconds)
        self.shadow: ShadowLogger | None = None
        self.refresh(force=True)
        ws.ingestor.add_listener(weak_listener(self))
        self._primed = not watch
        if watch:
            threading.Thread(target=watch_loop, args=(weakref.ref(self),), daemon=True).start()

    # --- settings and versions --------------------------------------------------------
    def current(self) -> EngineSetup:
        """The setup a request uses (read it once per request).

        When a look at ``recommendations.yaml`` is due and the file changed, the new setup
        is built and swapped in first (by this caller; a request arriving meanwhile waits
        for it), so every request that starts after the change was seen gets the new
        settings. Requests already running keep the setup they hold.
        """
        watcher = self.watcher
        if watcher is not None and watcher.due():
            with self._reloading:
                if watcher.due():  # not done by the thread that held the lock
                    self._reload(watcher)
        return self._setup

    def _reload(self, watcher: ConfigWatch) -> None:
        """Swap in the setup of a changed, valid file; otherwise keep the one serving."""
        config = watcher.poll()
        if config is not None:
            old = self._setup
            try:
                setup = build_setup(self.ws, config, old.versions.reconfigured(config),
                                    self.observer.stage, previous=old)  # fmt: skip
            except Exception as exc:  # valid YAML that does not compile (a bad filter)
                reason = exc.message if isinstance(exc, TastemakerError) else repr(exc)
                watcher.refused(f"{watcher.path}: {reason}")
            else:
                self._setup = setup
                self.sink.flush_seconds = config.impressions_flush_seconds
                watcher.applied(old.config, config)
        self.observer.config_status(watcher.error is None)

    def config_status(self) -> ConfigStatus | None:
        """Whether the latest ``recommendations.yaml`` serves, and why not (None: the
        settings were given to the engine, no file is followed)."""
        self.current()
        return self.watcher.status() if self.watcher is not None else None

    def refresh(self, force: bool = False) -> bool:
        """Reload versions if the registry pointers (or the catalog) changed.

        A settings reload meanwhile copies the set under its lock; a refresh of a set that
        was just replaced is caught up by the new set's own next refresh (same token).
        """
        setup = self._setup
        if not setup.versions.refresh(force, self.experiments.model_versions()):
            return False
        setup.cache.clear()
        setup.users.clear()
        self.observer.set_models(setup.versions.roles())
        return True

    @property
    def config(self) -> PipelineConfig:
        """The engine settings in force."""
        return self._setup.config

    @property
    def versions(self) -> VersionSet:
        """The loaded versions of the settings in force."""
        return self._setup.versions

    @property
    def cache(self) -> ResultCache:
        """Served lists per user, of the settings in force."""
        return self._setup.cache

    @property
    def users(self) -> ResultCache:
        """Profile, candidates and scores per user, of the settings in force."""
        return self._setup.users

    @property
    def pipeline(self) -> RecommendationPipeline:
        """The recommendation stages of the settings in force."""
        return self._setup.pipeline

    @property
    def active(self) -> LoadedVersion:
        """The version serving most users (the fallback when none is promoted)."""
        return self.current().versions.active

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
        setup = self.current()
        key = self.ws.pseudonymizer.one(user_id)
        routing = self._route(setup, key, None)
        version, variant = setup.versions.route(routing.model_version)
        version = self.experiments.version_for(version, setup.config, routing,
                                               setup.versions.segment_attributes)  # fmt: skip
        cache_key = (version.name, k, filters.key(), context, routing.key)
        cached = setup.cache.get(key, cache_key)
        self.observer.cache_lookup(cached is not None, setup.cache.hit_rate)
        request_id = new_request_id()
        if cached is not None:
            served: ServedList = cached.with_request_id(request_id)
        else:
            token = setup.cache.token(key)
            req = PipelineRequest(user_id, key, k, filters, context, request_id)
            with setup.slots:  # few pipelines at once: threads fighting for the GIL only thrash
                served = setup.pipeline.run(version, req, variant)
            if routing.assignments:
                served = replace(served, experiments=routing.assignments)
            setup.cache.put(key, cache_key, served, token)
            self._shadow(setup, req, served)
        self._log(setup, served, key, context)
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
        setup = self.current()
        routing = self._route(setup, user, anon)
        policy = routing.featured_policy or "personalized"
        if policy == "none":
            result = FeaturedResult(None, "experiment:none", "no featured listing in this "
                                    "experiment variant", False)  # fmt: skip
        else:
            result = setup.featured.choose(featured_user(setup, key, policy), filters)
        result.experiments = routing.assignments
        if result.item is None:
            return result, None
        context: dict[str, Any] = {"placement": "featured", "position": 0, "rule": result.rule}
        if variant:
            context["variant"] = variant
        if routing.assignments:
            context["experiments"] = routing.assignments
        event_id = f"imp-{uuid.uuid4().hex}"
        item = str(result.item["item_id"])
        self.sink.put(ServedFeatured(event_id, user, anon, item, context, _now_ms()))
        return result, event_id

    def _route(self, setup: EngineSetup, user: str | None, anon: str | None) -> Routing:
        """The experiments' routing of a user or visitor (model versions they need are
        loaded first: a definition created a moment ago serves at once)."""
        key = user or f"anon:{anon}"
        routing = self.experiments.route(user, anon, profile_reader(setup.pipeline.signals, key))
        wanted = routing.model_version
        if wanted and wanted not in setup.versions.versions:
            self.refresh()
        return routing

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

    def _shadow(self, setup: EngineSetup, req: PipelineRequest, served: ServedList) -> None:
        version = setup.versions.shadow()
        if version is None:
            return
        if self.shadow is None:
            reports = self.ws.settings.path(self.ws.settings.reports_dir)
            self.shadow = ShadowLogger(reports)
        shadow_req = replace(req)
        run = lambda: setup.pipeline.run(version, shadow_req, "shadow")  # noqa: E731
        self.shadow.submit(version.name, req.user_key, run, served)

    def _log(
        self, setup: EngineSetup, served: ServedList, user_key: str, context: str | None
    ) -> None:
        mode = setup.config.impressions
        if mode == "off" or not served.item_ids:
            return
        record = ServedRecommendations.of(served, user_key, context, _now_ms())
        if mode == "per_list":
            self.sink.put(ServedListImpression(record))
            v = setup.versions.versions.get(served.model_version)
            if v is not None:  # per-list events carry no item id: count exposure here
                v.add_exposure(v.table.lookup(served.item_ids))
        else:
            self.sink.put(record)
        self.observer.impressions_queued(1)

    def close(self) -> None:
        """Store the buffered platform events."""
        self.sink.close()

    def forget(self, user_key: str) -> None:
        """After a user was forgotten: drop what this process holds of them (cached lists,
        and model versions whose files lost their rows are read again)."""
        setup = self._setup
        setup.cache.invalidate([user_key])
        setup.users.invalidate([user_key])
        self.refresh()

    def on_events(self, frame: pl.DataFrame) -> None:
        """Ingestor listener: drop cached lists of users who acted; count exposure."""
        # Python lists, not Series operations: each Series filter or unique is a query plan
        # (~0.1 ms), and this runs after every group commit of the API's event batches, a few
        # to a few hundred rows (15 rows: 0.54 -> 0.01 ms).
        types = frame["type"].to_list()
        acted = [t not in ("impression", "exposure") for t in types]
        users, anons = (
            list(set(compress(frame[c].to_list(), acted)) - {None})
            for c in ("user_id", "anonymous_id")
        )
        setup = self._setup
        if users or anons:
            setup.cache.invalidate([*users, *anons])
            setup.users.invalidate([*users, *anons])
        items = frame["item_id"].to_list()
        for kind, clicks in (("impression", False), ("click", True)):
            ids = [i for i, t in zip(items, types, strict=True) if t == kind and i is not None]
            if ids:
                for v in list(setup.versions.versions.values()):
                    v.add_exposure(v.table.lookup(ids), clicks)


def new_request_id() -> str:
    """A unique request id that sorts by time: microseconds (13 hex digits) + 48 random bits.

    Impression event ids start with it, so the event log's unique index takes them as
    appends at its right edge instead of random inserts all over a large B-tree.
    """
    return f"{time.time_ns() // 1000:013x}{os.urandom(6).hex()}"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
