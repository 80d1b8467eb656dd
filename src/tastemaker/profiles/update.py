"""Applying a batch of events to profile states: routing, stitching, window, affinities.

The order: a profile is a fold over its events in the order of the event log (``seq``, the
order events arrived in). Event time places each event in the timeline and decides the
window; the lateness rule follows: an event older than the window of the newest event
applied before it changes nothing. Nothing depends on how the log was cut into batches, so
live profiles equal `ProfileService.rebuild` whoever appended and however the events were
batched. The batch is prepared in one pass (profile key per event, grouped by key in log
order); the per-event work is a few dictionary updates.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from tastemaker.profiles.model import ANON_PREFIX, DAY_MS, Entry, ProfileState
from tastemaker.schema import ITEM_EVENT_TYPES

#: Re-anchor affinities before 2 ** exponent overflows a float.
_MAX_EXPONENT = 600.0
_NOT_ACTIVITY = frozenset({"impression", "exposure"})

StateLoader = Callable[[list[str]], dict[str, ProfileState]]
#: Called after every event that changed a state (segments are evaluated there).
OnChange = Callable[[ProfileState], None]


@dataclass
class BatchResult:
    """States touched by a batch, keys to delete (merged anonymous profiles), counts."""

    touched: dict[str, ProfileState] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    #: identity links learned from the batch: (anonymous id, user id, at ms).
    linked: list[tuple[str, str, int]] = field(default_factory=list)
    applied: int = 0
    skipped: int = 0


#: Events as columns: name -> list of values (timestamps as epoch ms).
Columns = dict[str, list[Any]]
_NEEDED = ("event_id", "user_id", "anonymous_id", "type", "item_id", "value", "timestamp",
           "session_id")  # fmt: skip


def to_columns(events: pl.DataFrame) -> Columns:
    """The columns `Updater.apply` reads, from an event frame (timestamps to epoch ms)."""
    frame = _ms(events)
    for name in _NEEDED:
        if name not in frame.columns:
            frame = frame.with_columns(pl.lit(None).alias(name))
    return frame.select(_NEEDED).to_dict(as_series=False)


def _ms(frame: pl.DataFrame) -> pl.DataFrame:
    dtype = frame.schema["timestamp"]
    if isinstance(dtype, pl.Datetime):
        return frame.with_columns(pl.col("timestamp").dt.epoch("ms").alias("timestamp"))
    return frame.with_columns(pl.col("timestamp").cast(pl.Int64))


class Updater:
    """Applies event batches to profile states.

    Args:
        attributes: profiled catalog attributes, in order.
        weights: event type -> weight (affinities); positive weights count as interactions.
        window_days: timeline length.
        half_life_days: half-life of affinities.
    """

    def __init__(
        self,
        attributes: list[str],
        weights: dict[str, float],
        window_days: float,
        half_life_days: float,
    ) -> None:
        self.attributes = list(attributes)
        self.weights = dict(weights)
        self.window_ms = int(window_days * DAY_MS)
        self.half_life_ms = half_life_days * DAY_MS
        self.interactions = frozenset(t for t, w in weights.items() if w > 0)

    def prepare(
        self, cols: Columns, links: dict[str, str], linked: list[tuple[str, str, int]] | None = None
    ) -> list[tuple[bool, str, int, int]]:
        """The order to apply a batch in: (is a user, profile key, timestamp, row) per event.

        Rows are in log order. The key of an event is its user id; else the user its
        anonymous id was linked to before, or by an ``identify`` earlier in the log; else
        ``anon:<anonymous id>``. Events are grouped by key, each key's in log order, and
        anonymous profiles come first, so an identify later in the batch merges them whole.
        The batch's identify events then update ``links`` (new ones are added to ``linked``).
        Impressions and experiment exposures change no profile.
        """
        types, users, anons, stamps = (cols["type"], cols["user_id"], cols["anonymous_id"],
                                       cols["timestamp"])  # fmt: skip
        learned: dict[str, tuple[str, int]] = {}
        rows: list[tuple[bool, str, int, int]] = []
        for i, etype in enumerate(types):
            if etype in _NOT_ACTIVITY:
                continue
            user, anon = users[i], anons[i]
            if user is not None:
                key = user
                if etype == "identify" and anon is not None and anon not in links:
                    learned.setdefault(anon, (user, int(stamps[i])))
            elif anon is not None:
                known = links.get(anon) or learned.get(anon, (None, 0))[0]
                key = known or ANON_PREFIX + anon
            else:
                continue
            rows.append((not key.startswith(ANON_PREFIX), key, i, int(stamps[i])))
        for anon, (user, ts) in learned.items():
            links[anon] = user
            if linked is not None:
                linked.append((anon, user, ts))
        rows.sort()  # by key, then row: each key's events in log order
        return [(is_user, key, ts, i) for is_user, key, i, ts in rows]

    def apply(
        self,
        cols: Columns,
        load: StateLoader,
        links: dict[str, str],
        attrs: dict[str, tuple[str | None, ...]],
        on_change: OnChange | None = None,
    ) -> BatchResult:
        """Apply a batch of events given as columns (`tastemaker.schema.EVENT_COLUMNS`), in
        log order.

        ``load`` returns existing states for keys (missing = new) and ``attrs`` maps item
        ids to their attribute values. After each event that changes a state, the window is
        pruned and ``on_change`` runs, so segment membership (with its hysteresis) depends
        only on the user's event sequence, not on how events were batched.
        """
        result = BatchResult()
        order = self.prepare(cols, links, result.linked)
        if not order:
            return result
        types, anons = cols["type"], cols["anonymous_id"]
        merges = {anons[i] for _, _, _, i in order if types[i] == "identify" and anons[i]}
        wanted = list({key: None for _, key, _, _ in order}) + [ANON_PREFIX + a for a in merges]
        states = load(wanted)
        eids, items, values, sessions = (cols["event_id"], cols["item_id"], cols["value"],
                                         cols["session_id"])  # fmt: skip
        unknown: tuple[str | None, ...] = (None,) * len(self.attributes)
        current: ProfileState | None = None
        for is_user, key, ts, i in order:
            if current is None or current.key != key:
                current = states.get(key) or self.new_state(key)
                states[key] = current
                result.touched[key] = current
            etype, item = types[i], items[i]
            if etype == "identify" and is_user and anons[i] is not None:
                self._merge(current, anons[i], states, result)
            entry = (ts, eids[i], etype, item, values[i], attrs.get(item, unknown))
            if self.add(current, entry, sessions[i]):
                result.applied += 1
                self.finish(current)
                if current.dirty and on_change is not None:
                    on_change(current)
                current.dirty = False
            else:
                result.skipped += 1
        for state in result.touched.values():
            self.settle(state)
        return result

    def new_state(self, key: str) -> ProfileState:
        """An empty state for a new profile key."""
        state = ProfileState(key=key)
        state.ensure_attributes(len(self.attributes))
        return state

    def add(self, state: ProfileState, entry: Entry, session_id: str | None = None) -> bool:
        """Apply one event; False when it was applied before or is older than the window."""
        ts, eid, etype = entry[0], entry[1], entry[2]
        if eid in state.applied:
            return False
        last = state.last_seen
        if last is not None and ts < last - self.window_ms:
            return False
        if etype not in _NOT_ACTIVITY:
            state.last_seen = ts if last is None else max(last, ts)
            if state.first_seen is None or ts < state.first_seen:
                state.first_seen = ts
            if session_id is not None:
                state.sessions[session_id] = max(ts, state.sessions.get(session_id, ts))
        if etype not in ITEM_EVENT_TYPES or entry[3] is None:
            return True
        state.insert(entry)
        attrs = entry[5]
        if etype in self.interactions:
            totals = state.totals
            for i, (counts, v) in enumerate(zip(state.counts, attrs, strict=False)):
                if v is not None:
                    counts[v] = counts.get(v, 0) + 1
                    totals[i] += 1
                    state.dirty = True
        weight = self.weights.get(etype, 0.0)
        if weight:
            self._affinity(state, ts, weight, attrs)
        return True

    def _affinity(
        self, state: ProfileState, ts: int, weight: float, attrs: tuple[str | None, ...]
    ) -> None:
        if not state.aff_ts:
            state.aff_ts = ts
        exponent = (ts - state.aff_ts) / self.half_life_ms
        if exponent > _MAX_EXPONENT:
            factor = 2.0 ** (-exponent)
            for table in state.affinities:
                for name in table:
                    table[name] *= factor
            state.aff_ts, exponent = ts, 0.0
        contribution = weight * 2.0**exponent
        for table, v in zip(state.affinities, attrs, strict=False):
            if v is not None:
                table[v] = table.get(v, 0.0) + contribution

    def settle(self, state: ProfileState) -> None:
        """End of a batch: drop sessions that left the window (whatever the batching, a
        session dropped here could only come back with a later time).

        Affinities stay anchored where they are: re-anchoring at batch ends would make the
        stored numbers depend on the batching in their last bits. The anchor moves only when
        the exponent grows too large, which depends on the event sequence alone.
        """
        if state.last_seen is None:
            return
        cutoff = state.last_seen - self.window_ms
        if state.sessions and min(state.sessions.values()) < cutoff:
            state.sessions = {s: t for s, t in state.sessions.items() if t >= cutoff}

    def finish(self, state: ProfileState) -> None:
        """Drop timeline entries and sessions that left the window."""
        if state.last_seen is None:
            return
        cutoff = state.last_seen - self.window_ms
        tl = state.timeline
        n = 0
        while n < len(tl) and tl[n][0] < cutoff:
            _ts, eid, etype, _item, _value, attrs = tl[n]
            state.applied.discard(eid)
            if etype in self.interactions:
                for i, (counts, v) in enumerate(zip(state.counts, attrs, strict=False)):
                    if v is not None:
                        state.totals[i] -= 1
                        state.dirty = True
                        left = counts.get(v, 0) - 1
                        if left > 0:
                            counts[v] = left
                        else:
                            counts.pop(v, None)
            n += 1
        if n:
            del tl[:n]

    def _merge(
        self, user: ProfileState, anon_id: str, states: dict[str, ProfileState], result: BatchResult
    ) -> None:
        """Stitch the anonymous profile of ``anon_id`` into ``user`` (event ids dedupe)."""
        anon_key = ANON_PREFIX + anon_id
        anon = states.pop(anon_key, None)
        result.touched.pop(anon_key, None)
        if anon_id not in user.merged:
            user.merged.append(anon_id)
        if anon is None:
            return
        for entry in anon.timeline:
            self.add(user, entry)
        for sid, ts in anon.sessions.items():
            user.sessions[sid] = max(ts, user.sessions.get(sid, ts))
        if anon.first_seen is not None:
            user.first_seen = min(user.first_seen or anon.first_seen, anon.first_seen)
        if anon.last_seen is not None:
            user.last_seen = max(user.last_seen or anon.last_seen, anon.last_seen)
        result.deleted.append(anon_key)


def decayed_affinities(state: ProfileState, half_life_ms: float) -> list[dict[str, float]]:
    """Affinities as of the state's last activity (stored values are anchored at ``aff_ts``)."""
    if state.last_seen is None or not state.aff_ts:
        return [dict(t) for t in state.affinities]
    factor = math.pow(2.0, -(state.last_seen - state.aff_ts) / half_life_ms)
    return [{v: x * factor for v, x in t.items()} for t in state.affinities]
