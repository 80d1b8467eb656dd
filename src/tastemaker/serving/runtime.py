"""The serving runtime of one API process: loaded versions, registry watch, cache, logging.

Created when the server starts (``routers/health.py:start_loading``) or on first use
(``get_runtime``); it loads the active version (and canary / shadow),
polls the registry's pointer file once a second and swaps versions without a restart,
keeps the per-user result cache (dropped for a user as soon as the user sends an event),
and hands served lists to the impression logger.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import threading
import time
import weakref
from dataclasses import replace
from typing import Any

import numpy as np
import polars as pl
from fastapi import Request
from threadpoolctl import threadpool_limits

from tastemaker.errors import AuthError, UnknownItemError
from tastemaker.registry.registry import ModelRegistry, RegistryState, in_canary
from tastemaker.rerank.filters import Filters
from tastemaker.retrieval.itemlist import ItemList, Source
from tastemaker.serving.cache import ResultCache
from tastemaker.serving.impressions import ImpressionLogger, ImpressionProcess, Served
from tastemaker.serving.metrics import ServingMetrics, get_metrics
from tastemaker.serving.pipeline import RecommendationPipeline
from tastemaker.serving.pipeline import Request as PipelineRequest
from tastemaker.serving.responses import RecommendedItem, ServedList
from tastemaker.serving.settings import PipelineConfig, load_pipeline_config
from tastemaker.serving.shadow import ShadowLogger
from tastemaker.serving.version import LoadedVersion, load_version
from tastemaker.workspace import Workspace

log = logging.getLogger(__name__)
_LOCK = threading.Lock()


class ServingRuntime:
    """Everything one API process keeps in memory to answer recommendation requests.

    Args:
        ws: the opened workspace.
        metrics: where to report (a private registry if None).
        config: pipeline settings (read from ``recommendations.yaml`` if None).
        watch: poll the registry in a background thread.
        server: this process serves HTTP: it freezes the loaded model and, every second,
            long-lived objects out of the garbage collector's full passes (``settle_heap``)
            and shortens the interpreter's thread switch interval (``gil_switch_ms``).
    """

    def __init__(
        self,
        ws: Workspace,
        metrics: ServingMetrics | None = None,
        config: PipelineConfig | None = None,
        *,
        watch: bool = True,
        server: bool = False,
    ) -> None:
        self.ws = ws
        self.config = config or load_pipeline_config(ws.root)
        if self.config.blas_threads:
            # requests are small: BLAS thread teams only add spinning under load
            threadpool_limits(self.config.blas_threads, "blas")
        self.metrics = metrics or ServingMetrics()
        self.registry = ModelRegistry(ws.settings.path(ws.settings.models_dir))
        self.cache = ResultCache(ws.settings.cache.result_ttl_seconds)
        self.users = ResultCache(self.config.user_cache_seconds)
        self.pipeline = RecommendationPipeline(ws, self.config, self.metrics.stage, self.users)
        mode, per_list = self.config.impressions, self.config.impressions == "per_list"
        self.impressions: ImpressionLogger | ImpressionProcess | None = None
        if mode != "off" and self.config.impressions_worker == "process":
            self.impressions = ImpressionProcess(ws.root, per_list=per_list)
            weakref.finalize(self, self.impressions.close)
        elif mode != "off":
            self.impressions = ImpressionLogger(
                ws.ingestor, per_list=per_list, flush_seconds=self.config.impressions_flush_seconds
            )
        self.shadow: ShadowLogger | None = None
        self.state = RegistryState()
        self.versions: dict[str, LoadedVersion] = {}
        self._token: tuple[int, int] | None = None
        self._full_gc_at = time.monotonic()
        self.server = server
        if server and self.config.gil_switch_ms:
            # A request that releases the GIL (numpy, faiss, SQLite) waits up to one switch
            # interval to get it back while the impression writer runs: 5 ms by default.
            sys.setswitchinterval(self.config.gil_switch_ms / 1000)
        self._catalog_at = 0.0
        self._reload_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.config.max_concurrent)
        self.refresh(force=True)
        ws.ingestor.add_listener(_weak_listener(self))
        self._primed = not watch
        if watch:
            threading.Thread(target=_watch, args=(weakref.ref(self),), daemon=True).start()

    def prime_soon(self, delay: float = 0.2) -> None:
        """After the first readiness answer: build lazily made lookups in a thread.

        The first ingested batch (the first impressions) makes the profile service read the
        whole catalog, and the first requests make the id -> index maps: a second of mostly
        GIL-bound work that would otherwise stall requests. It starts ``delay`` seconds
        after readiness so the readiness answer (start-up time) does not wait for it.
        """
        if self._primed:
            return
        self._primed = True
        timer = threading.Timer(delay, self._prime)
        timer.daemon = True
        timer.start()

    def _prime(self) -> None:
        try:
            profiles = getattr(self.ws, "profiles", None)
            if profiles is not None:
                profiles.catalog.attribute_map()
            for v in list(self.versions.values()):
                v.table.vocab.index_of("")
                _ = v.table.vocab.ids
        except Exception:  # priming is an optimization only
            log.exception("priming lookups failed")

    def settle_heap(self, now: float | None = None) -> bool:
        """Keep long-lived objects out of full garbage-collector passes (the watch thread
        calls this every second); True when a full pass ran.

        Profile states and cached lists pile up while serving; every full pass of the
        collector walked all of them with the GIL held (up to 140 ms in a 30 s run at
        300 requests/s: the p99 of every request waiting). Freezing what exists moves it
        out of those passes; the cyclic garbage frozen meanwhile is collected by one full
        pass every ``gc_full_seconds``.
        """
        if not self.server:
            return False
        now = time.monotonic() if now is None else now
        full = now - self._full_gc_at >= self.config.gc_full_seconds
        if full:
            self._full_gc_at = now
            gc.unfreeze()
            gc.collect()
        gc.freeze()
        return full

    # --- versions ---------------------------------------------------------------------
    def refresh(self, force: bool = False) -> bool:
        """Reload versions if the registry pointers (or the catalog period) changed."""
        token = self.registry.state_token()
        stale = time.monotonic() - self._catalog_at > self.config.catalog_refresh_seconds
        if not force and token == self._token and not stale:
            return False
        with self._reload_lock:
            state = self.registry.state()
            items = self.ws.store.items()
            wanted = {state.active, state.shadow, state.canary.version if state.canary else None}
            loaded: dict[str, LoadedVersion] = {}
            for name in sorted(n for n in wanted if n):
                keep = self.versions.get(name)
                if keep is not None and not stale:
                    loaded[name] = keep
                    continue
                try:
                    loaded[name] = load_version(
                        self.registry.path(name),
                        self.registry.manifest(name),
                        items,
                        self.config,
                        keep.artifacts if keep is not None else None,
                    )
                except Exception:
                    log.exception("could not load model version %s; keeping the previous", name)
                    if keep is not None:
                        loaded[name] = keep
            if not state.active or not loaded:
                previous = self.versions.get("none")
                if previous is None or stale:
                    previous = load_version(None, None, items, self.config)
                loaded["none"] = previous
            self.versions, self.state, self._token = loaded, state, token
            if stale:
                self._catalog_at = time.monotonic()
            self.cache.clear()
            self.users.clear()
            if self.server:
                gc.freeze()  # the loaded versions stay out of full passes (see settle_heap)
            roles = {"active": state.active or "none"}
            if state.canary:
                roles["canary"] = state.canary.version
            if state.shadow:
                roles["shadow"] = state.shadow
            self.metrics.set_models(roles)
        return True

    def route(self, user_key: str) -> tuple[LoadedVersion, str]:
        """The version and variant that serve ``user_key`` (canary by stable hash)."""
        state = self.state
        canary = state.canary
        if canary and canary.version in self.versions and in_canary(user_key, canary):
            return self.versions[canary.version], "canary"
        if state.active and state.active in self.versions:
            return self.versions[state.active], "control"
        return self.active, "fallback"

    @property
    def active(self) -> LoadedVersion:
        """The version serving most users (the fallback when none is promoted)."""
        found = self.versions.get(self.state.active or "none") or self.versions.get("none")
        return found if found is not None else next(iter(self.versions.values()))

    # --- requests ---------------------------------------------------------------------
    def recommend(self, user_id: str, k: int, filters: Filters, context: str | None) -> ServedList:
        """A personalized list for raw ``user_id`` (cached per user until they act)."""
        key = self.ws.pseudonymizer.one(user_id)
        version, variant = self.route(key)
        cache_key = (version.name, k, filters.key(), context)
        cached = self.cache.get(key, cache_key)
        self.metrics.cache_lookup(cached is not None, self.cache.hit_rate)
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

    def related(self, item_id: str, k: int, kind: str) -> tuple[str, list[RecommendedItem]]:
        """Similar or bought-together items of ``item_id`` from the active version.

        Raises:
            UnknownItemError: the item is not in the catalog.
        """
        v = self.active
        idx = v.table.vocab.index_of(item_id)
        if idx < 0 or not v.table.in_catalog[idx]:
            raise UnknownItemError(item_id)
        blocked = ~(v.table.in_catalog & v.table.in_stock)
        blocked[idx] = True
        cand = self._related_candidates(v, idx, k, kind)
        cand = cand.take(~blocked[cand.index]).head(k)
        ids = v.table.vocab.decode(cand.index)
        title = v.table.titles[idx]
        reason = f"similar to {title}" if kind == "similar" else f"often bought with {title}"
        items = [
            RecommendedItem(item_id=str(i), score=round(float(s), 6), reason=reason, source=kind)
            for i, s in zip(ids, cand.score, strict=True)
        ]
        return v.name, items

    def _related_candidates(self, v: LoadedVersion, idx: int, k: int, kind: str) -> ItemList:
        art = v.artifacts
        wide = 3 * k + 20
        if art is None or idx >= v.table.n_model:
            return _same_attributes(v, idx, wide)
        if kind == "bought_together":
            fbt = getattr(art.model, "models_", None)
            model = next((m for m in fbt or [] if m.name == "fbt"), None)
            if model is None and art.model.name == "fbt":
                model = art.model
            if model is not None:
                found, scores = model.similar_items(np.asarray([idx]), wide)
                keep = found[0] >= 0
                return ItemList.of(found[0][keep], scores[0][keep], Source.RECENT_NEIGHBORS)
            row = art.neighbors[idx]
            order = np.argsort(-row.data, kind="stable")[:wide]
            return ItemList.of(row.indices[order], row.data[order], Source.RECENT_NEIGHBORS)
        found, scores = art.model.similar_items(np.asarray([idx]), wide)
        keep = found[0] >= 0
        return ItemList.of(found[0][keep], scores[0][keep], Source.RECENT_NEIGHBORS)

    def _shadow(self, req: PipelineRequest, served: ServedList) -> None:
        name = self.state.shadow
        version = self.versions.get(name) if name else None
        if version is None or name is None:
            return
        if self.shadow is None:
            reports = self.ws.settings.path(self.ws.settings.reports_dir)
            self.shadow = ShadowLogger(reports)
        shadow_req = replace(req)
        self.shadow.submit(name, lambda: self.pipeline.run(version, shadow_req, "shadow"), served)

    def _log(self, served: ServedList, user_key: str, context: str | None) -> None:
        if self.impressions is None or not served.item_ids:
            return
        self.impressions.log(
            Served(
                served.request_id,
                user_key,
                served.item_ids,
                served.model_version,
                served.variant,
                context,
                int(time.time() * 1000),
            )
        )
        self.metrics.impressions.inc()
        if self.impressions.per_list or isinstance(self.impressions, ImpressionProcess):
            v = self.versions.get(served.model_version)
            if v is not None:
                v.add_exposure(v.table.lookup(served.item_ids))

    def close(self) -> None:
        """Store the buffered impressions and stop the impression worker."""
        if self.impressions is not None:
            self.impressions.close()

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
                for v in list(self.versions.values()):
                    v.add_exposure(v.table.lookup(ids.to_list()), clicks)


def new_request_id() -> str:
    """A unique request id that sorts by time: microseconds (13 hex digits) + 48 random bits.

    Impression event ids start with it, so the event log's unique index takes them as
    appends at its right edge instead of random inserts all over a large B-tree.
    """
    return f"{time.time_ns() // 1000:013x}{os.urandom(6).hex()}"


def _same_attributes(v: LoadedVersion, idx: int, n: int) -> ItemList:
    """Without a model: catalog items sharing the most attributes, popular first."""
    score = np.zeros(len(v.table), np.float32)
    for cat in v.table.categorical.values():
        if cat.codes[idx] >= 0:
            score += (cat.codes == cat.codes[idx]).astype(np.float32)
    score += 0.1 * v.retrieval.popularity
    top = np.argsort(-score, kind="stable")[:n]
    return ItemList.of(top, score[top], Source.POPULAR)


def _weak_listener(rt: ServingRuntime) -> Any:
    ref = weakref.ref(rt)

    def listener(frame: pl.DataFrame) -> None:
        target = ref()
        if target is not None:
            target.on_events(frame)

    return listener


def _watch(ref: weakref.ReferenceType[ServingRuntime]) -> None:
    while True:
        rt = ref()
        if rt is None:
            return
        interval = rt.config.watch_seconds
        try:
            rt.refresh()
        except Exception:
            log.exception("registry refresh failed")
        rt.settle_heap()
        del rt
        time.sleep(interval)


def check_api_key(request: Request) -> None:
    """Refuse a request without the configured ``X-API-Key`` (inline: no threadpool hop).

    Raises:
        AuthError: a key is configured and the header does not carry it.
    """
    expected = request.app.state.workspace.settings.serving.api_key
    if expected and request.headers.get("x-api-key") != expected:
        raise AuthError("missing or wrong X-API-Key header")


def get_runtime(request: Request) -> ServingRuntime:
    """The app's runtime, created (and the model loaded) on first use."""
    state = request.app.state
    rt = getattr(state, "runtime", None)
    if rt is None:
        with _LOCK:
            rt = getattr(state, "runtime", None)
            if rt is None:
                # a server process (create_app(preload=True)) runs the garbage collector's
                # schedule; apps built for tests leave the collector of their process alone
                server = bool(getattr(state, "preload", False))
                rt = ServingRuntime(state.workspace, get_metrics(request), server=server)
                state.runtime = rt
    return rt


def model_status(request: Request) -> dict[str, Any]:
    """Readiness of the model side: loads the runtime; ``status`` is ``ok`` once loaded.

    With no promoted version the popularity fallback serves and ``model_version`` is
    ``none``.
    """
    try:
        rt = get_runtime(request)
    except Exception as exc:  # a broken artifact means "not ready", with the reason
        return {"status": f"not loaded: {type(exc).__name__}: {exc}", "model_version": None}
    rt.prime_soon()
    out: dict[str, Any] = {"status": "ok", "model_version": rt.state.active or "none"}
    if rt.state.canary:
        out["canary"] = rt.state.canary.model_dump()
    if rt.state.shadow:
        out["shadow"] = rt.state.shadow
    return out
