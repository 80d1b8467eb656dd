"""Applying a batch of events to profile states: routing, stitching, window, affinities.

The batch is prepared column-wise with polars (profile key per event, catalog attributes
joined once, sorted by key and time); the per-event work is a few dictionary updates.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from tastemaker.profiles.model import ANON_PREFIX, DAY_MS, Entry, ProfileState
from tastemaker.schema import ITEM_EVENT_TYPES

#: Re-anchor affinities before 2 ** exponent overflows a float.
_MAX_EXPONENT = 600.0
_NOT_ACTIVITY = frozenset({"impression"})

StateLoader = Callable[[list[str]], dict[str, ProfileState]]
#: Called after every event that changed a state (segments are evaluated there).
OnChange = Callable[[ProfileState], None]


@dataclass
class BatchResult:
    """States touched by a batch, keys to delete (merged anonymous profiles), counts."""

    touched: dict[str, ProfileState] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    applied: int = 0
    skipped: int = 0


def profile_keys(frame: pl.DataFrame, links: dict[str, str]) -> pl.Series:
    """The profile key of each event, in sequence.

    The user id; else the user the anonymous id was linked to before this batch, or by an
    ``identify`` earlier in this batch; else ``anon:<anonymous id>``. ``frame`` needs an
    ``_order`` column (position in the batch).
    """
    if frame["user_id"].null_count() == 0:
        return frame["user_id"].alias("key")
    anon = frame["anonymous_id"]
    known = {a: links[a] for a in anon.drop_nulls().unique().to_list() if a in links}
    prior = (
        anon.replace_strict(known, default=None, return_dtype=pl.String)
        if known
        else pl.Series("prior", [None] * frame.height, dtype=pl.String)
    )
    ident = (
        frame.filter(_identify())
        .sort("_order")
        .group_by("anonymous_id", maintain_order=True)
        .agg(pl.col("user_id").first().alias("_linked"), pl.col("_order").first().alias("_at"))
    )
    keyed = frame.select("user_id", "anonymous_id", "_order").with_columns(prior.alias("_prior"))
    keyed = keyed.join(ident, on="anonymous_id", how="left")
    key = pl.coalesce(
        pl.col("user_id"),
        pl.col("_prior"),
        pl.when(pl.col("_order") > pl.col("_at")).then(pl.col("_linked")),
        pl.lit(ANON_PREFIX) + pl.col("anonymous_id"),
    )
    return keyed.sort("_order").select(key.alias("key")).to_series()


def _identify() -> pl.Expr:
    return (
        (pl.col("type") == "identify")
        & pl.col("user_id").is_not_null()
        & pl.col("anonymous_id").is_not_null()
    )


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
        self, events: pl.DataFrame, attrs: pl.DataFrame, links: dict[str, str]
    ) -> pl.DataFrame:
        """Key, attributes and order of a batch (its identify events then update ``links``)."""
        frame = _ms(events).filter(pl.col("type") != "impression").with_row_index("_order")
        frame = frame.with_columns(profile_keys(frame, links))
        ident = frame.filter(_identify()).sort("_order")
        for anon, user in ident.select("anonymous_id", "user_id").iter_rows():
            links.setdefault(anon, user)
        if attrs.height:
            frame = frame.join(attrs, on="item_id", how="left")
        for a in self.attributes:
            if a not in frame.columns:
                frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(a))
        # anonymous profiles first: an identify later in the batch then merges them whole
        user_first = pl.col("key").str.starts_with(ANON_PREFIX).not_().alias("_user")
        return frame.with_columns(user_first).sort("_user", "key", "timestamp", "_order")

    def apply(
        self,
        frame: pl.DataFrame,
        load: StateLoader,
        links: dict[str, str],
        on_change: OnChange | None = None,
    ) -> BatchResult:
        """Apply a prepared batch; ``load`` returns existing states for keys (missing = new).

        After each event that changes a state, the window is pruned and ``on_change`` runs,
        so segment membership (with its hysteresis) depends only on the user's event
        sequence, not on how events were batched.
        """
        result = BatchResult()
        if frame.height == 0:
            return result
        merges = (
            frame.filter((pl.col("type") == "identify") & pl.col("anonymous_id").is_not_null())[
                "anonymous_id"
            ]
            .unique()
            .to_list()
        )
        keys = frame["key"].unique().to_list()
        wanted = keys + [ANON_PREFIX + a for a in merges]
        states = load(wanted)
        cols = [
            frame[c].to_list()
            for c in ("key", "event_id", "type", "item_id", "value", "timestamp", "session_id")
        ]
        attr_cols = [frame[a].to_list() for a in self.attributes]
        anon_col = frame["anonymous_id"].to_list()
        attr_rows = list(zip(*attr_cols, strict=True)) if attr_cols else [()] * frame.height
        current: ProfileState | None = None
        for i, (key, eid, etype, item, value, ts, sid) in enumerate(zip(*cols, strict=True)):
            if current is None or current.key != key:
                current = states.get(key) or self.new_state(key)
                states[key] = current
                result.touched[key] = current
            if etype == "identify" and anon_col[i] is not None and not key.startswith(ANON_PREFIX):
                self._merge(current, anon_col[i], states, result)
            entry = (ts, eid, etype, item, value, attr_rows[i])
            if self.add(current, entry, sid):
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
        """Re-anchor affinities at the last activity (stored numbers then do not depend on
        the order or batching in which events arrived)."""
        if state.last_seen is None or not state.aff_ts or state.aff_ts == state.last_seen:
            return
        factor = 2.0 ** (-(state.last_seen - state.aff_ts) / self.half_life_ms)
        for table in state.affinities:
            for name in table:
                table[name] *= factor
        state.aff_ts = state.last_seen

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
        if state.sessions and min(state.sessions.values()) < cutoff:
            state.sessions = {s: t for s, t in state.sessions.items() if t >= cutoff}

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
