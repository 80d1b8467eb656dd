"""`ProfileService`: applies events to profiles, evaluates segments, persists and serves profiles.

One process owns the writing of a profile: the ingesting process in the embedded default
(``bus: inprocess``), or the worker of the user's partition when events go through Redis
Streams. The owner keeps states in memory and writes every changed profile to the store
(and the Redis fast path when configured) before `apply` returns. Readers (API processes
in the scaled-out mode) read Redis first, then the store.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from tastemaker.config import Settings
from tastemaker.errors import StoreUnavailableError
from tastemaker.profiles.catalog import CatalogCache
from tastemaker.profiles.evaluate import evaluate
from tastemaker.profiles.model import (
    Profile,
    ProfileState,
    dumps_state,
    loads_state,
    shares_of,
    to_profile,
)
from tastemaker.profiles.registry import RulesRegistry
from tastemaker.profiles.rules import SegmentRules
from tastemaker.profiles.signals import ITEM_TYPES, UserSignals
from tastemaker.profiles.update import Columns, Updater, decayed_affinities, to_columns
from tastemaker.storage.base import ProfileRow, Store

if TYPE_CHECKING:  # the redis client costs ~0.1 s of every start-up: imported when used
    from tastemaker.storage.redis_profiles import RedisProfiles

log = logging.getLogger(__name__)
_ITEM_TYPES = frozenset(ITEM_TYPES)
REBUILD_CHUNK = 200_000
SAVE_CHUNK = 5_000


class ProfileService:
    """Real-time profiles and segments of a workspace.

    Args:
        settings: workspace settings (``profiles`` section and event weights).
        store: the durable store.
        fast: optional Redis fast path.
        owner: this process applies events (keeps states in memory); False for read-only
            API processes of the scaled-out mode.
        max_cached: most profile states kept in memory.
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        fast: RedisProfiles | None = None,
        owner: bool = True,
        max_cached: int = 500_000,
    ) -> None:
        cfg = settings.profiles
        self.settings = settings
        self.store = store
        self.fast = fast
        self.owner = owner
        self.max_cached = max_cached
        self.attributes = list(cfg.attributes)
        self.catalog = CatalogCache(store, cfg.attributes, cfg.price_bands)
        self.rules = RulesRegistry(settings, store)
        self.updater = Updater(
            self.attributes, settings.event_weights, cfg.window_days, cfg.half_life_days
        )
        self._cache: dict[str, ProfileState] = {}
        self._absent: set[str] = set()
        self._replaying = False
        self._links: dict[str, str] | None = None
        self._lock = threading.RLock()

    # --- writing ------------------------------------------------------------------------
    def apply(self, events: pl.DataFrame) -> int:
        """Apply newly stored events (pseudonymized, timestamp in epoch ms); return how many
        changed a profile (redelivered or too-late events change nothing)."""
        if events.height == 0:
            return 0
        return self.apply_columns(to_columns(events))

    def apply_columns(self, cols: Columns) -> int:
        """`apply` for events given as columns (name -> list; timestamps in epoch ms)."""
        if not cols.get("event_id") or all(t == "impression" for t in cols["type"]):
            return 0  # impressions change no profile: no rules, catalog or store round trip
        with self._lock:
            try:
                applied, states, deleted = self._apply(cols)
                self._persist(states, deleted)
            except Exception:
                # cached states may hold changes that were never written: forget them all,
                # so a retry starts from the store and applies the batch for real
                self._cache.clear()
                self._absent.clear()
                self._links = None
                raise
            self._remember(states, deleted)
            return applied

    def listener(self, events: pl.DataFrame) -> None:
        """Ingestor listener: apply, but never fail ingestion (rebuild recovers profiles)."""
        try:
            self.apply(events)
        except Exception:
            log.exception("profile update failed for %d events", events.height)

    def _apply(self, cols: Columns) -> tuple[int, dict[str, ProfileState], list[str]]:
        rules = self.rules.current()
        links = self.links()
        attrs = self.catalog.attribute_map()
        window, inter = self.settings.profiles.window_days, self.updater.interactions

        def on_change(state: ProfileState) -> None:
            state.segments = evaluate(state, rules, window, inter)
            state.rules_version = rules.version

        result = self.updater.apply(cols, self._load_states, links, attrs, on_change)
        return result.applied, result.touched, result.deleted

    def _evaluate(self, states: Iterable[ProfileState], rules: SegmentRules) -> None:
        window = self.settings.profiles.window_days
        inter = self.updater.interactions
        for state in states:
            state.segments = evaluate(state, rules, window, inter)
            state.rules_version = rules.version

    def _persist(self, states: dict[str, ProfileState], deleted: list[str]) -> None:
        texts = {k: dumps_state(s) for k, s in states.items()}
        rows = [ProfileRow(k, texts[k], s.rules_version, s.last_seen) for k, s in states.items()]
        for start in range(0, max(len(rows), 1), SAVE_CHUNK):
            self.store.save_profiles(rows[start : start + SAVE_CHUNK], deleted if not start else [])
        if self.fast is not None:
            try:
                self.fast.put_many(texts, deleted)
            except StoreUnavailableError as exc:  # the store has it; rebuild refills Redis
                log.warning("profile fast path not updated: %s", exc)

    def _remember(self, states: dict[str, ProfileState], deleted: list[str]) -> None:
        for key in deleted:
            self._cache.pop(key, None)
        if len(self._cache) + len(states) > self.max_cached:
            for key in list(self._cache)[: len(states) + self.max_cached // 10]:
                del self._cache[key]
        self._cache.update(states)

    def _load_states(self, keys: list[str]) -> dict[str, ProfileState]:
        found = {k: self._cache[k] for k in keys if k in self._cache}
        missing = [k for k in keys if k not in found and k not in self._absent]
        if missing and not self._replaying:
            n, inter = len(self.attributes), self.updater.interactions
            for key, row in self.store.load_profiles(missing).items():
                found[key] = loads_state(key, row.state, n, inter)
            if len(self._absent) > self.max_cached:
                self._absent.clear()
            # the owner is the only writer: a key absent now stays absent until it writes it
            self._absent.update(k for k in missing if k not in found)
        return found

    def links(self) -> dict[str, str]:
        """Anonymous id -> user id links (loaded once from the store, then kept current)."""
        if self._links is None:
            self._links = self.store.identity_links()
        return self._links

    # --- reading ------------------------------------------------------------------------
    def state(self, user_id: str) -> ProfileState | None:
        """The raw state of a profile key, or None.

        Raises:
            StoreUnavailableError: neither the fast path nor the store can be read.
        """
        if self.owner:
            with self._lock:
                cached = self._cache.get(user_id)
            if cached is not None:
                return cached
        text: str | None = None
        if self.fast is not None:
            try:
                text = self.fast.get(user_id)
            except StoreUnavailableError as exc:
                log.warning("profile fast path unavailable: %s", exc)
        if text is None:
            try:
                text = self.store.load_profile_state(user_id)
            except StoreUnavailableError:
                raise
            except Exception as exc:
                raise StoreUnavailableError(f"profile store unreachable: {exc}") from exc
        if text is None:
            return None
        state = loads_state(user_id, text, len(self.attributes), self.updater.interactions)
        if self.owner:
            with self._lock:
                self._cache.setdefault(user_id, state)
        return state

    def get(self, user_id: str) -> Profile | None:
        """The profile of a (pseudonymized) user id, or None when the user is unknown.

        Segments are re-evaluated on read when the active rules changed since the profile
        was last updated, so a rules change shows without waiting for the next event.
        """
        state = self.state(user_id)
        if state is None:
            return None
        rules = self.rules.current()
        segments = state.segments
        if state.rules_version != rules.version:
            segments = evaluate(
                state, rules, self.settings.profiles.window_days, self.updater.interactions
            )
        profile = to_profile(
            state,
            self.attributes,
            self.updater.interactions,
            decayed_affinities(state, self.updater.half_life_ms),
        )
        profile.segments = dict(segments)
        profile.rules_version = rules.version
        return profile

    def signals(self, user_key: str, since_ms: int) -> UserSignals:
        """Recent item events (at or after ``since_ms``), attribute shares and segments.

        Implements :class:`~tastemaker.profiles.signals.ProfileReader`; an unknown user
        gets empty signals (``found`` False).

        Raises:
            StoreUnavailableError: the profile cannot be read.
        """
        state = self.state(user_key)
        if state is None:
            return UserSignals()
        rows = [e for e in list(state.timeline) if e[0] >= since_ms and e[2] in _ITEM_TYPES]
        counts = list(state.counts)
        shares = {a: shares_of(dict(counts[i])) for i, a in enumerate(self.attributes)
                  if i < len(counts)}  # fmt: skip
        return UserSignals(
            [e[3] for e in rows],
            [e[2] for e in rows],
            np.fromiter((e[0] for e in rows), np.int64, len(rows)),
            shares,
            self._segments_of(state),
            True,
        )

    def segments(self, user_id: str) -> dict[str, float] | None:
        """Segment name -> score of a user (None when unknown), without building the profile.

        Raises:
            StoreUnavailableError: the profile cannot be read.
        """
        state = self.state(user_id)
        return None if state is None else self._segments_of(state)

    def _segments_of(self, state: ProfileState) -> dict[str, float]:
        rules = self.rules.current()
        if state.rules_version == rules.version:
            return dict(state.segments)
        window, inter = self.settings.profiles.window_days, self.updater.interactions
        return evaluate(state, rules, window, inter)

    # --- maintenance --------------------------------------------------------------------
    def rebuild(self) -> int:
        """Recompute every profile from the event log; return the number of profiles."""
        with self._lock:
            self._cache.clear()
            self._absent.clear()
            self._links = None
            self.catalog.invalidate()
            self.store.clear_profiles()
            if self.fast is not None:
                self.fast.clear()
            states, deleted = self.simulate()
            self._persist(states, sorted(deleted))
            self._remember(states, [])
            return len(states)

    def simulate(self, end: datetime | None = None) -> tuple[dict[str, ProfileState], set[str]]:
        """Replay the event log (up to ``end``) in memory; return states and merged-away keys.

        Nothing is written: `rebuild` persists the result, quality reports read it.
        """
        with self._lock:
            saved_cache, saved_links = self._cache, self._links
            self._links = {}  # learned in sequence, exactly as the online path does
            self._replaying = True  # states come from the replay only, never the store
            states: dict[str, ProfileState] = {}
            deleted: set[str] = set()
            after = 0
            try:
                while True:
                    chunk = self.store.events(after_seq=after, limit=REBUILD_CHUNK)
                    if chunk.height == 0:
                        break
                    after = int(chunk["seq"].max())  # type: ignore[arg-type]
                    if end is not None:
                        chunk = chunk.filter(pl.col("timestamp") < end)
                    self._cache = states
                    _, touched, gone = self._apply(to_columns(chunk))
                    states.update(touched)
                    for key in gone:
                        states.pop(key, None)
                        deleted.add(key)
            finally:
                self._cache, self._links = saved_cache, saved_links
                self._replaying = False
            return states, deleted

    def reevaluate_all(self) -> dict[str, int]:
        """Re-evaluate every stored profile with the active rules; return segment sizes."""
        with self._lock:
            rules = self.rules.current()
            n, inter = len(self.attributes), self.updater.interactions
            rows = self.store.load_profiles()
            states = {k: loads_state(k, r.state, n, inter) for k, r in rows.items()}
            self._evaluate(states.values(), rules)
            self._persist(states, [])
            if self.owner:
                self._cache.update({k: s for k, s in states.items() if k in self._cache})
            return sizes_of(states.values())

    def segment_sizes(self) -> dict[str, int]:
        """Members per segment with the active rules, over every stored profile."""
        rules = self.rules.current()
        n, inter = len(self.attributes), self.updater.interactions
        window = self.settings.profiles.window_days
        counts: dict[str, int] = dict.fromkeys(rules.segments, 0)
        for key, row in self.store.load_profiles().items():
            state = loads_state(key, row.state, n, inter)
            if state.rules_version != rules.version:
                state.segments = evaluate(state, rules, window, inter)
            for name in state.segments:
                counts[name] = counts.get(name, 0) + 1
        return counts

    def record_stats(self) -> dict[str, int]:
        """Record the current segment sizes in the store (for `segments stats`)."""
        sizes = self.segment_sizes()
        self.store.add_segment_stats(int(time.time() * 1000), self.rules.active_version(), sizes)
        return sizes


def sizes_of(states: Iterable[ProfileState]) -> dict[str, int]:
    """Members per segment over states."""
    counts: dict[str, int] = {}
    for state in states:
        for name in state.segments:
            counts[name] = counts.get(name, 0) + 1
    return counts
