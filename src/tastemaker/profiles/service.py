"""`ProfileService`: applies events to profiles, evaluates segments, persists and serves profiles.

With ``bus: inprocess`` profiles follow the event log: after each append the process asks its
`LogFollower` to apply the log past the ``profiles`` watermark, in ``seq`` order, under a
lease, and the watermark moves in the transaction that writes the profiles. Whichever
processes append (a server, importers), each event is applied once, in log order, exactly as
`rebuild` replays it. With ``bus: redis`` the worker owning a user's partition applies the
events it consumes (`apply_columns`). A writer keeps states in memory while the watermark's
version is the one it wrote; readers (API processes in the scaled-out mode) read Redis first,
then the store.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from tastemaker.config import Settings
from tastemaker.errors import StoreUnavailableError
from tastemaker.profiles.catalog import CatalogCache
from tastemaker.profiles.consent import ConsentView, drop_before, drop_opted_out
from tastemaker.profiles.evaluate import evaluate
from tastemaker.profiles.maintenance import WATERMARK, ProfileMaintenance
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
from tastemaker.profiles.update import (
    BatchResult,
    Columns,
    Updater,
    decayed_affinities,
    to_columns,
)
from tastemaker.storage.base import Advance, Lease, LeaseLostError, ProfileRow, Store
from tastemaker.storage.follower import LogFollower, wait_free
from tastemaker.storage.guard import Guard

if TYPE_CHECKING:  # the redis client costs ~0.1 s of every start-up: imported when used
    from tastemaker.storage.redis_profiles import RedisProfiles

log = logging.getLogger(__name__)
_ITEM_TYPES = frozenset(ITEM_TYPES)
#: Events applied per step when following the log.
FOLLOW_CHUNK = 10_000
#: Attempts of a guarded write (a stream worker's) before the delivery fails and is retried.
GUARD_TRIES = 3


class ProfileService(ProfileMaintenance):
    """Real-time profiles and segments of a workspace.

    Args:
        settings: workspace settings (``profiles`` section and event weights).
        store: the durable store.
        fast: optional Redis fast path.
        owner: this process applies events (keeps states in memory); False for read-only
            API processes of the scaled-out mode.
        follow: apply the event log past the ``profiles`` watermark after each append
            (`listener`), the ``bus: inprocess`` mode.
        max_cached: most profile states kept in memory.
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        fast: RedisProfiles | None = None,
        owner: bool = True,
        follow: bool = False,
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
        self._lease_ms = int(cfg.lease_seconds * 1000)
        #: who opted out (their events build no profile, their profile reads as none)
        self.consent = ConsentView(store, settings.privacy.consent_refresh_seconds)
        self._opted_seen: frozenset[str] = frozenset()
        #: watermark version the states in memory belong to; when checked last (monotonic).
        self._version: int | None = None
        self._checked = -float("inf")
        self.follower = (
            LogFollower(store, WATERMARK, self._step, ttl_ms=self._lease_ms, chunk=FOLLOW_CHUNK)
            if follow
            else None
        )

    # --- writing ------------------------------------------------------------------------
    def listener(self, events: pl.DataFrame) -> None:
        """Ingestor listener: follow the log past the events just appended (a frame with
        ``seq``), but never fail ingestion (the next append, `flush` or `rebuild` retries).
        A batch of impressions only is left for the next follow (they change no profile)."""
        if self.follower is None:
            return
        if events.height and (events["type"] == "impression").all():
            return
        try:
            self.follower.request(events)
        except Exception:
            log.exception("profile update failed (%d events wait in the log)", events.height)

    def catch_up(self) -> bool:
        """Apply the log up to its current end; False when another process holds the lease
        (it is retried in the background)."""
        assert self.follower is not None, "this service does not follow the event log"
        return self.follower.request()

    def flush(self, timeout: float = 300.0) -> bool:
        """Wait until every event this process appended is applied; True when it is."""
        return self.follower.flush(timeout) if self.follower is not None else True

    def close(self) -> None:
        """Apply what this process still owes (`flush`) and stop retrying."""
        self.consent.close()
        if self.follower is not None:
            self.flush()
            self.follower.close()

    def _step(self, frame: pl.DataFrame, lease: Lease, release: bool) -> Lease:
        """Apply a chunk of the log (seq order) and move the watermark with the profiles."""
        advance = Advance(lease, int(frame["seq"].max()), release, self._lease_ms)  # type: ignore[arg-type]
        with self._lock:
            if lease.version != self._version:  # another process wrote profiles meanwhile
                self._adopt(lease.version)
            cols = to_columns(frame)
            if all(t == "impression" for t in cols["type"]):
                moved: Lease | None = self.store.advance_lease(advance)
            else:
                moved = self._write(cols, advance)[1]
            assert moved is not None
            self._version = moved.version
            return moved

    def apply(self, events: pl.DataFrame) -> int:
        """Apply newly stored events (pseudonymized, timestamp in epoch ms), in log order;
        return how many changed a profile (redelivered or too-late events change nothing).

        The caller owns these profiles (a stream worker owning the partition, a test): the
        ``profiles`` watermark does not move.
        """
        if events.height == 0:
            return 0
        return self.apply_columns(to_columns(events))

    def apply_columns(self, cols: Columns) -> int:
        """`apply` for events given as columns (name -> list; timestamps in epoch ms).

        The write is guarded (`Guard`) by the watermark version the kept states belong to: a
        rebuild, retention or forget elsewhere, or one under way, refuses it; the states are
        then dropped, the cut re-read, and the batch applied again on the stored profiles
        once the lease is free (idempotent). After `GUARD_TRIES`, LeaseLostError is raised.
        """
        if not cols.get("event_id") or all(t == "impression" for t in cols["type"]):
            return 0  # impressions change no profile: no rules, catalog or store round trip
        self._check_fresh()  # a rebuild, retention or forget elsewhere: kept states are stale
        for attempt in range(1, GUARD_TRIES + 1):
            try:
                with self._lock:
                    guard = Guard(WATERMARK, -1 if self._version is None else self._version)
                    return self._write(cols, None, guard)[0]
            except LeaseLostError:
                if attempt == GUARD_TRIES:
                    raise
                self._adopt(wait_free(self.store, WATERMARK, self._lease_ms / 1000))
        raise AssertionError("unreachable")

    def _write(
        self, cols: Columns, advance: Advance | None, guard: Guard | None = None
    ) -> tuple[int, Lease | None]:
        """Apply and persist; the number applied and the moved watermark (with ``advance``)."""
        try:
            result = self._apply(cols)
            moved = self._persist(result.touched, result.deleted, result.linked, advance,
                                  guard=guard)  # fmt: skip
        except Exception:
            # cached states may hold changes that were never written: forget them all,
            # so a retry starts from the store and applies the batch for real
            self._forget()
            raise
        self._remember(result.touched, result.deleted)
        return result.applied, moved

    def _apply(self, cols: Columns) -> BatchResult:
        rules = self.rules.current()
        links = self.links()
        attrs = self.catalog.attribute_map(set(cols["item_id"]))

        def on_change(state: ProfileState) -> None:
            self._evaluate((state,), rules)

        opted = self.consent.current()
        cols = drop_before(cols, self.consent.cut_ms)
        newly = opted - self._opted_seen if opted is not self._opted_seen else frozenset()
        self._opted_seen = opted
        result = self.updater.apply(cols, self._load_states, links, attrs, on_change)
        return drop_opted_out(result, opted, newly)

    def _evaluate(self, states: Iterable[ProfileState], rules: SegmentRules) -> None:
        window = self.settings.profiles.window_days
        inter = self.updater.interactions
        for state in states:
            state.segments = evaluate(state, rules, window, inter)
            state.rules_version = rules.version

    def _persist(
        self,
        states: dict[str, ProfileState],
        deleted: list[str],
        links: list[tuple[str, str, int]] | None = None,
        advance: Advance | None = None,
        clear: bool = False,
        guard: Guard | None = None,
    ) -> Lease | None:
        """One transaction: profiles, links and the watermark; then the Redis fast path,
        copies stamped with the version their states belong to (never over newer ones)."""
        texts = {k: dumps_state(s) for k, s in states.items()}
        rows = [ProfileRow(k, texts[k], s.rules_version, s.last_seen) for k, s in states.items()]
        moved = self.store.save_profiles(rows, deleted, links=links, clear=clear,
                                         advance=advance, guard=guard)  # fmt: skip
        if self.fast is not None:
            version = moved.version if moved is not None else guard.version if guard else None
            assert version is not None, "a profile write is either guarded or moves the watermark"
            try:
                refused = self.fast.copy(texts, deleted, version=version, clear=clear)
            except StoreUnavailableError as exc:  # the store has it; rebuild refills Redis
                log.warning("profile fast path not updated: %s", exc)
            else:
                if refused:  # a rebuild, retention or forget wrote newer copies meanwhile
                    log.info("%d profile copies of version %d refused as older", refused, version)
        return moved

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
        if self.consent.opted_out(user_id):
            return None
        if self.owner:
            if self.follower is not None:
                self._check_fresh()
            with self._lock:
                cached, version = self._cache.get(user_id), self._version
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
                if self._version == version:  # kept only if no other writer came meanwhile
                    self._cache.setdefault(user_id, state)
        return state

    def get(self, user_id: str, now_ms: int | None = None) -> Profile | None:
        """The profile of a (pseudonymized) user id, or None when the user is unknown.

        Segments are re-evaluated on read when the active rules changed since the profile
        was last updated, so a rules change shows without waiting for the next event.
        ``now_ms`` is the clock of ``recency_days`` (default: now).
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
            now_ms=now_ms,
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
        if self.consent.opted_out(user_key):
            return UserSignals(personal=False)
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
