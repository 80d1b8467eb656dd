"""Maintenance of the profiles of a workspace: rebuild from the log, replay, re-evaluation
with new rules, segment sizes (a part of `ProfileService`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from tastemaker.config import Settings
from tastemaker.profiles.catalog import CatalogCache
from tastemaker.profiles.consent import ConsentView
from tastemaker.profiles.evaluate import evaluate
from tastemaker.profiles.model import ProfileState, loads_state
from tastemaker.profiles.registry import RulesRegistry
from tastemaker.profiles.update import BatchResult, Columns, Updater, to_columns
from tastemaker.storage.base import Advance, Lease, LeaseLostError, Store
from tastemaker.storage.follower import holding, renew
from tastemaker.storage.guard import Guard

REBUILD_CHUNK = 200_000
#: Attempts of a rebuild whose write another process's deletion refused.
REBUILD_TRIES = 3
#: The watermark of in-process profile updates.
WATERMARK = "profiles"


class ProfileMaintenance:
    """`ProfileService` methods that recompute many profiles at once, holding the lease of the
    ``profiles`` watermark so in-process updates wait for them."""

    settings: Settings
    store: Store
    owner: bool
    attributes: list[str]
    catalog: CatalogCache
    rules: RulesRegistry
    updater: Updater
    _cache: dict[str, ProfileState]
    _links: dict[str, str] | None
    _replaying: bool
    _lock: threading.RLock
    _lease_ms: int
    _version: int | None

    #: How often (seconds) a reader checks that no other process changed profiles it keeps.
    fresh_seconds = 1.0
    _absent: set[str]
    _checked: float
    consent: ConsentView

    def _forget(self) -> None:
        self._cache.clear()
        self._absent.clear()
        self._links = None

    def _adopt(self, version: int) -> None:
        """The profiles are at ``version`` now: drop kept states, re-read consent, the
        retention cut (set before a retention moves the version) and the active rules (a
        `segments apply` moves it), so what is applied next sees what changed elsewhere."""
        with self._lock:
            self._forget()
            self._version = version
        self.consent.refresh()
        self.rules.refresh()

    def _check_fresh(self) -> None:
        """Adopt the version when another process wrote profiles since kept states were read
        (the watermark's version tells; read at most every `fresh_seconds`)."""
        now = time.monotonic()
        if now - self._checked < self.fresh_seconds:
            return
        self._checked = now
        version = self.store.watermark(WATERMARK).version
        if version != self._version:
            self._adopt(version)

    # provided by ProfileService
    def _apply(self, cols: Columns) -> BatchResult:
        raise NotImplementedError

    def _persist(
        self,
        states: dict[str, ProfileState],
        deleted: list[str],
        links: list[tuple[str, str, int]] | None = None,
        advance: Advance | None = None,
        clear: bool = False,
        guard: Guard | None = None,
    ) -> Lease | None:
        raise NotImplementedError

    def _remember(self, states: dict[str, ProfileState], deleted: list[str]) -> None:
        raise NotImplementedError

    def rebuild(self) -> int:
        """Recompute every profile from the event log; return the number of profiles.

        Holds the ``profiles`` lease meanwhile (in-process updates and guarded writes of
        stream workers wait), writes the profiles and the watermark at the log's end in one
        transaction, and gives the lease up once the Redis fast path is written too. A
        forget, opt-out or retention elsewhere (they move the watermark's version without
        the lease) refuses that write: the rebuild then starts again, up to `REBUILD_TRIES`.

        Raises:
            LeaseLostError: the version kept moving (or the lease was lost) every time.
        """
        return len(self._rebuilt())

    def _rebuilt(self) -> dict[str, ProfileState]:
        """`rebuild`'s tries; the states written."""
        for _ in range(REBUILD_TRIES - 1):
            try:
                return self._rebuild_once()
            except LeaseLostError:
                pass
        return self._rebuild_once()

    def _rebuild_once(self) -> dict[str, ProfileState]:
        with holding(self.store, WATERMARK, self._lease_ms) as lease, self._lock:
            self._adopt(lease.version)  # consent, cut and rules as they stand, not as kept
            self.catalog.invalidate()
            replay = self._replay(None, lambda: renew(self.store, lease, self._lease_ms))
            advance = Advance(lease, replay.last, False, self._lease_ms)  # kept past Redis
            moved = self._persist(replay.states, sorted(replay.deleted), replay.links,
                                  advance, clear=True)  # fmt: skip
            assert moved is not None
            self._version = moved.version
            self._remember(replay.states, [])
            return replay.states

    def simulate(self, end: datetime | None = None) -> tuple[dict[str, ProfileState], set[str]]:
        """Replay the event log (up to ``end``) in memory; return states and merged-away keys.

        Nothing is written: `rebuild` persists the result, quality reports read it.
        """
        replay = self._replay(end, None)
        return replay.states, replay.deleted

    def _replay(self, end: datetime | None, keep: Callable[[], None] | None) -> _Replay:
        """The log replayed in seq order, exactly as followers apply it (``keep`` runs after
        each chunk: it renews the lease of a rebuild)."""
        with self._lock:
            saved_cache, saved_links = self._cache, self._links
            self._links = {}  # learned in sequence, exactly as the online path does
            self._replaying = True  # states come from the replay only, never the store
            out = _Replay()
            try:
                while True:
                    chunk = self.store.events(after_seq=out.last, limit=REBUILD_CHUNK)
                    if chunk.height == 0:
                        break
                    out.last = int(chunk["seq"].max())  # type: ignore[arg-type]
                    if end is not None:
                        chunk = chunk.filter(pl.col("timestamp") < end)
                    self._cache = out.states
                    result = self._apply(to_columns(chunk))
                    out.states.update(result.touched)
                    out.links += result.linked
                    for key in result.deleted:
                        out.states.pop(key, None)
                        out.deleted.add(key)
                    if keep is not None:
                        keep()
            finally:
                self._cache, self._links = saved_cache, saved_links
                self._replaying = False
            return out

    def reevaluate_all(self) -> dict[str, int]:
        """Bring every profile to the active rules (after `segments apply` or rollback);
        return the members per segment.

        The profiles are recomputed from the event log, as `rebuild` does: membership follows
        the whole event history under the rules (hysteresis included), so re-evaluating each
        stored profile once would leave users in the hysteresis band where the old rules
        had them, unlike a rebuild. It costs a replay (about 100,000 events/s here).
        """
        states = self._rebuilt()  # evaluated with the active rules (the rebuild re-read them)
        return dict.fromkeys(self.rules.current().segments, 0) | sizes_of(states.values())

    def segment_sizes(self) -> dict[str, int]:
        """Members per segment with the active rules, over every stored profile."""
        rules = self.rules.current()
        n, inter = len(self.attributes), self.updater.interactions
        window = self.settings.profiles.window_days

        def evaluated() -> Iterator[ProfileState]:
            for key, row in self.store.load_profiles().items():
                state = loads_state(key, row.state, n, inter)
                if state.rules_version != rules.version:
                    state.segments = evaluate(state, rules, window, inter)
                yield state

        return dict.fromkeys(rules.segments, 0) | sizes_of(evaluated())

    def record_stats(self) -> dict[str, int]:
        """Record the current segment sizes in the store (for `segments stats`)."""
        sizes = self.segment_sizes()
        self.store.add_segment_stats(int(time.time() * 1000), self.rules.active_version(), sizes)
        return sizes


@dataclass
class _Replay:
    """The log replayed: states, merged-away keys, identity links learned, last seq read."""

    states: dict[str, ProfileState] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    links: list[tuple[str, str, int]] = field(default_factory=list)
    last: int = 0


def sizes_of(states: Iterable[ProfileState]) -> dict[str, int]:
    """Members per segment over states."""
    counts: dict[str, int] = {}
    for state in states:
        for name in state.segments:
            counts[name] = counts.get(name, 0) + 1
    return counts
